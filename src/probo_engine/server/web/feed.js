// The live feed: one WebSocket (protocol v1, docs/websocket.md), reconnected
// with backoff, heartbeats both ways, and resync on a sequence gap.  A view
// subscribes with a channel spec and a callback; the callback gets the
// channel's snapshot and then every update, always in order: when an
// update's prev_seq is not the last seq seen, the channel is resubscribed and
// the callback gets a fresh snapshot instead of a wrong book.

const PING_MS = 10000; // client heartbeat
const SILENT_MS = 25000; // no frame for this long: the feed is dead, reconnect

export class Feed {
  constructor(url) {
    this.url = url;
    this.ws = null;
    this.nextId = 1;
    this.subs = new Map(); // id -> {spec, cb, ch, seq}
    this.byCh = new Map(); // wire channel -> sub
    this.state = "connecting";
    this.listeners = new Set();
    this.backoff = 500;
    this.lastFrame = 0;
    this.timer = null;
    this.closed = false;
    this.connect();
  }

  onState(fn) {
    this.listeners.add(fn);
    fn(this.state);
    return () => this.listeners.delete(fn);
  }

  setState(s) {
    if (s === this.state) return;
    this.state = s;
    for (const fn of this.listeners) fn(s);
  }

  connect() {
    if (this.closed) return;
    this.setState(this.state === "live" ? "reconnecting" : this.state);
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 500;
      this.lastFrame = Date.now();
      this.setState("live");
      this.byCh.clear();
      for (const [id, sub] of this.subs) this.sendSub(id, sub);
      clearInterval(this.timer);
      this.timer = setInterval(() => this.tick(), PING_MS);
    };
    ws.onmessage = (ev) => {
      this.lastFrame = Date.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.dispatch(msg);
    };
    ws.onclose = () => {
      clearInterval(this.timer);
      if (this.ws === ws) this.retry();
    };
    ws.onerror = () => ws.close();
  }

  retry() {
    if (this.closed) return;
    this.setState("reconnecting");
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 8000);
    setTimeout(() => this.connect(), wait);
  }

  tick() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastFrame > SILENT_MS) {
      this.ws.close(); // silent but open: treat as lost
      return;
    }
    this.ws.send(JSON.stringify({ op: "ping", id: this.nextId++ }));
  }

  subscribe(spec, cb) {
    const id = this.nextId++;
    const sub = { spec, cb, ch: null, seq: null };
    this.subs.set(id, sub);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.sendSub(id, sub);
    return () => {
      this.subs.delete(id);
      if (sub.ch) this.byCh.delete(sub.ch);
      if (sub.ch && this.ws && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send(JSON.stringify({ op: "unsubscribe", id: this.nextId++, ...sub.spec }));
      }
    };
  }

  sendSub(id, sub) {
    sub.ch = null;
    sub.seq = null;
    this.ws.send(JSON.stringify({ op: "subscribe", id, ...sub.spec }));
  }

  resync(sub) {
    for (const [id, s] of this.subs) {
      if (s !== sub) continue;
      if (sub.ch) this.byCh.delete(sub.ch);
      this.ws.send(JSON.stringify({ op: "unsubscribe", id: this.nextId++, ...sub.spec }));
      this.sendSub(id, sub);
    }
  }

  dispatch(msg) {
    if (msg.type === "subscribed" && this.subs.has(msg.id)) {
      const sub = this.subs.get(msg.id);
      sub.ch = msg.ch;
      this.byCh.set(msg.ch, sub);
      return;
    }
    if (msg.type === "error") {
      const sub = msg.id !== undefined ? this.subs.get(msg.id) : null;
      if (sub) sub.cb({ type: "error", code: msg.code, message: msg.message });
      return;
    }
    const sub = msg.ch ? this.byCh.get(msg.ch) : null;
    if (!sub) return;
    if (msg.type === "snapshot") {
      sub.seq = msg.seq;
      sub.cb(msg);
      return;
    }
    if (msg.prev_seq === undefined) return;
    if (sub.seq === null || msg.prev_seq !== sub.seq) {
      this.resync(sub); // a gap: never apply an update out of order
      return;
    }
    sub.seq = msg.seq;
    sub.cb(msg);
  }

  close() {
    this.closed = true;
    clearInterval(this.timer);
    if (this.ws) this.ws.close();
  }
}

export function feedUrl() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}/ws/v1`;
}
