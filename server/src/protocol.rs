//! The v1 wire contract: one typed enum per direction, decoded in one place.
//!
//! Every WebSocket message is one text frame holding one JSON object with a
//! `"type"` field. The full contract, including extensions, is documented in
//! `docs/protocol.md`; keep the two in step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bank::Kind;

/// Milliseconds since the UNIX epoch; the room's only notion of time, so
/// tests inject it and persisted state stays meaningful across restarts.
pub type Millis = u64;

/// Largest accepted client message in bytes; bigger frames close the socket
/// with 1009.
pub const MAX_CLIENT_MESSAGE: usize = 4 * 1024;

/// Longest typed answer in characters.
pub const MAX_ANSWER_CHARS: usize = 500;

/// A player's id within one room; small and sequential so it is cheap to
/// keep in tallies and readable in exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlayerId(pub u32);

impl std::fmt::Display for PlayerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Identifies one asked question within a room (1, 2, 3, ...); clients echo
/// it so a late answer to an old question is refused, not miscounted.
pub type Qid = u32;

/// How the host runs a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// First press gets the floor; the host judges the spoken answer.
    Buzz,
    /// Multiple choice / multi-select / true-false with an answer key.
    Vote,
    /// Options without a key; votes may change until close.
    Poll,
    /// Fixed "know it / partly / don't know" scale.
    #[serde(rename = "self")]
    SelfAssess,
    /// Typed answers, then optionally a peer vote on them.
    Text,
}

/// Who a socket is, as told by its first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the room; holds the host token.
    Host,
    /// Answers questions.
    Player,
    /// Read-only big screen.
    Screen,
    /// A co-host on the interview panel: sees what the host sees, judges,
    /// marks and scores, but does not run the game (extension).
    Interviewer,
}

/// Every message a client may send. Decode with [`decode`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    // --- first message: identification -----------------------------------
    /// Identify as the host of `room`.
    Host { room: String, token: String },
    /// Join `room` as a new player called `name`. A browser that once held a
    /// seat sends its old resume token too, so a kicked seat cannot come back
    /// under another name (extension).
    Join {
        room: String,
        name: String,
        #[serde(default)]
        resume_token: Option<String>,
        /// The client answers `sync` probes, so its buzzer presses can be
        /// latency-compensated (extension).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        sync: bool,
    },
    /// Take back a seat after a drop.
    Resume {
        room: String,
        resume_token: String,
        /// As for `join` (extension).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        sync: bool,
    },
    /// Watch `room` as a read-only big screen.
    Screen { room: String },
    /// Join `room`'s interview panel with the token the owner issued (extension).
    Interviewer { room: String, token: String },

    // --- host commands -----------------------------------------------------
    /// Draw (or pick) the next question and broadcast it.
    Ask {
        /// Optional when `question_id` names a question with a default
        /// mode of its own (extension); required otherwise.
        #[serde(default)]
        mode: Option<Mode>,
        #[serde(default)]
        topics: Vec<String>,
        #[serde(default)]
        question_id: Option<String>,
        #[serde(default)]
        time_limit_ms: Option<u64>,
        /// Only draw questions of these kinds (extension).
        #[serde(default)]
        kinds: Option<Vec<Kind>>,
        /// Buzz mode: points taken from a player ruled wrong (extension).
        #[serde(default)]
        penalty: Option<i64>,
    },
    /// Buzz mode: rule on the player holding the floor.
    Judge { player_id: PlayerId, correct: bool },
    /// Stop accepting answers for the current question.
    Close,
    /// Broadcast the outcome of the current question.
    Reveal,
    /// Remove a player; the seat cannot be resumed.
    Kick { player_id: PlayerId },
    /// Refuse (or allow again) new joins.
    Lock { locked: bool },
    /// Pause or resume the question timer (extension).
    Pause { paused: bool },
    /// Text mode: mark a typed answer correct or not (extension).
    Mark { player_id: PlayerId, correct: bool },
    /// Text mode: turn the typed answers into options for a peer vote (extension).
    PeerVote {
        #[serde(default)]
        time_limit_ms: Option<u64>,
    },
    /// Broadcast the leaderboard (extension).
    ShowScores,
    /// End the game; results are kept.
    End,
    /// Owner: issue a panel token for an interviewer called `name` (extension).
    AddInterviewer { name: String },
    /// Owner: revoke an interviewer's token and disconnect it (extension).
    RevokeInterviewer { interviewer_id: u32 },
    /// Owner or interviewer: score a player's answer on the room's scale
    /// and/or leave a note; the latest per grader counts (extension).
    Assess {
        qid: Qid,
        player_id: PlayerId,
        #[serde(default)]
        score: Option<u32>,
        #[serde(default)]
        note: Option<String>,
    },

    // --- player messages ---------------------------------------------------
    /// Buzz mode: press the buzzer. `pressed_ms` is the client's clock at
    /// the press (extension); the socket layer adds what it measured of the
    /// client's clock in `timing`, never read from the wire.
    Buzz {
        qid: Qid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pressed_ms: Option<f64>,
        #[serde(skip)]
        timing: Option<PressTiming>,
    },
    /// Vote, poll, self-assessment or peer vote: pick one or several options.
    Vote {
        qid: Qid,
        #[serde(default)]
        choice: Option<usize>,
        #[serde(default)]
        choices: Option<Vec<usize>>,
    },
    /// Text mode: submit a typed answer.
    Answer { qid: Qid, text: String },

    // --- anyone --------------------------------------------------------------
    /// Application-level ping; answered with `pong` (extension).
    Ping {
        #[serde(default)]
        t: Option<u64>,
    },
    /// Answer to the server's `sync` probe: the client's clock when it read
    /// the probe (extension).
    SyncReply { id: u32, client_ms: f64 },
}

