//! Results: every closed question aggregated per question, per player and
//! per topic, as JSON and as a spreadsheet-safe CSV.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::protocol::{Mode, PlayerId, Qid, TopicKnowledge};

use super::model::Asked;
use super::Room;

/// One player's input on one question, as exported.
#[derive(Debug, Clone, Serialize)]
pub struct ResultAnswer {
    /// The seat.
    pub player_id: PlayerId,
    /// Nickname at export time.
    pub name: String,
    /// Whether the player buzzed, voted or typed anything.
    pub answered: bool,
    /// Counted option indices (vote, poll, self), in the question's
    /// `options` order.
    pub choices: Option<Vec<usize>>,
    /// The same choices as the bank's own option ids (vote, poll).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice_ids: Option<Vec<usize>>,
    /// Typed answer (text).
    pub text: Option<String>,
    /// `know`, `partly` or `dont_know` (self mode).
    #[serde(rename = "self")]
    pub self_assessment: Option<&'static str>,
    /// Pressed the buzzer (buzz).
    pub buzzed: bool,
    /// Right or wrong where something judged it (key, host ruling, mark).
    pub correct: Option<bool>,
    /// Milliseconds from the question opening to the counted input.
    pub response_ms: Option<u64>,
    /// Points credited on this question.
    pub points: i64,
    /// Peer votes the player's typed answer received.
    pub peer_votes: u32,
    /// Who judged or marked the answer (host or interviewer name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judged_by: Option<String>,
}

/// One closed question.
#[derive(Debug, Clone, Serialize)]
pub struct QuestionResult {
    /// Question number in the room.
    pub qid: Qid,
    /// Same as `qid`, as shown to people.
    pub seq: u32,
    /// Catalog question id.
    pub question_id: String,
    /// The question text.
    pub prompt: String,
    /// Topic path, outermost first.
    pub topic: Vec<String>,
    /// Merged topic id.
    pub topic_id: String,
    /// How it was asked.
    pub mode: Mode,
    /// Options as shown (peer vote: the typed answers).
    pub options: Vec<String>,
    /// Correct option indices (peer vote: the winners).
    pub correct: Vec<usize>,
    /// Final counts per option.
    pub counts: Vec<u32>,
    /// The bank's own option index of each option (vote and poll; options
    /// are shuffled by default, and `options`, `correct`, `counts` and
    /// `choices` are in the room's order; `option_ids[i]` is option i's
    /// index in the bank file).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub option_ids: Vec<usize>,
    /// Players who answered.
    pub answered: u32,
    /// Players in the room when it closed.
    pub of: u32,
    /// The time limit, if any.
    pub time_limit_ms: Option<u64>,
    /// Whether the outcome was shown.
    pub revealed: bool,
    /// Mean response time of the counted inputs.
    pub avg_response_ms: Option<u64>,
    /// One row per player seated when results were taken.
    pub answers: Vec<ResultAnswer>,
}

/// One player over the whole game.
#[derive(Debug, Clone, Serialize)]
pub struct PlayerResult {
    /// The seat.
    pub player_id: PlayerId,
    /// Nickname.
    pub name: String,
    /// Final (or current) score.
    pub score: i64,
    /// 0 for kicked players.
    pub place: u32,
    /// Questions answered.
    pub answered: u32,
    /// Answers judged right.
    pub correct: u32,
    /// Answers judged at all.
    pub judged: u32,
    /// Mean response time of counted inputs.
    pub avg_response_ms: Option<u64>,
    /// Whether the host removed the player.
    pub kicked: bool,
}

/// One topic: correctness and the self-assessment knowledge map.
#[derive(Debug, Clone, Serialize)]
pub struct TopicResult {
    /// Merged topic id.
    pub topic_id: String,
    /// Topic path, outermost first.
    pub topic: Vec<String>,
    /// Closed questions asked from it.
    pub questions: u32,
    /// Answers given.
    pub answered: u32,
    /// Answers judged right.
    pub correct: u32,
    /// Answers judged at all.
    pub judged: u32,
    /// Self-assessed "know it".
    pub know: u32,
    /// Self-assessed "partly".
    pub partly: u32,
    /// Self-assessed "don't know".
    pub dont_know: u32,
    /// Points credited on the topic's questions.
    pub points: i64,
    /// Mean response time of the counted inputs.
    pub avg_response_ms: Option<u64>,
    /// `(know + 0.5·partly) / responses`, when anyone self-assessed.
    pub knowledge: Option<f64>,
}

