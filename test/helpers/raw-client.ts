// A raw TCP WebSocket client for conformance tests: it sends exactly the bytes a
// test builds (malformed ones included) and reads the server's answer byte by byte.
import crypto from 'node:crypto';
import net from 'node:net';

export interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Buffer;
}

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  /** RSV1..3 as bits 0x4, 0x2, 0x1. */
  rsv?: number;
  /** Default true (clients must mask). */
  mask?: boolean;
  /** Force a length encoding: 7, 16 or 64 bits (default: minimal). */
  lengthBits?: 7 | 16 | 64;
  /** Declare this payload length instead of the real one (for truncation tests). */
  declaredLength?: bigint;
}

/** Encodes one frame as a client would (masked unless told otherwise). */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const len = spec.declaredLength ?? BigInt(payload.length);
  const mask = spec.mask ?? true;
  const bits = spec.lengthBits ?? (len < 126n ? 7 : len <= 0xffffn ? 16 : 64);
  const head: number[] = [((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | spec.opcode];
  const maskBit = mask ? 0x80 : 0;
  if (bits === 7) head.push(maskBit | Number(len));
  else if (bits === 16) head.push(maskBit | 126, Number(len >> 8n) & 0xff, Number(len) & 0xff);
  else {
    head.push(maskBit | 127);
    for (let i = 7; i >= 0; i--) head.push(Number((len >> BigInt(8 * i)) & 0xffn));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = crypto.randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, masked]);
}

/** A Close frame payload: code then reason. */
export function closePayload(code: number, reason: string | Buffer = ''): Buffer {
  const r = typeof reason === 'string' ? Buffer.from(reason) : reason;
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const KEY_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** A valid upgrade request, with header overrides (null removes a header). */
export function upgradeRequest(path = '/', headers: Record<string, string | null> = {}, requestLine?: string): string {
  const base: Record<string, string | null> = {
    Host: 'localhost',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  let out = `${requestLine ?? `GET ${path} HTTP/1.1`}\r\n`;
  for (const [k, v] of Object.entries(base)) if (v !== null) out += `${k}: ${v}\r\n`;
  return `${out}\r\n`;
}

export class RawClient {
  readonly socket: net.Socket;
  #buf = Buffer.alloc(0);
  #ended = false;
  #waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on('error', () => {
      this.#ended = true;
      this.#wake();
    });
  }

  /** Wraps a connected socket (e.g. a tls.TLSSocket). */
  static wrap(socket: net.Socket): RawClient {
    return new RawClient(socket);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** Connects and completes a valid handshake. */
  static async open(port: number, path = '/', host = '127.0.0.1'): Promise<RawClient> {
    const c = await RawClient.connect(port, host);
    c.write(upgradeRequest(path));
    const res = await c.readHttp();
    if (res.status !== 101) throw new Error(`handshake failed: ${res.status} ${res.body}`);
    return c;
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  async #until<T>(take: () => T | undefined, ms: number, what: string): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const got = take();
      if (got !== undefined) return got;
      if (this.#ended) throw new Error(`connection ended while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  send(spec: FrameSpec): void {
    this.socket.write(encodeFrame(spec));
  }

  /** Reads an HTTP response head and its Content-Length body. */
  readHttp(ms = 5000): Promise<HttpAnswer> {
    return this.#until(() => {
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const head = this.#buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(head[0].split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const len = Number(headers['content-length'] ?? 0);
      if (this.#buf.length < end + 4 + len) return undefined;
      const body = this.#buf.subarray(end + 4, end + 4 + len).toString();
      this.#buf = this.#buf.subarray(end + 4 + len);
      return { status, headers, body };
    }, ms, 'an HTTP response');
  }

  /** Reads one frame from the server (unmasked, as servers send). */
  readFrame(ms = 5000): Promise<Frame> {
    return this.#until(() => {
      const b = this.#buf;
      if (b.length < 2) return undefined;
      let len = b[1] & 0x7f;
      let pos = 2;
      if (len === 126) {
        if (b.length < 4) return undefined;
        len = b.readUInt16BE(2);
        pos = 4;
      } else if (len === 127) {
        if (b.length < 10) return undefined;
        len = Number(b.readBigUInt64BE(2));
        pos = 10;
      }
      if (b[1] & 0x80) throw new Error('server sent a masked frame');
      if (b.length < pos + len) return undefined;
      const frame = { fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f, payload: Buffer.from(b.subarray(pos, pos + len)) };
      this.#buf = b.subarray(pos + len);
      return frame;
    }, ms, 'a frame');
  }

  /** Reads frames until a Close; returns its code (1005 if none) and reason, and the frames before it. */
  async readClose(ms = 5000): Promise<{ code: number; reason: string; before: Frame[] }> {
    const before: Frame[] = [];
    for (;;) {
      const f = await this.readFrame(ms);
      if (f.opcode === 0x8) {
        const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
        return { code, reason: f.payload.subarray(2).toString(), before };
      }
      before.push(f);
    }
  }

  /** Resolves once the server has closed the TCP connection (FIN or reset). */
  waitEnd(ms = 5000): Promise<void> {
    return this.#until(() => (this.#ended ? true : undefined), ms, 'the connection to end').then(() => undefined);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Bytes received and not yet read by readHttp/readFrame. */
  get unread(): Buffer {
    return this.#buf;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
