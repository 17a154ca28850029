// Small DOM helpers. Every piece of text goes in through text nodes
// (textContent), never through innerHTML, so nicknames, prompts and typed
// answers can never inject markup.

/** Builds an element: h('button', {class: 'x', onclick: f}, 'label', child). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value == null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = String(value);
      else if (key === 'value') el.value = value;
      else if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value);
      } else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
      else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
  }
  add(el, children);
  return el;
}

/** Appends children (nodes, strings, numbers, nested arrays; null skipped). */
export function add(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** SVG elements need their own namespace; attributes only, no text. */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const child of children.flat()) if (child) el.append(child);
  return el;
}

/**
 * A part of the page that is rebuilt only when its inputs change, so a
 * focused input or a half-typed answer elsewhere survives every update.
 */
export class Region {
  constructor(el) {
    this.el = el;
    this.sig = undefined;
  }

  /** Rebuilds with build() when sig differs from the last one. */
  update(sig, build) {
    const key = typeof sig === 'string' ? sig : JSON.stringify(sig);
    if (key === this.sig) return false;
    this.sig = key;
    this.el.replaceChildren(...[build()].flat(Infinity).filter((c) => c != null && c !== false));
    return true;
  }

  /** Forces the next update to rebuild (e.g. after a language switch). */
  invalidate() {
    this.sig = undefined;
  }
}

/** Letters for option labels: A, B, C, ... */
export function letter(i) {
  return i < 26 ? String.fromCharCode(65 + i) : String(i + 1);
}

/** Whether a key event comes from a text field (shortcuts stay out of it). */
export function typingIn(event) {
  const t = event.target;
  if (!t || !t.tagName) return false;
  return t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName);
}
