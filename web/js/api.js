// HTTP calls to the server's JSON API.

/** An API failure with the server's stable error code. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

async function parse(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const err = body && body.error ? body.error : {};
    throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText);
  }
  return body;
}

const auth = (token) => (token ? { authorization: `Bearer ${token}` } : {});

/**
 * The merged catalog: banks and the topic tree with question counts. With
 * a host token: that host's view (its library quizzes, its edits).
 */
export async function catalog(token) {
  return parse(await fetch('/api/banks', { cache: 'no-store', headers: auth(token) }));
}

/** One parsed bank with its questions (used to search and pick). */
export async function bank(id, token) {
  return parse(await fetch(`/api/banks/${encodeURIComponent(id)}`, { cache: 'no-store', headers: auth(token) }));
}

/** A fresh host token for the library (and for rooms to reuse). */
export async function newHost() {
  return parse(await fetch('/api/hosts', { method: 'POST' }));
}

/** A library call: JSON in and out with the host token. */
export async function library(method, path, token, body) {
  const init = { method, cache: 'no-store', headers: auth(token) };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`/api/library${path}`, init);
  if (res.status === 204) return null;
  return parseDetailed(res);
}

/** Uploads a file to the library import; bad rows come back on the error. */
export async function importFile(token, file, format, title, partial) {
  const q = new URLSearchParams({ format });
  if (title) q.set('title', title);
  if (partial) q.set('partial', 'true');
  const res = await fetch(`/api/library/import?${q}`, { method: 'POST', headers: auth(token), body: file });
  return parseDetailed(res);
}

/** Like parse(), keeping the error body's field and row lists. */
async function parseDetailed(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const err = body && body.error ? body.error : {};
    const e = new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText);
    e.fields = Array.isArray(err.fields) ? err.fields : [];
    e.rows = Array.isArray(err.rows) ? err.rows : [];
    throw e;
  }
  return body;
}

/** Downloads a library export (GIFT or markdown) as a file. */
export async function downloadQuiz(token, id, format) {
  const res = await fetch(`/api/library/quizzes/${encodeURIComponent(id)}/export?format=${format}`, { headers: auth(token), cache: 'no-store' });
  if (!res.ok) await parse(res);
  saveBlob(await res.blob(), `${id}.${format}`);
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Opens a new room; returns {code, host_token, join_url}. `shuffle` is the
 * option order ("room", the server's default, "player" or "off").
 */
export async function createRoom(title, isPrivate = false, hostToken = null, shuffle = null) {
  const body = {};
  if (title) body.title = title;
  if (isPrivate) body.private = true;
  if (hostToken) body.host_token = hostToken;
  if (shuffle) body.shuffle_options = shuffle;
  return parse(
    await fetch('/api/rooms', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );
}

/** Fetches the results export with the host token and saves it as a file. */
export async function downloadResults(code, token, format) {
  const res = await fetch(`/api/rooms/${encodeURIComponent(code)}/results?format=${format}`, {
    headers: { authorization: `Bearer ${token}` },
    cache: 'no-store',
  });
  if (!res.ok) await parse(res);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `quizroom-${code}-results.${format}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The results as JSON (host token needed). */
export async function results(code, token) {
  return parse(
    await fetch(`/api/rooms/${encodeURIComponent(code)}/results?format=json`, {
      headers: { authorization: `Bearer ${token}` },
      cache: 'no-store',
    }),
  );
}

/**
 * The rooms a host token ran, live and ended, newest first, with links to
 * their results and per-candidate reports while they are kept.
 */
export async function history(token) {
  return parse(await fetch('/api/rooms', { headers: auth(token), cache: 'no-store' }));
}

/** URL of the QR code (SVG) that encodes `text`. */
export function qrUrl(text) {
  return `/api/qr.svg?text=${encodeURIComponent(text)}`;
}
