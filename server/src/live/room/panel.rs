//! The interview panel: co-hosts ("interviewers") the owner invites with a
//! token of their own, and the scores and notes every grader leaves on each
//! candidate's answers.
//!
//! An interviewer sees everything the host sees and may judge buzzes, mark
//! typed answers and assess answers; only the owner asks, reveals, ends and
//! manages the panel. Every judgement, mark and assessment carries the
//! grader who made it (`by`: 0 is the owner, interviewers count from 1).
//! Revoking an interviewer closes its sockets at once and its token stops
//! working.
//!
//! The panel's data is part of the room's durable state (so it survives a
//! restart) and of its results (so reports work after the room ended).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::protocol::{
    AssessmentMsg, ClientMsg, InterviewerInfo, Millis, PlayerId, Qid, ServerMsg,
};

use super::players::{clean_name, constant_time_eq, new_token};
use super::voting::ack;
use super::{Audience, ConnId, Effect, Out, Room, RoomError, Who};

/// The grader id of the room's owner.
pub const OWNER: u32 = 0;
/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;
/// Most interviewers one room may invite (revoked ones included).
pub const MAX_INTERVIEWERS: usize = 32;
/// Close code for a revoked interviewer's sockets.
pub const CLOSE_REVOKED: u16 = 4005;

/// Everything the panel stores.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Panel {
    pub interviewers: Vec<Interviewer>,
    pub assessments: Vec<Assessment>,
}

/// One invited interviewer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Interviewer {
    pub id: u32,
    pub name: String,
    pub token: String,
    #[serde(default)]
    pub revoked: bool,
}

/// One grader's latest score and note on one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Assessment {
    pub qid: Qid,
    pub player_id: PlayerId,
    pub by: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub at: Millis,
}

/// Whether an interviewer may send this command (the owner may send all).
pub(super) fn interviewer_may(msg: &ClientMsg) -> bool {
    matches!(
        msg,
        ClientMsg::Judge { .. } | ClientMsg::Mark { .. } | ClientMsg::Assess { .. }
    )
}

/// Trims a note, drops control characters but line breaks, bounds it.
fn clean_note(raw: &str) -> Result<Option<String>, RoomError> {
    let note: String = raw
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect::<String>()
        .trim()
        .to_string();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(RoomError::BadMessage("a note is at most 2000 characters"));
    }
    Ok((!note.is_empty()).then_some(note))
}

impl Room {
    /// The name a grader is shown under.
    pub(super) fn grader_name(&self, by: u32) -> String {
        if by == OWNER {
            return "Host".to_string();
        }
        self.d
            .panel
            .interviewers
            .iter()
            .find(|i| i.id == by)
            .map_or_else(|| format!("#{by}"), |i| i.name.clone())
    }

    /// The grader a host-side socket acts as.
    pub(super) fn grader_of(&self, who: Who) -> Option<u32> {
        match who {
            Who::Host => Some(OWNER),
            Who::Interviewer(id) => Some(id),
            Who::Screen | Who::Player(_) => None,
        }
    }

    /// Whether `token` belongs to an interviewer of this room who was not
    /// revoked: such a token opens this room's candidate reports over
    /// HTTP, and nothing of any other room.
    pub fn is_interviewer_token(&self, token: &str) -> bool {
        // Every token is compared, in constant time, so timing tells nothing.
        let mut found = false;
        for i in &self.d.panel.interviewers {
            found |= constant_time_eq(i.token.as_bytes(), token.as_bytes()) && !i.revoked;
        }
        found
    }

    /// First message `interviewer`: a token of this room's panel.
    pub(super) fn interviewer_hello(
        &mut self,
        conn: ConnId,
        token: &str,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        // Every token is compared, in constant time, so timing tells nothing.
        let mut found = None;
        for i in &self.d.panel.interviewers {
            if constant_time_eq(i.token.as_bytes(), token.as_bytes()) && !i.revoked {
                found = Some(i.id);
            }
        }
        let id = found.ok_or(RoomError::BadToken)?;
        self.live.conns.insert(conn, Who::Interviewer(id));
        self.live.hosts.insert(conn);
        self.welcome_staff(conn, Who::Interviewer(id), now, out);
        self.send_interviewers(out);
        Ok(())
    }

    /// Owner: `add_interviewer`.
    pub(super) fn add_interviewer(&mut self, name: &str, out: &mut Out) -> Result<(), RoomError> {
        let name = clean_name(name).ok_or(RoomError::BadName)?;
        if self.d.panel.interviewers.len() >= MAX_INTERVIEWERS {
            return Err(RoomError::BadMessage("the panel is full"));
        }
        let id = u32::try_from(self.d.panel.interviewers.len() + 1).unwrap_or(u32::MAX);
        self.d.panel.interviewers.push(Interviewer {
            id,
            name,
            token: new_token(),
            revoked: false,
        });
        self.send_interviewers(out);
        out.push(Effect::Checkpoint);
        Ok(())
    }

    /// Owner: `revoke_interviewer`; its sockets are closed at once.
    pub(super) fn revoke_interviewer(&mut self, id: u32, out: &mut Out) -> Result<(), RoomError> {
        let Some(i) = self
            .d
            .panel
            .interviewers
            .iter_mut()
            .find(|i| i.id == id && !i.revoked)
        else {
            return Err(RoomError::BadMessage("no such interviewer"));
        };
        i.revoked = true;
        let conns: Vec<ConnId> = self
            .live
            .conns
            .iter()
            .filter(|(_, w)| **w == Who::Interviewer(id))
            .map(|(c, _)| *c)
            .collect();
        for conn in conns {
            self.live.conns.remove(&conn);
            self.live.hosts.remove(&conn);
            out.close(conn, CLOSE_REVOKED, "revoked");
        }
        self.send_interviewers(out);
        out.push(Effect::Checkpoint);
        Ok(())
    }

