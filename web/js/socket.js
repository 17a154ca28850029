// One WebSocket to the room that comes back by itself: exponential backoff
// with jitter, an immediate retry when the browser goes back online, and an
// application-level ping so a silently dead network is noticed.

/**
 * Close codes after which reconnecting is pointless: kicked (4001), the
 * seat was taken over by another tab (4002), the room is gone (4004).
 */
const FINAL_CLOSE = new Set([4001, 4002, 4004]);
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const PING_EVERY_MS = 10_000;
const SILENT_LIMIT_MS = 25_000;

/**
 * The clock the server's `sync` probes are answered with and buzzer presses
 * are stamped on: monotonic, sub-millisecond, shared by the page's events.
 */
export function clientNow() {
  return performance.timeOrigin + performance.now();
}

/** The instant a DOM event happened, on the clientNow() clock. */
export function eventTime(event) {
  const ts = event && typeof event.timeStamp === 'number' ? event.timeStamp : NaN;
  return Number.isFinite(ts) && ts > 0 ? performance.timeOrigin + ts : clientNow();
}

/**
 * Status values reported to onStatus: 'connecting' (first try),
 * 'online' (welcomed), 'reconnecting' (lost, retrying), 'stopped'.
 */
export class RoomSocket {
  /**
   * hello(): the first message to send on each (re)connect, so a fresh
   * resume token is used. onMessage(msg): every server message.
   * onStatus(status, detail): connection state changes.
   */
  constructor({ hello, onMessage, onStatus }) {
    this.hello = hello;
    this.onMessage = onMessage;
    this.onStatus = onStatus || (() => {});
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.timer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.pongSeen = false;
    this.status = 'stopped';
    this.onOnline = () => {
      if (!this.stopped && this.status === 'reconnecting') this.connectNow();
    };
  }

  /** Opens the socket (again). */
  start() {
    this.stopped = false;
    this.attempt = 0;
    window.addEventListener('online', this.onOnline);
    this.connectNow();
  }

  /** Closes for good; no more reconnects. */
  stop(detail) {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    clearTimeout(this.timer);
    clearInterval(this.pingTimer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try {
        ws.close(1000);
      } catch {
        /* already closed */
      }
    }
    this.setStatus('stopped', detail);
  }

  /** Sends one message; false when the socket is not open right now. */
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Marks the connection healthy (call on welcome). */
  welcomed() {
    this.attempt = 0;
    this.setStatus('online');
  }

  setStatus(status, detail) {
    this.status = status;
    this.onStatus(status, detail);
  }

  connectNow() {
    clearTimeout(this.timer);
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      try {
        old.close();
      } catch {
        /* ignore */
      }
    }
    this.setStatus(this.attempt === 0 && this.status !== 'reconnecting' ? 'connecting' : 'reconnecting');
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    let ws;
    try {
      ws = new WebSocket(`${proto}://${location.host}/ws`);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.lastHeard = Date.now();
      ws.send(JSON.stringify(this.hello()));
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.keepAlive(ws), PING_EVERY_MS);
    };
    ws.onmessage = (event) => {
      this.lastHeard = Date.now();
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      if (msg && msg.type === 'pong') {
        this.pongSeen = true;
        return;
      }
      if (msg && msg.type === 'sync') {
        // Answered at once: the server measures the round trip and our
        // clock's offset from it, to place buzzer presses fairly.
        ws.send(JSON.stringify({ type: 'sync_reply', id: msg.id, client_ms: clientNow() }));
        return;
      }
      if (msg && msg.type === 'error' && msg.code === 'cluster_unavailable' && this.status !== 'online') {
        // The room is moving to another node (or the cluster is briefly
        // away): not a refusal, so ask again shortly instead of giving up.
        this.retry();
        return;
      }
      if (msg && typeof msg.type === 'string') this.onMessage(msg);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      if (this.stopped) return;
      if (FINAL_CLOSE.has(event.code)) {
        this.stop({ code: event.code, reason: event.reason });
        return;
      }
      this.retry();
    };
  }

  keepAlive(ws) {
    if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
    // Only servers that answer pings can be judged silent.
    if (this.pongSeen && Date.now() - this.lastHeard > SILENT_LIMIT_MS) {
      ws.close(4000, 'silent');
      return;
    }
    ws.send(JSON.stringify({ type: 'ping', t: Date.now() }));
  }

  retry() {
    this.attempt += 1;
    this.setStatus('reconnecting');
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(this.attempt - 1, 6));
    const delay = base / 2 + Math.random() * (base / 2);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connectNow(), delay);
  }
}