/// What the socket layer measured about a buzzer press: when it arrived
/// and, once the client's clock has been sampled, the estimated clock
/// offset and one-way delay bound (see `live::clock_sync`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PressTiming {
    /// Server time the press was read from the socket.
    pub arrival: Millis,
    /// Estimated `client clock − server clock`, in ms; `None` without samples.
    pub offset_ms: Option<f64>,
    /// Longest plausible time the press spent on its way to the server.
    pub bound_ms: u64,
}

/// The `type` values [`ClientMsg`] understands; anything else is `unknown_type`.
pub const CLIENT_TYPES: &[&str] = &[
    "host",
    "join",
    "resume",
    "screen",
    "interviewer",
    "ask",
    "judge",
    "close",
    "reveal",
    "kick",
    "lock",
    "pause",
    "mark",
    "peer_vote",
    "show_scores",
    "end",
    "add_interviewer",
    "revoke_interviewer",
    "assess",
    "buzz",
    "vote",
    "answer",
    "ping",
    "sync_reply",
];

/// A client message that could not be decoded; the socket stays usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not a JSON object.
    #[error("message is not a JSON object: {0}")]
    NotJson(String),
    /// No string `type` field.
    #[error("message has no \"type\" field")]
    MissingType,
    /// A `type` the server does not know.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// Known type, but fields missing or of the wrong type.
    #[error("bad {kind} message: {detail}")]
    BadFields { kind: String, detail: String },
}

impl DecodeError {
    /// Stable error code sent in the `error` message.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::NotJson(_) => "bad_json",
            DecodeError::MissingType => "missing_type",
            DecodeError::UnknownType(_) => "unknown_type",
            DecodeError::BadFields { .. } => "bad_message",
        }
    }
}

/// Decodes one client text frame. Never panics, whatever the input.
///
/// A well-formed message is parsed once, straight into [`ClientMsg`]; only
/// a message that fails that goes through [`classify`], which parses it
/// again as a JSON tree to tell which error it is. Both paths accept exactly
/// the same messages (see the tests), so the fast one changes no answer.
pub fn decode(text: &str) -> Result<ClientMsg, DecodeError> {
    match serde_json::from_str::<ClientMsg>(text) {
        Ok(msg) => Ok(msg),
        Err(_) => classify(text),
    }
}

