// Shared helpers for the RFC 6455 conformance suite: raw clients that are
// always cleaned up, and the assertions every test repeats (an HTTP refusal,
// a failing Close, a fresh echo round trip on the same server).
import { afterEach, expect } from 'vitest';
import { RawClient, closePayload, type Frame, type HttpAnswer } from '../helpers/raw-client';

export const OP = {
  CONT: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

interface Tracked {
  fin: boolean;
}

const live = new Set<RawClient>();
const state = new WeakMap<RawClient, Tracked>();

function track(c: RawClient): RawClient {
  const t: Tracked = { fin: false };
  state.set(c, t);
  live.add(c);
  c.socket.on('end', () => {
    t.fin = true;
  });
  c.socket.on('close', () => {
    live.delete(c);
  });
  return c;
}

/** Destroys every raw client a test left open; call once per test file. */
export function cleanupClientsAfterEach(): void {
  afterEach(() => {
    for (const c of live) c.destroy();
    live.clear();
  });
}

/** A raw TCP connection, destroyed after the test if still open. */
export async function connect(port: number): Promise<RawClient> {
  return track(await RawClient.connect(port));
}

/** A raw connection with a completed valid handshake. */
export async function open(port: number, path = '/'): Promise<RawClient> {
  return track(await RawClient.open(port, path));
}

/** True once the server's FIN (not a reset) arrived on `c`. */
export function sawFin(c: RawClient): boolean {
  return state.get(c)?.fin ?? false;
}

let echoCounter = 0;

/**
 * Opens a fresh, valid connection and does a text and a binary echo round trip
 * and a clean close: proof the server still serves others.
 */
export async function expectEcho(port: number, path = '/'): Promise<void> {
  const c = await open(port, path);
  const text = `still-serving-${++echoCounter}-é€😀`;
  c.send({ opcode: OP.TEXT, payload: text });
  const t = await c.readFrame();
  expect(t.opcode).toBe(OP.TEXT);
  expect(t.fin).toBe(true);
  expect(t.payload.toString()).toBe(text);
  const bin = Buffer.from([0x00, 0xff, 0x80, echoCounter & 0xff]);
  c.send({ opcode: OP.BINARY, payload: bin });
  const b = await c.readFrame();
  expect(b.opcode).toBe(OP.BINARY);
  expect(Buffer.compare(b.payload, bin)).toBe(0);
  c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
  const cl = await c.readClose();
  expect(cl.code).toBe(1000);
  expect(cl.before).toEqual([]);
  await c.waitEnd();
  c.destroy();
}

/** Asserts the next frame is a well-formed Close with `code` (or none for null), then the server's FIN. */
export async function expectCloseFrame(c: RawClient, code: number | null, ms = 5000): Promise<Frame> {
  const f = await c.readFrame(ms);
  expect({ opcode: f.opcode, fin: f.fin, rsv: f.rsv }).toEqual({ opcode: OP.CLOSE, fin: true, rsv: 0 });
  if (code === null) {
    expect(f.payload.length).toBe(0);
  } else {
    expect(f.payload.length).toBeGreaterThanOrEqual(2);
    expect(f.payload.length).toBeLessThanOrEqual(125);
    expect(f.payload.readUInt16BE(0)).toBe(code);
    // The reason, if any, must itself be valid UTF-8.
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(f.payload.subarray(2))).not.toThrow();
  }
  await c.waitEnd(ms);
  expect(sawFin(c)).toBe(true);
  return f;
}

/**
 * Opens a connection, writes `input` (each element as its own write), expects a
 * Close with `code` as the first frame and FIN, then checks a fresh echo works.
 */
export async function expectFailure(port: number, input: Buffer | Buffer[], code: number): Promise<void> {
  const c = await open(port);
  for (const chunk of Array.isArray(input) ? input : [input]) c.write(chunk);
  await expectCloseFrame(c, code);
  c.destroy();
  await expectEcho(port);
}

/**
 * Sends a raw request on a new connection and checks a refusal with `status`:
 * one-line text body, the standard headers, exact Content-Length, then FIN.
 */
export async function expectRefusal(port: number, request: string | Buffer, status: number): Promise<HttpAnswer> {
  const c = await connect(port);
  c.write(request);
  const res = await c.readHttp();
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
  expect(res.headers.connection?.toLowerCase()).toBe('close');
  expect(res.headers['content-length']).toBe(String(Buffer.byteLength(res.body)));
  expect(res.body).toMatch(/^[^\r\n]+\n$/);
  await c.waitEnd();
  expect(sawFin(c)).toBe(true);
  // Nothing after the declared body: Content-Length was exact.
  expect(c.unread.length).toBe(0);
  c.destroy();
  return res;
}

/** A deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
