//! The question lifecycle shared by every mode: ask (draw from the catalog),
//! the timer (deadline, pause), close, reveal, scores and the end.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::bank::catalog::{CatalogQuestion, OPTION_KINDS, TYPED_KINDS};
use crate::bank::{AnswerOption, Kind};
use crate::protocol::{Millis, Mode, PlayerId, QuestionMsg, RightAnswer, ServerMsg, YouMsg};

use super::model::Asked;
use super::scoring::Ranking;
use super::throttle::tally_interval_ms;
use super::{order, Audience, Effect, Out, Room, RoomError, Shuffle};

/// Shortest and longest accepted `time_limit_ms`.
pub(crate) const TIME_LIMIT_RANGE: std::ops::RangeInclusive<u64> = 1_000..=3_600_000;

/// Questions drawn at once; the first that fits the mode is asked.
const DRAW_CANDIDATES: usize = 256;

/// The fixed self-assessment scale (values 2, 1, 0).
pub(crate) const SELF_SCALE: [&str; 3] = ["Know it", "Partly", "Don't know"];

/// The host's `ask`, unpacked.
#[derive(Debug, Clone)]
pub(crate) struct AskParams {
    pub mode: Mode,
    pub topics: Vec<String>,
    pub time_limit_ms: Option<u64>,
    pub kinds: Option<Vec<Kind>>,
    pub penalty: Option<i64>,
}

/// The host's `ask` as sent: the mode may be left out when the picked
/// question has a default mode of its own.
#[derive(Debug, Clone)]
pub(crate) struct AskRequest {
    pub mode: Option<Mode>,
    pub topics: Vec<String>,
    pub question_id: Option<String>,
    pub time_limit_ms: Option<u64>,
    pub kinds: Option<Vec<Kind>>,
    pub penalty: Option<i64>,
}

/// Checks an optional time limit against [`TIME_LIMIT_RANGE`].
pub(crate) fn check_time_limit(limit: Option<u64>) -> Result<(), RoomError> {
    match limit {
        Some(t) if !TIME_LIMIT_RANGE.contains(&t) => Err(RoomError::BadMessage(
            "time_limit_ms must be between 1000 and 3600000",
        )),
        _ => Ok(()),
    }
}

/// Options and answer key of a question as a mode shows it.
struct Shape {
    options: Vec<String>,
    key: Vec<usize>,
    multi: bool,
}

/// True/false questions written without options get True/False, keyed
/// from the reference answer when it says which.
fn options_of(q: &crate::bank::Question) -> Vec<AnswerOption> {
    if !q.options.is_empty() || q.kind != Kind::Truefalse {
        return q.options.clone();
    }
    let a = q.answer.trim().to_lowercase();
    let truth = if ["true", "t", "yes", "right", "correct", "wahr", "vrai"]
        .iter()
        .any(|w| a == *w || a.starts_with(&format!("{w} ")) || a.starts_with(&format!("{w}.")))
    {
        Some(true)
    } else if ["false", "f", "no", "wrong", "incorrect", "falsch", "faux"]
        .iter()
        .any(|w| a == *w || a.starts_with(&format!("{w} ")) || a.starts_with(&format!("{w}.")))
    {
        Some(false)
    } else {
        None
    };
    let opt = |text: &str, correct: bool| AnswerOption {
        text: text.to_string(),
        correct,
        weight: None,
    };
    vec![
        opt("True", truth == Some(true)),
        opt("False", truth == Some(false)),
    ]
}

