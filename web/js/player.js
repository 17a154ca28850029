// The player page: join with a code and a nickname, then answer whatever
// the question needs (buzz, options, self-assessment scale, typed text).
// The seat survives refreshes and network drops through the resume token.

import { renderMarkdown } from './markdown.js';
import { h, letter, Region, typingIn } from './dom.js';
import { errorText, onLangChange, t } from './i18n.js';
import { PHASE, RoomModel } from './model.js';
import { eventTime, RoomSocket } from './socket.js';
import { load, save } from './store.js';
import {
  connPill,
  countdown,
  histogram,
  langSwitch,
  leaderboard,
  optionLabel,
  reconnectBanner,
  toast,
  topicPath,
} from './widgets.js';

const CODE_RE = /^[A-Z0-9]{4,12}$/;
const MAX_NAME = 24;

/** Characters as a reader counts them (grapheme clusters), as the server does. */
function nameLength(name) {
  if (typeof Intl !== 'undefined' && Intl.Segmenter) {
    return [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(name)].length;
  }
  return [...name].length;
}
const MAX_ANSWER = 500;

/** Normalizes what a person types as a room code. */
export function normalizeCode(raw) {
  return String(raw || '')
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, '');
}

/** Mounts the player page into root; code may be empty (then it is asked). */
export function mountPlayer(root, initialCode) {
  const app = new PlayerApp(root, normalizeCode(initialCode));
  app.start();
  return app;
}

class PlayerApp {
  constructor(root, code) {
    this.root = root;
    this.code = code;
    this.model = new RoomModel();
    this.status = 'stopped';
    this.view = 'form'; // form | game | kicked
    this.formError = '';
    this.editCode = !code;
    this.busy = false;
    this.welcomed = false;
    this.helloKind = null;
    this.creds = code ? load(`player.${code}`) : null;
    this.name = (this.creds && this.creds.name) || load('player.lastName', '') || '';
    this.mine = code ? load(`mine.${code}`, {}) || {} : {};
    this.socket = null;

    this.header = h('header', { class: 'topbar player-top' });
    this.banner = h('div', { class: 'banner-slot' });
    this.main = h('main', { class: 'player', id: 'main' });
    this.prompt = h('div', { class: 'prompt md', role: 'heading', 'aria-level': '2', 'aria-live': 'polite', id: 'prompt' });
    this.status_ = h('p', { class: 'ack', role: 'status', 'aria-live': 'polite' });
    this.regions = {
      header: new Region(this.header),
      banner: new Region(this.banner),
      main: new Region(this.main),
    };
    root.replaceChildren(this.header, this.banner, this.main);
    onLangChange(() => {
      Object.values(this.regions).forEach((r) => r.invalidate());
      this.inputRegion = null;
      this.render();
    });
    document.addEventListener('keydown', (e) => this.onKey(e));
    this.tick = setInterval(() => this.renderHeader(), 1000);
  }

  start() {
    if (this.code && this.creds && this.creds.resume_token) {
      this.connect('resume');
    } else {
      this.render();
    }
  }

  // --- connection --------------------------------------------------------

  connect(kind) {
    if (this.socket) this.socket.stop();
    this.helloKind = kind;
    this.welcomed = false;
    this.busy = true;
    this.socket = new RoomSocket({
      hello: () => {
        const creds = load(`player.${this.code}`);
        if (this.welcomed && creds && creds.resume_token) {
          this.helloKind = 'resume';
          return { type: 'resume', room: this.code, resume_token: creds.resume_token, sync: true };
        }
        if (this.helloKind === 'resume' && creds && creds.resume_token) {
          return { type: 'resume', room: this.code, resume_token: creds.resume_token, sync: true };
        }
        this.helloKind = 'join';
        const join = { type: 'join', room: this.code, name: this.name.trim(), sync: true };
        const kickedToken = load(`kicked.${this.code}`);
        if (kickedToken) join.resume_token = kickedToken;
        return join;
      },
      onMessage: (msg) => this.onMessage(msg),
      onStatus: (status, detail) => this.onStatus(status, detail),
    });
    this.socket.start();
    this.render();
  }

