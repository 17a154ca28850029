// The client's picture of one room, kept up to date from server messages.
// Host, player and big screen share it and differ only in what they draw.

/** Phases the views draw. */
export const PHASE = {
  LOBBY: 'lobby',
  OPEN: 'open',
  CLOSED: 'closed',
  REVEAL: 'reveal',
  SCORES: 'scores',
  ENDED: 'ended',
};

export class RoomModel {
  constructor() {
    this.role = null;
    this.playerId = null;
    this.title = '';
    this.code = '';
    this.joinUrl = '';
    this.locked = false;
    this.players = [];
    this.question = null;
    this.deadlineAt = null; // performance.now() value when the timer runs out
    this.remainingMs = null; // frozen remaining time while paused
    this.queue = [];
    this.floor = null;
    this.tally = null;
    this.reveal = null;
    this.leaderboard = null;
    this.answers = [];
    this.playerCount = null; // {count, connected} where no roster is sent
    this.you = null; // the player's own standing (player view)
    this.youOnQuestion = null; // the last `you` about a question (points, verdict)
    this.pending = null; // the player's own input on the current question
    this.private = false;
    this.phase = PHASE.LOBBY;
  }

  /** Applies one server message; returns true when something visible changed. */
  apply(msg) {
    switch (msg.type) {
      case 'welcome':
        this.role = msg.role;
        if (msg.player_id != null) this.playerId = msg.player_id;
        this.applyState(msg.state || {});
        return true;
      case 'roster':
        this.players = Array.isArray(msg.players) ? msg.players : [];
        if (typeof msg.locked === 'boolean') this.locked = msg.locked;
        return true;
      case 'question':
        this.setQuestion(msg);
        return true;
      case 'buzz_queue':
        if (this.question && msg.qid !== this.question.qid) return false;
        this.queue = Array.isArray(msg.queue) ? msg.queue : [];
        this.floor = msg.floor ?? null;
        return true;
      case 'tally':
        if (this.question && msg.qid !== this.question.qid) return false;
        this.tally = msg;
        return true;
      case 'text_answer': {
        if (this.question && msg.qid !== this.question.qid) return false;
        const rest = this.answers.filter((a) => a.player_id !== msg.player_id);
        this.answers = [...rest, { player_id: msg.player_id, name: msg.name, text: msg.text, correct: null }];
        return true;
      }
      case 'player_count':
        this.playerCount = { count: msg.count, connected: msg.connected };
        return true;
      case 'you':
        this.you = msg;
        if (msg.qid != null) this.youOnQuestion = msg;
        this.patchScores([msg]);
        return true;
      case 'timer':
        if (this.question && msg.qid !== this.question.qid) return false;
        this.setPaused(Boolean(msg.paused), msg.deadline_ms);
        return true;
      case 'closed':
        if (this.question && msg.qid != null && msg.qid !== this.question.qid) return false;
        this.closeQuestion();
        return true;
      case 'reveal':
        if (this.question && msg.qid !== this.question.qid) return false;
        this.reveal = msg;
        if (Array.isArray(msg.counts) && msg.counts.length) {
          this.tally = { ...(this.tally || {}), qid: msg.qid, counts: msg.counts };
        }
        this.closeQuestion();
        this.phase = PHASE.REVEAL;
        return true;
      case 'scores':
        this.leaderboard = Array.isArray(msg.leaderboard) ? msg.leaderboard : [];
        this.patchScores(this.leaderboard);
        if (this.phase !== PHASE.ENDED && this.phase !== PHASE.OPEN) this.phase = PHASE.SCORES;
        return true;
      case 'ended':
        this.phase = PHASE.ENDED;
        if (this.question) this.question.open = false;
        this.deadlineAt = null;
        return true;
      default:
        return false;
    }
  }