/// The careful decode: JSON tree first, then the `type`, then the fields,
/// so every failure gets its own code and message.
fn classify(text: &str) -> Result<ClientMsg, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| DecodeError::NotJson("expected an object".into()))?;
    let kind = obj
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or(DecodeError::MissingType)?;
    if !CLIENT_TYPES.contains(&kind) {
        return Err(DecodeError::UnknownType(kind.chars().take(40).collect()));
    }
    let kind = kind.to_string();
    serde_json::from_value(value).map_err(|e| DecodeError::BadFields {
        kind,
        detail: e.to_string(),
    })
}

// ---------------------------------------------------------------------------
// Server → client
// ---------------------------------------------------------------------------

/// One roster entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerInfo {
    pub player_id: PlayerId,
    pub name: String,
    pub score: i64,
    pub connected: bool,
}

/// One leaderboard row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    pub player_id: PlayerId,
    pub name: String,
    pub score: i64,
    /// 1-based place; equal scores share a place (extension).
    pub place: u32,
}

/// One press in the buzz queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuzzEntry {
    pub player_id: PlayerId,
    pub name: String,
    /// Milliseconds after the question opened: the press instant the queue
    /// is ordered by (compensated for latency where the client is synced).
    pub at_ms: u64,
    /// Host only: when the press reached the server, ms after the opening.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival_ms: Option<u64>,
    /// Host only: the one-way delay bound the claim was held to; absent
    /// when the press was ordered by arrival (no clock samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_ms: Option<u64>,
    /// Host only: the claimed press time fell outside
    /// [arrival − bound, arrival] and was clamped to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clamped: bool,
}

/// A question as it goes on the wire. Players and screens get the public
/// part only; the host's copy fills the host-only fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionMsg {
    pub qid: Qid,
    pub seq: u32,
    pub mode: Mode,
    pub prompt: String,
    pub topic: Vec<String>,
    pub options: Vec<String>,
    /// Whether several options may be chosen (extension).
    #[serde(default)]
    pub multi: bool,
    /// Milliseconds left until the server closes the question, at send time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// The full time limit (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_ms: Option<u64>,
    /// Whether the timer is paused (extension).
    #[serde(default)]
    pub paused: bool,
    /// Whether answers are still accepted (extension).
    #[serde(default)]
    pub open: bool,
    /// Text mode: `answer` while typing, `peer_vote` once the typed answers
    /// became the options (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Host only: the bank question id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_id: Option<String>,
    /// Host only: indices of correct options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<Vec<usize>>,
    /// Host only: reference answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Host only: follow-up questions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followups: Option<Vec<String>>,
    /// Host only: talking points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<String>>,
    /// Host only: the bank's own index of each shown option (options are
    /// shuffled by default; players never get it before the reveal, since
    /// a bank listing its key first would give the answer away).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option_ids: Option<Vec<usize>>,
}

/// One player's own standing after a reveal or a scores broadcast (and in
/// the welcome state): the only per-player data a player gets in private mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YouMsg {
    /// The player's own seat.
    pub player_id: PlayerId,
    /// The player's own nickname.
    pub name: String,
    /// The question this is about, when it follows a reveal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qid: Option<Qid>,
    /// Points won (or lost) on that question.
    #[serde(default)]
    pub points: i64,
    /// Whether the player's answer was right, where the mode has a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<bool>,
    /// Total score.
    pub score: i64,
    /// 1-based place; equal scores share a place.
    pub place: u32,
    /// Players ranked.
    pub of: u32,
    /// Correct keyed answers in a row.
    #[serde(default)]
    pub streak: u32,
}

/// One topic of the self-assessment knowledge map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicKnowledge {
    /// Merged topic id.
    pub topic_id: String,
    /// Topic path, outermost first.
    pub topic: Vec<String>,
    /// Answers "know it".
    pub know: u32,
    /// Answers "partly".
    pub partly: u32,
    /// Answers "don't know".
    pub dont_know: u32,
    /// `(know + 0.5·partly) / responses`.
    pub knowledge: f64,
}

/// One player who answered a vote question right, for the reveal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RightAnswer {
    pub player_id: PlayerId,
    pub name: String,
    /// From the question opening to the counted vote, paused time excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_ms: Option<u64>,
}