  onStatus(status, detail) {
    this.status = status;
    if (status !== 'online') this.identified = false;
    if (this.gameOver && status === 'reconnecting') {
      this.socket.stop();
      return;
    }
    if (status === 'stopped' && detail && detail.code === 4001) this.kicked();
    else if (status === 'stopped' && detail && detail.code === 4002) this.view = 'elsewhere';
    else if (status === 'stopped' && detail && detail.code === 4004) {
      save(`player.${this.code}`, null);
      this.view = 'gone';
    }
    else if (status === 'reconnecting' && !this.welcomed && this.view === 'form') {
      // Never got in: do not spin forever behind the form.
      this.socket.stop();
      this.busy = false;
      this.formError = t('err.network');
    }
    this.render();
  }

  onMessage(msg) {
    if (msg.type === 'error') {
      if (!this.identified) return this.helloRefused(msg);
      if (msg.code === 'kicked') return this.kicked();
      // A refused input may be tried again (unless it had been counted already).
      const key = this.mineKey();
      if (key && this.mine[key] && this.mine[key].sending) {
        this.mine[key] = { ...this.mine[key], sending: false };
        this.saveMine();
      }
      toast(errorText(msg.code, msg.message), 'error');
      this.render();
      return;
    }
    if (msg.type === 'welcome') {
      this.welcomed = true;
      this.identified = true;
      this.busy = false;
      this.view = 'game';
      this.formError = '';
      this.socket.welcomed();
      this.creds = {
        resume_token: msg.resume_token || (this.creds && this.creds.resume_token),
        player_id: msg.player_id,
        name: this.nameFromWelcome(msg),
      };
      save(`player.${this.code}`, this.creds);
      save('player.lastName', this.creds.name);
      this.model = new RoomModel();
      this.model.apply(msg);
      // A reload after the end: the final view, and no reconnecting to a closed room.
      if (this.model.phase === PHASE.ENDED) this.gameOver = true;
      this.takePending(msg.state && msg.state.pending);
      this.afterUpdate(true);
      return;
    }
    if (msg.type === 'ack') {
      // An ack may come late (held until the answer is stored, e.g. while
      // the results database is away): it is for its own question only.
      const key = this.mineKey();
      const q = this.model.question;
      if (key && (msg.qid == null || (q && q.qid === msg.qid))) {
        this.mine[key] = { ...(this.mine[key] || {}), acked: true, sending: false };
        this.saveMine();
      }
      this.render();
      return;
    }
    const prevKey = this.mineKey();
    if (this.model.apply(msg)) this.afterUpdate(this.mineKey() !== prevKey);
    if (msg.type === 'ended') {
      // Final scores may still follow; the socket is left to close by itself.
      // The seat is kept so a reload shows the final place again.
      this.gameOver = true;
    }
  }

  nameFromWelcome(msg) {
    const st = msg.state || {};
    if (st.you && st.you.name) return st.you.name;
    const me = Array.isArray(st.roster) && st.roster.find((p) => p.player_id === msg.player_id);
    return (me && me.name) || this.name;
  }

  /** After a resume, the server tells what this player already sent. */
  takePending(pending) {
    const key = this.mineKey();
    if (!key || !pending) return;
    const q = this.model.question;
    const mine = {};
    if (pending.buzzed) Object.assign(mine, { buzzed: true, acked: true });
    if (q.phase === 'peer_vote') {
      if (pending.peer_choice != null) Object.assign(mine, { choices: [pending.peer_choice], acked: true });
    } else {
      if (Array.isArray(pending.choices) && pending.choices.length) Object.assign(mine, { choices: pending.choices, picked: pending.choices, acked: true });
      if (typeof pending.text === 'string') Object.assign(mine, { text: pending.text, acked: true });
    }
    if (Object.keys(mine).length) {
      this.mine[key] = { ...(this.mine[key] || {}), ...mine };
      this.saveMine();
    }
  }