    /// Owner or interviewer: `assess` one answer.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn assess(
        &mut self,
        conn: ConnId,
        by: u32,
        qid: Qid,
        player: PlayerId,
        score: Option<u32>,
        note: Option<String>,
        now: Millis,
        out: &mut Out,
    ) -> Result<(), RoomError> {
        // Released questions (qids up to their count) were asked too.
        let released = u32::try_from(self.d.released.count).unwrap_or(u32::MAX);
        if qid > released && !self.d.asked.iter().any(|q| q.qid == qid) {
            return Err(RoomError::WrongQuestion);
        }
        if self.d.player(player).is_none() {
            return Err(RoomError::UnknownPlayer);
        }
        let scale = self.d.options.score_scale;
        if score.is_some_and(|s| s > scale) {
            return Err(RoomError::BadMessage("the score is above the room's scale"));
        }
        let note = match note {
            Some(n) => clean_note(&n)?,
            None => None,
        };
        let a = &mut self.d.panel.assessments;
        let existing = a
            .iter_mut()
            .find(|x| x.qid == qid && x.player_id == player && x.by == by);
        let entry = match existing {
            Some(x) => {
                if score.is_some() {
                    x.score = score;
                }
                if note.is_some() {
                    x.note = note;
                }
                x.at = now;
                x.clone()
            }
            None => {
                let x = Assessment {
                    qid,
                    player_id: player,
                    by,
                    score,
                    note,
                    at: now,
                };
                a.push(x.clone());
                x
            }
        };
        let msg = self.assessment_msg(&entry);
        out.send(Audience::Host, ServerMsg::Assessment(msg));
        ack(out, conn, "assess", qid);
        out.push(Effect::Checkpoint);
        Ok(())
    }

    fn assessment_msg(&self, a: &Assessment) -> AssessmentMsg {
        AssessmentMsg {
            qid: a.qid,
            player_id: a.player_id,
            by: a.by,
            by_name: self.grader_name(a.by),
            score: a.score,
            note: a.note.clone(),
        }
    }

    /// Tells the host side who judged or marked what.
    pub(super) fn attribute(
        &self,
        action: &str,
        player: PlayerId,
        correct: bool,
        by: u32,
        out: &mut Out,
    ) {
        let Some(qid) = self.current_qid() else {
            return;
        };
        out.send(
            Audience::Host,
            ServerMsg::Action {
                qid,
                action: action.to_string(),
                player_id: player,
                correct,
                by,
                by_name: self.grader_name(by),
            },
        );
    }

    /// The panel as the owner sees it (with tokens).
    fn interviewers_msg(&self) -> ServerMsg {
        let connected = |id: u32| self.live.conns.values().any(|w| *w == Who::Interviewer(id));
        ServerMsg::Interviewers {
            interviewers: self
                .d
                .panel
                .interviewers
                .iter()
                .filter(|i| !i.revoked)
                .map(|i| InterviewerInfo {
                    id: i.id,
                    name: i.name.clone(),
                    token: i.token.clone(),
                    connected: connected(i.id),
                })
                .collect(),
        }
    }

    /// Sends the panel list to the owner's sockets only (it holds tokens).
    pub(super) fn send_interviewers(&self, out: &mut Out) {
        out.send(Audience::Owner, self.interviewers_msg());
    }

    /// A host-side welcome: the host state plus the panel.
    pub(super) fn welcome_staff(&self, conn: ConnId, who: Who, now: Millis, out: &mut Out) {
        let mut state = self.state_for(who, now);
        if let Some(obj) = state.as_object_mut() {
            obj.insert("score_scale".into(), json!(self.d.options.score_scale));
            let assessments: Vec<AssessmentMsg> = self
                .d
                .panel
                .assessments
                .iter()
                .map(|a| self.assessment_msg(a))
                .collect();
            obj.insert("assessments".into(), json!(assessments));
            match who {
                Who::Host => {
                    if let ServerMsg::Interviewers { interviewers } = self.interviewers_msg() {
                        obj.insert("interviewers".into(), json!(interviewers));
                    }
                }
                Who::Interviewer(id) => {
                    obj.insert(
                        "interviewer".into(),
                        json!({"id": id, "name": self.grader_name(id)}),
                    );
                }
                Who::Screen | Who::Player(_) => {}
            }
        }
        let role = match who {
            Who::Interviewer(_) => crate::protocol::Role::Interviewer,
            _ => crate::protocol::Role::Host,
        };
        out.send(
            Audience::Conn(conn),
            ServerMsg::Welcome {
                role,
                player_id: None,
                resume_token: None,
                state,
            },
        );
    }

    /// The panel in the results: graders and every assessment.
    pub(super) fn panel_results(&self) -> Value {
        let graders: Vec<Value> =
            std::iter::once(json!({"id": OWNER, "name": self.grader_name(OWNER)}))
                .chain(
                    self.d
                        .panel
                        .interviewers
                        .iter()
                        .map(|i| json!({"id": i.id, "name": i.name, "revoked": i.revoked})),
                )
                .collect();
        let assessments: Vec<AssessmentMsg> = self
            .d
            .panel
            .assessments
            .iter()
            .map(|a| self.assessment_msg(a))
            .collect();
        json!({
            "score_scale": self.d.options.score_scale,
            "graders": graders,
            "assessments": assessments,
        })
    }
}
