// The library editor: the host's quizzes (write, import, export, delete
// with undo), one quiz (title, topic tree, questions with options, keys,
// notes, follow-ups, time limit and points), and the host's own version of
// a bank question. Saves are whole: the server checks everything and
// either keeps all of it or nothing, listing each problem by field, shown
// here next to its input.

import * as api from './api.js';
import { h, Region } from './dom.js';
import { errorText, onLangChange, t } from './i18n.js';
import { createAndRemember, hostToken } from './host.js';
import { renderMarkdown } from './markdown.js';
import { save } from './store.js';
import { langSwitch, toast } from './widgets.js';

const KINDS = ['open', 'choice', 'multi', 'truefalse', 'short'];
const MODES = ['', 'buzz', 'vote', 'poll', 'self', 'text'];
const TIMES = [0, 5, 10, 20, 30, 60, 90, 120, 240];
const POINTS = ['standard', 'double', 'none'];

/** A new, empty question. */
function blankQuestion(topic = null) {
  return { id: '', topic, prompt: '', kind: 'choice', options: [{ text: '', correct: true }, { text: '', correct: false }], answer: '', notes: [], followups: [], points: 'standard' };
}

/** A deep copy through JSON (quizzes are plain data). */
const copy = (v) => JSON.parse(JSON.stringify(v));

/** The text of a field error, in the interface language. */
function fieldText(e) {
  const key = `field.${e.code}`;
  const text = t(key);
  return text === key ? e.message || e.code : text;
}

/** Mounts /edit, /edit/new, /edit/QUIZ_ID or /edit/q/QUESTION_ID. */
export function mountEditor(root, parts, navigate) {
  const app = new Editor(root, parts, navigate);
  app.start();
  return app;
}

class Editor {
  constructor(root, parts, navigate) {
    this.navigate = navigate;
    this.parts = parts;
    this.header = new Region(h('header', { class: 'topbar' }));
    this.main = h('main', { class: 'editor' });
    root.replaceChildren(this.header.el, this.main);
    this.token = null;
    this.errors = [];
    this.status = '';
    this.saving = false; // a save is on its way
    this.deleted = null; // {index, question} of the last deleted question
    this.deletedQuiz = null; // {id, title} of the last deleted quiz
    onLangChange(() => {
      this.header.invalidate();
      this.draw();
    });
  }

  async start() {
    this.drawHeader();
    this.main.replaceChildren(h('p', { class: 'muted', text: t('host.topics.loading') }));
    this.token = await hostToken();
    if (!this.token) {
      this.main.replaceChildren(h('p', { class: 'error', role: 'alert', text: t('editor.noLibrary') }));
      return;
    }
    const [first, second] = this.parts;
    try {
      if (!first) {
        this.view = 'list';
        await this.loadList();
      } else if (first === 'q' && second) {
        this.view = 'edit';
        this.edit = await api.library('GET', `/edits/${encodeURIComponent(second)}`, this.token);
        this.question = copy(this.edit.question);
      } else {
        this.view = 'quiz';
        this.quiz = first === 'new' ? { title: '', topics: [], questions: [blankQuestion()] } : await api.library('GET', `/quizzes/${encodeURIComponent(first)}`, this.token);
      }
    } catch (err) {
      this.main.replaceChildren(h('p', { class: 'error', role: 'alert', text: err.code ? errorText(err.code, err.message) : t('err.network') }));
      return;
    }
    this.draw();
  }

  drawHeader() {
    this.header.update('x', () => [
      h('a', { class: 'brand', href: '/', text: t('app.name') }),
      h('a', { class: 'title', href: '/edit', text: t('editor.title') }),
      h('span', { class: 'spacer' }),
      langSwitch(),
    ]);
  }

  draw() {
    this.drawHeader();
    const view = { list: () => this.listView(), quiz: () => this.quizView(), edit: () => this.editView() }[this.view];
    if (!view) return;
    // Keep the scroll position across a redraw.
    const y = window.scrollY;
    this.main.replaceChildren(...[view()].flat(Infinity).filter(Boolean));
    for (const e of this.errors) {
      const input = this.main.querySelector(`[data-field="${CSS.escape(e.field)}"]`);
      if (input) {
        input.classList.add('has-error');
        input.setAttribute('aria-invalid', 'true');
      }
    }
    window.scrollTo(0, y);
  }