  helloRefused(msg) {
    this.socket.stop();
    this.busy = false;
    if (msg.code === 'room_ended') {
      // Not "no such room": the game was played and is over.
      this.final = msg.you || null;
      this.view = 'over';
      this.render();
      return;
    }
    if (this.helloKind === 'resume') {
      // The seat is gone (expired, kicked, or the room ended): start over.
      save(`player.${this.code}`, null);
      this.creds = null;
      this.welcomed = false;
      if (msg.code !== 'seat_expired') this.formError = errorText(msg.code, msg.message);
      if (msg.code === 'kicked') return this.kicked();
      this.view = 'form';
      this.render();
      return;
    }
    this.formError = errorText(msg.code, msg.message);
    if (msg.code === 'kicked') return this.kicked();
    if (msg.code === 'no_room' || msg.code === 'room_not_found') this.editCode = true;
    this.focusField = this.editCode && msg.code !== 'name_taken' && msg.code !== 'bad_name' ? 'code' : 'name';
    this.view = 'form';
    this.render();
  }

  kicked() {
    if (this.socket) this.socket.stop();
    // Kept so a new join from this browser is refused as the same person.
    const token = (this.creds && this.creds.resume_token) || load(`kicked.${this.code}`);
    if (token) save(`kicked.${this.code}`, token);
    save(`player.${this.code}`, null);
    this.view = 'kicked';
    this.render();
  }

  // --- actions -------------------------------------------------------------

  submitForm(codeInput, nameInput) {
    const code = normalizeCode(codeInput ? codeInput.value : this.code);
    const name = nameInput.value.trim();
    // Keep what was typed across the redraw that shows an error.
    this.draftCode = code;
    this.name = nameInput.value;
    if (!CODE_RE.test(code)) {
      this.formError = t('err.bad_code');
      this.focusField = 'code';
      this.editCode = true;
      this.render();
      return;
    }
    if (!name || nameLength(name) > MAX_NAME) {
      this.formError = t('err.bad_name');
      this.focusField = 'name';
      this.render();
      return;
    }
    if (code !== this.code) {
      this.code = code;
      this.mine = load(`mine.${code}`, {}) || {};
      history.replaceState(null, '', `/join/${code}`);
    }
    this.name = name;
    this.formError = '';
    this.connect('join');
  }

  mineKey() {
    const q = this.model.question;
    return q ? `${q.qid}:${q.mode}:${q.phase || ''}` : null;
  }

  myAnswer() {
    const key = this.mineKey();
    return (key && this.mine[key]) || {};
  }

  saveMine() {
    // Keep only the current question's entry.
    const key = this.mineKey();
    if (key) this.mine = { [key]: this.mine[key] };
    save(`mine.${this.code}`, this.mine);
  }

  setMine(patch) {
    const key = this.mineKey();
    if (!key) return;
    this.mine[key] = { ...(this.mine[key] || {}), ...patch };
    this.saveMine();
  }

  canAnswer() {
    const q = this.model.question;
    return Boolean(q && this.model.phase === PHASE.OPEN && q.open !== false && this.status === 'online');
  }

  /** Presses the buzzer; `event` dates the press (tap or key) exactly. */
  buzz(event) {
    const pressedMs = eventTime(event);
    const q = this.model.question;
    if (!q || q.mode !== 'buzz' || !this.canAnswer() || this.myAnswer().buzzed) return;
    if (this.socket.send({ type: 'buzz', qid: q.qid, pressed_ms: pressedMs })) {
      this.setMine({ buzzed: true, sending: true });
      this.render();
    }
  }

