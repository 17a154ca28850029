// The topic picker: the merged catalog as a tree with question counts,
// where checking a parent checks everything under it, plus bank shortcuts
// and a question search for picking one question by hand.

import { bank as fetchBank } from './api.js';
import { h } from './dom.js';
import { t } from './i18n.js';
import { load, save } from './store.js';
import { toast } from './widgets.js';

/** How long a press on a bank chip shows its full title (touch screens). */
const LONG_PRESS_MS = 550;

/** The host's own display names for banks, by bank id (this browser only). */
function bankNames() {
  const names = load('bankNames', {});
  return names && typeof names === 'object' ? names : {};
}

/** What a bank is called here: the host's name for it, else its title. */
export function bankLabel(b) {
  const own = bankNames()[b.id];
  return (typeof own === 'string' && own.trim()) || b.title || b.id;
}

/** Walks a topic tree depth first. */
function walk(nodes, fn, parent = null) {
  for (const node of nodes || []) {
    fn(node, parent);
    walk(node.children, fn, node);
  }
}

const norm = (s) => String(s).trim().toLowerCase();

export class TopicPicker {
  /** onChange() runs after every selection change. */
  constructor(onChange) {
    this.onChange = onChange;
    this.topics = [];
    this.banks = [];
    this.checked = new Set();
    this.banksOn = new Set();
    this.expanded = new Set();
    this.parents = new Map();
    this.byId = new Map();
    this.questions = null; // flattened, loaded on first search
    this.loadingQuestions = null;
    this.filter = '';
    this.treeBox = h('div', { class: 'topic-box' });
    this.filterBox = h('input', {
      type: 'search',
      class: 'topic-filter',
      autocomplete: 'off',
      oninput: () => {
        this.filter = norm(this.filterBox.value);
        this.drawTree();
      },
    });
  }

  /** Whether a node or anything under it matches the filter. */
  matches(node) {
    if (!this.filter) return true;
    if (norm(node.title).includes(this.filter)) return true;
    return (node.children || []).some((c) => this.matches(c));
  }

  drawTree() {
    const shown = this.topics.filter((n) => this.matches(n));
    this.treeBox.replaceChildren(
      shown.length
        ? h('ul', { class: 'tree', 'aria-label': t('host.topics') }, shown.map((n) => this.nodeView(n)))
        : h('p', { class: 'muted small', text: t('host.pick.none') }),
    );
  }

  /** Takes the GET /api/banks answer. */
  setCatalog(cat) {
    this.topics = Array.isArray(cat.topics) ? cat.topics : [];
    this.banks = Array.isArray(cat.banks) ? cat.banks : [];
    this.parents.clear();
    this.byId.clear();
    walk(this.topics, (node, parent) => {
      this.byId.set(node.id, node);
      this.parents.set(node.id, parent ? parent.id : null);
    });
    for (const id of [...this.checked]) if (!this.byId.has(id)) this.checked.delete(id);
    for (const id of [...this.banksOn]) if (!this.banks.some((b) => b.id === id)) this.banksOn.delete(id);
  }

  /** Questions under a node, counting its whole subtree once. */
  total(node) {
    const own = Number(node.questions) || 0;
    const kids = (node.children || []).reduce((sum, c) => sum + this.total(c), 0);
    return Math.max(own, kids);
  }

  /** Every question in the catalog. */
  grandTotal() {
    return this.topics.reduce((sum, n) => sum + this.total(n), 0);
  }

  /**
   * Ids to draw from: the smallest set of topic ids covering the checked
   * topics (parents stand for children), plus whole banks.
   */
  selectedIds() {
    const out = [...this.banksOn];
    const visit = (nodes) => {
      for (const node of nodes || []) {
        if (this.checked.has(node.id)) out.push(node.id);
        else visit(node.children);
      }
    };
    visit(this.topics);
    return out;
  }

