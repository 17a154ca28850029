//! Why the room refused a command. Every variant has a stable `code` that
//! clients match on; the text is for people. Nothing changes on an error.

/// A refused command; sent to the sender as `{"type":"error","code","message"}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RoomError {
    /// A non-first message before the socket said who it is.
    #[error("send host, join, resume or screen first")]
    NotIdentified,
    /// A second first message on one socket.
    #[error("this socket is already identified")]
    AlreadyIdentified,
    /// The first message names another room.
    #[error("no room with that code")]
    NoRoom,
    /// The host token does not match.
    #[error("wrong host token")]
    BadToken,
    /// The nickname is empty or too long once cleaned.
    #[error("nickname must be 1 to 24 visible characters")]
    BadName,
    /// Another seat has that nickname (case-insensitive).
    #[error("that nickname is taken in this room")]
    NameTaken,
    /// The host locked the room against new joins.
    #[error("the room is locked")]
    RoomLocked,
    /// The room is at capacity.
    #[error("the room is full")]
    RoomFull,
    /// The game is over.
    #[error("the game is over")]
    RoomEnded,
    /// The game is over, and the joining browser held a seat in it: its
    /// final standing travels with the error.
    #[error("the game is over")]
    RoomEndedFor(Box<crate::protocol::YouMsg>),
    /// Unknown resume token, or the resume window passed.
    #[error("that seat cannot be resumed; join again")]
    SeatExpired,
    /// The seat was kicked; the socket is closed with 4001.
    #[error("you were removed from this room")]
    Kicked,
    /// The role may not send this message.
    #[error("not allowed for your role")]
    Forbidden,
    /// Nothing has been asked yet.
    #[error("no question is being asked")]
    NoQuestion,
    /// The `qid` is not the current question.
    #[error("that is not the current question")]
    WrongQuestion,
    /// The current question takes no more answers.
    #[error("the question is closed")]
    QuestionClosed,
    /// The outcome is out; the question can no longer change.
    #[error("the question was already revealed")]
    AlreadyRevealed,
    /// The message does not fit the question's mode or phase.
    #[error("{0}")]
    WrongMode(&'static str),
    /// Choice indices out of range, repeated, empty or too many.
    #[error("{0}")]
    BadChoice(&'static str),
    /// A peer vote for the option holding one's own answer.
    #[error("you cannot vote for your own answer")]
    OwnAnswer,
    /// The typed answer is empty once cleaned.
    #[error("the answer is empty")]
    EmptyAnswer,
    /// The typed answer is over the limit.
    #[error("the answer is longer than {0} characters")]
    AnswerTooLong(usize),
    /// A buzz after being ruled out, or a judgement of a player without the floor.
    #[error("{0}")]
    NotYourTurn(&'static str),
    /// No seat with that player id.
    #[error("no such player in this room")]
    UnknownPlayer,
    /// A mark for a player that typed nothing.
    #[error("that player has not answered")]
    NoAnswer,
    /// Every fitting question was already asked.
    #[error("no questions left in the chosen topics")]
    NoQuestions,
    /// The catalog has no question with that id.
    #[error("no question with that id")]
    UnknownQuestion,
    /// The question cannot be asked in that mode.
    #[error("{0}")]
    UnsuitableQuestion(&'static str),
    /// Fewer than two distinct typed answers for a peer vote.
    #[error("a peer vote needs at least two different answers")]
    NoAnswers,
    /// A pause on a question without a time limit.
    #[error("the question has no time limit")]
    NoTimer,
    /// A field is out of bounds.
    #[error("{0}")]
    BadMessage(&'static str),
}

impl RoomError {
    /// The stable code clients match on (documented in docs/protocol.md).
    pub fn code(&self) -> &'static str {
        match self {
            RoomError::NotIdentified => "not_identified",
            RoomError::AlreadyIdentified => "already_identified",
            RoomError::NoRoom => "no_room",
            RoomError::BadToken => "bad_token",
            RoomError::BadName => "bad_name",
            RoomError::NameTaken => "name_taken",
            RoomError::RoomLocked => "room_locked",
            RoomError::RoomFull => "room_full",
            RoomError::RoomEnded | RoomError::RoomEndedFor(_) => "room_ended",
            RoomError::SeatExpired => "seat_expired",
            RoomError::Kicked => "kicked",
            RoomError::Forbidden => "forbidden",
            RoomError::NoQuestion => "no_question",
            RoomError::WrongQuestion => "wrong_question",
            RoomError::QuestionClosed => "question_closed",
            RoomError::AlreadyRevealed => "already_revealed",
            RoomError::WrongMode(_) => "wrong_mode",
            RoomError::BadChoice(_) => "bad_choice",
            RoomError::OwnAnswer => "own_answer",
            RoomError::EmptyAnswer => "empty_answer",
            RoomError::AnswerTooLong(_) => "answer_too_long",
            RoomError::NotYourTurn(_) => "not_your_turn",
            RoomError::UnknownPlayer => "unknown_player",
            RoomError::NoAnswer => "no_answer",
            RoomError::NoQuestions => "no_questions",
            RoomError::UnknownQuestion => "unknown_question",
            RoomError::UnsuitableQuestion(_) => "unsuitable_question",
            RoomError::NoAnswers => "no_answers",
            RoomError::NoTimer => "no_timer",
            RoomError::BadMessage(_) => "bad_message",
        }
    }

    /// The final standing an error carries (`room_ended` to a known seat).
    pub fn standing(&self) -> Option<Box<crate::protocol::YouMsg>> {
        match self {
            RoomError::RoomEndedFor(you) => Some(you.clone()),
            _ => None,
        }
    }
}
