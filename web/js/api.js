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

/** The merged catalog: banks and the topic tree with question counts. */
export async function catalog() {
  return parse(await fetch('/api/banks', { cache: 'no-store' }));
}

/** One parsed bank with its questions (used to search and pick). */
export async function bank(id) {
  return parse(await fetch(`/api/banks/${encodeURIComponent(id)}`));
}

/** Opens a new room; returns {code, host_token, join_url}. */
export async function createRoom(title, isPrivate = false) {
  const body = {};
  if (title) body.title = title;
  if (isPrivate) body.private = true;
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

/** URL of the QR code (SVG) that encodes `text`. */
export function qrUrl(text) {
  return `/api/qr.svg?text=${encodeURIComponent(text)}`;
}