fn shape_for(mode: Mode, q: &crate::bank::Question) -> Result<Shape, RoomError> {
    let options = options_of(q);
    let texts: Vec<String> = options.iter().map(|o| o.text.clone()).collect();
    let key: Vec<usize> = options
        .iter()
        .enumerate()
        .filter(|(_, o)| o.correct)
        .map(|(i, _)| i)
        .collect();
    match mode {
        Mode::Vote => {
            if options.len() < 2 || key.is_empty() {
                return Err(RoomError::UnsuitableQuestion(
                    "vote needs a question with options and an answer key",
                ));
            }
            let multi = q.kind == Kind::Multi || key.len() > 1;
            Ok(Shape {
                options: texts,
                key,
                multi,
            })
        }
        Mode::Poll => {
            if options.len() < 2 {
                return Err(RoomError::UnsuitableQuestion(
                    "a poll needs a question with options",
                ));
            }
            Ok(Shape {
                options: texts,
                key: Vec::new(),
                multi: q.kind == Kind::Multi,
            })
        }
        Mode::SelfAssess => Ok(Shape {
            options: SELF_SCALE.iter().map(|s| s.to_string()).collect(),
            key: Vec::new(),
            multi: false,
        }),
        Mode::Buzz | Mode::Text => Ok(Shape {
            options: Vec::new(),
            key: Vec::new(),
            multi: false,
        }),
    }
}

/// How many of the fastest right answers a big screen names at a reveal.
pub const SCREEN_RIGHT_NAMES: usize = 5;

/// Kinds a mode draws from when the host names none.
fn default_kinds(mode: Mode) -> Option<Vec<Kind>> {
    match mode {
        Mode::Vote | Mode::Poll => Some(OPTION_KINDS.to_vec()),
        Mode::Text => Some(TYPED_KINDS.to_vec()),
        Mode::Buzz | Mode::SelfAssess => None,
    }
}

impl Room {
    /// Host: asks the next question. A picked question with a default
    /// mode (set in the library editor) is asked in it unless the host
    /// names another mode.
    pub(super) fn ask(
        &mut self,
        r: AskRequest,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        check_time_limit(r.time_limit_ms)?;
        let picked = match &r.question_id {
            Some(id) => Some(
                self.catalog
                    .question(id)
                    .ok_or(RoomError::UnknownQuestion)?,
            ),
            None => None,
        };
        let mode = r
            .mode
            .or_else(|| picked.as_ref().and_then(|cq| cq.question.mode))
            .ok_or(RoomError::BadMessage(
                "mode is required unless question_id names a question with a default mode",
            ))?;
        let p = AskParams {
            mode,
            topics: r.topics,
            time_limit_ms: r.time_limit_ms,
            kinds: r.kinds,
            penalty: r.penalty,
        };
        let cq = match picked {
            Some(cq) => cq,
            None => self.draw(&p)?,
        };
        self.open_question(cq, &p, now, out)
    }

    fn draw(&mut self, p: &AskParams) -> Result<Arc<CatalogQuestion>, RoomError> {
        let kinds = p.kinds.clone().or_else(|| default_kinds(p.mode));
        let seed = self.d.rng.next_u64();
        let asked: HashSet<&str> = self
            .d
            .asked
            .iter()
            .map(|q| q.question.id.as_str())
            .collect();
        let released = &self.d.released;
        let candidates = self.catalog.draw_where(
            &p.topics,
            DRAW_CANDIDATES,
            |id| asked.contains(id) || released.holds(id),
            kinds.as_deref(),
            seed,
        );
        // Several candidates, so a question unfit for the mode (a poll
        // question without options) does not end the draw.
        candidates
            .into_iter()
            .find(|c| shape_for(p.mode, &c.question).is_ok())
            .ok_or(RoomError::NoQuestions)
    }

