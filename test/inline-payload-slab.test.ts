// Inline mode copies small binary payloads into a shared slab
// (native/addon/payload_slab.h) instead of a fresh ArrayBuffer per batch. What
// must hold, with a real `ws` client: a Buffer a handler keeps never changes
// afterwards (the slab is only written past what earlier batches took, also
// across many slabs), every message reads its own bytes whether it came alone
// or with others in one batch, and payloads around the slab's size limits
// (the largest copied arena, larger ones in their own buffer) arrive whole.
import { afterEach, describe, expect, it } from 'vitest';
import WS from 'ws';
import { createServer } from '../src/index';
import { closeAllServers, track } from './helpers/clients';
import { waitFor } from './helpers/server';

afterEach(async () => {
  await closeAllServers();
});

/** Message i: its length and every byte follow from i, so a changed byte shows. */
function payload(i: number): Buffer {
  const len = 1 + ((i * 37) % 1100); // 1..1100: below and above the largest copied arena (1 KiB)
  const b = Buffer.alloc(len);
  for (let k = 0; k < len; k++) b[k] = (i * 7 + k) & 0xff;
  return b;
}

describe('inline mode, small binary payloads in a shared slab', () => {
  it('kept Buffers stay as they arrived over many slabs, alone or batched, up to and past the copy limit', async () => {
    const kept: Buffer[] = [];
    const server = track(createServer({
      threads: 0,
      message(ws, data, isBinary) {
        expect(isBinary).toBe(true);
        kept.push(data as Buffer);
        ws.send(`got ${kept.length}`);
      },
    }));
    await server.listen(0, '127.0.0.1');
    const client = new WS(`ws://127.0.0.1:${server.address()!.port}`, { perMessageDeflate: false });
    await new Promise((r) => client.once('open', r));
    const N = 3000; // ~1.6 MB: about a hundred 16 KiB slabs
    // A third one at a time, each answered before the next (a batch each, the
    // slab's case), the rest in one flood (many messages per batch).
    const single = 1000;
    for (let i = 0; i < single; i++) {
      const answered = new Promise((r) => client.once('message', r));
      client.send(payload(i));
      await answered;
    }
    for (let i = single; i < N; i++) client.send(payload(i));
    await waitFor(() => kept.length === N, 20_000, 'every message');
    let wrong = 0;
    for (let i = 0; i < N; i++) if (!kept[i].equals(payload(i))) wrong++;
    expect(wrong).toBe(0);
    // The single ones up to 1 KiB came in the slab (16 KiB), several to a slab.
    const inSlab = kept.slice(0, single).filter((b) => b.buffer.byteLength === 16 * 1024);
    expect(inSlab.length).toBe(kept.slice(0, single).filter((b) => b.length <= 1024).length);
    expect(new Set(inSlab.map((b) => b.buffer)).size).toBeLessThan(inSlab.length / 10);
    client.close();
  });
});