  /**
   * Chosen topics with no question the mode can draw (vote, poll and text
   * count only fitting questions; buzz and self take any), by name.
   */
  emptyForMode(mode) {
    if (!['vote', 'poll', 'text'].includes(mode)) return [];
    return this.selectedIds()
      .map((id) => this.byId.get(id))
      .filter((node) => node && node.modes && Number(node.modes[mode]) === 0)
      .map((node) => (node.path && node.path.length ? node.path : [node.title]).join(' › '));
  }

  /** Chips naming the chosen topics, each with a button to drop it. */
  chosenView() {
    const ids = this.selectedIds();
    if (!ids.length) return null;
    return h(
      'div',
      { class: 'chosen', 'data-testid': 'chosen-topics' },
      ids.map((id) => {
        const node = this.byId.get(id);
        const bank = node ? null : this.banks.find((b) => b.id === id);
        if (!node && !bank) return null;
        const label = node ? (node.path && node.path.length ? node.path : [node.title]).join(' › ') : `${t('host.bank')}: ${bankLabel(bank)}`;
        const drop = () => (node ? this.toggle(node, false) : this.toggleBank(id));
        return h(
          'span',
          { class: 'chip chip-on', title: label },
          h('span', { text: label }),
          h('button', { type: 'button', class: 'chip-x', 'aria-label': `${t('host.topics.remove')}: ${label}`, text: '×', onclick: drop }),
        );
      }),
    );
  }

  /** Number of questions in the selection. */
  selectedCount() {
    return this.selectedIds().reduce((sum, id) => {
      const node = this.byId.get(id);
      if (node) return sum + this.total(node);
      const bank = this.banks.find((b) => b.id === id);
      return sum + (bank ? Number(bank.questions) || 0 : 0);
    }, 0);
  }

  setSubtree(node, on) {
    walk([node], (n) => (on ? this.checked.add(n.id) : this.checked.delete(n.id)));
  }

  fixAncestors(id) {
    let parentId = this.parents.get(id);
    while (parentId) {
      const parent = this.byId.get(parentId);
      const all = (parent.children || []).every((c) => this.checked.has(c.id));
      if (all) this.checked.add(parentId);
      else this.checked.delete(parentId);
      parentId = this.parents.get(parentId);
    }
  }

  toggle(node, on) {
    this.setSubtree(node, on);
    this.fixAncestors(node.id);
    this.onChange();
  }

  partly(node) {
    let some = false;
    walk(node.children, (n) => {
      if (this.checked.has(n.id)) some = true;
    });
    return some;
  }

  clear() {
    this.checked.clear();
    this.banksOn.clear();
    this.onChange();
  }

  /** Selects or drops a whole bank: the server draws exactly its questions. */
  toggleBank(bankId) {
    if (this.banksOn.has(bankId)) this.banksOn.delete(bankId);
    else this.banksOn.add(bankId);
    this.onChange();
  }

  /** The tree and bank shortcuts. */
  view() {
    if (!this.topics.length) return h('p', { class: 'muted', text: t('host.topics.empty') });
    this.filterBox.placeholder = t('host.topics.filter');
    this.filterBox.setAttribute('aria-label', t('host.topics.filter'));
    this.drawTree();
    const banks = this.banks.length
      ? h(
          'div',
          { class: 'banks' },
          h('span', { class: 'muted small', text: `${t('host.banks')}:` }),
          this.banks.map((b) => this.bankChip(b)),
        )
      : null;
    return [banks, this.filterBox, this.treeBox];
  }