    /// Opens `cq` as the current question; everything is checked first.
    pub(super) fn open_question(
        &mut self,
        cq: Arc<CatalogQuestion>,
        p: &AskParams,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        check_time_limit(p.time_limit_ms)?;
        let shape = shape_for(p.mode, &cq.question)?;
        // A question with its own limit (a library question) keeps it when
        // the host names none.
        let time_limit_ms = p.time_limit_ms.or(cq
            .question
            .time_limit_ms
            .filter(|t| TIME_LIMIT_RANGE.contains(t)));
        // The previous question, if unrevealed, is finalized silently.
        if self.d.current().is_some_and(|q| q.open) {
            self.close_current(now, out);
        }
        self.finalize_current();
        let qid = u32::try_from(self.d.asked_count() + 1).unwrap_or(u32::MAX);
        let mut shape = shape;
        let shuffled = self.d.options.shuffle_options != Shuffle::Off
            && matches!(p.mode, Mode::Vote | Mode::Poll)
            && shape.options.len() > 1;
        let order = if shuffled {
            let mut order: Vec<usize> = (0..shape.options.len()).collect();
            self.d.rng.shuffle(&mut order);
            shape.options = order
                .iter()
                .filter_map(|&b| shape.options.get(b).cloned())
                .collect();
            shape.key = (0..order.len())
                .filter(|&shown| order.get(shown).is_some_and(|b| shape.key.contains(b)))
                .collect();
            order
        } else {
            Vec::new()
        };
        let player_seed = (shuffled && self.d.options.shuffle_options == Shuffle::Player)
            .then(|| self.d.rng.next_u64());
        let counts = vec![0; shape.options.len()];
        self.d.asked.push(Asked {
            qid,
            mode: p.mode,
            question: cq.question.clone(),
            topic_path: cq.topic_path.clone(),
            topic_id: cq.topic_id.clone(),
            options: shape.options,
            key: shape.key,
            multi: shape.multi,
            penalty: p.penalty.unwrap_or(0).clamp(0, 1_000_000),
            opened_at: now,
            time_limit_ms,
            deadline: time_limit_ms.map(|t| now.saturating_add(t)),
            paused_at: None,
            paused_total: 0,
            open: true,
            revealed: false,
            finalized: false,
            entries: BTreeMap::new(),
            counts,
            answered: 0,
            of: 0,
            queue: Vec::new(),
            floor: None,
            presses: BTreeMap::new(),
            window_until: None,
            peer: None,
            points: BTreeMap::new(),
            order,
            player_seed,
        });
        // Stored before anyone sees it, so the answers acknowledged on it
        // have a question to come back to after a crash.
        out.push(Effect::Checkpoint);
        self.send_question(now, out);
        self.send_tally(out);
        self.live.tally.sent(now);
        Ok(())
    }

    /// Sends the current question: the host copy with the key and notes,
    /// the public copy to screens and players (each player its own order
    /// when the room shuffles per player).
    pub(super) fn send_question(&self, now: Millis, out: &mut Out) {
        let Some(q) = self.d.current() else { return };
        out.send(
            Audience::Host,
            ServerMsg::Question(question_msg(q, true, None, now)),
        );
        let public = Arc::new(ServerMsg::Question(question_msg(q, false, None, now)));
        out.send_arc(Audience::Screens, &public);
        if q.player_seed.is_some() && q.peer.is_none() {
            for &id in self.live.player_conn.keys() {
                let view = order::player_view(q, id);
                let own = question_msg(q, false, view.as_deref(), now);
                out.send(Audience::Player(id), ServerMsg::Question(own));
            }
        } else {
            out.send_arc(Audience::Players, &public);
        }
    }

    /// The current live counts, in `view`'s order when given; the host
    /// copy also names the bank's own option ids.
    pub(super) fn tally_msg(&self, host: bool, view: Option<&[usize]>) -> Option<ServerMsg> {
        let q = self.d.current()?;
        let (counts, answered) = match &q.peer {
            Some(peer) => (peer.counts.clone(), peer.voted),
            None => (q.counts.clone(), q.answered),
        };
        let counts = match view {
            Some(view) => order::permute(view, &counts),
            None => counts,
        };
        let connected = u32::try_from(self.live.connected).unwrap_or(u32::MAX);
        let of = if q.open {
            connected.max(answered)
        } else {
            q.of.max(answered)
        };
        Some(ServerMsg::Tally {
            qid: q.qid,
            counts,
            answered,
            of,
            option_ids: if host { order::bank_ids(q) } else { Vec::new() },
        })
    }