  choose(i) {
    const q = this.model.question;
    if (!q || !this.canAnswer() || i < 0 || i >= q.options.length) return;
    const mine = this.myAnswer();
    if ((q.mode === 'vote' || q.phase === 'peer_vote') && (mine.acked || mine.sending) && !q.multi) return;
    if (q.multi) {
      const picked = new Set(this.myAnswer().picked || []);
      if (picked.has(i)) picked.delete(i);
      else picked.add(i);
      this.setMine({ picked: [...picked].sort((a, b) => a - b), acked: false });
      this.render();
      return;
    }
    if (this.socket.send({ type: 'vote', qid: q.qid, choice: i })) {
      this.setMine({ choices: [i], sending: true, acked: false });
      this.render();
    }
  }

  sendMulti() {
    const q = this.model.question;
    const picked = this.myAnswer().picked || [];
    if (!q || !this.canAnswer() || !picked.length) return;
    if (this.socket.send({ type: 'vote', qid: q.qid, choices: picked })) {
      this.setMine({ choices: picked, sending: true, acked: false });
      this.render();
    }
  }

  sendText(area) {
    const q = this.model.question;
    const text = area.value.trim();
    const mine = this.myAnswer();
    if (!q || !this.canAnswer() || !text || mine.acked || mine.sending) return;
    if (this.socket.send({ type: 'answer', qid: q.qid, text: text.slice(0, MAX_ANSWER) })) {
      this.setMine({ text, sending: true, acked: false });
      this.render();
    }
  }

  onKey(e) {
    if (this.view !== 'game' || e.ctrlKey || e.metaKey || e.altKey || typingIn(e)) return;
    const q = this.model.question;
    if (!q || this.model.phase !== PHASE.OPEN) return;
    if ((e.code === 'Space' || e.key === ' ') && q.mode === 'buzz') {
      e.preventDefault();
      this.buzz(e);
      return;
    }
    if (/^[1-9]$/.test(e.key) && q.mode !== 'buzz' && (q.mode !== 'text' || q.phase === 'peer_vote')) {
      const i = Number(e.key) - 1;
      if (i < q.options.length) {
        e.preventDefault();
        this.choose(i);
      }
    }
  }

  // --- drawing -------------------------------------------------------------

  afterUpdate(newQuestion) {
    if (newQuestion) {
      this.inputRegion = null;
      const q = this.model.question;
      this.prompt.replaceChildren(...(q ? renderMarkdown(q.prompt) : []));
    }
    this.render();
  }

  render() {
    this.renderHeader();
    this.regions.banner.update([this.status, this.view], () =>
      this.view === 'game' && this.welcomed ? reconnectBanner(this.status, () => this.socket && this.socket.connectNow()) : null,
    );
    if (this.view === 'kicked' || this.view === 'elsewhere' || this.view === 'gone') {
      const text = { kicked: t('player.kicked'), elsewhere: t('player.elsewhere'), gone: t('player.gone') }[this.view];
      this.regions.main.update(this.view, () =>
        h(
          'section',
          { class: 'card center', 'data-testid': `view-${this.view}` },
          h('h1', { text }),
          this.view === 'elsewhere'
            ? h('button', { type: 'button', class: 'btn btn-primary', text: t('player.takeBack'), onclick: () => this.connect('resume') })
            : h('a', { class: 'btn', href: '/join', text: t('home.join.go') }),
        ),
      );
      return;
    }
    if (this.view === 'over') {
      const you = this.final;
      this.regions.main.update(['over', you], () =>
        h(
          'section',
          { class: 'card center', 'data-testid': 'view-over' },
          h('h1', { text: t('player.over') }),
          you ? h('p', { class: 'final', text: t('player.final', { place: you.place, n: you.of, score: you.score }) }) : null,
          h('a', { class: 'btn', href: '/join', text: t('player.joinOther') }),
        ),
      );
      return;
    }
    if (this.view === 'form') {
      this.regions.main.update(['form', this.code, this.editCode, this.formError, this.busy], () => this.formView());
      return;
    }
    this.renderGame();
  }

