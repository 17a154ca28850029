// localStorage wrappers that never throw (private mode, full quota, or
// storage disabled just means nothing is remembered).

const PREFIX = 'quizroom.';

/** Reads a JSON value, or `fallback` when absent or unreadable. */
export function load(key, fallback = null) {
  try {
    const raw = localStorage.getItem(PREFIX + key);
    return raw == null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

/** Stores a JSON value; `null` removes it. */
export function save(key, value) {
  try {
    if (value == null) localStorage.removeItem(PREFIX + key);
    else localStorage.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    /* nothing to do: the app works without memory */
  }
}