/// Every message the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Answer to a successful first message.
    Welcome {
        role: Role,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        player_id: Option<PlayerId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume_token: Option<String>,
        state: serde_json::Value,
    },
    /// Something the sender did was refused; nothing changed.
    Error {
        code: String,
        message: String,
        /// `room_ended` to a join whose resume token the room knows: that
        /// player's final standing, so a late reload still shows its place.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        you: Option<Box<YouMsg>>,
    },
    /// Players in the room.
    Roster { players: Vec<PlayerInfo> },
    /// A new question.
    Question(QuestionMsg),
    /// Buzz presses in order and who has the floor.
    BuzzQueue {
        qid: Qid,
        queue: Vec<BuzzEntry>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        floor: Option<PlayerId>,
    },
    /// Live counts (throttled).
    Tally {
        qid: Qid,
        counts: Vec<u32>,
        answered: u32,
        of: u32,
        /// Host copy: the bank's own index of each counted option
        /// (extension).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        option_ids: Vec<usize>,
    },
    /// The outcome of a question.
    Reveal {
        qid: Qid,
        correct: Vec<usize>,
        counts: Vec<u32>,
        points: BTreeMap<PlayerId, i64>,
        /// The reference answer, once revealed (extension).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<String>,
        /// Vote: who answered right, fastest first (extension): every one
        /// to the host, the first few to screens, never to players or in a
        /// private room's screens.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        right: Vec<RightAnswer>,
        /// The bank's own index of each option, in the recipient's order
        /// (extension; vote and poll).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        option_ids: Vec<usize>,
    },
    /// The leaderboard.
    Scores { leaderboard: Vec<ScoreRow> },
    /// The server got the sender's buzz/vote/answer.
    Ack {
        #[serde(rename = "ref")]
        reference: String,
        qid: Qid,
    },
    /// The game is over.
    Ended,
    /// How many players are seated; sent instead of the full roster where a
    /// roster would be too big or private (extension).
    PlayerCount { count: u32, connected: u32 },
    /// The current question stopped accepting answers (extension).
    Closed { qid: Qid },
    /// The timer was paused or resumed; `deadline_ms` is the time left (extension).
    Timer {
        qid: Qid,
        paused: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline_ms: Option<u64>,
    },
    /// Host only, text mode: one typed answer as it arrives (extension).
    TextAnswer {
        qid: Qid,
        player_id: PlayerId,
        name: String,
        text: String,
    },
    /// One player's own standing, sent to that player only (extension).
    You(YouMsg),
    /// Host only: the room was locked or unlocked (extension).
    Locked { locked: bool },
    /// Host only: self-assessment aggregated per topic (extension).
    Knowledge { topics: Vec<TopicKnowledge> },
    /// Reply to `ping` (extension).
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        t: Option<u64>,
        server_ms: Millis,
    },
    /// Clock probe to a player that asked for `sync`: answer with
    /// `sync_reply` at once (extension).
    Sync { id: u32, server_ms: Millis },
    /// Owner: the interview panel, with each interviewer's token (extension).
    Interviewers { interviewers: Vec<InterviewerInfo> },
    /// Host and panel: a grader's score and note on one answer (extension).
    Assessment(AssessmentMsg),
    /// Host and panel: something outside the room affects it, shown as a
    /// banner while `active` (extension). `store_unavailable`: the results
    /// database cannot be written; the room keeps every answer and holds
    /// acks and question boundaries until it is back.
    Warning {
        code: String,
        message: String,
        active: bool,
    },
    /// Host and panel: who judged or marked what (extension).
    Action {
        qid: Qid,
        action: String,
        player_id: PlayerId,
        correct: bool,
        by: u32,
        by_name: String,
    },
}

/// One interviewer as the owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterviewerInfo {
    pub id: u32,
    pub name: String,
    /// The panel token; only ever sent to the owner.
    pub token: String,
    pub connected: bool,
}

