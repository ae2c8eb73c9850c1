// The Buffer a handler gets for a binary message is a view into its batch's
// ArrayBuffer, made without Buffer.from (src/arena_buffer.ts): it must be a
// Buffer in every way a handler uses one, hold its own message's bytes, and
// keep them after later batches reuse the worker's arenas.
import { afterEach, describe, expect, it } from 'vitest';
import WS from 'ws';
import { createServer, type Server } from '../src/index';

let server: Server | undefined;
afterEach(async () => {
  await server?.close({ timeout: 1000 });
  server = undefined;
});

describe('binary message buffers', () => {
  it('are Buffers with their own bytes, also when kept across batches', async () => {
    const kept: Buffer[] = [];
    const MESSAGES = 300;
    server = createServer({
      threads: 1,
      message(ws, data) {
        kept.push(data as Buffer);
        ws.send(String(kept.length));
      },
    });
    await server.listen(0, '127.0.0.1');
    const ws = new WS(`ws://127.0.0.1:${server.address()!.port}`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    // Message m: m+1 bytes, each (m + i) & 255; sent in bursts so that batches hold several.
    const payload = (m: number): Buffer => Buffer.from(Array.from({ length: m + 1 }, (_, i) => (m + i) & 255));
    const done = new Promise<void>((resolve) => ws.on('message', (d) => String(d) === String(MESSAGES) && resolve()));
    for (let m = 0; m < MESSAGES; m++) {
      ws.send(payload(m));
      if (m % 25 === 24) await new Promise((r) => setTimeout(r, 5));
    }
    await done;
    ws.close();
    expect(kept).toHaveLength(MESSAGES);
    kept.forEach((b, m) => {
      expect(b.equals(payload(m))).toBe(true);
      expect(Buffer.isBuffer(b)).toBe(true);
      expect(b).toBeInstanceOf(Buffer);
      expect(b.constructor).toBe(Buffer);
      expect(Buffer.isBuffer(b.subarray(0, 1))).toBe(true);
      expect(Buffer.isBuffer(b.slice(0, 1))).toBe(true);
    });
    const last = kept[MESSAGES - 1];
    expect(last.toString('hex', 0, 2)).toBe(Buffer.from([(MESSAGES - 1) & 255, MESSAGES & 255]).toString('hex'));
    expect(last.readUInt8(1)).toBe(MESSAGES & 255);
    expect(JSON.stringify(kept[1])).toBe('{"type":"Buffer","data":[1,2]}');
  });
});