  renderHeader() {
    const me = this.view === 'game' ? this.standing() : null;
    const standing = me;
    this.regions.header.update(
      [this.code, me, this.status, this.view],
      () => [
        h('a', { class: 'brand', href: '/', text: t('app.name') }),
        this.code ? h('span', { class: 'room-code-small', text: this.code }) : null,
        me
          ? h(
              'span',
              { class: 'me', 'data-testid': 'me' },
              h('strong', { text: me.name }),
              h('span', { class: 'score', 'data-testid': 'my-score', text: ` · ${t('player.score')}: ${me.score}` }),
              standing && standing.place ? h('span', { class: 'place', text: ` · ${t('player.place')}: ${t('player.placeOf', { place: standing.place, n: standing.of })}` }) : null,
            )
          : null,
        h('span', { class: 'spacer' }),
        this.view === 'game' ? connPill(this.status) : null,
        langSwitch(),
      ],
    );
  }

  /** The player's own name, score and place: from `you`, else the roster. */
  standing() {
    const m = this.model;
    const me = m.me();
    if (me) {
      const row = m.standings().find((r) => r.player_id === me.player_id);
      return { name: me.name, score: me.score, place: row ? row.place : null, of: m.count() };
    }
    if (m.you) return { name: m.you.name, score: m.you.score, place: m.you.place, of: m.you.of };
    return this.creds ? { name: this.creds.name, score: 0, place: null, of: m.count() } : null;
  }

  formView() {
    let codeInput = null;
    const nameInput = h('input', {
      id: 'name',
      name: 'name',
      autocomplete: 'nickname',
      maxlength: 64,
      required: true,
      placeholder: t('form.name.placeholder'),
      value: this.name,
      'aria-describedby': this.formError ? 'form-error' : null,
    });
    const form = h(
      'form',
      {
        class: 'card join-form',
        novalidate: true,
        onsubmit: (e) => {
          e.preventDefault();
          this.submitForm(codeInput, nameInput);
        },
      },
      h('h1', { text: t('home.join.title') }),
      this.editCode
        ? [
            h('label', { for: 'code', text: t('form.code') }),
            (codeInput = h('input', {
              id: 'code',
              name: 'code',
              class: 'code-input',
              autocomplete: 'off',
              autocapitalize: 'characters',
              spellcheck: 'false',
              maxlength: 12,
              inputmode: 'text',
              placeholder: t('form.code.placeholder'),
              value: this.draftCode ?? this.code,
            })),
          ]
        : h(
            'p',
            { class: 'code-line' },
            h('span', { class: 'muted', text: `${t('form.code')}: ` }),
            h('strong', { class: 'room-code', text: this.code }),
            ' ',
            h('button', {
              type: 'button',
              class: 'link',
              text: t('form.changeCode'),
              onclick: () => {
                this.editCode = true;
                this.render();
              },
            }),
          ),
      h('label', { for: 'name', text: t('form.name') }),
      nameInput,
      this.formError ? h('p', { class: 'error', id: 'form-error', role: 'alert', text: this.formError }) : null,
      h('button', { type: 'submit', class: 'btn btn-primary btn-block', disabled: this.busy, text: this.busy ? t('form.joining') : t('form.join') }),
    );
    requestAnimationFrame(() => {
      const wantCode = this.focusField ? this.focusField === 'code' : !this.code;
      const target = codeInput && wantCode ? codeInput : nameInput;
      if (target.isConnected && !this.busy) target.focus();
    });
    return form;
  }