/// One grader's assessment of one answer. `by` 0 is the owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssessmentMsg {
    pub qid: Qid,
    pub player_id: PlayerId,
    pub by: u32,
    pub by_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// One valid message of every type, some with optional fields.
    const VALID: &[&str] = &[
        r#"{"type":"host","room":"ABCDEF","token":"t"}"#,
        r#"{"type":"join","room":"ABCDEF","name":"ann"}"#,
        r#"{"type":"join","room":"ABCDEF","name":"ann","resume_token":"r"}"#,
        r#"{"type":"resume","room":"ABCDEF","resume_token":"r"}"#,
        r#"{"type":"screen","room":"ABCDEF"}"#,
        r#"{"type":"ask","mode":"vote"}"#,
        r#"{"type":"ask","mode":"self","topics":["a"],"question_id":"q","time_limit_ms":5,"kinds":["choice"],"penalty":-2}"#,
        r#"{"type":"judge","player_id":3,"correct":true}"#,
        r#"{"type":"close"}"#,
        r#"{"type":"reveal"}"#,
        r#"{"type":"kick","player_id":1}"#,
        r#"{"type":"lock","locked":false}"#,
        r#"{"type":"pause","paused":true}"#,
        r#"{"type":"mark","player_id":2,"correct":false}"#,
        r#"{"type":"peer_vote"}"#,
        r#"{"type":"peer_vote","time_limit_ms":1000}"#,
        r#"{"type":"show_scores"}"#,
        r#"{"type":"end"}"#,
        r#"{"type":"interviewer","room":"ABCDEF","token":"t"}"#,
        r#"{"type":"add_interviewer","name":"Ann"}"#,
        r#"{"type":"revoke_interviewer","interviewer_id":2}"#,
        r#"{"type":"assess","qid":1,"player_id":2,"score":3,"note":"solid"}"#,
        r#"{"type":"assess","qid":1,"player_id":2,"note":"no score"}"#,
        r#"{"type":"buzz","qid":1}"#,
        r#"{"type":"buzz","qid":1,"pressed_ms":1733240000123.5}"#,
        r#"{"type":"join","room":"ABCDEF","name":"ann","sync":true}"#,
        r#"{"type":"resume","room":"ABCDEF","resume_token":"r","sync":true}"#,
        r#"{"type":"sync_reply","id":3,"client_ms":-12.25}"#,
        r#"{"type":"vote","qid":7,"choice":2}"#,
        r#"{"type":"vote","qid":7,"choices":[0,3]}"#,
        r#"{"type":"vote","qid":7,"choice":null,"choices":null}"#,
        r#"{"qid":7,"type":"vote","choice":1}"#,
        r#"{"type":"answer","qid":2,"text":"caf\u00e9 \"quoted\""}"#,
        r#"{"type":"ping"}"#,
        r#" {"type":"ping","t":12} "#,
    ];

    /// Every class of bad input the error codes distinguish, and the
    /// corners where a one-pass parse and a tree could disagree.
    const MALFORMED: &[&str] = &[
        "",
        "   ",
        "not json",
        "{",
        r#"{"type":"ping"} trailing"#,
        "[]",
        "[1,2]",
        "42",
        "\"vote\"",
        "null",
        "true",
        "{}",
        r#"{"type":7}"#,
        r#"{"type":null}"#,
        r#"{"qid":1}"#,
        r#"{"type":"dance"}"#,
        r#"{"type":"VOTE","qid":1,"choice":0}"#,
        r#"{"type":"vote"}"#,
        r#"{"type":"vote","qid":"1","choice":0}"#,
        r#"{"type":"vote","qid":-1,"choice":0}"#,
        r#"{"type":"vote","qid":1.5,"choice":0}"#,
        r#"{"type":"vote","qid":99999999999,"choice":0}"#,
        r#"{"type":"vote","qid":1,"choice":0,"extra":1}"#,
        r#"{"type":"vote","qid":1,"qid":2,"choice":0}"#,
        r#"{"type":"vote","type":"ping","qid":1}"#,
        r#"{"type":"ping","type":"ping"}"#,
        r#"{"type":"ask","mode":"quiz"}"#,
        r#"{"type":"close","x":null}"#,
        r#"{"type":"judge","player_id":1,"correct":"yes"}"#,
        r#"{"type":"answer","qid":1,"text":"\ud800"}"#,
        r#"{"type":"ping","t":18446744073709551616}"#,
        r#"{"type":"buzz","qid":1,"pressed_ms":"soon"}"#,
        r#"{"type":"buzz","qid":1,"timing":{"arrival":0}}"#,
        r#"{"type":"sync_reply","id":-1,"client_ms":0}"#,
    ];

    #[test]
    fn every_valid_message_takes_the_fast_path_and_matches_the_careful_one() {
        for text in VALID {
            let fast = serde_json::from_str::<ClientMsg>(text);
            assert!(fast.is_ok(), "{text}: {fast:?}");
            assert_eq!(decode(text), classify(text), "{text}");
            assert_eq!(decode(text).ok(), fast.ok(), "{text}");
        }
    }

    #[test]
    fn every_client_type_has_a_valid_example() {
        for kind in CLIENT_TYPES {
            let found = VALID.iter().any(|t| {
                serde_json::from_str::<serde_json::Value>(t)
                    .ok()
                    .and_then(|v| v.get("type").and_then(|k| k.as_str()).map(|k| k == *kind))
                    == Some(true)
            });
            assert!(found, "no example of {kind}");
        }
    }

    #[test]
    fn malformed_input_gets_the_same_error_on_both_paths() {
        for text in MALFORMED {
            let got = decode(text);
            assert_eq!(got, classify(text), "{text}");
        }
        // The codes themselves, one per class.
        let code = |t: &str| decode(t).map(|_| ()).map_err(|e| e.code());
        assert_eq!(code("not json"), Err("bad_json"));
        assert_eq!(code("[]"), Err("bad_json"));
        assert_eq!(code("{}"), Err("missing_type"));
        assert_eq!(code(r#"{"type":7}"#), Err("missing_type"));
        assert_eq!(code(r#"{"type":"dance"}"#), Err("unknown_type"));
        assert_eq!(code(r#"{"type":"vote"}"#), Err("bad_message"));
        assert_eq!(code(r#"{"type":"buzz","qid":1,"x":1}"#), Err("bad_message"));
        // A repeated key: the last one wins, as it always did.
        assert_eq!(
            decode(r#"{"type":"vote","qid":1,"qid":2,"choice":0}"#),
            Ok(ClientMsg::Vote {
                qid: 2,
                choice: Some(0),
                choices: None
            })
        );
    }

    /// A JSON value of any of the shapes a field might wrongly hold.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            (0..10u64).prop_map(|n| n.to_string()),
            Just("1.5".to_string()),
            "[a-z_]{0,8}".prop_map(|s| format!("{s:?}")),
            prop::collection::vec(0..5u8, 0..3).prop_map(|v| format!("{v:?}")),
            Just("{}".to_string()),
            Just("\"vote\"".to_string()),
        ]
    }

    /// Random objects built from the protocol's own vocabulary, so most are
    /// near misses of a valid message.
    fn message() -> impl Strategy<Value = String> {
        let keys = prop::sample::select(vec![
            "type",
            "qid",
            "choice",
            "choices",
            "text",
            "room",
            "name",
            "token",
            "resume_token",
            "mode",
            "player_id",
            "correct",
            "locked",
            "paused",
            "t",
            "topics",
            "time_limit_ms",
            "penalty",
            "extra",
        ]);
        let kind = prop::sample::select(CLIENT_TYPES.to_vec()).prop_map(|k| format!("{k:?}"));
        (
            prop::option::of(kind),
            prop::collection::vec((keys, value()), 0..5),
        )
            .prop_map(|(kind, fields)| {
                let mut parts: Vec<String> = Vec::new();
                if let Some(kind) = kind {
                    parts.push(format!("\"type\":{kind}"));
                }
                parts.extend(fields.iter().map(|(k, v)| format!("{k:?}:{v}")));
                format!("{{{}}}", parts.join(","))
            })
    }

    proptest! {
        #[test]
        fn both_paths_agree_on_near_misses(text in message()) {
            prop_assert_eq!(decode(&text), classify(&text));
        }

        #[test]
        fn both_paths_agree_on_any_text(text in ".{0,40}") {
            prop_assert_eq!(decode(&text), classify(&text));
        }
    }
}