    /// Sends the tally to whoever may see it (players only in open polls,
    /// each in its own order when the room shuffles per player).
    pub(super) fn send_tally(&self, out: &mut Out) {
        let Some(q) = self.d.current() else { return };
        if let Some(msg) = self.tally_msg(true, None) {
            out.send(Audience::Host, msg);
        }
        let Some(public) = self.tally_msg(false, None) else {
            return;
        };
        let players = q.mode == Mode::Poll && !self.d.options.private && q.peer.is_none();
        if !players {
            out.send(Audience::Screens, public);
        } else if q.player_seed.is_some() {
            out.send(Audience::Screens, public);
            for &id in self.live.player_conn.keys() {
                let view = order::player_view(q, id);
                if let Some(own) = self.tally_msg(false, view.as_deref()) {
                    out.send(Audience::Player(id), own);
                }
            }
        } else {
            let public = Arc::new(public);
            out.send_arc(Audience::Screens, &public);
            out.send_arc(Audience::Players, &public);
        }
    }

    /// Counts changed: send now or at the next tally slot, which comes
    /// sooner the fewer sockets see the tally ([`tally_interval_ms`]).
    pub(super) fn tally_changed(&mut self, now: Millis, out: &mut Out) {
        let to_players = self
            .d
            .current()
            .is_some_and(|q| q.mode == Mode::Poll && !self.d.options.private && q.peer.is_none());
        let recipients = if to_players {
            self.live.conns.len()
        } else {
            self.live.hosts.len() + self.live.screens.len()
        };
        if self.live.tally.touch(now, tally_interval_ms(recipients)) {
            self.send_tally(out);
        }
    }

    /// Stops accepting answers; sends `closed` and the final tally.
    pub(super) fn close_current(&mut self, now: Millis, out: &mut Out) {
        self.settle_window(now, true, out);
        let connected = u32::try_from(self.live.connected).unwrap_or(u32::MAX);
        let Some(q) = self.d.current_mut() else {
            return;
        };
        if !q.open {
            return;
        }
        if let Some(p) = q.paused_at.take() {
            q.paused_total += now.saturating_sub(p);
        }
        q.open = false;
        q.of = connected.max(q.answered);
        let qid = q.qid;
        let self_assessed = q.mode == Mode::SelfAssess;
        out.send(Audience::All, ServerMsg::Closed { qid });
        self.send_tally(out);
        self.live.tally.sent(now);
        if self_assessed {
            out.send(
                Audience::Host,
                ServerMsg::Knowledge {
                    topics: self.knowledge(),
                },
            );
        }
    }

    /// Host: `close`.
    pub(super) fn close(&mut self, now: Millis, out: &mut Out) -> Result<(), RoomError> {
        let q = self.d.current().ok_or(RoomError::NoQuestion)?;
        if q.revealed {
            return Err(RoomError::AlreadyRevealed);
        }
        if q.open {
            self.close_current(now, out);
            out.push(Effect::Checkpoint);
        }
        Ok(())
    }

    /// Host: `pause` / resume of the timer.
    pub(super) fn pause(
        &mut self,
        paused: bool,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        let q = self.d.current_mut().ok_or(RoomError::NoQuestion)?;
        if !q.open {
            return Err(RoomError::QuestionClosed);
        }
        if q.deadline.is_none() {
            return Err(RoomError::NoTimer);
        }
        match (paused, q.paused_at) {
            (true, None) => q.paused_at = Some(now),
            (false, Some(p)) => {
                let held = now.saturating_sub(p);
                q.paused_total += held;
                q.deadline = q.deadline.map(|d| d.saturating_add(held));
                q.paused_at = None;
            }
            _ => {}
        }
        let msg = ServerMsg::Timer {
            qid: q.qid,
            paused: q.paused_at.is_some(),
            deadline_ms: q.remaining(now),
        };
        self.live.paused_by_restore = false;
        out.send(Audience::All, msg);
        out.push(Effect::Checkpoint);
        Ok(())
    }