  /**
   * One bank shortcut: its name cut to fit, the full title and file on
   * hover (and on a long press), and a pencil to give it a shorter name.
   */
  bankChip(b) {
    const label = bankLabel(b);
    const full = [label !== b.title ? `${label} (${b.title})` : b.title, b.file].filter(Boolean).join(' — ');
    let timer = null;
    let pressed = false;
    const chip = h(
      'button',
      {
        type: 'button',
        class: `chip${this.banksOn.has(b.id) ? ' chip-on' : ''}`,
        'aria-pressed': String(this.banksOn.has(b.id)),
        'data-bank': b.id,
        title: full,
        onpointerdown: (e) => {
          if (e.pointerType !== 'touch') return;
          pressed = false;
          timer = setTimeout(() => {
            pressed = true;
            toast(full);
          }, LONG_PRESS_MS);
        },
        onpointerup: () => clearTimeout(timer),
        onpointerleave: () => clearTimeout(timer),
        oncontextmenu: (e) => {
          if (pressed) e.preventDefault();
        },
        onclick: (e) => {
          if (pressed) {
            // The long press showed the title; it does not also toggle.
            pressed = false;
            e.preventDefault();
            return;
          }
          this.toggleBank(b.id);
        },
      },
      b.library ? h('span', { class: 'lib-mark', text: '★ ' }) : null,
      h('span', { class: 'chip-label', text: label }),
      h('span', { class: 'count', text: b.questions ?? '' }),
    );
    const rename = h('button', {
      type: 'button',
      class: 'chip-edit',
      'data-rename': b.id,
      title: t('host.bank.rename'),
      'aria-label': `${t('host.bank.rename')}: ${label}`,
      text: '✎',
      onclick: () => this.renameBank(b),
    });
    return h('span', { class: 'bank-chip' }, chip, rename);
  }

  /** Asks the host for a display name of a bank (empty: back to its title). */
  renameBank(b) {
    const typed = window.prompt(t('host.bank.renamePrompt', { title: b.title || b.id }), bankLabel(b));
    if (typed == null) return;
    const names = bankNames();
    const name = typed.trim().slice(0, 80);
    if (name && name !== b.title) names[b.id] = name;
    else delete names[b.id];
    save('bankNames', names);
    this.onChange();
  }

  nodeView(node) {
    const kids = (node.children || []).filter((c) => this.matches(c));
    const open = this.expanded.has(node.id) || Boolean(this.filter && kids.length);
    const box = h('input', {
      type: 'checkbox',
      id: `topic-${node.id}`,
      'data-topic': node.id,
      onchange: (e) => this.toggle(node, e.target.checked),
    });
    box.checked = this.checked.has(node.id);
    box.indeterminate = !box.checked && this.partly(node);
    return h(
      'li',
      null,
      h(
        'div',
        { class: 'tree-row' },
        kids.length
          ? h('button', {
              type: 'button',
              class: `twisty${open ? ' open' : ''}`,
              'aria-label': node.title,
              'aria-expanded': String(open),
              text: '▸',
              onclick: () => {
                if (open) this.expanded.delete(node.id);
                else this.expanded.add(node.id);
                this.onChange();
              },
            })
          : h('span', { class: 'twisty-space' }),
        box,
        h('label', { for: `topic-${node.id}`, text: node.title }),
        h('span', { class: 'count', text: this.total(node) }),
      ),
      kids.length && open ? h('ul', null, kids.map((c) => this.nodeView(c))) : null,
    );
  }

  /** Loads every bank's questions once, for the search. */
  async loadQuestions() {
    if (this.questions) return this.questions;
    if (!this.loadingQuestions) {
      this.loadingQuestions = (async () => {
        const out = [];
        const seen = new Set();
        for (const b of this.banks) {
          let parsed;
          const edited = new Set();
          try {
            parsed = await fetchBank(b.id, this.token);
          } catch {
            continue;
          }
          for (const e of (parsed && parsed.edited) || []) edited.add(e.id);
          const banks = parsed && Array.isArray(parsed.banks) ? parsed.banks : [parsed];
          for (const pb of banks) {
            for (const topic of (pb && pb.topics) || []) {
              for (const q of topic.questions || []) {
                if (!q || !q.id || seen.has(q.id)) continue;
                seen.add(q.id);
                out.push({ id: q.id, prompt: q.prompt || '', kind: q.kind || 'open', mode: q.mode || null, path: topic.path || [], bank: bankLabel(b), library: Boolean(b.library), edited: edited.has(q.id) });
              }
            }
          }
        }
        this.questions = out;
        return out;
      })();
    }
    return this.loadingQuestions;
  }
}
