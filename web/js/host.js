// The host console: open a room, share it, choose topics and a mode, run
// each question (buzz queue and judging, live tally, typed answers and peer
// vote), and take the results away. The host token lives in localStorage,
// so a refresh or a closed tab comes straight back to the room.

import { prompt } from './markdown.js';
import * as api from './api.js';
import { add, h, letter, Region, typingIn } from './dom.js';
import { errorText, lang, onLangChange, t } from './i18n.js';
import { PHASE, RoomModel } from './model.js';
import { RoomSocket } from './socket.js';
import { load, save } from './store.js';
import { TopicPicker } from './topics.js';
import {
  connPill,
  copyText,
  countdown,
  histogram,
  joinLink,
  langSwitch,
  leaderboard,
  optionLabel,
  qrImage,
  reconnectBanner,
  toast,
  topicPath,
} from './widgets.js';

const MODES = ['buzz', 'vote', 'poll', 'self', 'text'];
const LIMITS = [0, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300];

/** Rooms this browser hosts: [{code, token, title, at}]. */
export function hostedRooms() {
  const list = load('hostRooms', []);
  return Array.isArray(list) ? list.filter((r) => r && r.code && r.token) : [];
}

function rememberRoom(room) {
  const rest = hostedRooms().filter((r) => r.code !== room.code);
  save('hostRooms', [room, ...rest].slice(0, 10));
}

function forgetRoom(code) {
  save(
    'hostRooms',
    hostedRooms().filter((r) => r.code !== code),
  );
}

/**
 * The host token of this browser's library, issued once and reused for
 * every room, so library quizzes and edits show up in each room's console.
 * `null` when the server runs without a library.
 */
export async function hostToken() {
  const known = load('hostToken', null);
  if (typeof known === 'string' && known) return known;
  try {
    const { host_token: token } = await api.newHost();
    save('hostToken', token);
    return token;
  } catch {
    return null;
  }
}

/** Creates a room, remembers its token, and returns its code. */
export async function createAndRemember(title, isPrivate = false, shuffle = null) {
  const room = await api.createRoom(title, isPrivate, await hostToken(), shuffle);
  if (!load('hostToken', null)) save('hostToken', room.host_token);
  rememberRoom({ code: room.code, token: room.host_token, title: title || '', joinUrl: room.join_url || '', at: Date.now() });
  return room.code;
}

/** Mounts /host (room list + create) or /host/CODE (the console). */
/**
 * An interviewer's console: the host console without the owner's controls,
 * identified with the panel token from the link's fragment.
 */
export function mountPanel(root, code, token) {
  const app = new HostApp(root, code, token ? { token, panel: true } : null, () => {});
  app.panel = true;
  if (!token) app.fatal = t('panel.noToken');
  app.start();
  return app;
}

export function mountHost(root, code, navigate) {
  if (!code) return mountRoomChooser(root, navigate);
  const room = hostedRooms().find((r) => r.code === code);
  const app = new HostApp(root, code, room, navigate);
  app.start();
  return app;
}

