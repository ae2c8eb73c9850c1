// The WebSocket client that headless Chromium runs for test/browser.test.ts:
// test/helpers/browser.ts serves this file inside a page, and the test calls
// window.corewsTest.* in it. Plain JavaScript, as the browser runs it. Node
// loads the same file for payloadBytes, so that the test computes the SHA-256
// of every payload from (kind, size, seed) on its own, with the same bytes the
// page makes.
'use strict';

/**
 * `size` bytes made from `seed` (xorshift32). 'binary': any bytes. 'text':
 * valid UTF-8 of exactly `size` bytes, random printable ASCII with a 2-, 3- or
 * 4-byte character about every tenth (so characters straddle every frame and
 * read boundary; mostly ASCII because decoding dense multi-byte text costs
 * browser and server several times more; random, so deflate gains little). 'json': ASCII lines of chat-like JSON, cut
 * at `size` (compressible, as real traffic is). 'zeros': zero bytes, fastest to make.
 */
function payloadBytes(kind, size, seed) {
  // xorshift32, written out in each loop: a closure over x makes it several times slower.
  let x = (Math.imul(seed, 2654435761) + 1) | 0 || 1;
  const out = new Uint8Array(size);
  if (kind === 'zeros') return out;
  let i = 0;
  if (kind === 'binary') {
    for (; i + 4 <= size; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const r = x >>> 0;
      out[i] = r;
      out[i + 1] = r >>> 8;
      out[i + 2] = r >>> 16;
      out[i + 3] = r >>> 24;
    }
    for (; i < size; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x;
    }
    return out;
  }
  if (kind === 'json') {
    // Chat-like JSON lines, ASCII: text that deflate shrinks several times.
    const words = ['hello', 'world', 'corews', 'message', 'room', 'lobby', 'typing', 'online'];
    while (i < size) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const r = x >>> 0;
      const line = `{"id":${r % 100000},"user":"user${r % 97}","room":"${words[r % 8]}",` +
        `"text":"${words[(r >>> 3) % 8]} ${words[(r >>> 6) % 8]} ${words[(r >>> 9) % 8]}","ok":true}\n`;
      const n = Math.min(line.length, size - i);
      for (let k = 0; k < n; k++) out[i++] = line.charCodeAt(k);
    }
    return out;
  }
  if (kind !== 'text') throw new Error(`unknown payload kind ${kind}`);
  while (i < size) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const r = x >>> 0;
    const left = size - i;
    const pick = r & 31;
    const v = r >>> 8;
    if (pick === 0 && left >= 4) {
      const cp = 0x1f600 + (v & 63); // emoji, 4 bytes
      out[i++] = 0xf0 | (cp >>> 18);
      out[i++] = 0x80 | ((cp >>> 12) & 63);
      out[i++] = 0x80 | ((cp >>> 6) & 63);
      out[i++] = 0x80 | (cp & 63);
    } else if (pick === 1 && left >= 3) {
      const cp = 0x4e00 + (v % 0x5200); // CJK, 3 bytes, below the surrogates
      out[i++] = 0xe0 | (cp >>> 12);
      out[i++] = 0x80 | ((cp >>> 6) & 63);
      out[i++] = 0x80 | (cp & 63);
    } else if (pick === 2 && left >= 2) {
      const cp = 0x80 + (v % 0x780); // 2 bytes
      out[i++] = 0xc0 | (cp >>> 6);
      out[i++] = 0x80 | (cp & 63);
    } else {
      out[i++] = 0x20 + (v % 95); // printable ASCII
    }
  }
  return out;
}

if (typeof module === 'object' && module.exports) module.exports = { payloadBytes };