/// Everything `GET /api/rooms/{code}/results` serves.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// Room code.
    pub code: String,
    /// Room title.
    pub title: String,
    /// Whether the room ran in private mode.
    pub private: bool,
    /// Whether the game is over.
    pub ended: bool,
    /// Every closed question, in order.
    pub questions: Vec<QuestionResult>,
    /// Every seat, in join order.
    pub players: Vec<PlayerResult>,
    /// Per-topic aggregation and knowledge map.
    pub topics: Vec<TopicResult>,
    /// The interview panel: graders, the scale, every score and note.
    pub panel: serde_json::Value,
}

fn self_label(choices: Option<&Vec<usize>>) -> Option<&'static str> {
    match choices?.first()? {
        0 => Some("know"),
        1 => Some("partly"),
        2 => Some("dont_know"),
        _ => None,
    }
}

fn answers_times(answers: &[ResultAnswer]) -> Vec<u64> {
    answers.iter().filter_map(|a| a.response_ms).collect()
}

fn mean(values: &[u64]) -> Option<u64> {
    let n = u64::try_from(values.len()).ok().filter(|n| *n > 0)?;
    Some(values.iter().sum::<u64>() / n)
}

fn question_result(q: &Asked, room: &Room) -> QuestionResult {
    let peer_votes = |id: PlayerId| -> u32 {
        q.peer.as_ref().map_or(0, |peer| {
            peer.authors
                .iter()
                .zip(&peer.counts)
                .filter(|(authors, _)| authors.contains(&id))
                .map(|(_, c)| *c)
                .sum()
        })
    };
    let bank_ids = super::order::bank_ids(q);
    let answers: Vec<ResultAnswer> = room
        .d
        .players
        .iter()
        .map(|p| {
            let e = q.entries.get(&p.id);
            let answered = e.is_some_and(|e| e.choices.is_some() || e.text.is_some() || e.buzzed);
            ResultAnswer {
                player_id: p.id,
                name: p.name.to_string(),
                answered,
                choices: e.and_then(|e| e.choices.clone()),
                choice_ids: e
                    .and_then(|e| e.choices.as_ref())
                    .filter(|_| !bank_ids.is_empty())
                    .map(|c| c.iter().filter_map(|&i| bank_ids.get(i).copied()).collect()),
                text: e.and_then(|e| e.text.clone()),
                self_assessment: if q.mode == Mode::SelfAssess {
                    self_label(e.and_then(|e| e.choices.as_ref()))
                } else {
                    None
                },
                buzzed: e.is_some_and(|e| e.buzzed),
                correct: e.and_then(|e| e.correct),
                response_ms: e.and_then(|e| e.response_ms),
                points: q.points.get(&p.id).copied().unwrap_or(0),
                peer_votes: peer_votes(p.id),
                judged_by: e.and_then(|e| e.judged_by).map(|by| room.grader_name(by)),
            }
        })
        .collect();
    let (options, correct, counts) = match &q.peer {
        Some(peer) => (
            peer.options.clone(),
            super::scoring::peer_winners(peer),
            peer.counts.clone(),
        ),
        None => (q.options.clone(), q.key.clone(), q.counts.clone()),
    };
    let times: Vec<u64> = answers_times(&answers);
    QuestionResult {
        avg_response_ms: mean(&times),
        qid: q.qid,
        seq: q.qid,
        question_id: q.question.id.clone(),
        prompt: q.question.prompt.clone(),
        topic: q.topic_path.clone(),
        topic_id: q.topic_id.clone(),
        mode: q.mode,
        options,
        correct,
        counts,
        option_ids: super::order::bank_ids(q),
        answered: q.answered,
        of: q.of.max(q.answered),
        time_limit_ms: q.time_limit_ms,
        revealed: q.revealed,
        answers,
    }
}

