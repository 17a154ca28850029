// Pieces shared by the host console, the player page and the big screen.

import { h, letter } from './dom.js';
import { LANGS, lang, setLang, t } from './i18n.js';
import { qrUrl } from './api.js';

/** EN / RU switch. */
export function langSwitch() {
  return h(
    'div',
    { class: 'lang-switch', role: 'group', 'aria-label': t('lang.label') },
    LANGS.map((l) =>
      h('button', {
        type: 'button',
        class: l === lang() ? 'on' : '',
        'aria-pressed': l === lang() ? 'true' : 'false',
        lang: l,
        text: l.toUpperCase(),
        onclick: () => setLang(l),
      }),
    ),
  );
}

/** Small connection status pill. */
export function connPill(status) {
  if (status === 'stopped') return null;
  return h('span', { class: `conn conn-${status}`, role: 'status', text: t(`pill.${status}`) });
}

/** Full-width banner while the socket is down; hidden otherwise. */
export function reconnectBanner(status, onRetry) {
  if (status !== 'reconnecting') return null;
  return h(
    'div',
    { class: 'banner banner-warn', role: 'alert', 'data-testid': 'reconnecting' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }),
    h('span', { text: t('conn.reconnecting') }),
    onRetry ? h('button', { type: 'button', class: 'btn btn-small', text: t('conn.retry'), onclick: onRetry }) : null,
  );
}

/** The join link for a room code on this server. */
export function joinLink(code, serverUrl) {
  if (serverUrl) {
    try {
      return new URL(serverUrl, location.origin).href;
    } catch {
      /* fall through to this page's origin */
    }
  }
  return `${location.origin}/join/${code}`;
}

/** QR code image for a join link. */
export function qrImage(text, cls = 'qr') {
  return h('img', { class: cls, src: qrUrl(text), alt: `QR: ${text}`, width: 240, height: 240 });
}

/** Topic path as a breadcrumb: Python › Basics. */
export function topicPath(path) {
  if (!Array.isArray(path) || !path.length) return null;
  return h('p', { class: 'topic-path', text: path.join(' › ') });
}

/** Option text for display; the self-assessment scale is translated by position. */
export function optionLabel(question, i) {
  const text = question.options[i];
  if (question.mode === 'self' && question.options.length === 3) return t(`self.${i}`);
  // The server's own True/False pair for statements is translated too.
  if (question.options.length === 2 && question.options[0] === 'True' && question.options[1] === 'False') return t(i === 0 ? 'opt.true' : 'opt.false');
  return text;
}

/**
 * Horizontal bar chart of counts per option. `correct` (indices) gets a
 * green bar and a mark; `mine` (indices) is outlined.
 */
export function histogram(question, counts, { correct = [], mine = [], big = false } = {}) {
  const n = question.options.length;
  const values = Array.from({ length: n }, (_, i) => Number((counts || [])[i]) || 0);
  const total = values.reduce((a, b) => a + b, 0);
  const max = Math.max(1, ...values);
  return h(
    'ol',
    { class: `histogram${big ? ' big' : ''}`, 'aria-label': t('q.votes', { n: total }) },
    values.map((count, i) => {
      const isCorrect = correct.includes(i);
      const pct = total ? Math.round((count / total) * 100) : 0;
      return h(
        'li',
        {
          class: `bar-row${isCorrect ? ' correct' : ''}${mine.includes(i) ? ' mine' : ''}${
            question.mode === 'self' ? ` self-${i}` : ''
          }`,
        },
        h('span', { class: 'bar-letter', 'aria-hidden': 'true', text: letter(i) }),
        h(
          'span',
          { class: 'bar-body' },
          h('span', { class: 'bar-label', text: optionLabel(question, i) }),
          h(
            'span',
            { class: 'bar-track' },
            h('span', { class: 'bar-fill', style: { width: `${(count / max) * 100}%` } }),
          ),
        ),
        h('span', { class: 'bar-count', text: `${count}${total ? ` · ${pct}%` : ''}` }),
        isCorrect ? h('span', { class: 'bar-ok', title: t('q.correct'), text: '✓' }) : null,
      );
    }),
  );
}

/** Ranked list of players. */
export function leaderboard(rows, { highlight = null, limit = 10 } = {}) {
  if (!rows.length) return h('p', { class: 'muted', text: t('nobody') });
  return h(
    'ol',
    { class: 'leaderboard' },
    rows.slice(0, limit).map((row) =>
      h(
        'li',
        { class: row.player_id === highlight ? 'me' : '' },
        h('span', { class: 'lb-place', text: row.place }),
        h('span', { class: 'lb-name', text: row.name }),
        h('span', { class: 'lb-score', text: row.score }),
      ),
    ),
  );
}

/** Top three on steps: 2nd, 1st, 3rd. */
export function podium(rows) {
  const top = rows.slice(0, 3);
  const order = [1, 0, 2].filter((i) => top[i]);
  return h(
    'div',
    { class: 'podium' },
    order.map((i) =>
      h(
        'div',
        { class: `step step-${i + 1}` },
        h('div', { class: 'step-name', text: top[i].name }),
        h('div', { class: 'step-score', text: t('points.short', { n: top[i].score }) }),
        h('div', { class: 'step-block', text: String(top[i].place) }),
      ),
    ),
  );
}

/**
 * A countdown bar + seconds that redraws itself every animation frame from
 * the model's timer, and disappears when there is no limit.
 */
export function countdown(model, { big = false } = {}) {
  const q = model.question;
  const left = model.timeLeft();
  if (left == null && !(q && q.paused && q.time_limit_ms)) return null;
  const total = (q && q.time_limit_ms) || left || 1;
  const fill = h('span', { class: 'cd-fill' });
  const label = h('span', { class: 'cd-label' });
  const el = h('div', { class: `countdown${big ? ' big' : ''}` }, h('span', { class: 'cd-track' }, fill), label);
  const draw = () => {
    if (!el.isConnected && el.dataset.started) return;
    el.dataset.started = '1';
    const paused = Boolean(model.question && model.question.paused);
    const ms = model.timeLeft() ?? (paused ? total : null);
    if (ms == null) {
      el.hidden = true;
      return;
    }
    const secs = Math.ceil(ms / 1000);
    fill.style.width = `${Math.max(0, Math.min(100, (ms / total) * 100))}%`;
    el.classList.toggle('low', ms < 5000);
    el.classList.toggle('paused', paused);
    label.textContent = paused ? t('screen.paused') : ms > 0 ? t('q.secondsLeft', { n: secs }) : t('q.timeUp');
    requestAnimationFrame(draw);
  };
  requestAnimationFrame(draw);
  return el;
}

/** Transient message at the bottom of the screen. */
export function toast(text, kind = 'info') {
  let box = document.getElementById('toasts');
  if (!box) {
    box = h('div', { id: 'toasts', class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(box);
  }
  const item = h('div', { class: `toast toast-${kind}`, text });
  box.append(item);
  setTimeout(() => item.remove(), 4000);
}

/** Copies text and briefly says so on the button. */
export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h('textarea', { value: text });
    document.body.append(area);
    area.select();
    try {
      document.execCommand('copy');
    } catch {
      /* nothing else to try */
    }
    area.remove();
  }
  if (button) {
    const old = button.textContent;
    button.textContent = t('host.copied');
    setTimeout(() => {
      button.textContent = old;
    }, 1500);
  }
}
