// A deliberately small markdown renderer for question prompts: paragraphs,
// line breaks, `inline code` and ``` fenced code blocks ``` in monospace.
// It builds DOM nodes from text nodes only, never HTML, so a prompt can
// never inject markup; anything else (emphasis, links, tags) shows as the
// characters that were typed.

import { h } from './dom.js';

/** Splits text into [{code: bool, lang, text}] blocks at ``` fences. */
function blocks(text) {
  const out = [];
  const lines = String(text ?? '').replace(/\r\n?/g, '\n').split('\n');
  let buf = [];
  let fence = null;
  const flush = (code, lang = '') => {
    if (buf.length || code) out.push({ code, lang, text: buf.join('\n') });
    buf = [];
  };
  for (const line of lines) {
    const m = /^\s*(```+|~~~+)\s*([\w+-]*)\s*$/.exec(line);
    if (fence) {
      if (m && m[1][0] === fence.mark[0] && m[1].length >= fence.mark.length && !m[2]) {
        flush(true, fence.lang);
        fence = null;
      } else buf.push(line);
    } else if (m) {
      flush(false);
      fence = { mark: m[1], lang: m[2] };
    } else buf.push(line);
  }
  // An unclosed fence still shows its code as code.
  flush(Boolean(fence), fence ? fence.lang : '');
  return out;
}

/** Inline `code` spans of one line as nodes. */
function inline(line) {
  const parts = [];
  const re = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g;
  let at = 0;
  let m;
  while ((m = re.exec(line))) {
    if (m.index > at) parts.push(line.slice(at, m.index));
    parts.push(h('code', { text: m[2] }));
    at = m.index + m[0].length;
  }
  if (at < line.length) parts.push(line.slice(at));
  return parts;
}

/** The prompt as an array of block elements (class `md`). */
export function renderMarkdown(text) {
  const out = [];
  for (const b of blocks(text)) {
    if (b.code) {
      out.push(h('pre', { class: 'md-code', 'data-lang': b.lang || null }, h('code', { text: b.text })));
      continue;
    }
    for (const para of b.text.split(/\n\s*\n/)) {
      if (!para.trim()) continue;
      const lines = para.split('\n');
      const kids = [];
      lines.forEach((l, i) => {
        if (i) kids.push(h('br'));
        kids.push(...inline(l));
      });
      out.push(h('p', { class: 'md-p' }, kids));
    }
  }
  return out;
}

/** A prompt element: `tag` with the rendered markdown inside. */
export function prompt(tag, props, text) {
  return h(tag, { ...props, class: `${(props && props.class) || ''} md`.trim() }, renderMarkdown(text));
}