    /// Credits the current question's points once (reveal, next ask, end).
    pub(super) fn finalize_current(&mut self) {
        let d = &mut self.d;
        let Some(q) = d.asked.last_mut() else { return };
        if q.finalized {
            return;
        }
        q.finalized = true;
        // Nobody is judged on a finished question.
        q.floor = None;
        let awards = match q.mode {
            Mode::Vote => super::scoring::vote_awards(q, &mut d.players),
            Mode::Text => super::scoring::text_awards(q),
            Mode::Buzz | Mode::Poll | Mode::SelfAssess => Vec::new(),
        };
        let scale = q.question.points;
        for (id, points) in awards {
            let points = scale.apply(points);
            q.credit(id, points);
            let seat = (id.0 as usize).checked_sub(1);
            if let Some(p) = seat.and_then(|i| d.players.get_mut(i)) {
                p.score += points;
            }
        }
        self.rerank();
    }

    /// Host: `reveal`.
    pub(super) fn reveal(&mut self, now: Millis, out: &mut Out) -> Result<(), RoomError> {
        let q = self.d.current().ok_or(RoomError::NoQuestion)?;
        if q.revealed {
            return Err(RoomError::AlreadyRevealed);
        }
        self.close_current(now, out);
        self.finalize_current();
        if let Some(q) = self.d.current_mut() {
            q.revealed = true;
            // Nobody is judged after the reveal.
            q.floor = None;
        }
        let Some(q) = self.d.current() else {
            return Err(RoomError::NoQuestion);
        };
        let (correct, counts) = match &q.peer {
            Some(peer) => (super::scoring::peer_winners(peer), peer.counts.clone()),
            None => (q.key.clone(), q.counts.clone()),
        };
        let answer = (!q.question.answer.is_empty()).then(|| q.question.answer.clone());
        let right = self.right_answers(q);
        let private = self.d.options.private;
        let screen_right = if private {
            Vec::new()
        } else {
            right.iter().take(SCREEN_RIGHT_NAMES).cloned().collect()
        };
        let full = ServerMsg::Reveal {
            qid: q.qid,
            correct: correct.clone(),
            counts: counts.clone(),
            points: q.points.clone(),
            answer: answer.clone(),
            right,
            option_ids: order::bank_ids(q),
        };
        let public_points = if self.lists_public() {
            q.points.clone()
        } else {
            BTreeMap::new()
        };
        let player_copy = |view: Option<&[usize]>| ServerMsg::Reveal {
            qid: q.qid,
            correct: match view {
                Some(view) => order::to_view(view, &correct),
                None => correct.clone(),
            },
            counts: match (private, view) {
                (true, _) => Vec::new(),
                (false, Some(view)) => order::permute(view, &counts),
                (false, None) => counts.clone(),
            },
            points: public_points.clone(),
            answer: answer.clone(),
            right: Vec::new(),
            option_ids: order::bank_ids_in(q, view),
        };
        let mut own = Vec::new();
        if q.player_seed.is_some() && q.peer.is_none() {
            for &id in self.live.player_conn.keys() {
                let view = order::player_view(q, id);
                own.push((id, player_copy(view.as_deref())));
            }
        } else {
            own.push((PlayerId(0), player_copy(None)));
        }
        let screens = ServerMsg::Reveal {
            qid: q.qid,
            correct,
            counts,
            points: public_points,
            answer,
            right: screen_right,
            option_ids: order::bank_ids(q),
        };
        let qid = q.qid;
        out.send(Audience::Host, full);
        for (id, msg) in own {
            let to = if id == PlayerId(0) {
                Audience::Players
            } else {
                Audience::Player(id)
            };
            out.send(to, msg);
        }
        out.send(Audience::Screens, screens);
        self.send_you(Some(qid), &self.live.ranking, out);
        // Scores changed: rosters carry them to the host console and screens.
        self.roster_changed(now, out);
        out.push(Effect::Checkpoint);
        Ok(())
    }

    /// Vote: the players whose counted answer matched the key, fastest
    /// first (ties by seat), as the reveal names them.
    pub(super) fn right_answers(&self, q: &Asked) -> Vec<RightAnswer> {
        if q.mode != Mode::Vote || q.peer.is_some() {
            return Vec::new();
        }
        let mut right: Vec<RightAnswer> = q
            .entries
            .iter()
            .filter(|(_, e)| e.correct == Some(true))
            .filter_map(|(&id, e)| {
                let p = self.d.player(id).filter(|p| !p.kicked)?;
                Some(RightAnswer {
                    player_id: id,
                    name: p.name.to_string(),
                    response_ms: e.response_ms,
                })
            })
            .collect();
        right.sort_by_key(|r| (r.response_ms.unwrap_or(u64::MAX), r.player_id));
        right
    }