/** `url` with the host token in its query, for links opened in a tab. */
function withToken(url, token) {
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

/**
 * Every room this browser's host tokens ran, from the server's history,
 * each with its token: [{code, title, status, ended_ms, expires_ms, report_url, ..., token}].
 */
async function pastRooms() {
  const tokens = [...new Set([load('hostToken', null), ...hostedRooms().map((r) => r.token)].filter((x) => typeof x === 'string' && x))];
  const lists = await Promise.all(tokens.map((token) => api.history(token).then((b) => (b.rooms || []).map((r) => ({ ...r, token })))));
  const byCode = new Map();
  for (const r of lists.flat()) if (!byCode.has(r.code)) byCode.set(r.code, r);
  return [...byCode.values()].sort((a, b) => b.created_ms - a.created_ms);
}

/** One room of the history: its state, and its report and results links while kept. */
function pastRoom(r) {
  const when = (ms) => new Date(ms).toLocaleString(lang(), { dateStyle: 'medium', timeStyle: 'short' });
  const link = (href, text, testid) => h('a', { href: withToken(href, r.token), target: '_blank', rel: 'noopener', 'data-testid': testid, text });
  const status = r.status === 'running' ? t('host.history.running') : r.status === 'expired' ? t('host.history.expired') : t('host.history.ended', { date: when(r.ended_ms) });
  return h(
    'li',
    { class: `past-room ${r.status}`, 'data-testid': 'history-room', 'data-code': r.code, 'data-status': r.status },
    h('div', null, r.status === 'running' ? h('a', { href: `/host/${r.code}`, class: 'room-code', text: r.code }) : h('span', { class: 'room-code', text: r.code }), r.title ? h('span', { class: 'muted', text: ` ${r.title}` }) : null),
    h('div', { class: 'muted small', 'data-testid': 'history-status', text: status }),
    r.report_url
      ? h(
          'div',
          { class: 'past-links' },
          link(r.report_url, t('host.history.report'), 'history-report'),
          link(r.report_csv_url, 'CSV', 'history-report-csv'),
          link(r.report_xlsx_url, 'Excel', 'history-report-xlsx'),
          h('button', { type: 'button', class: 'link-btn', 'data-testid': 'history-results', text: t('host.history.results'), onclick: () => api.downloadResults(r.code, r.token, 'xlsx').catch((err) => toast(errorText(err.code, err.message), 'error')) }),
        )
      : null,
    r.expires_ms && r.status !== 'expired' ? h('div', { class: 'muted small', 'data-testid': 'history-kept', text: t('host.history.kept', { date: when(r.expires_ms) }) }) : null,
  );
}

function mountRoomChooser(root, navigate) {
  const header = new Region(h('header', { class: 'topbar' }));
  const main = new Region(h('main', { class: 'narrow' }));
  root.replaceChildren(header.el, main.el);
  let error = '';
  let busy = false;
  let past = null; // the server's history, once loaded
  const draw = () => {
    header.invalidate();
    main.invalidate();
    header.update('x', () => [h('a', { class: 'brand', href: '/', text: t('app.name') }), h('span', { class: 'title', text: t('host.title') }), h('span', { class: 'spacer' }), langSwitch()]);
    main.update('x', () => {
      const titleInput = h('input', { id: 'room-title', maxlength: 80, placeholder: t('home.host.roomTitle') });
      const privateBox = h('input', { type: 'checkbox', id: 'room-private' });
      // Options are shuffled by default, so a bank listing its key first
      // gives nothing away; the host may keep the bank's order.
      const shuffleSelect = h(
        'select',
        { id: 'room-shuffle', 'data-testid': 'room-shuffle' },
        ['room', 'player', 'off'].map((v) => h('option', { value: v, text: t(`host.shuffle.${v}`) })),
      );
      const rooms = hostedRooms();
      return [
        h(
          'form',
          {
            class: 'card',
            onsubmit: async (e) => {
              e.preventDefault();
              if (busy) return;
              busy = true;
              try {
                const code = await createAndRemember(titleInput.value.trim(), privateBox.checked, shuffleSelect.value);
                navigate(`/host/${code}`);
              } catch (err) {
                error = err.code ? errorText(err.code, err.message) : t('err.network');
                busy = false;
                draw();
              }
            },
          },
          h('h1', { text: t('host.create.title') }),
          h('label', { for: 'room-title', text: t('home.host.roomTitle') }),
          titleInput,
          h('label', { class: 'check' }, privateBox, h('span', { text: t('host.private') })),
          h('p', { class: 'muted small', text: t('host.private.hint') }),
          h('label', { for: 'room-shuffle', text: t('host.shuffle') }),
          shuffleSelect,
          error ? h('p', { class: 'error', role: 'alert', text: error }) : null,
          h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'create-room', text: t('host.create.go') }),
        ),
        rooms.length
          ? h(
              'section',
              { class: 'card' },
              h('h2', { text: t('host.rooms.recent') }),
              h(
                'ul',
                { class: 'room-list' },
                rooms.map((r) =>
                  h('li', null, h('a', { href: `/host/${r.code}`, class: 'room-code', text: r.code }), r.title ? h('span', { class: 'muted', text: ` ${r.title}` }) : null),
                ),
              ),
            )
          : null,
        past && past.length
          ? h(
              'section',
              { class: 'card', 'data-testid': 'history' },
              h('h2', { text: t('host.history.title') }),
              h('p', { class: 'muted small', text: t('host.history.hint') }),
              h('ul', { class: 'room-list' }, past.map(pastRoom)),
            )
          : null,
      ];
    });
  };
  onLangChange(draw);
  draw();
  pastRooms()
    .then((rooms) => {
      past = rooms;
      draw();
    })
    .catch(() => {});
  return null;
}

class HostApp {
  constructor(root, code, room, navigate) {
    this.root = root;
    this.code = code;
    this.room = room;
    this.navigate = navigate;
    this.model = new RoomModel();
    this.status = 'stopped';
    this.fatal = room ? '' : t('err.host_lost', { code });
    this.settings = { mode: 'buzz', limit: 0, ...(load('hostSettings', {}) || {}) };
    this.marks = new Map(); // player_id -> bool, for the current question's typed answers
    this.judged = new Map(); // player_id -> bool, buzz rulings on the current question
    this.marksQid = null;
    this.panel = false;
    this.interviewers = []; // owner: the panel, with tokens
    this.assessments = new Map(); // `${qid}:${player}` -> Map(by -> {by_name, score, note})
    this.scale = 3;
    this.me = null; // interviewer: {id, name}
    this.catalogState = 'loading';
    this.search = '';
    this.searchResults = null;
    this.picker = new TopicPicker(() => {
      save(`topics.${this.code}`, [...this.picker.checked]);
      save(`banks.${this.code}`, [...this.picker.banksOn]);
      this.regions.setup.invalidate();
      this.render();
    });
    for (const id of load(`topics.${code}`, []) || []) this.picker.checked.add(id);
    for (const id of load(`banks.${code}`, []) || []) this.picker.banksOn.add(id);

    const el = (tag, cls) => h(tag, { class: cls });
    this.regions = {
      header: new Region(h('header', { class: 'topbar' })),
      banner: new Region(el('div', 'banner-slot')),
      room: new Region(el('aside', 'host-room')),
      setup: new Region(h('section', { class: 'card host-setup', 'aria-labelledby': 'setup-title' })),
      current: new Region(h('section', { class: 'card host-current', 'aria-labelledby': 'current-title' })),
    };
    this.searchBox = h('input', {
      type: 'search',
      id: 'pick-search',
      autocomplete: 'off',
      oninput: () => this.runSearch(),
      onfocus: () => this.picker.loadQuestions().then(() => this.runSearch()),
    });
    this.searchOut = h('div', { class: 'pick-results' });
    const grid = h('div', { class: 'host-grid' }, this.regions.room.el, this.regions.setup.el, this.regions.current.el);
    root.replaceChildren(this.regions.header.el, this.regions.banner.el, grid, h('footer', { class: 'shortcuts muted small', id: 'shortcuts' }));
    onLangChange(() => {
      Object.values(this.regions).forEach((r) => r.invalidate());
      this.render();
    });
    document.addEventListener('keydown', (e) => this.onKey(e));
  }