  /** Takes in the full snapshot a welcome carries. */
  applyState(s) {
    if (typeof s.title === 'string') this.title = s.title;
    if (typeof s.code === 'string') this.code = s.code;
    if (typeof s.join_url === 'string') this.joinUrl = s.join_url;
    if (typeof s.locked === 'boolean') this.locked = s.locked;
    if (typeof s.private === 'boolean') this.private = s.private;
    const players = s.roster || s.players;
    if (Array.isArray(players)) this.players = players;
    if (typeof s.player_count === 'number') this.playerCount = { count: s.player_count, connected: s.connected ?? s.player_count };
    if (s.you) {
      this.you = s.you;
      if (s.you.qid != null) this.youOnQuestion = s.you;
    }
    this.pending = s.pending || null;
    if (s.question) this.setQuestion(s.question);
    else {
      this.question = null;
      this.phase = PHASE.LOBBY;
    }
    const bq = s.buzz_queue;
    if (bq && typeof bq === 'object') {
      this.queue = Array.isArray(bq.queue) ? bq.queue : [];
      this.floor = bq.floor ?? null;
    } else if (Array.isArray(bq)) {
      this.queue = bq;
      this.floor = s.floor ?? null;
    }
    if (s.tally) this.tally = s.tally;
    if (Array.isArray(s.answers)) this.answers = s.answers;
    else if (s.answers && Array.isArray(s.answers.answers)) this.answers = s.answers.answers;
    const board = s.leaderboard || (s.scores && s.scores.leaderboard) || s.scores;
    if (Array.isArray(board)) this.leaderboard = board;
    if (s.reveal && this.question && s.reveal.qid === this.question.qid) {
      this.reveal = s.reveal;
      this.phase = PHASE.REVEAL;
    }
    if (s.ended === true) this.phase = PHASE.ENDED;
  }

  setQuestion(q) {
    const same = this.question && this.question.qid === q.qid;
    const samePhase = same && this.question.phase === q.phase;
    this.question = { ...q };
    if (!same || !samePhase) {
      this.queue = [];
      this.floor = null;
      this.tally = null;
      this.reveal = null;
      this.answers = [];
    }
    this.phase = q.open === false ? PHASE.CLOSED : PHASE.OPEN;
    if (q.open !== false && q.deadline_ms != null) {
      if (q.paused) {
        this.remainingMs = q.deadline_ms;
        this.deadlineAt = null;
      } else {
        this.remainingMs = null;
        this.deadlineAt = performance.now() + q.deadline_ms;
      }
    } else {
      this.deadlineAt = null;
      this.remainingMs = null;
    }
  }

  setPaused(paused, remaining) {
    if (!this.question) return;
    this.question.paused = paused;
    if (paused) {
      this.remainingMs = remaining ?? this.timeLeft();
      this.deadlineAt = null;
    } else if (remaining != null || this.remainingMs != null) {
      this.deadlineAt = performance.now() + (remaining ?? this.remainingMs);
      this.remainingMs = null;
    }
  }

  closeQuestion() {
    if (this.question) this.question.open = false;
    this.deadlineAt = null;
    this.remainingMs = null;
    if (this.phase === PHASE.OPEN) this.phase = PHASE.CLOSED;
  }

  /** Milliseconds left on the question timer, or null without a limit. */
  timeLeft() {
    if (this.remainingMs != null) return this.remainingMs;
    if (this.deadlineAt == null) return null;
    return Math.max(0, this.deadlineAt - performance.now());
  }

  /** The player's own roster entry (player view). */
  me() {
    return this.players.find((p) => p.player_id === this.playerId) || null;
  }

  /**
   * Scores change at reveal (and judge) without a new roster; `scores` and
   * `you` carry the fresh numbers, so the roster takes them over.
   */
  patchScores(rows) {
    const fresh = new Map(rows.map((r) => [r.player_id, r.score]));
    if (!this.players.some((p) => fresh.has(p.player_id) && fresh.get(p.player_id) !== p.score)) return;
    this.players = this.players.map((p) => (fresh.has(p.player_id) ? { ...p, score: fresh.get(p.player_id) } : p));
  }

  /** How many players are seated (roster or player_count). */
  count() {
    if (this.players.length) return this.players.length;
    return this.playerCount ? this.playerCount.count : 0;
  }

  /** Name for a player id, from the roster. */
  nameOf(id) {
    const p = this.players.find((x) => x.player_id === id);
    if (p) return p.name;
    const queued = this.queue.find((x) => x.player_id === id);
    return queued ? queued.name : `#${id}`;
  }

  /** Leaderboard rows: the server's, or built from the roster. */
  standings() {
    if (Array.isArray(this.leaderboard) && this.leaderboard.length) {
      // Refresh scores from the roster, which is sent more often.
      return withPlaces(
        this.leaderboard.map((row) => {
          const p = this.players.find((x) => x.player_id === row.player_id);
          return p ? { ...row, score: p.score, name: p.name } : row;
        }),
      );
    }
    return withPlaces(this.players.map((p) => ({ player_id: p.player_id, name: p.name, score: p.score })));
  }
}

/** Sorts by score and gives equal scores the same place. */
export function withPlaces(rows) {
  const sorted = [...rows].sort((a, b) => b.score - a.score || String(a.name).localeCompare(String(b.name)));
  let place = 0;
  let last = null;
  sorted.forEach((row, i) => {
    if (row.score !== last) {
      place = i + 1;
      last = row.score;
    }
    row.place = place;
  });
  return sorted;
}