  renderGame() {
    const m = this.model;
    const q = m.question;
    const phase = m.phase;
    if (phase === PHASE.ENDED) {
      this.regions.main.update(['ended', m.players.map((p) => [p.player_id, p.score]), m.leaderboard, m.you], () => this.endedView());
      return;
    }
    if (!q || phase === PHASE.LOBBY) {
      this.regions.main.update(['lobby', m.count(), this.creds && this.creds.name], () =>
        h(
          'section',
          { class: 'card center lobby' },
          h('h1', { text: t('player.welcome', { name: (this.creds && this.creds.name) || this.name }) }),
          h('p', { class: 'waiting', text: t('player.waiting') }),
          h('p', { class: 'muted', text: t('player.players', { n: m.count() }) }),
        ),
      );
      return;
    }
    if (phase === PHASE.SCORES) {
      this.regions.main.update(['scores', m.standings(), this.standing()], () =>
        h(
          'section',
          { class: 'card' },
          h('h1', { text: t('screen.leaderboard') }),
          this.standingLine(),
          m.standings().length ? leaderboard(m.standings(), { highlight: m.playerId, limit: 50 }) : null,
          h('p', { class: 'muted', text: t('player.waitingNext') }),
        ),
      );
      return;
    }
    // A question is on: the card stays, only its parts redraw.
    if (this.regions.main.sig !== `q:${q.qid}:${q.mode}`) {
      this.regions.main.sig = `q:${q.qid}:${q.mode}`;
      this.prompt.replaceChildren(...renderMarkdown(q.prompt));
      this.metaEl = h('div', { class: 'q-meta' });
      this.timerEl = h('div', { class: 'q-timer' });
      this.inputEl = h('div', { class: 'q-input' });
      this.resultEl = h('div', { class: 'q-result' });
      this.regionsQ = {
        meta: new Region(this.metaEl),
        timer: new Region(this.timerEl),
        input: new Region(this.inputEl),
        result: new Region(this.resultEl),
      };
      this.main.replaceChildren(
        h('section', { class: 'card question', 'data-qid': q.qid, 'data-mode': q.mode }, this.metaEl, this.prompt, this.timerEl, this.inputEl, this.status_, this.resultEl),
      );
    }
    if (this.inputRegion === null) {
      Object.values(this.regionsQ).forEach((r) => r.invalidate());
      this.inputRegion = true;
    }
    const mine = this.myAnswer();
    this.regionsQ.meta.update([q.seq, q.mode, q.topic], () => [
      h('span', { class: 'q-num', text: t('q.number', { n: q.seq || q.qid }) }),
      h('span', { class: `badge mode-${q.mode}`, text: t(`mode.${q.mode}`) }),
      topicPath(q.topic),
    ]);
    const limited = m.timeLeft() != null;
    this.regionsQ.timer.update([q.qid, limited, phase, q.paused], () =>
      phase === PHASE.OPEN ? (limited ? countdown(m) : h('p', { class: 'muted small', text: t('player.noLimit') })) : null,
    );
    const inputSig = [phase, q.open, this.status === 'online', mine, m.floor, m.queue.map((e) => e.player_id), m.reveal && m.reveal.qid];
    this.regionsQ.input.update(inputSig, () => this.inputView(q, mine));
    this.status_.textContent = this.ackText(q, mine);
    this.regionsQ.result.update([phase, m.reveal, m.you, m.youOnQuestion, m.players.map((p) => [p.player_id, p.score]), this.livePoll(q, mine) && m.tally], () =>
      this.livePoll(q, mine) ? histogram(q, m.tally.counts, { mine: mine.choices || [] }) : this.resultView(q, mine),
    );
  }

  /** A poll shows everyone's votes live once the player has voted. */
  livePoll(q, mine) {
    const m = this.model;
    return q.mode === 'poll' && m.phase !== PHASE.REVEAL && Boolean(mine.acked && m.tally && Array.isArray(m.tally.counts));
  }