if (typeof window === 'object') {
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
  const sha256 = async (bytes) => hex(await crypto.subtle.digest('SHA-256', bytes));
  const bytesOf = (data) => (typeof data === 'string' ? new TextEncoder().encode(data) : new Uint8Array(data));
  // 'text' and 'json' go as text messages, 'binary' and 'zeros' as binary.
  const isText = (kind) => kind === 'text' || kind === 'json';
  const messageOf = (kind, bytes) => (isText(kind) ? new TextDecoder('utf-8', { fatal: true }).decode(bytes) : bytes);

  /** A WebSocket with an inbox: next() is the next message, closed the close event. */
  class Conn {
    constructor(url, protocols) {
      this.ws = new WebSocket(url, protocols);
      this.ws.binaryType = 'arraybuffer';
      this.inbox = [];
      this.waiting = [];
      this.error = false;
      this.closed = new Promise((resolve) => {
        this.ws.onclose = (e) => {
          resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
          for (const w of this.waiting.splice(0)) w.reject(new Error(`closed (${e.code} ${e.reason}) while waiting for a message`));
        };
      });
      this.opened = new Promise((resolve) => {
        this.ws.onopen = () => resolve(true);
        this.closed.then(() => resolve(false));
      });
      this.ws.onerror = () => {
        this.error = true;
      };
      this.ws.onmessage = (e) => {
        const w = this.waiting.shift();
        if (w) w.resolve(e.data);
        else this.inbox.push(e.data);
      };
    }
    next() {
      if (this.inbox.length > 0) return Promise.resolve(this.inbox.shift());
      if (this.ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error('closed while waiting for a message'));
      return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
    }
    async mustOpen() {
      if (!(await this.opened)) {
        const c = await this.closed;
        throw new Error(`WebSocket to ${this.ws.url} did not open: close ${c.code} ${c.reason}`);
      }
    }
    info() {
      return { protocol: this.ws.protocol, extensions: this.ws.extensions };
    }
  }

  window.corewsTest = {
    /**
     * Sends each step's payload and waits for the server's echo of it, then
     * closes with `close` ([code, reason]). Returns the SHA-256 of what was
     * sent and of what came back, and the close event the page saw.
     */
    async echo({ url, protocols, steps, close }) {
      const c = new Conn(url, protocols);
      await c.mustOpen();
      const info = c.info();
      const results = [];
      for (const { kind, size, seed } of steps) {
        const t0 = performance.now();
        const bytes = payloadBytes(kind, size, seed);
        const sent = await sha256(bytes);
        const msg = messageOf(kind, bytes);
        const t1 = performance.now();
        c.ws.send(msg);
        const data = await c.next();
        const t2 = performance.now();
        const back = bytesOf(data);
        const got = await sha256(back);
        const ms = { make: t1 - t0, roundTrip: t2 - t1, check: performance.now() - t2 };
        results.push({ sent, got, gotKind: typeof data === 'string' ? 'text' : 'binary', gotSize: back.length, ms });
      }
      if (close) c.ws.close(...close);
      return { ...info, results, close: await c.closed };
    },

    /** Collects what the server sends until it closes (messages always come before the close event). */
    async collect({ url, protocols }) {
      const c = new Conn(url, protocols);
      await c.mustOpen();
      const info = c.info();
      const close = await c.closed;
      const messages = [];
      for (const data of c.inbox.splice(0)) {
        const bytes = bytesOf(data);
        messages.push({ kind: typeof data === 'string' ? 'text' : 'binary', size: bytes.length, sha256: await sha256(bytes) });
      }
      return { ...info, messages, close };
    },

    /** Sends one payload and waits for the server to close. */
    async sendAndWaitClose({ url, kind, size, seed }) {
      const c = new Conn(url);
      await c.mustOpen();
      c.ws.send(messageOf(kind, payloadBytes(kind, size, seed)));
      return { close: await c.closed, messages: c.inbox.length };
    },

    /** Tries to open; reports whether it did, whether an error event came, and the close event. */
    async tryOpen({ url }) {
      const c = new Conn(url);
      const opened = await c.opened;
      if (opened) c.ws.close(1000);
      return { opened, error: c.error, close: await c.closed };
    },
  };
}