  start() {
    this.render();
    if (!this.room) return;
    this.loadCatalog();
    // Back from the library editor in another tab: show its changes.
    window.addEventListener('focus', () => this.loadCatalog());
    this.socket = new RoomSocket({
      hello: () =>
        this.panel ? { type: 'interviewer', room: this.code, token: this.room.token } : { type: 'host', room: this.code, token: this.room.token },
      onMessage: (msg) => this.onMessage(msg),
      onStatus: (status) => {
        this.status = status;
        if (status !== 'online') this.identified = false;
        if (this.gameOver && status === 'reconnecting') {
          // The room is closed after the end; results stay downloadable.
          this.socket.stop();
          return;
        }
        this.render();
      },
    });
    this.socket.start();
  }

  /** Loads the host's view of the catalog (library quizzes and edits included). */
  loadCatalog() {
    this.picker.token = this.room.token;
    this.picker.questions = null;
    this.picker.loadingQuestions = null;
    api
      .catalog(this.room.token)
      .then((cat) => {
        this.picker.setCatalog(cat);
        this.catalogState = 'ready';
      })
      .catch(() => {
        this.catalogState = 'error';
      })
      .finally(() => {
        this.regions.setup.invalidate();
        this.render();
      });
  }

  onMessage(msg) {
    if (msg.type === 'warning') {
      // The results database is away: the room runs on, acks and question
      // boundaries wait until it is back. A banner until it is.
      if (msg.code === 'store_unavailable') this.storeDown = !!msg.active;
      this.render();
      return;
    }
    if (msg.type === 'error') {
      if (!this.identified) {
        this.socket.stop();
        this.fatal = errorText(msg.code, msg.message);
        // An ended room's results stay downloadable with the token; a wrong token is useless.
        if (msg.code === 'bad_token') forgetRoom(this.code);
        else this.fatalKeepsResults = !this.panel;
        this.render();
        return;
      }
      toast(errorText(msg.code, msg.message), 'error');
      return;
    }
    if (msg.type === 'welcome') {
      this.identified = true;
      this.socket.welcomed();
      this.model = new RoomModel();
      const s = msg.state || {};
      this.scale = s.score_scale || 3;
      this.me = s.interviewer || null;
      if (Array.isArray(s.interviewers)) this.interviewers = s.interviewers;
      this.assessments = new Map();
      for (const a of s.assessments || []) this.noteAssessment(a);
      this.regions.setup.invalidate();
      this.regions.room.invalidate();
    }
    if (msg.type === 'interviewers') {
      this.interviewers = msg.interviewers || [];
      this.regions.room.invalidate();
    }
    if (msg.type === 'assessment') this.noteAssessment(msg);
    if (msg.type === 'action' && this.model.question && msg.qid === this.model.question.qid) {
      // Another grader's ruling, shown as if made here.
      (msg.action === 'mark' ? this.marks : this.judged).set(msg.player_id, msg.correct);
    }
    this.model.apply(msg);
    if ((msg.type === 'ended' || this.model.phase === PHASE.ENDED) && !this.gameOver) {
      // The final view: the summary open beside the downloads.
      this.gameOver = true;
      this.summaryOpen = true;
      this.summaryStale = true;
      this.regions.room.invalidate();
    }
    if (msg.type === 'reveal' || msg.type === 'ended' || msg.type === 'closed') {
      this.summaryStale = true;
      if (this.summaryOpen) this.regions.room.invalidate();
    }
    const q = this.model.question;
    if (q && q.qid !== this.marksQid) {
      this.marks = new Map();
      this.judged = new Map();
      this.marksQid = q.qid;
    }
    for (const a of this.model.answers) if (typeof a.correct === 'boolean') this.marks.set(a.player_id, a.correct);
    this.render();
  }

  noteAssessment(a) {
    const key = `${a.qid}:${a.player_id}`;
    if (!this.assessments.has(key)) this.assessments.set(key, new Map());
    this.assessments.get(key).set(a.by, { by_name: a.by_name, score: a.score, note: a.note });
    this.regions.current.invalidate();
  }

  assess(playerId, fields) {
    const q = this.model.question;
    if (!q) return;
    this.send({ type: 'assess', qid: q.qid, player_id: playerId, ...fields });
  }

  /** Score buttons 0..scale, a note box, and every grader's marks side by side. */
  assessView(playerId) {
    const q = this.model.question;
    if (!q) return null;
    const marks = this.assessments.get(`${q.qid}:${playerId}`) || new Map();
    const mine = marks.get(this.me ? this.me.id : 0) || {};
    const scores = [...marks.values()].map((m) => m.score).filter((s) => typeof s === 'number');
    const avg = scores.length ? (scores.reduce((a, b) => a + b, 0) / scores.length).toFixed(1) : null;
    const note = h('input', { class: 'note-input', 'data-testid': 'note', placeholder: t('panel.note'), maxlength: 2000, value: mine.note || '' });
    note.addEventListener('change', () => this.assess(playerId, { note: note.value }));
    return h(
      'div',
      { class: 'assess', 'data-testid': 'assess' },
      h(
        'span',
        { class: 'scores', role: 'group', 'aria-label': t('panel.score') },
        Array.from({ length: this.scale + 1 }, (_, s) =>
          h('button', { type: 'button', class: `btn btn-small score${mine.score === s ? ' on' : ''}`, 'data-score': s, 'aria-pressed': String(mine.score === s), text: String(s), onclick: () => this.assess(playerId, { score: s }) }),
        ),
      ),
      note,
      h(
        'ul',
        { class: 'marks muted small', 'data-testid': 'marks' },
        [...marks.values()].map((m) => h('li', { text: `${m.by_name}: ${typeof m.score === 'number' ? `${m.score}/${this.scale}` : '–'}${m.note ? ` — ${m.note}` : ''}` })),
        avg != null ? h('li', { class: 'avg', 'data-testid': 'avg', text: t('panel.avg', { avg }) }) : null,
      ),
    );
  }

  addInterviewer(name) {
    if (name.trim()) this.send({ type: 'add_interviewer', name: name.trim() });
  }

  panelLink(i) {
    return `${location.origin}/panel/${this.code}#${i.token}`;
  }