impl Room {
    /// The knowledge map: self-assessments of closed questions per topic.
    pub fn knowledge(&self) -> Vec<TopicKnowledge> {
        let mut topics = self.d.released.knowledge.clone();
        for q in &self.d.asked {
            super::model::add_knowledge(&mut topics, q);
        }
        topics
            .into_values()
            .filter_map(|mut t| {
                let n = t.know + t.partly + t.dont_know;
                (n > 0).then(|| {
                    t.knowledge = (f64::from(t.know) + 0.5 * f64::from(t.partly)) / f64::from(n);
                    t
                })
            })
            .collect()
    }

    /// The results of a room that released no question from memory (see
    /// [`Room::results_with`]).
    #[cfg(test)]
    pub fn results(&self) -> Results {
        self.results_with(&[])
            .expect("no released questions to parse")
    }

    /// The results, every closed question counted: `released` are the JSON
    /// rows the store holds for the questions the room dropped from memory
    /// (the first [`Room::released_count`] rows of `snapshot_questions`).
    /// Fails if they are not those questions.
    pub fn results_with(&self, released: &[String]) -> Result<Results, ResultsError> {
        if released.len() != self.d.released.count {
            return Err(ResultsError::Missing {
                expected: self.d.released.count,
                got: released.len(),
            });
        }
        let earlier = released
            .iter()
            .map(|json| serde_json::from_str::<Asked>(json))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.results_of(&earlier))
    }

    /// The results of the questions still in memory only: what is left to
    /// show when the store cannot read back the released ones.
    pub fn results_in_memory(&self) -> Results {
        self.results_of(&[])
    }

    fn results_of(&self, earlier: &[Asked]) -> Results {
        let questions: Vec<QuestionResult> = earlier
            .iter()
            .chain(&self.d.asked)
            .filter(|q| !q.open)
            .map(|q| question_result(q, self))
            .collect();
        let ranking = &self.live.ranking;
        // `question_result` lists answers in `players` order, so a player's
        // answer sits at the player's own index: O(1), not a scan per
        // player (which made every checkpoint of a big room O(N²)).
        let players = self
            .d
            .players
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mine = questions.iter().filter_map(|q| {
                    q.answers
                        .get(i)
                        .filter(|a| a.player_id == p.id)
                        .or_else(|| q.answers.iter().find(|a| a.player_id == p.id))
                });
                let (mut answered, mut correct, mut judged, mut total_ms, mut timed) =
                    (0u32, 0u32, 0u32, 0u64, 0u64);
                for a in mine {
                    if a.answered {
                        answered += 1;
                    }
                    if let Some(c) = a.correct {
                        judged += 1;
                        correct += u32::from(c);
                    }
                    if let Some(ms) = a.response_ms {
                        total_ms += ms;
                        timed += 1;
                    }
                }
                PlayerResult {
                    player_id: p.id,
                    name: p.name.to_string(),
                    score: p.score,
                    place: if p.kicked {
                        0
                    } else {
                        ranking.place_of(p.score)
                    },
                    answered,
                    correct,
                    judged,
                    avg_response_ms: (timed > 0).then(|| total_ms / timed),
                    kicked: p.kicked,
                }
            })
            .collect();
        let mut topics: BTreeMap<String, TopicResult> = BTreeMap::new();
        let mut topic_times: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for q in &questions {
            let t = topics
                .entry(q.topic_id.clone())
                .or_insert_with(|| TopicResult {
                    topic_id: q.topic_id.clone(),
                    topic: q.topic.clone(),
                    questions: 0,
                    answered: 0,
                    correct: 0,
                    judged: 0,
                    know: 0,
                    partly: 0,
                    dont_know: 0,
                    points: 0,
                    avg_response_ms: None,
                    knowledge: None,
                });
            t.questions += 1;
            topic_times
                .entry(q.topic_id.clone())
                .or_default()
                .extend(answers_times(&q.answers));
            for a in &q.answers {
                t.points += a.points;
                t.answered += u32::from(a.answered);
                if let Some(c) = a.correct {
                    t.judged += 1;
                    t.correct += u32::from(c);
                }
                match a.self_assessment {
                    Some("know") => t.know += 1,
                    Some("partly") => t.partly += 1,
                    Some("dont_know") => t.dont_know += 1,
                    _ => {}
                }
            }
        }
        let topics = topics
            .into_values()
            .map(|mut t| {
                t.avg_response_ms = topic_times.get(&t.topic_id).and_then(|v| mean(v));
                let n = t.know + t.partly + t.dont_know;
                t.knowledge =
                    (n > 0).then(|| (f64::from(t.know) + 0.5 * f64::from(t.partly)) / f64::from(n));
                t
            })
            .collect();
        Results {
            code: self.d.code.clone(),
            title: self.d.options.title.clone(),
            private: self.d.options.private,
            ended: self.d.ended,
            questions,
            players,
            topics,
            panel: self.panel_results(),
        }
    }

    /// Finished questions dropped from memory (see [`Room::release_stored`]).
    pub fn released_count(&self) -> usize {
        self.d.released.count
    }
}

