//! Why the room refused a command. Every variant has a stable `code` that
//! clients match on; the text is for people. Nothing changes on an error.

/// A refused command; sent to the sender as `{"type":"error","code","message"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("send host, join, resume or screen first")]
    NotIdentified,
    #[error("this socket is already identified")]
    AlreadyIdentified,
    #[error("no room with that code")]
    NoRoom,
    #[error("wrong host token")]
    BadToken,
    #[error("nickname must be 1 to 24 visible characters")]
    BadName,
    #[error("that nickname is taken in this room")]
    NameTaken,
    #[error("the room is locked")]
    RoomLocked,
    #[error("the room is full")]
    RoomFull,
    #[error("the game is over")]
    RoomEnded,
    #[error("that seat cannot be resumed; join again")]
    SeatExpired,
    #[error("you were removed from this room")]
    Kicked,
    #[error("not allowed for your role")]
    Forbidden,
    #[error("no question is being asked")]
    NoQuestion,
    #[error("that is not the current question")]
    WrongQuestion,
    #[error("the question is closed")]
    QuestionClosed,
    #[error("the question was already revealed")]
    AlreadyRevealed,
    #[error("{0}")]
    WrongMode(&'static str),
    #[error("{0}")]
    BadChoice(&'static str),
    #[error("you cannot vote for your own answer")]
    OwnAnswer,
    #[error("the answer is empty")]
    EmptyAnswer,
    #[error("the answer is longer than {0} characters")]
    AnswerTooLong(usize),
    #[error("{0}")]
    NotYourTurn(&'static str),
    #[error("no such player in this room")]
    UnknownPlayer,
    #[error("that player has not answered")]
    NoAnswer,
    #[error("no questions left in the chosen topics")]
    NoQuestions,
    #[error("no question with that id")]
    UnknownQuestion,
    #[error("{0}")]
    UnsuitableQuestion(&'static str),
    #[error("a peer vote needs at least two different answers")]
    NoAnswers,
    #[error("the question has no time limit")]
    NoTimer,
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
            RoomError::RoomEnded => "room_ended",
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
}