  ackText(q, mine) {
    const m = this.model;
    if (m.phase === PHASE.REVEAL) return '';
    if (q.mode === 'buzz') {
      if (m.phase === PHASE.CLOSED) return t('player.closed');
      if (m.floor === m.playerId && m.playerId != null) return t('player.buzz.floor');
      const pos = m.queue.findIndex((e) => e.player_id === m.playerId);
      const floorPos = m.queue.findIndex((e) => e.player_id === m.floor);
      const waiting = m.floor != null ? t('player.buzz.waitFloor', { name: m.nameOf(m.floor) }) : '';
      if (pos >= 0) {
        // Before the floor holder in the queue means already ruled on.
        if (floorPos >= 0 && pos < floorPos) return waiting;
        return [waiting, t('player.buzz.sent', { pos: pos + 1 })].filter(Boolean).join(' ');
      }
      if (mine.buzzed) return mine.acked ? t('player.buzz.sentNoPos') : t('player.sending');
      return waiting;
    }
    if (mine.sending && !mine.acked) return t('player.sending');
    if (mine.acked) {
      if (q.mode === 'text' && q.phase !== 'peer_vote') return t('player.text.sent');
      const changeable = q.mode === 'poll' || q.mode === 'self';
      return m.phase === PHASE.OPEN && changeable ? `${t('player.vote.sent')} ${t('player.vote.change')}` : t('player.vote.sent');
    }
    if (m.phase === PHASE.CLOSED) return t('player.closed');
    if (q.multi && m.phase === PHASE.OPEN) return t('player.vote.multi');
    if (q.phase === 'peer_vote' && m.phase === PHASE.OPEN) return t('player.peer.hint');
    return '';
  }