  // --- the library -----------------------------------------------------------

  async loadList() {
    this.library = await api.library('GET', '', this.token);
  }

  listView() {
    const quizzes = (this.library && this.library.quizzes) || [];
    return [
      h('h1', { text: t('editor.title') }),
      h(
        'section',
        { class: 'card' },
        h('div', { class: 'row wrap' }, h('a', { class: 'btn btn-primary', href: '/edit/new', 'data-testid': 'quiz-new', text: t('editor.new') }), h('span', { class: 'spacer' })),
        this.deletedQuiz
          ? h(
              'p',
              { class: 'undo-bar', role: 'status' },
              h('span', { text: t('editor.quizDeleted', { title: this.deletedQuiz.title }) }),
              h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'quiz-undo', text: t('editor.undo'), onclick: () => this.restoreQuiz() }),
            )
          : null,
        quizzes.length
          ? h(
              'ul',
              { class: 'quiz-list', 'data-testid': 'quiz-list' },
              quizzes.map((q) =>
                h(
                  'li',
                  { 'data-quiz': q.id },
                  h('a', { class: 'quiz-title', href: `/edit/${q.id}`, text: q.title }),
                  h('span', { class: 'muted small', text: t('editor.count', { n: q.questions }) }),
                  h('span', { class: 'spacer' }),
                  h('button', { type: 'button', class: 'btn btn-small', text: t('editor.run'), onclick: () => this.run(q) }),
                  h('button', { type: 'button', class: 'btn btn-small', text: 'GIFT', onclick: () => this.exportQuiz(q.id, 'gift') }),
                  h('button', { type: 'button', class: 'btn btn-small', text: 'Markdown', onclick: () => this.exportQuiz(q.id, 'md') }),
                  h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'export-xlsx', text: 'Excel', onclick: () => this.exportQuiz(q.id, 'xlsx') }),
                  h('button', { type: 'button', class: 'btn btn-small', text: 'CSV', onclick: () => this.exportQuiz(q.id, 'csv') }),
                  h('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-testid': 'quiz-delete', text: t('editor.delete'), onclick: () => this.deleteQuiz(q) }),
                ),
              ),
            )
          : h('p', { class: 'muted', text: t('editor.empty') }),
      ),
      this.importView(),
      this.bankSearchView(),
    ];
  }

  async run(quiz) {
    try {
      const code = await createAndRemember(quiz.title);
      save(`banks.${code}`, [`lib${quiz.id}`]);
      this.navigate(`/host/${code}`);
    } catch (err) {
      toast(err.code ? errorText(err.code, err.message) : t('err.network'), 'error');
    }
  }

  async exportQuiz(id, format) {
    try {
      await api.downloadQuiz(this.token, id, format);
    } catch (err) {
      toast(err.code ? errorText(err.code, err.message) : t('err.network'), 'error');
    }
  }

  async deleteQuiz(q) {
    try {
      await api.library('DELETE', `/quizzes/${encodeURIComponent(q.id)}`, this.token);
      this.deletedQuiz = { id: q.id, title: q.title };
      await this.loadList();
      this.draw();
    } catch (err) {
      toast(err.code ? errorText(err.code, err.message) : t('err.network'), 'error');
    }
  }

  async restoreQuiz() {
    if (!this.deletedQuiz) return;
    try {
      await api.library('POST', `/quizzes/${encodeURIComponent(this.deletedQuiz.id)}/restore`, this.token);
      this.deletedQuiz = null;
      await this.loadList();
      this.draw();
    } catch (err) {
      toast(err.code ? errorText(err.code, err.message) : t('err.network'), 'error');
    }
  }

  importView() {
    const file = h('input', { type: 'file', id: 'import-file', 'data-testid': 'import-file', accept: '.xlsx,.csv,.gift,.txt,.md' });
    const title = h('input', { id: 'import-title', maxlength: 200, placeholder: t('editor.import.title') });
    const partial = h('input', { type: 'checkbox', id: 'import-partial', 'data-testid': 'import-partial' });
    const out = h('div', { class: 'import-out', 'data-testid': 'import-errors' });
    const go = async (e) => {
      e.preventDefault();
      const f = file.files && file.files[0];
      if (!f) return;
      const ext = (f.name.split('.').pop() || '').toLowerCase();
      const format = ext === 'xlsx' ? 'xlsx' : ext === 'csv' ? 'csv' : ext === 'gift' ? 'gift' : 'md';
      try {
        const res = await api.importFile(this.token, f, format, title.value.trim(), partial.checked);
        toast(t('editor.imported', { n: res.quiz.questions.length }), 'ok');
        this.navigate(`/edit/${res.quiz.id}`);
      } catch (err) {
        const rows = err.rows || [];
        out.replaceChildren(
          h('p', { class: 'error', role: 'alert', text: rows.length ? t('editor.import.bad', { n: rows.length }) : err.code ? errorText(err.code, err.message) : t('err.network') }),
          rows.length ? h('ul', { class: 'row-errors' }, rows.map((r) => h('li', { text: t('editor.import.row', { row: r.row, field: r.field, message: fieldText(r) }) }))) : null,
        );
      }
    };
    return h(
      'form',
      { class: 'card', onsubmit: go },
      h('h2', { text: t('editor.import') }),
      h('p', { class: 'muted small', text: t('editor.import.hint') }),
      file,
      title,
      h('label', { class: 'check' }, partial, h('span', { text: t('editor.import.partial') })),
      h('button', { type: 'submit', class: 'btn', 'data-testid': 'import-go', text: t('editor.import.go') }),
      out,
    );
  }

  /** Search over the bank questions, to open one in the editor. */
  bankSearchView() {
    const box = h('input', { type: 'search', id: 'bank-search', 'data-testid': 'bank-search', autocomplete: 'off', placeholder: t('editor.bank.search') });
    const out = h('div', { class: 'pick-results' });
    const run = async () => {
      const all = await this.bankQuestions();
      const query = box.value.trim().toLowerCase();
      const hits = query ? all.filter((q) => q.prompt.toLowerCase().includes(query)).slice(0, 20) : [];
      out.replaceChildren(
        h(
          'ul',
          { class: 'pick-list' },
          hits.map((q) =>
            h(
              'li',
              null,
              h('div', { class: 'pick-text' }, h('span', { class: 'pick-prompt', text: q.prompt }), h('span', { class: 'muted small', text: [q.path.join(' › '), t(`kind.${q.kind}`), q.edited ? t('editor.edited') : ''].filter(Boolean).join(' · ') })),
              h('a', { class: 'btn btn-small', href: `/edit/q/${encodeURIComponent(q.id)}`, text: t('editor.edit') }),
            ),
          ),
        ),
      );
    };
    box.addEventListener('input', run);
    return h('section', { class: 'card' }, h('h2', { text: t('editor.bank') }), h('p', { class: 'muted small', text: t('editor.bank.hint') }), box, out);
  }

  async bankQuestions() {
    if (this.bankCache) return this.bankCache;
    const out = [];
    const cat = await api.catalog(this.token);
    const edited = new Set(cat.edited || []);
    for (const b of cat.banks || []) {
      if (b.library) continue;
      let parsed;
      try {
        parsed = await api.bank(b.id, this.token);
      } catch {
        continue;
      }
      const editedHere = new Set((parsed.edited || []).map((e) => e.id));
      for (const pb of parsed.banks || []) {
        for (const topic of pb.topics || []) {
          for (const q of topic.questions || []) out.push({ id: q.id, prompt: q.prompt || '', kind: q.kind || 'open', path: topic.path || [], edited: editedHere.has(q.id) || edited.has(q.id) });
        }
      }
    }
    this.bankCache = out;
    return out;
  }

  // --- one quiz --------------------------------------------------------------

  errorFor(field) {
    const here = this.errors.filter((e) => e.field === field);
    return here.length ? h('p', { class: 'field-error', role: 'alert', 'data-error-for': field, text: here.map(fieldText).join(' ') }) : null;
  }

  /** Every problem of the last save, each naming where it is. */
  errorList() {
    if (!this.errors.length) return null;
    return h(
      'ul',
      { class: 'row-errors', 'data-testid': 'save-errors' },
      this.errors.map((e) => h('li', { class: 'field-error', text: `${e.field.replace(/questions\[(\d+)\]/, (m, n) => t('editor.question', { n: Number(n) + 1 }))}: ${fieldText(e)}` })),
    );
  }

  /** Path titles of a topic, for the selects. */
  topicLabel(id) {
    const names = [];
    let at = id;
    for (let i = 0; at && i <= this.quiz.topics.length; i++) {
      const topic = this.quiz.topics.find((x) => x.id === at);
      if (!topic) break;
      names.unshift(topic.title || '…');
      at = topic.parent;
    }
    return names.join(' › ');
  }

  quizView() {
    const quiz = this.quiz;
    const title = h('input', { id: 'quiz-title', 'data-field': 'title', 'data-testid': 'quiz-title', maxlength: 200, value: quiz.title, placeholder: t('editor.quizTitle'), oninput: (e) => (quiz.title = e.target.value) });
    return [
      h(
        'section',
        { class: 'card' },
        h('label', { for: 'quiz-title', text: t('editor.quizTitle') }),
        title,
        this.errorFor('title'),
      ),
      this.topicsView(),
      h(
        'div',
        { class: 'questions' },
        quiz.questions.map((q, i) => this.questionCard(q, i)),
      ),
      this.deleted
        ? h(
            'p',
            { class: 'undo-bar', role: 'status' },
            h('span', { text: t('editor.questionDeleted') }),
            h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'undo-delete', text: t('editor.undo'), onclick: () => this.undoDelete() }),
          )
        : null,
      h(
        'div',
        { class: 'row wrap editor-actions' },
        h('button', { type: 'button', class: 'btn', 'data-testid': 'question-add', text: t('editor.addQuestion'), onclick: () => this.addQuestion() }),
        h('span', { class: 'spacer' }),
        this.statusView(),
        quiz.id ? h('button', { type: 'button', class: 'btn', text: t('editor.run'), onclick: () => this.run(quiz) }) : null,
        h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'quiz-save', disabled: this.saving, text: t('editor.save'), onclick: () => this.saveQuiz() }),
      ),
      this.errorList(),
    ];
  }

  topicsView() {
    const quiz = this.quiz;
    return h(
      'section',
      { class: 'card' },
      h('h2', { text: t('editor.topics') }),
      quiz.topics.length
        ? h(
            'ul',
            { class: 'topic-edit' },
            quiz.topics.map((topic, i) =>
              h(
                'li',
                null,
                h('input', { 'data-field': `topics[${i}].title`, 'data-testid': `topic-title-${i}`, 'aria-label': t('editor.topicTitle'), value: topic.title, placeholder: t('editor.topicTitle'), oninput: (e) => (topic.title = e.target.value) }),
                h(
                  'select',
                  { 'data-field': `topics[${i}].parent`, 'aria-label': t('editor.parent'), onchange: (e) => ((topic.parent = e.target.value || null), this.draw()) },
                  h('option', { value: '', text: t('editor.root') }),
                  quiz.topics.filter((x) => x.id !== topic.id).map((x) => h('option', { value: x.id, selected: topic.parent === x.id, text: this.topicLabel(x.id) })),
                ),
                h('button', { type: 'button', class: 'icon-btn', 'aria-label': t('editor.delete'), text: '×', onclick: () => this.removeTopic(topic) }),
                this.errorFor(`topics[${i}].title`),
                this.errorFor(`topics[${i}].parent`),
              ),
            ),
          )
        : h('p', { class: 'muted small', text: t('editor.noTopics') }),
      h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'topic-add', text: t('editor.addTopic'), onclick: () => this.addTopic() }),
    );
  }

  addTopic() {
    let n = this.quiz.topics.length + 1;
    while (this.quiz.topics.some((x) => x.id === `t${n}`)) n++;
    this.quiz.topics.push({ id: `t${n}`, title: '', parent: null });
    this.draw();
  }

  removeTopic(topic) {
    const quiz = this.quiz;
    quiz.topics = quiz.topics.filter((x) => x !== topic);
    for (const x of quiz.topics) if (x.parent === topic.id) x.parent = topic.parent || null;
    for (const q of quiz.questions) if (q.topic === topic.id) q.topic = topic.parent || null;
    this.draw();
  }

  addQuestion() {
    const last = this.quiz.questions[this.quiz.questions.length - 1];
    this.quiz.questions.push(blankQuestion(last ? last.topic : null));
    this.draw();
  }

  moveQuestion(i, by) {
    const list = this.quiz.questions;
    const j = i + by;
    if (j < 0 || j >= list.length) return;
    [list[i], list[j]] = [list[j], list[i]];
    this.draw();
  }

  duplicate(i) {
    const twin = copy(this.quiz.questions[i]);
    twin.id = '';
    this.quiz.questions.splice(i + 1, 0, twin);
    this.draw();
  }

  removeQuestion(i) {
    const [question] = this.quiz.questions.splice(i, 1);
    this.deleted = { index: i, question };
    this.draw();
  }

  undoDelete() {
    if (!this.deleted) return;
    const { index, question } = this.deleted;
    this.quiz.questions.splice(Math.min(index, this.quiz.questions.length), 0, question);
    this.deleted = null;
    this.draw();
  }

  questionCard(q, i) {
    const at = `questions[${i}]`;
    const n = this.quiz.questions.length;
    return h(
      'section',
      { class: 'card q-edit', 'data-question': i },
      h(
        'div',
        { class: 'row' },
        h('h2', { text: t('editor.question', { n: i + 1 }) }),
        h('span', { class: 'spacer' }),
        h('button', { type: 'button', class: 'btn btn-small', 'aria-label': t('editor.up'), title: t('editor.up'), disabled: i === 0, text: '↑', onclick: () => this.moveQuestion(i, -1) }),
        h('button', { type: 'button', class: 'btn btn-small', 'aria-label': t('editor.down'), title: t('editor.down'), disabled: i === n - 1, text: '↓', onclick: () => this.moveQuestion(i, 1) }),
        h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'question-duplicate', text: t('editor.duplicate'), onclick: () => this.duplicate(i) }),
        h('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-testid': 'question-delete', text: t('editor.delete'), onclick: () => this.removeQuestion(i) }),
      ),
      h(
        'label',
        { class: 'inline' },
        h('span', { text: t('editor.topic') }),
        h(
          'select',
          { 'data-field': `${at}.topic`, 'data-testid': 'question-topic', onchange: (e) => (q.topic = e.target.value || null) },
          h('option', { value: '', text: this.quiz.title || t('editor.root') }),
          this.quiz.topics.map((x) => h('option', { value: x.id, selected: q.topic === x.id, text: this.topicLabel(x.id) })),
        ),
      ),
      this.errorFor(`${at}.topic`),
      this.questionFields(q, at),
    );
  }

  /** The fields every question has, in the quiz editor and for a bank question. */
  questionFields(q, at) {
    const f = (name) => (at ? `${at}.${name}` : name);
    const preview = h('div', { class: 'md-preview md', 'aria-label': t('editor.preview') }, renderMarkdown(q.prompt));
    const prompt = h('textarea', {
      'data-field': f('prompt'),
      'data-testid': 'question-prompt',
      rows: 3,
      'aria-label': t('editor.prompt'),
      placeholder: t('editor.prompt.hint'),
      oninput: (e) => {
        q.prompt = e.target.value;
        preview.replaceChildren(...renderMarkdown(q.prompt));
      },
    });
    prompt.value = q.prompt;
    const select = (name, values, label, current, onchange) =>
      h(
        'label',
        { class: 'inline' },
        h('span', { text: label }),
        h(
          'select',
          { 'data-field': f(name), 'data-testid': `question-${name}`, onchange: (e) => onchange(e.target.value) },
          values.map(([value, text]) => h('option', { value, selected: String(current) === String(value), text })),
        ),
      );
    const times = TIMES.includes((q.time_limit_ms || 0) / 1000) ? TIMES : [...TIMES, (q.time_limit_ms || 0) / 1000];
    return [
      h('label', { text: t('editor.prompt') }),
      prompt,
      this.errorFor(f('prompt')),
      preview,
      h(
        'div',
        { class: 'row wrap' },
        select('kind', KINDS.map((k) => [k, t(`editor.kind.${k}`)]), t('editor.kind'), q.kind, (v) => this.setKind(q, v)),
        select('mode', MODES.map((m) => [m, m ? t(`mode.${m}`) : t('editor.mode.any')]), t('editor.mode'), q.mode || '', (v) => (q.mode = v || undefined)),
        select('time', times.map((s) => [s, s ? t('editor.seconds', { n: s }) : t('editor.noLimit')]), t('editor.time'), (q.time_limit_ms || 0) / 1000, (v) => (q.time_limit_ms = Number(v) ? Number(v) * 1000 : undefined)),
        select('points', POINTS.map((p) => [p, t(`editor.points.${p}`)]), t('editor.points'), q.points || 'standard', (v) => (q.points = v)),
      ),
      this.errorFor(f('mode')),
      this.errorFor(f('time_limit_ms')),
      this.optionsView(q, f),
      h('label', { text: t('editor.answer') }),
      this.area(q.answer || '', f('answer'), (v) => (q.answer = v), 'question-answer'),
      this.errorFor(f('answer')),
      h('label', { text: t('editor.notes') }),
      this.area((q.notes || []).join('\n'), f('notes'), (v) => (q.notes = lines(v)), 'question-notes'),
      this.errorFor(f('notes')),
      h('label', { text: t('editor.followups') }),
      this.area((q.followups || []).join('\n'), f('followups'), (v) => (q.followups = lines(v)), 'question-followups'),
      this.errorFor(f('followups')),
    ];
  }

  area(value, field, onchange, testid) {
    const el = h('textarea', { 'data-field': field, 'data-testid': testid, rows: 2, oninput: (e) => onchange(e.target.value) });
    el.value = value;
    return el;
  }

  setKind(q, kind) {
    q.kind = kind;
    if (kind === 'open') q.options = [];
    else if (kind === 'truefalse') q.options = [{ text: t('editor.true'), correct: true }, { text: t('editor.false'), correct: false }];
    else if (kind === 'choice') {
      let seen = false;
      for (const o of q.options) {
        if (o.correct && !seen) seen = true;
        else o.correct = false;
      }
    } else if (kind === 'short') for (const o of q.options) o.correct = true;
    if ((kind === 'choice' || kind === 'multi') && q.options.length < 2) while (q.options.length < 2) q.options.push({ text: '', correct: false });
    this.draw();
  }

  optionsView(q, f) {
    if (q.kind === 'open') return [this.errorFor(f('options'))];
    const single = q.kind === 'choice' || q.kind === 'truefalse';
    return h(
      'fieldset',
      { class: 'options-edit', 'data-field': f('options') },
      h('legend', { text: single ? t('editor.options.single') : q.kind === 'short' ? t('editor.options.short') : t('editor.options.multi') }),
      q.options.map((o, j) =>
        h(
          'div',
          { class: 'option-edit' },
          q.kind === 'short'
            ? null
            : h('input', {
                type: single ? 'radio' : 'checkbox',
                name: `${f('correct')}`,
                'data-testid': 'option-correct',
                'aria-label': t('editor.correct'),
                checked: o.correct,
                onchange: (e) => {
                  if (single) q.options.forEach((x, k) => (x.correct = k === j));
                  else o.correct = e.target.checked;
                },
              }),
          h('input', { 'data-field': f(`options[${j}].text`), 'data-testid': 'option-text', 'aria-label': t('editor.option', { n: j + 1 }), value: o.text, placeholder: t('editor.option', { n: j + 1 }), oninput: (e) => (o.text = e.target.value) }),
          q.kind === 'truefalse' ? null : h('button', { type: 'button', class: 'icon-btn', 'aria-label': t('editor.delete'), text: '×', onclick: () => (q.options.splice(j, 1), this.draw()) }),
          this.errorFor(f(`options[${j}].text`)),
        ),
      ),
      q.kind === 'truefalse' ? null : h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'option-add', text: t('editor.addOption'), onclick: () => (q.options.push({ text: '', correct: q.kind === 'short' }), this.draw()) }),
      this.errorFor(f('options')),
    );
  }

  /**
   * The save status: "Saving…" while a save is on its way (so an earlier
   * "Saved." or "Not saved" is never taken for this save's answer), then
   * the answer.
   */
  statusView() {
    if (this.saving) return h('span', { class: 'muted', role: 'status', 'aria-busy': 'true', 'data-testid': 'save-status', text: t('editor.saving') });
    return this.status ? h('span', { class: this.errors.length ? 'error' : 'muted', role: 'status', 'data-testid': 'save-status', text: this.status }) : null;
  }

  /** Marks a save as under way (the save button waits) and runs `send`; false if one already is. */
  async whileSaving(send) {
    if (this.saving) return false;
    this.saving = true;
    this.draw();
    try {
      await send();
    } finally {
      this.saving = false;
    }
    return true;
  }

  /** Saves the whole quiz; on field errors nothing is saved and each shows. */
  async saveQuiz() {
    if (!(await this.whileSaving(() => this.sendQuiz()))) return;
    this.draw();
    const first = this.main.querySelector('.field-error');
    if (first) first.scrollIntoView({ block: 'center' });
  }

  /** Sends the quiz and keeps the answer (saved, or its field errors). */
  async sendQuiz() {
    const quiz = this.quiz;
    try {
      const saved = quiz.id ? await api.library('PUT', `/quizzes/${encodeURIComponent(quiz.id)}`, this.token, quiz) : await api.library('POST', '/quizzes', this.token, quiz);
      const fresh = !quiz.id;
      this.quiz = saved;
      this.errors = [];
      this.status = t('editor.saved');
      if (fresh) history.replaceState(null, '', `/edit/${saved.id}`);
    } catch (err) {
      this.errors = err.fields || [];
      this.status = this.errors.length ? t('editor.notSaved', { n: this.errors.length }) : err.code ? errorText(err.code, err.message) : t('err.network');
    }
  }

  // --- a bank question -------------------------------------------------------

  editView() {
    const e = this.edit;
    return [
      h(
        'section',
        { class: 'card q-edit' },
        h('h1', { text: t('editor.bankQuestion') }),
        h('p', { class: 'muted small', text: [(e.topic || []).join(' › '), e.edited ? t('editor.edited') : t('editor.original')].join(' · ') }),
        h('p', { class: 'muted small', text: t('editor.bankQuestion.hint') }),
        this.questionFields(this.question, ''),
        h(
          'div',
          { class: 'row wrap editor-actions' },
          e.edited ? h('button', { type: 'button', class: 'btn', 'data-testid': 'edit-revert', text: t('editor.revert'), onclick: () => this.revert() }) : null,
          h('span', { class: 'spacer' }),
          this.statusView(),
          h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'edit-save', disabled: this.saving, text: t('editor.save'), onclick: () => this.saveEdit() }),
        ),
      ),
    ];
  }

  /** Saves the caller's version of a bank question. */
  async saveEdit() {
    if (await this.whileSaving(() => this.sendEdit())) this.draw();
  }

  /** Sends the edited bank question and keeps the answer. */
  async sendEdit() {
    try {
      const saved = await api.library('PUT', `/edits/${encodeURIComponent(this.parts[1])}`, this.token, this.question);
      this.question = copy(saved.question);
      this.edit.edited = true;
      this.errors = [];
      this.status = t('editor.savedOwn');
    } catch (err) {
      this.errors = err.fields || [];
      this.status = this.errors.length ? t('editor.notSaved', { n: this.errors.length }) : err.code ? errorText(err.code, err.message) : t('err.network');
    }
  }

  async revert() {
    try {
      await api.library('DELETE', `/edits/${encodeURIComponent(this.parts[1])}`, this.token);
      this.edit.edited = false;
      this.question = copy(this.edit.original);
      this.status = t('editor.reverted');
      this.errors = [];
    } catch (err) {
      toast(err.code ? errorText(err.code, err.message) : t('err.network'), 'error');
    }
    this.draw();
  }
}

function lines(text) {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}