/// Results could not be put together from the stored questions.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The store did not hand back every released question.
    #[error("{got} of {expected} released questions read back")]
    Missing {
        /// Questions the room released.
        expected: usize,
        /// Rows read back.
        got: usize,
    },
    /// A stored question did not parse.
    #[error("a stored question does not parse: {0}")]
    Parse(#[from] serde_json::Error),
}

/// CSV header, one row per player per question follows.
/// Marks the CSV as UTF-8 for spreadsheets.
pub const CSV_BOM: &str = "\u{feff}";

/// The CSV header row.
pub const CSV_HEADER: &str = "qid,seq,question_id,topic,mode,prompt,player_id,name,answered,choices,text,self,buzzed,correct,response_ms,points,choice_ids";

/// A text cell: a leading formula character is neutralized with `'`, then
/// the cell is quoted with inner quotes doubled (RFC 4180).
fn text_cell(raw: &str) -> String {
    let guarded = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{raw}")
    } else {
        raw.to_string()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Buzz => "buzz",
        Mode::Vote => "vote",
        Mode::Poll => "poll",
        Mode::SelfAssess => "self",
        Mode::Text => "text",
    }
}

impl Results {
    /// The results as CSV (one row per player per question, header first,
    /// CRLF line ends) that opens cleanly in a spreadsheet. It starts with a
    /// UTF-8 byte-order mark: without it Excel reads the file as the local
    /// ANSI code page and garbles Cyrillic names and prompts.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from(CSV_BOM);
        csv.push_str(CSV_HEADER);
        csv.push_str("\r\n");
        let opt_num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
        for q in &self.questions {
            for a in &q.answers {
                let choices = a
                    .choices
                    .as_ref()
                    .map(|c| {
                        c.iter()
                            .map(|i| q.options.get(*i).cloned().unwrap_or_else(|| i.to_string()))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    })
                    .unwrap_or_default();
                // The bank's own option ids of the choices, so a file
                // read next to the bank does not depend on the shown order.
                let choice_ids = a
                    .choice_ids
                    .as_ref()
                    .map(|c| c.iter().map(usize::to_string).collect::<Vec<_>>().join(" "))
                    .unwrap_or_default();
                let correct = match a.correct {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "",
                };
                let _ = write!(
                    csv,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
                    q.qid,
                    q.seq,
                    text_cell(&q.question_id),
                    text_cell(&q.topic.join(" / ")),
                    mode_name(q.mode),
                    text_cell(&q.prompt),
                    a.player_id,
                    text_cell(&a.name),
                    if a.answered { "yes" } else { "no" },
                    text_cell(&choices),
                    text_cell(a.text.as_deref().unwrap_or("")),
                    a.self_assessment.unwrap_or(""),
                    if a.buzzed { "yes" } else { "no" },
                    correct,
                    opt_num(a.response_ms),
                    a.points,
                    choice_ids,
                );
            }
        }
        csv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cells_are_quoted_and_formula_safe() {
        assert_eq!(text_cell("plain"), "\"plain\"");
        assert_eq!(text_cell("say \"hi\", ok"), "\"say \"\"hi\"\", ok\"");
        assert_eq!(text_cell("=SUM(A1:A9)"), "\"'=SUM(A1:A9)\"");
        assert_eq!(text_cell("+1"), "\"'+1\"");
        assert_eq!(text_cell("-2"), "\"'-2\"");
        assert_eq!(text_cell("@cmd"), "\"'@cmd\"");
        assert_eq!(text_cell("line\nbreak"), "\"line\nbreak\"");
    }
}