  inputView(q, mine) {
    const m = this.model;
    const open = this.canAnswer();
    if (m.phase === PHASE.REVEAL) return null;
    if (q.mode === 'buzz') {
      const inQueue = m.queue.some((e) => e.player_id === m.playerId);
      const floor = m.floor === m.playerId && m.playerId != null;
      return h(
        'div',
        { class: 'buzz-wrap' },
        h(
          'button',
          {
            type: 'button',
            class: `buzz-btn${mine.buzzed || inQueue ? ' pressed' : ''}${floor ? ' floor' : ''}`,
            disabled: !open || mine.buzzed || inQueue,
            'aria-keyshortcuts': 'Space',
            'data-testid': 'buzz',
            onclick: (e) => this.buzz(e),
          },
          h('span', { class: 'buzz-label', text: t('player.buzz') }),
        ),
        h('p', { class: 'muted small center', text: t('player.buzz.hint') }),
      );
    }
    if (q.mode === 'text' && q.phase !== 'peer_vote') {
      // The first typed answer counts; it cannot be changed afterwards.
      const done = Boolean(mine.acked || mine.sending);
      const area = h('textarea', {
        id: 'answer',
        rows: 4,
        maxlength: MAX_ANSWER,
        disabled: !open || done,
        'aria-label': t('player.text.label'),
        value: mine.text || '',
      });
      const counter = h('span', { class: 'muted small', text: t('player.text.count', { n: [...(mine.text || '')].length, max: MAX_ANSWER }) });
      area.addEventListener('input', () => {
        counter.textContent = t('player.text.count', { n: [...area.value].length, max: MAX_ANSWER });
      });
      area.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey) {
          e.preventDefault();
          this.sendText(area);
        }
      });
      return h(
        'form',
        {
          class: 'text-answer',
          onsubmit: (e) => {
            e.preventDefault();
            this.sendText(area);
          },
        },
        h('label', { for: 'answer', class: 'sr-only', text: t('player.text.label') }),
        area,
        h('div', { class: 'row' }, counter, h('span', { class: 'spacer' }), h('button', { type: 'submit', class: 'btn btn-primary', disabled: !open || done, text: t('player.text.send') })),
      );
    }
    const chosen = new Set(q.multi ? mine.picked || mine.choices || [] : mine.choices || []);
    const final = (q.mode === 'vote' || q.phase === 'peer_vote') && (mine.acked || mine.sending);
    const buttons = q.options.map((_, i) =>
      h(
        'button',
        {
          type: 'button',
          class: `opt${chosen.has(i) ? ' chosen' : ''}${q.mode === 'self' ? ` self-${i}` : ''}`,
          'aria-pressed': chosen.has(i) ? 'true' : 'false',
          'aria-keyshortcuts': i < 9 ? String(i + 1) : null,
          disabled: !open || (final && !chosen.has(i)),
          'data-index': i,
          onclick: () => this.choose(i),
        },
        h('span', { class: 'opt-letter', 'aria-hidden': 'true', text: letter(i) }),
        h('span', { class: 'opt-text', text: optionLabel(q, i) }),
      ),
    );
    return [
      h('div', { class: `options${q.mode === 'self' ? ' self-scale' : ''}`, role: 'group', 'aria-labelledby': 'prompt' }, buttons),
      q.multi
        ? h('button', { type: 'button', class: 'btn btn-primary btn-block', disabled: !open || !chosen.size || final, text: t('player.vote.send'), onclick: () => this.sendMulti() })
        : null,
    ];
  }

  resultView(q, mine) {
    const m = this.model;
    if (m.phase !== PHASE.REVEAL || !m.reveal) return null;
    const r = m.reveal;
    const you = m.youOnQuestion && m.youOnQuestion.qid === r.qid ? m.youOnQuestion : null;
    const fromMap = r.points ? r.points[m.playerId] ?? r.points[String(m.playerId)] : undefined;
    const points = Number(you ? you.points : fromMap ?? 0);
    return h(
      'div',
      { class: 'reveal' },
      q.options.length && Array.isArray(r.counts) && r.counts.length
        ? histogram(q, r.counts, { correct: r.correct || [], mine: mine.choices || [] })
        : q.options.length
          ? this.ownOutcome(q, r.correct || [], mine.choices || [])
          : null,
      you && you.correct != null ? h('p', { class: `verdict ${you.correct ? 'right' : 'wrong'}`, text: you.correct ? t('player.right') : t('player.wrong') }) : null,
      q.mode === 'poll' || q.mode === 'self'
        ? null
        : h('p', { class: `points ${points > 0 ? 'plus' : ''}`, 'data-testid': 'points', text: points ? t('player.points', { n: points }) : t('player.noPoints') }),
      r.answer ? h('p', { class: 'ref-answer' }, h('strong', { text: `${t('host.answer')}: ` }), r.answer) : null,
      this.standingLine(),
    );
  }

  /** Options with the key and the player's own choice, where counts are private. */
  ownOutcome(q, correct, chosen) {
    return h(
      'ol',
      { class: 'outcome' },
      q.options.map((_, i) =>
        h(
          'li',
          { class: `${correct.includes(i) ? 'correct' : ''}${chosen.includes(i) ? ' mine' : ''}` },
          h('span', { class: 'opt-letter', 'aria-hidden': 'true', text: letter(i) }),
          h('span', { class: 'opt-text', text: optionLabel(q, i) }),
          chosen.includes(i) ? h('span', { class: 'tag-mine', text: t('player.yourAnswer') }) : null,
          correct.includes(i) ? h('span', { class: 'ok', title: t('q.correct'), 'aria-label': t('q.correct'), text: '✓' }) : null,
        ),
      ),
    );
  }

  standingLine() {
    const st = this.standing();
    if (!st) return null;
    const place = st.place ? ` · ${t('player.place')}: ${t('player.placeOf', { place: st.place, n: st.of })}` : '';
    return h('p', { class: 'standing', 'data-testid': 'standing', text: `${t('player.score')}: ${st.score}${place}` });
  }

  endedView() {
    const m = this.model;
    const rows = m.standings();
    const mine = this.standing();
    return h(
      'section',
      { class: 'card center' },
      h('h1', { text: t('player.ended') }),
      h('p', { class: 'muted', text: t('player.thanks') }),
      mine && mine.place ? h('p', { class: 'final', text: t('player.final', { place: mine.place, n: mine.of, score: mine.score }) }) : null,
      rows.length ? leaderboard(rows, { highlight: m.playerId, limit: 10 }) : null,
    );
  }
}
