// Events of every kind share a batch with messages; each message must still
// get its own data. (A peer's bare FIN once carried one string fewer than JS
// expected, shifting every text message after it in the batch.)
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WS from 'ws';
import { createServer, type Server } from '../src/index';
import { upgradeRequest } from './helpers/raw-client';
import { waitFor } from './helpers/server';

let server: Server | undefined;
afterEach(async () => {
  await server?.close({ timeout: 1000 });
  server = undefined;
});

/** A raw connection past its handshake, ready to end with a bare FIN. */
function rawOpen(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => s.write(upgradeRequest('/')));
    s.once('data', () => resolve(s)); // the 101
    s.once('error', reject);
  });
}

describe('batches mixing messages with other events', () => {
  it('text messages keep their own data while other peers FIN, open and close in the same batches', async () => {
    const closes: number[] = [];
    server = createServer({
      threads: 1,
      message(ws, data, isBinary) {
        ws.send(data, { binary: isBinary });
      },
      close(_ws, code) {
        closes.push(code);
      },
    });
    await server.listen(0, '127.0.0.1');
    const port = server.address()!.port;

    const CLIENTS = 30;
    const MESSAGES = 200;
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => new Promise<WS>((resolve, reject) => {
      const ws = new WS(`ws://127.0.0.1:${port}`);
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })));
    const text = (c: number, m: number): string => `c${c} m${m} ${m % 3 === 0 ? 'héllo ✓' : 'x'.repeat(m % 50)}`;
    const send = (ws: WS, c: number, m: number): void => {
      if (m % 10 === 9) ws.send(Buffer.alloc(m));
      else ws.send(text(c, m));
    };
    // Ping-pong: each client sends its next message when the echo of the last
    // arrives, so every worker iteration has messages in it, text and binary.
    const received = clients.map(() => [] as string[]);
    const done = clients.map((ws, c) => new Promise<void>((resolve) => {
      ws.on('message', (d, isBinary) => {
        received[c].push(isBinary ? `binary:${(d as Buffer).length}` : String(d));
        const m = received[c].length;
        if (m === MESSAGES) resolve();
        else send(ws, c, m);
      });
    }));
    // Peers ending with a bare FIN while that traffic runs: their events land
    // in the same batches as the messages.
    const FINS = 60;
    const raws = await Promise.all(Array.from({ length: FINS }, () => rawOpen(port)));
    await waitFor(() => server!.connections === CLIENTS + FINS, 5000, 'all connections open');
    clients.forEach((ws, c) => send(ws, c, 0));
    const ends = raws.map((r, k) => new Promise<void>((resolve) => setTimeout(() => {
      r.end();
      resolve();
    }, 1 + (k % 20))));
    await Promise.all([...done, ...ends]);
    received.forEach((got, c) => {
      expect(got).toEqual(Array.from({ length: MESSAGES }, (_, m) => (m % 10 === 9 ? `binary:${m}` : text(c, m))));
    });
    // Every bare FIN ends its connection as abnormal (no Close frame came).
    await waitFor(() => closes.length === FINS, 5000, 'the FIN peers to be closed');
    expect(closes).toEqual(Array.from({ length: FINS }, () => 1006));
    for (const ws of clients) ws.close();
  });

  // Small arenas reach JS as a copy, large ones as the arena itself (see
  // native/addon/batch_to_js.cpp): either way a Buffer JS keeps must hold its
  // own bytes after the batches that follow, in both modes.
  for (const threads of [1, 0]) {
    it(`binary messages kept past their handler keep their bytes, below and above the copy size (threads: ${threads})`, async () => {
      const kept: Buffer[] = [];
      server = createServer({
        threads,
        message(ws, data, isBinary) {
          if (isBinary) kept.push(data as Buffer);
          ws.send('ok');
        },
      });
      await server.listen(0, '127.0.0.1');
      const ws = new WS(`ws://127.0.0.1:${server.address()!.port}`);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const sizes = [1, 32, 4000, 4096, 4097, 9000, 70000, 17, 4090];
      const payload = (k: number): Buffer => Buffer.alloc(sizes[k % sizes.length], (k * 7 + 1) & 0xff);
      const COUNT = 90;
      // One at a time (each echo before the next): every message is a batch of its own.
      for (let k = 0; k < COUNT; k++) {
        const answered = new Promise((resolve) => ws.once('message', resolve));
        ws.send(payload(k));
        await answered;
      }
      expect(kept.length).toBe(COUNT);
      kept.forEach((b, k) => expect(b.equals(payload(k))).toBe(true));
      ws.close();
    });
  }
});