    /// Sends every connected player its own standing.
    pub(super) fn send_you(&self, qid: Option<u32>, ranking: &Ranking, out: &mut Out) {
        let q = qid.and_then(|_| self.d.current());
        for (&id, _) in self.live.player_conn.iter() {
            if let Some(msg) = self.you_msg(id, q, ranking) {
                out.send(Audience::Player(id), ServerMsg::You(msg));
            }
        }
    }

    /// One player's standing, about question `q` when given.
    pub(super) fn you_msg(
        &self,
        id: PlayerId,
        q: Option<&Asked>,
        ranking: &Ranking,
    ) -> Option<YouMsg> {
        let p = self.d.player(id)?;
        let entry = q.and_then(|q| q.entries.get(&id));
        Some(YouMsg {
            player_id: id,
            name: p.name.to_string(),
            qid: q.map(|q| q.qid),
            points: q.and_then(|q| q.points.get(&id).copied()).unwrap_or(0),
            correct: entry.and_then(|e| e.correct.or(e.ruled).or(e.mark)),
            score: p.score,
            place: ranking.place_of(p.score),
            of: ranking.len(),
            streak: p.streak,
        })
    }

    /// Host: `show_scores` (also sent at the end).
    pub(super) fn show_scores(&self, out: &mut Out) {
        let ranking = &self.live.ranking;
        out.send(
            Audience::Host,
            ServerMsg::Scores {
                leaderboard: ranking.rows(&self.d.players, usize::MAX),
            },
        );
        if !self.d.options.private {
            let limit = if self.lists_public() { usize::MAX } else { 10 };
            let public = Arc::new(ServerMsg::Scores {
                leaderboard: ranking.rows(&self.d.players, limit),
            });
            out.send_arc(Audience::Players, &public);
            out.send_arc(Audience::Screens, &public);
        }
        self.send_you(None, ranking, out);
    }

    /// Host: `end`. Finalizes the current question, sends the final scores.
    pub(super) fn end(&mut self, now: Millis, out: &mut Out) {
        self.close_current(now, out);
        self.finalize_current();
        self.d.ended = true;
        self.show_scores(out);
        out.send(Audience::All, ServerMsg::Ended);
        out.push(Effect::Checkpoint);
        out.push(Effect::Ended);
    }
}

/// A question as one audience sees it (a player's copy in its own `view`
/// when the room shuffles per player). Only the host copy carries the key,
/// the bank's option ids, the reference answer, follow-ups and notes.
pub(crate) fn question_msg(
    q: &Asked,
    host: bool,
    view: Option<&[usize]>,
    now: Millis,
) -> QuestionMsg {
    let (options, multi, phase) = match &q.peer {
        Some(peer) => (peer.options.clone(), false, Some("peer_vote".to_string())),
        None => (
            match view {
                Some(view) => order::permute(view, &q.options),
                None => q.options.clone(),
            },
            q.multi,
            (q.mode == Mode::Text).then(|| "answer".to_string()),
        ),
    };
    QuestionMsg {
        qid: q.qid,
        seq: q.qid,
        mode: q.mode,
        prompt: q.question.prompt.clone(),
        topic: q.topic_path.clone(),
        options,
        multi,
        deadline_ms: q.remaining(now),
        time_limit_ms: q.time_limit_ms,
        paused: q.paused_at.is_some(),
        open: q.open,
        phase,
        question_id: host.then(|| q.question.id.clone()),
        correct: host.then(|| q.key.clone()),
        answer: host.then(|| q.question.answer.clone()),
        followups: host.then(|| q.question.followups.clone()),
        notes: host.then(|| q.question.notes.clone()),
        option_ids: host
            .then(|| order::bank_ids(q))
            .filter(|ids| !ids.is_empty()),
    }
}