  /** Owner: the interview panel — invite, share the links, revoke. */
  panelCard() {
    const input = h('input', { id: 'interviewer-name', maxlength: 24, placeholder: t('panel.name') });
    return h(
      'section',
      { class: 'card panel', 'data-testid': 'panel' },
      h('h2', { text: t('panel.title') }),
      h(
        'form',
        {
          class: 'row',
          onsubmit: (e) => {
            e.preventDefault();
            this.addInterviewer(input.value);
            input.value = '';
          },
        },
        input,
        h('button', { type: 'submit', class: 'btn btn-small', 'data-testid': 'add-interviewer', text: t('panel.add') }),
      ),
      h(
        'ul',
        { class: 'interviewers', 'data-testid': 'interviewers' },
        this.interviewers.map((i) =>
          h(
            'li',
            null,
            h('span', { class: `dot${i.connected ? ' on' : ''}` }),
            h('a', { href: this.panelLink(i), target: '_blank', rel: 'noopener', class: 'i-name', 'data-testid': 'panel-link', text: i.name }),
            h('button', { type: 'button', class: 'icon-btn', title: t('panel.revoke'), 'aria-label': `${t('panel.revoke')} ${i.name}`, 'data-testid': 'revoke', text: '×', onclick: () => this.send({ type: 'revoke_interviewer', interviewer_id: i.id }) }),
          ),
        ),
      ),
    );
  }

  /**
   * A printable report per candidate: for the owner with its token, for an
   * interviewer with its own panel token (which opens this room's reports only).
   */
  reportLinks() {
    const m = this.model;
    if (!this.room || !m.players.length) return null;
    const base = `/api/rooms/${this.code}/report?token=${encodeURIComponent(this.room.token)}`;
    return h(
      'div',
      { class: 'reports', 'data-testid': 'reports' },
      h('p', { class: 'label', text: t('panel.reports') }),
      h(
        'ul',
        { class: 'report-list' },
        m.players.map((p) => h('li', null, h('a', { href: `${base}&player_id=${p.player_id}`, target: '_blank', rel: 'noopener', 'data-testid': 'report-link', text: p.name }))),
        h('li', null, h('a', { href: base, target: '_blank', rel: 'noopener', text: t('panel.reports.all') })),
      ),
    );
  }

  send(msg) {
    if (!this.socket || !this.socket.send(msg)) {
      toast(t('conn.reconnecting'), 'error');
      return false;
    }
    return true;
  }

  // --- commands ------------------------------------------------------------

  askMsg(extra) {
    const msg = { type: 'ask', mode: this.settings.mode, topics: this.picker.selectedIds(), ...extra };
    if (this.settings.limit > 0) msg.time_limit_ms = this.settings.limit * 1000;
    return msg;
  }

  draw() {
    this.send(this.askMsg({}));
  }

  /** Asks one picked question in `mode` (its own default mode preselected). */
  pick(id, mode) {
    this.send(this.askMsg({ question_id: id, ...(mode ? { mode } : {}) }));
  }

  /** A mode menu for one picked question: its default mode (set in the
   * editor) preselected, else the console's mode. */
  pickMode(q) {
    const chosen = q.mode && MODES.includes(q.mode) ? q.mode : this.settings.mode;
    return h(
      'select',
      { class: 'pick-mode', 'data-testid': 'pick-mode', 'aria-label': t('host.pick.mode') },
      MODES.map((mode) => h('option', { value: mode, selected: mode === chosen, text: t(`mode.${mode}`) })),
    );
  }

  judge(correct) {
    const floor = this.model.floor;
    // A second key press before the floor moves on would judge a player
    // this console already judged; the server refuses it, so drop it here.
    if (floor == null || this.judged.has(floor)) return;
    if (this.send({ type: 'judge', player_id: floor, correct })) this.judged.set(floor, correct);
  }

  mark(playerId, correct) {
    if (this.send({ type: 'mark', player_id: playerId, correct })) {
      this.marks.set(playerId, correct);
      this.render();
    }
  }

  setPaused(paused) {
    this.send({ type: 'pause', paused });
  }

  setLocked(locked) {
    if (this.send({ type: 'lock', locked })) {
      this.model.locked = locked;
      this.render();
    }
  }

  kick(p) {
    if (window.confirm(t('host.kick.confirm', { name: p.name }))) this.send({ type: 'kick', player_id: p.player_id });
  }

  end() {
    if (window.confirm(t('host.end.confirm'))) this.send({ type: 'end' });
  }

  async download(format) {
    try {
      await api.downloadResults(this.code, this.room.token, format);
    } catch (err) {
      toast(err.code ? errorText(err.code, err.message) : t('err.network'), 'error');
    }
  }

  onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typingIn(e) || !this.identified || this.panel) return;
    const q = this.model.question;
    const key = e.key.toLowerCase();
    const open = q && this.model.phase === PHASE.OPEN;
    const actions = {
      n: () => this.draw(),
      c: () => open && this.send({ type: 'close' }),
      r: () => q && this.model.phase !== PHASE.REVEAL && this.send({ type: 'reveal' }),
      y: () => this.judge(true),
      x: () => this.judge(false),
      p: () => open && q.time_limit_ms != null && this.setPaused(!q.paused),
      s: () => this.send({ type: 'show_scores' }),
    };
    if (actions[key]) {
      e.preventDefault();
      actions[key]();
    }
  }

  // --- search -------------------------------------------------------------

  runSearch() {
    this.searchOut.replaceChildren();
    const query = this.searchBox.value.trim().toLowerCase();
    const all = this.picker.questions;
    if (!query || !all) {
      this.searchOut.replaceChildren();
      return;
    }
    const hits = all.filter((q) => q.prompt.toLowerCase().includes(query) || q.path.join(' ').toLowerCase().includes(query));
    const shown = hits.slice(0, 30);
    add(
      this.searchOut,
      shown.length
        ? [
            h(
              'ul',
              { class: 'pick-list' },
              shown.map((q) => {
                const mode = this.pickMode(q);
                return h(
                  'li',
                  null,
                  h('div', { class: 'pick-text' }, h('span', { class: 'pick-prompt', text: q.prompt }), h('span', { class: 'muted small', text: [q.path.join(' › '), t(`kind.${q.kind}`)].filter(Boolean).join(' · ') })),
                  q.edited ? h('span', { class: 'badge', text: t('host.pick.edited') }) : null,
                  q.library ? null : h('a', { class: 'btn btn-small', href: `/edit/q/${encodeURIComponent(q.id)}`, target: '_blank', rel: 'noopener', text: t('host.pick.edit') }),
                  mode,
                  h('button', { type: 'button', class: 'btn btn-small', text: t('host.pick.ask'), onclick: () => this.pick(q.id, mode.value) }),
                );
              }),
            ),
            hits.length > shown.length ? h('p', { class: 'muted small', text: t('host.pick.more', { n: hits.length - shown.length }) }) : null,
          ]
        : h('p', { class: 'muted small', text: t('host.pick.none') }),
    );
  }

  // --- drawing -------------------------------------------------------------

  render() {
    const m = this.model;
    const title = m.title || (this.room && this.room.title) || '';
    this.regions.header.update([title, this.status, m.private], () => [
      h('a', { class: 'brand', href: '/', text: t('app.name') }),
      h('span', { class: 'title', text: this.panel ? t('panel.title') : t('host.title') }),
      title ? h('span', { class: 'room-title', text: title }) : null,
      m.private ? h('span', { class: 'badge', 'data-testid': 'private', text: t('host.room.private') }) : null,
      h('span', { class: 'spacer' }),
      h('a', { class: 'btn btn-small', href: '/edit', target: '_blank', rel: 'noopener', 'data-testid': 'host-library', text: t('host.library') }),
      connPill(this.status),
      langSwitch(),
    ]);
    this.regions.banner.update([this.status, this.fatal, !!this.storeDown], () => [
      this.storeDown && !this.fatal
        ? h('div', { class: 'banner banner-warn', role: 'status', 'data-testid': 'store-warning' }, h('span', { text: t('host.store_unavailable') }))
        : null,
      this.fatal
        ? h(
            'div',
            { class: 'banner banner-error', role: 'alert' },
            h('span', { text: this.fatal }),
            h('a', { class: 'btn btn-small', href: '/host', text: t('host.create.go') }),
          )
        : null,
      reconnectBanner(this.status, () => this.socket && this.socket.connectNow()),
    ]);
    document.getElementById('shortcuts').textContent = t('host.shortcuts');
    if (this.fatal) {
      this.regions.room.update(['fatal', this.fatalKeepsResults], () => (this.fatalKeepsResults ? this.resultsCard() : null));
      this.regions.setup.update('fatal', () => null);
      this.regions.current.update('fatal', () => null);
      return;
    }
    this.regions.room.update([m.players, m.locked, m.phase === PHASE.ENDED, this.interviewers], () => this.roomView());
    this.regions.setup.update([this.catalogState, this.settings, [...this.picker.checked], [...this.picker.banksOn], [...this.picker.expanded], m.phase === PHASE.ENDED], () => this.setupView());
    this.regions.current.update(
      [m.question, m.phase, m.queue, m.floor, m.tally, m.reveal, m.answers, [...this.marks], [...this.judged], m.players.length, m.leaderboard],
      () => this.currentView(),
    );
  }

  roomView() {
    const m = this.model;
    const link = joinLink(this.code, this.model.joinUrl || this.room.joinUrl);
    const copyBtn = h('button', { type: 'button', class: 'btn btn-small', text: t('host.copy'), onclick: () => copyText(link, copyBtn) });
    return [
      h(
        'section',
        { class: 'card share' },
        h('p', { class: 'label', text: t('host.code') }),
        h('p', { class: 'room-code big', 'data-testid': 'room-code', text: this.code }),
        qrImage(link, 'qr qr-host'),
        h('p', { class: 'label', text: t('host.link') }),
        h('p', { class: 'link-row' }, h('a', { href: link, target: '_blank', rel: 'noopener', class: 'join-link', text: link.replace(/^https?:\/\//, '') }), copyBtn),
        h('a', { class: 'btn btn-block', href: `/screen/${this.code}`, target: '_blank', rel: 'noopener', text: t('host.openScreen') }),
      ),
      h(
        'section',
        { class: 'card players' },
        h(
          'div',
          { class: 'row' },
          h('h2', { text: t('host.players', { n: m.players.length }) }),
          h('span', { class: 'spacer' }),
          this.panel
            ? null
            : h('button', {
            type: 'button',
            class: `btn btn-small${m.locked ? ' on' : ''}`,
            'aria-pressed': m.locked ? 'true' : 'false',
            'data-testid': 'lock',
            text: m.locked ? t('host.unlock') : t('host.lock'),
            onclick: () => this.setLocked(!m.locked),
          }),
        ),
        m.locked ? h('p', { class: 'muted small', text: t('host.locked') }) : null,
        m.players.length
          ? h(
              'ul',
              { class: 'player-list', 'data-testid': 'players' },
              [...m.players]
                .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name))
                .map((p) =>
                  h(
                    'li',
                    { class: p.connected === false ? 'offline' : '' },
                    h('span', { class: `dot${p.connected === false ? '' : ' on'}`, title: p.connected === false ? t('host.offline') : t('conn.online') }),
                    h('span', { class: 'p-name', text: p.name }),
                    h('span', { class: 'p-score', text: p.score }),
                    this.panel ? null : h('button', { type: 'button', class: 'icon-btn', title: t('host.kick'), 'aria-label': `${t('host.kick')} ${p.name}`, text: '×', onclick: () => this.kick(p) }),
                  ),
                ),
            )
          : h('p', { class: 'muted', text: t('host.noPlayers') }),
      ),
      this.panel ? null : this.panelCard(),
      this.panel ? this.panelReports() : this.resultsCard(),
    ];
  }

  /** An interviewer's card of report links (it downloads nothing else). */
  panelReports() {
    const links = this.reportLinks();
    return links ? h('section', { class: 'card' }, links) : null;
  }

  /** Downloads, the summary by topic, and the end button. */
  resultsCard() {
    const m = this.model;
    return h(
      'section',
      { class: 'card results' },
      h('h2', { text: t('host.results') }),
      h(
        'div',
        { class: 'row wrap' },
        h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'csv', text: t('host.download.csv'), onclick: () => this.download('csv') }),
        h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'json', text: t('host.download.json'), onclick: () => this.download('json') }),
        h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'xlsx', text: t('host.download.xlsx'), onclick: () => this.download('xlsx') }),
      ),
      this.summaryView(),
      this.reportLinks(),
      m.phase !== PHASE.ENDED && !this.fatal ? h('button', { type: 'button', class: 'btn btn-danger btn-block', 'data-testid': 'end', text: t('host.end'), onclick: () => this.end() }) : null,
    );
  }

  /** Per-topic summary from the results: right answers and self-assessed knowledge. */
  summaryView() {
    const box = h('div', { class: 'summary-body' });
    const details = h(
      'details',
      {
        class: 'summary',
        'data-testid': 'summary',
        open: this.summaryOpen,
        ontoggle: () => {
          this.summaryOpen = details.open;
          if (details.open) this.loadSummary(box);
        },
      },
      h('summary', { text: t('host.summary') }),
      box,
    );
    if (this.summaryOpen) this.loadSummary(box);
    return details;
  }

  /** Draws the summary, fetching the results only when they changed. */
  async loadSummary(box) {
    if (box.dataset.loading) return;
    box.dataset.loading = '1';
    let data = this.summaryStale ? null : this.summaryData;
    if (!data) {
      box.replaceChildren(h('p', { class: 'muted small', text: t('host.topics.loading') }));
      try {
        data = await api.results(this.code, this.room.token);
        this.summaryData = data;
        this.summaryStale = false;
      } catch (err) {
        box.replaceChildren(h('p', { class: 'error', text: err.code ? errorText(err.code, err.message) : t('err.network') }));
        return;
      }
    }
    const topics = Array.isArray(data && data.topics) ? data.topics : [];
    if (!topics.length) {
      box.replaceChildren(h('p', { class: 'muted small', text: t('host.summary.empty') }));
      return;
    }
    box.replaceChildren(
      h(
        'ul',
        { class: 'summary-list' },
        topics.map((tp) => {
          const path = Array.isArray(tp.topic) ? tp.topic.join(' › ') : String(tp.topic || '');
          const self = (tp.know || 0) + (tp.partly || 0) + (tp.dont_know || 0);
          const right = tp.judged ? Math.round((100 * (tp.correct || 0)) / tp.judged) : null;
          const know = self && tp.knowledge != null ? Math.round(100 * tp.knowledge) : null;
          return h(
            'li',
            null,
            h('span', { class: 'sum-topic', text: path }),
            right != null ? h('span', { class: 'sum-stat', text: t('host.summary.right', { n: right }) }) : null,
            know != null
              ? h(
                  'span',
                  { class: 'sum-know' },
                  h('span', { class: 'bar-track' }, h('span', { class: 'bar-fill', style: { width: `${know}%` } })),
                  h('span', { class: 'sum-stat', text: t('host.summary.know', { n: know }) }),
                )
              : null,
          );
        }),
      ),
    );
  }

  /** Says which chosen topics have nothing the chosen mode can draw. */
  modeWarning() {
    if (this.catalogState !== 'ready') return null;
    const empty = this.picker.emptyForMode(this.settings.mode);
    if (!empty.length) return null;
    return h('p', {
      class: 'warn small',
      role: 'status',
      'data-testid': 'mode-warning',
      text: t('host.noneForMode', { mode: t(`mode.${this.settings.mode}`), topics: empty.join(', ') }),
    });
  }

  setupView() {
    if (this.panel) {
      return [
        h('h2', { id: 'setup-title', text: t('panel.title') }),
        h('p', { 'data-testid': 'panel-me', text: t('panel.you', { name: this.me ? this.me.name : '' }) }),
        h('p', { class: 'muted small', text: t('panel.hint', { scale: this.scale }) }),
      ];
    }
    const p = this.picker;
    const ended = this.model.phase === PHASE.ENDED;
    const count = p.selectedIds().length ? t('host.topics.selected', { n: p.selectedCount() }) : t('host.topics.everything', { n: p.grandTotal() });
    const modeGroup = h(
      'div',
      { class: 'segmented', role: 'radiogroup', 'aria-label': t('host.mode') },
      MODES.map((mode) =>
        h(
          'label',
          { class: this.settings.mode === mode ? 'on' : '', title: t(`mode.${mode}.hint`) },
          h('input', {
            type: 'radio',
            name: 'mode',
            value: mode,
            checked: this.settings.mode === mode,
            onchange: () => {
              this.settings.mode = mode;
              save('hostSettings', this.settings);
              this.render();
            },
          }),
          h('span', { text: t(`mode.${mode}`) }),
        ),
      ),
    );
    const limit = h(
      'select',
      {
        id: 'limit',
        onchange: (e) => {
          this.settings.limit = Number(e.target.value) || 0;
          save('hostSettings', this.settings);
          this.render();
        },
      },
      LIMITS.map((s) => h('option', { value: s, selected: this.settings.limit === s, text: s ? t('host.limit.sec', { n: s }) : t('host.limit.none') })),
    );
    this.searchBox.placeholder = t('host.pick.placeholder');
    return [
      h('h2', { id: 'setup-title', text: t('host.next') }),
      h(
        'div',
        { class: 'row' },
        h('h3', { text: t('host.topics') }),
        h('span', { class: 'spacer' }),
        p.checked.size || p.banksOn.size ? h('button', { type: 'button', class: 'link', text: t('host.topics.none'), onclick: () => p.clear() }) : null,
      ),
      this.catalogState === 'loading'
        ? h('p', { class: 'muted', text: t('host.topics.loading') })
        : this.catalogState === 'error'
          ? h('p', { class: 'error', text: t('err.network') })
          : p.view(),
      this.catalogState === 'ready' ? p.chosenView() : null,
      h('p', { class: 'muted small', 'data-testid': 'topic-count', text: count }),
      this.modeWarning(),
      h('h3', { text: t('host.mode') }),
      modeGroup,
      h('p', { class: 'muted small', text: t(`mode.${this.settings.mode}.hint`) }),
      h('div', { class: 'row' }, h('label', { for: 'limit', text: t('host.limit') }), limit),
      h('button', { type: 'button', class: 'btn btn-primary btn-block btn-big', 'data-testid': 'draw', disabled: ended, text: `${t('host.draw')}  (N)`, onclick: () => this.draw() }),
      h(
        'details',
        {
          class: 'pick',
          open: this.pickOpen,
          ontoggle: (e) => {
            this.pickOpen = e.target.open;
          },
        },
        h('summary', { text: t('host.pick') }),
        this.searchBox,
        this.searchOut,
      ),
    ];
  }

  currentView() {
    const m = this.model;
    const q = m.question;
    if (m.phase === PHASE.ENDED) {
      return [h('h2', { id: 'current-title', text: t('host.ended') }), h('p', { class: 'muted', text: t('host.endedHint') }), leaderboard(m.standings(), { limit: 50 })];
    }
    if (!q) {
      return [h('h2', { id: 'current-title', text: t('host.current') }), h('p', { class: 'muted empty', text: t('host.noQuestion') }), m.phase === PHASE.SCORES ? leaderboard(m.standings(), { limit: 50 }) : null];
    }
    const state = m.phase === PHASE.REVEAL || m.phase === PHASE.SCORES ? 'revealed' : q.paused && m.phase === PHASE.OPEN ? 'paused' : m.phase === PHASE.OPEN ? 'open' : 'closed';
    const correct = (m.reveal && m.reveal.correct) || q.correct || [];
    const open = m.phase === PHASE.OPEN;
    const hasTimer = q.time_limit_ms != null;
    return [
      h(
        'div',
        { class: 'row q-head' },
        h('h2', { id: 'current-title', text: t('q.number', { n: q.seq || q.qid }) }),
        h('span', { class: `badge mode-${q.mode}`, text: t(`mode.${q.mode}`) }),
        h('span', { class: `badge state-${state}`, 'data-testid': 'q-state', text: t(`host.state.${state}`) }),
        h('span', { class: 'spacer' }),
        open ? countdown(m) : null,
      ),
      topicPath(q.topic),
      prompt('div', { class: 'host-prompt', 'data-testid': 'host-prompt' }, q.prompt),
      q.options.length && q.mode !== 'self'
        ? h(
            'ol',
            { class: 'host-options' },
            q.options.map((_, i) =>
              h(
                'li',
                { class: correct.includes(i) ? 'correct' : '' },
                h('span', { class: 'opt-letter', text: letter(i) }),
                h('span', { text: optionLabel(q, i) }),
                correct.includes(i) ? h('span', { class: 'ok', text: ` ✓ ${q.phase === 'peer_vote' ? t('host.peerWinner') : t('host.correctMark')}` }) : null,
              ),
            ),
          )
        : null,
      this.hostOnly(q),
      q.phase === 'peer_vote' ? h('p', { class: 'badge mode-text', text: t('host.peerVote.on') }) : null,
      this.panel
        ? null
        : h(
        'div',
        { class: 'row wrap actions' },
        h('button', { type: 'button', class: 'btn', disabled: !open, 'data-testid': 'close', text: `${t('host.close')} (C)`, onclick: () => this.send({ type: 'close' }) }),
        h('button', { type: 'button', class: 'btn btn-primary', disabled: m.phase === PHASE.REVEAL, 'data-testid': 'reveal', text: `${t('host.reveal')} (R)`, onclick: () => this.send({ type: 'reveal' }) }),
        open && hasTimer
          ? h('button', { type: 'button', class: 'btn', 'data-testid': 'pause', text: `${q.paused ? t('host.resume') : t('host.pause')} (P)`, onclick: () => this.setPaused(!q.paused) })
          : null,
        h('button', { type: 'button', class: 'btn', 'data-testid': 'show-scores', text: `${t('host.scores')} (S)`, onclick: () => this.send({ type: 'show_scores' }) }),
      ),
      this.liveView(q),
      m.phase === PHASE.SCORES ? h('div', { class: 'scores-box' }, h('h3', { text: t('screen.leaderboard') }), leaderboard(m.standings(), { limit: 50 })) : null,
    ];
  }

  hostOnly(q) {
    const parts = [];
    if (q.answer) parts.push(h('h3', { text: t('host.answer') }), h('p', { class: 'answer', text: q.answer }));
    if (q.followups && q.followups.length) parts.push(h('h3', { text: t('host.followups') }), h('ul', null, q.followups.map((f) => h('li', { text: f }))));
    if (q.notes && q.notes.length) parts.push(h('h3', { text: t('host.notes') }), h('ul', null, q.notes.map((f) => h('li', { text: f }))));
    if (!parts.length) return null;
    return h('div', { class: 'host-only', 'data-testid': 'host-only' }, h('p', { class: 'host-only-tag', text: t('host.hostOnly') }), parts);
  }

  liveView(q) {
    const m = this.model;
    if (q.mode === 'buzz') {
      return h(
        'div',
        { class: 'live buzz-live' },
        h('h3', { text: t('host.queue') }),
        m.queue.length
          ? h(
              'ol',
              { class: 'queue', 'data-testid': 'queue' },
              m.queue.map((e, i) => {
                const floor = e.player_id === m.floor;
                const ruled = this.judged.get(e.player_id);
                return h(
                  'li',
                  { class: floor ? 'floor' : '' },
                  h('span', { class: 'q-pos', text: i + 1 }),
                  h('span', { class: 'q-name', text: e.name || m.nameOf(e.player_id) }),
                  h('span', { class: 'muted small', 'data-testid': 'pressed-at', text: `+${(Number(e.at_ms || 0) / 1000).toFixed(2)} s` }),
                  e.arrival_ms != null && e.bound_ms != null
                    ? h('span', {
                        class: `muted small arrival${e.clamped ? ' clamped' : ''}`,
                        'data-testid': 'arrival',
                        title: t('host.arrival.hint', { bound: e.bound_ms }),
                        text: t(e.clamped ? 'host.arrival.clamped' : 'host.arrival', { at: (Number(e.arrival_ms) / 1000).toFixed(2) }),
                      })
                    : null,
                  floor ? h('span', { class: 'floor-tag', text: t('host.floor') }) : null,
                  ruled != null ? h('span', { class: `ruled ruled-${ruled ? 'right' : 'wrong'}`, text: t(`host.ruled.${ruled ? 'right' : 'wrong'}`) }) : null,
                  h('span', { class: 'spacer' }),
                  floor
                    ? h(
                        'span',
                        { class: 'judge' },
                        h('button', { type: 'button', class: 'btn btn-ok', 'data-testid': 'judge-right', title: 'Y', 'aria-keyshortcuts': 'Y', text: `✓ ${t('host.judge.right')}`, onclick: () => this.judge(true) }),
                        h('button', { type: 'button', class: 'btn btn-bad', 'data-testid': 'judge-wrong', title: 'X', 'aria-keyshortcuts': 'X', text: `✗ ${t('host.judge.wrong')}`, onclick: () => this.judge(false) }),
                      )
                    : null,
                );
              }),
            )
          : h('p', { class: 'muted', text: t('host.queue.empty') }),
      );
    }
    if (q.mode === 'text' && q.phase !== 'peer_vote') {
      const answers = m.answers;
      return h(
        'div',
        { class: 'live text-live' },
        h(
          'div',
          { class: 'row' },
          h('h3', { text: t('host.answers', { n: answers.length }) }),
          h('span', { class: 'spacer' }),
          this.panel ? null : h('button', {
            type: 'button',
            class: 'btn btn-small',
            'data-testid': 'peer-vote',
            disabled: answers.length < 2 || m.phase === PHASE.REVEAL,
            text: t('host.peerVote'),
            onclick: () => {
              const msg = { type: 'peer_vote' };
              if (this.settings.limit > 0) msg.time_limit_ms = this.settings.limit * 1000;
              this.send(msg);
            },
          }),
        ),
        answers.length
          ? h(
              'ul',
              { class: 'answers', 'data-testid': 'answers' },
              answers.map((a) => {
                const mark = this.marks.get(a.player_id);
                return h(
                  'li',
                  { class: mark === true ? 'marked-right' : mark === false ? 'marked-wrong' : '' },
                  h('div', { class: 'a-body' }, h('span', { class: 'a-name', text: a.name || m.nameOf(a.player_id) }), h('span', { class: 'a-text', text: a.text })),
                  h('button', { type: 'button', class: `icon-btn ok${mark === true ? ' on' : ''}`, title: t('host.mark.right'), 'aria-label': `${t('host.mark.right')}: ${a.name || ''}`, 'aria-pressed': String(mark === true), text: '✓', onclick: () => this.mark(a.player_id, true) }),
                  h('button', { type: 'button', class: `icon-btn bad${mark === false ? ' on' : ''}`, title: t('host.mark.wrong'), 'aria-label': `${t('host.mark.wrong')}: ${a.name || ''}`, 'aria-pressed': String(mark === false), text: '✗', onclick: () => this.mark(a.player_id, false) }),
                  this.assessView(a.player_id),
                );
              }),
            )
          : h('p', { class: 'muted', text: t('host.answers.empty') }),
      );
    }
    const tally = m.tally;
    return h(
      'div',
      { class: 'live tally-live' },
      tally && tally.of != null ? h('p', { class: 'answered', 'data-testid': 'answered', text: t('host.answered', { answered: tally.answered ?? 0, of: tally.of }) }) : null,
      histogram(q, tally ? tally.counts : [], { correct: m.reveal ? m.reveal.correct || [] : [] }),
      this.rightView(q),
    );
  }

  /** After a vote's reveal: who answered right, fastest first. */
  rightView(q) {
    const r = this.model.reveal;
    if (q.mode !== 'vote' || !r || r.qid !== q.qid || !Array.isArray(r.right)) return null;
    return h(
      'div',
      { class: 'right-names', 'data-testid': 'right-names' },
      h('h3', { text: r.right.length ? t('host.right', { n: r.right.length }) : t('host.rightNone') }),
      r.right.length > 1 ? h('p', { class: 'muted small', text: t('host.rightOrder') }) : null,
      r.right.length
        ? h(
            'ol',
            { class: 'name-list' },
            r.right.map((p) =>
              h('li', {}, h('span', { class: 'p-name', text: p.name }), p.response_ms != null ? h('span', { class: 'muted small', text: ` ${(p.response_ms / 1000).toFixed(1)} s` }) : null),
            ),
          )
        : null,
    );
  }
}
