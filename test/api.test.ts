// The public API's contracts: what operations on closed sockets return, what
// bad arguments throw, and the Server's listen/close/address bookkeeping.
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WS from 'ws';
import { createServer, SendStatus, WebSocket, type Server } from '../src/index';
import { closeAllClients, closeAllServers, connect, destroyAllRaw, openRaw, serve, track } from './helpers/clients';
import { echoOptions, INLINE_VARIANT, waitFor } from './helpers/server';

afterEach(async () => {
  destroyAllRaw();
  await closeAllClients();
  await closeAllServers();
});

/** A server that records its sockets and close calls. */
async function recordingServer(threads = 1) {
  const opens: WebSocket[] = [];
  const closes: { ws: WebSocket; code: number; reason: string }[] = [];
  const started = await serve({
    threads,
    ...echoOptions(),
    open(ws) {
      opens.push(ws);
    },
    close(ws, code, reason) {
      closes.push({ ws, code, reason });
    },
  });
  return { ...started, opens, closes };
}

/**
 * Busy-waits until `predicate` holds: the JS thread does nothing else meanwhile,
 * so no event batch from the workers is dispatched, while they carry on.
 */
function spinUntil(predicate: () => boolean, ms: number, what: string): void {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out spinning for ${what}`);
  }
}

/** A `ws` client in another process (test/fixtures/remote-client.cjs): it runs while this thread spins. */
function startRemoteClient(url: string) {
  const proc = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'remote-client.cjs'), url], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let out = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    let nl;
    while ((nl = out.indexOf('\n')) >= 0) {
      lines.push(out.slice(0, nl));
      out = out.slice(nl + 1);
    }
  });
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    lines,
    /** Written to the pipe at once (libuv tries the write before returning), not on a later turn. */
    command: (line: string): void => void proc.stdin.write(`${line}\n`),
    waitFor: (line: string, ms = 5000): Promise<void> =>
      waitFor(() => lines.includes(line), ms, `"${line}" from the remote client (it said ${JSON.stringify(lines)}${stderr ? `, stderr ${stderr}` : ''})`),
    kill: (): void => void proc.kill('SIGKILL'),
  };
}

describe('operations on a closed socket', () => {
  it('send, ping, close and terminate are harmless no-ops that say so', async () => {
    const { url, opens, closes, server } = await recordingServer();
    const c = await connect('ws', url);
    await waitFor(() => opens.length === 1);
    const ws = opens[0];
    c.close(1000);
    await waitFor(() => closes.length === 1, 5000, 'the close handler');
    expect(ws.readyState).toBe(WebSocket.CLOSED);
    expect(ws.send('late')).toBe(SendStatus.DROPPED);
    expect(ws.send(Buffer.from('late'))).toBe(SendStatus.DROPPED);
    expect(SendStatus.DROPPED).toBe(2);
    expect(ws.ping()).toBe(false);
    expect(ws.ping('x')).toBe(false);
    expect(ws.close()).toBe(false);
    expect(ws.close(4000, 'again')).toBe(false);
    expect(ws.terminate()).toBe(false);
    expect(ws.readyState).toBe(WebSocket.CLOSED);
    expect(server.connections).toBe(0);
  });

  // Needs the worker to run while this thread spins: in inline mode it runs on this thread, and
  // the reset reaches JS before any other connection can take the slot.
  it.skipIf(INLINE_VARIANT)('a handle whose connection the worker dropped before JS heard of it: its operations reach the worker, which ignores them for the connection now in its slot', async () => {
    // Above, the handle knows it is closed and stops at its own state. Here
    // it cannot know: the worker drops the connection (a reset needs no JS)
    // and gives its slot to a new one while this thread is busy, so the Closed
    // event is still undispatched when the old handle is used. Only the
    // worker's generation check stands between it and the new connection.
    const { url, port, opens, closes, server } = await recordingServer();
    const remote = startRemoteClient(url);
    try {
      const a = await openRaw(port);
      await waitFor(() => opens.length === 1, 5000, 'the first open');
      const stale = opens[0];
      a.send({ opcode: 0x1, payload: 'a' });
      expect((await a.readFrame()).payload.toString()).toBe('a');
      await remote.waitFor('READY');

      // From here until the operations below, the JS thread does not yield.
      a.socket.resetAndDestroy();
      spinUntil(() => server.stats().connections.open === 0, 5000, 'the worker to drop the reset connection');
      remote.command('open'); // the other process connects meanwhile
      spinUntil(() => server.stats().connections.total === 2 && server.stats().connections.open === 1, 10_000, 'the worker to open the next connection');
      expect(stale.readyState).toBe(WebSocket.OPEN); // JS has not heard of the reset
      expect(stale.send('to the wrong socket?')).toBe(SendStatus.SENT);
      expect(stale.ping('to the wrong socket?')).toBe(true);
      expect(stale.close(4000, 'to the wrong socket?')).toBe(true);
      expect(stale.terminate()).toBe(true);

      await waitFor(() => opens.length === 2 && closes.length >= 1, 5000, 'the close and the open');
      expect(closes[0]).toMatchObject({ ws: stale, code: 1006 });
      const fresh = opens[1];
      // The new connection holds the old one's slot under a new generation.
      expect(fresh._worker).toBe(stale._worker);
      expect(fresh._slot).toBe(stale._slot);
      expect(fresh._gen).not.toBe(stale._gen);
      expect(stale.readyState).toBe(WebSocket.CLOSED);

      await remote.waitFor('OPEN');
      remote.command('send fine');
      await remote.waitFor('MESSAGE "fine"', 3000).catch(() => undefined); // the assertion below says what came instead
      remote.command('close');
      await remote.waitFor('CLOSE 1000', 3000).catch(() => undefined);
      // Nothing of the stale handle's reached it: only its own echo and the Close.
      expect(remote.lines).toEqual(['READY', 'OPEN', 'MESSAGE "fine"', 'CLOSE 1000']);
      await waitFor(() => closes.length === 2, 5000, 'the close handler');
      expect(closes[1]).toMatchObject({ ws: fresh, code: 1000 });
      expect(server.connections).toBe(0);
    } finally {
      remote.kill();
    }
  });

  it('operations inside the close handler itself are no-ops too', async () => {
    const results: unknown[] = [];
    const { url, server } = await serve({
      threads: 1,
      close(ws) {
        results.push(ws.send('x'), ws.ping(), ws.close(), ws.terminate());
      },
    });
    const c = await connect('undici', url);
    await waitFor(() => server.connections === 1);
    c.close();
    await waitFor(() => results.length === 4, 5000, 'the close handler');
    expect(results).toEqual([SendStatus.DROPPED, false, false, false]);
  });

  it('operations after the server has closed are no-ops', async () => {
    const { url, opens, closes, server } = await recordingServer(2);
    const c = await connect('ws', url);
    await waitFor(() => opens.length === 1);
    await server.close();
    expect(closes.length).toBe(1);
    expect(closes[0].code).toBe(1001);
    expect((await c.closed).code).toBe(1001);
    const ws = opens[0];
    expect(ws.send('x')).toBe(SendStatus.DROPPED);
    expect(ws.ping()).toBe(false);
    expect(ws.close()).toBe(false);
    expect(ws.terminate()).toBe(false);
  });

  it('send on a closing socket (after close()) returns DROPPED; terminate still works', async () => {
    const { url, opens, closes } = await recordingServer();
    const c = await connect('ws', url);
    await waitFor(() => opens.length === 1);
    const ws = opens[0];
    // Keep the client from answering the Close so the socket stays CLOSING.
    const sock = c.raw as WS;
    sock.pause();
    expect(ws.close(4000)).toBe(true);
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    expect(ws.send('x')).toBe(SendStatus.DROPPED);
    expect(ws.ping()).toBe(false);
    expect(ws.close()).toBe(false);
    expect(ws.terminate()).toBe(true);
    await waitFor(() => closes.length === 1, 5000, 'the close handler');
    expect(ws.terminate()).toBe(false);
  });
});

describe('bad arguments on an open socket', () => {
  it('throw TypeError/RangeError naming the problem, and leave the socket usable', async () => {
    const { url, opens } = await recordingServer();
    const c = await connect('ws', url);
    await waitFor(() => opens.length === 1);
    const ws = opens[0];
    const call = (f: () => unknown) => f;
    // Deliberately wrong types, as plain JS callers could pass them.
    const loose = ws as unknown as {
      send(data: unknown, options?: unknown): unknown;
      ping(data: unknown): unknown;
      close(code?: unknown, reason?: unknown): unknown;
    };
    expect(call(() => loose.send(123))).toThrow(TypeError);
    expect(call(() => loose.send(123))).toThrow(/send: data/);
    expect(call(() => loose.send(null))).toThrow(TypeError);
    expect(call(() => loose.send({ length: 3 }))).toThrow(TypeError);
    expect(call(() => loose.send('x', 5))).toThrow(/send: options/);
    expect(call(() => loose.send('x', null))).toThrow(TypeError);
    expect(call(() => ws.close(1005))).toThrow(/close: code/);
    expect(call(() => ws.close(1005))).toThrow(TypeError);
    expect(call(() => ws.close(1006))).toThrow(/close: code/);
    expect(call(() => ws.close(999))).toThrow(/close: code/);
    expect(call(() => ws.close(5000))).toThrow(/close: code/);
    expect(call(() => ws.close(1000.5))).toThrow(/close: code/);
    expect(call(() => loose.close('1000'))).toThrow(/close: code/);
    expect(call(() => loose.close(1000, 5))).toThrow(/close: reason/);
    expect(call(() => ws.close(1000, 'x'.repeat(124)))).toThrow(RangeError);
    expect(call(() => ws.close(1000, 'x'.repeat(124)))).toThrow(/close: reason/);
    // 62 two-byte characters are 124 bytes.
    expect(call(() => ws.close(1000, 'é'.repeat(62)))).toThrow(RangeError);
    expect(call(() => ws.ping(Buffer.alloc(126)))).toThrow(RangeError);
    expect(call(() => ws.ping('x'.repeat(126)))).toThrow(/ping: payload/);
    expect(call(() => loose.ping(42))).toThrow(TypeError);
    // None of that touched the connection.
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(ws.ping(Buffer.alloc(125))).toBe(true);
    c.send('still open');
    expect((await c.next()).data).toBe('still open');
    // The limits themselves are fine.
    expect(ws.close(1000, 'x'.repeat(123))).toBe(true);
    const info = await c.closed;
    expect(info).toEqual({ code: 1000, reason: 'x'.repeat(123) });
  });
});

describe('Server', () => {
  it('address() is null before listen and after close', async () => {
    const server = track(createServer({ threads: 1 }));
    expect(server.address()).toBeNull();
    await server.listen(0, '127.0.0.1');
    const a = server.address();
    expect(a).not.toBeNull();
    expect(a!.address).toBe('127.0.0.1');
    expect(a!.family).toBe('IPv4');
    expect(a!.port).toBeGreaterThan(0);
    await server.close();
    expect(server.address()).toBeNull();
  });

  it('listen twice rejects; listen after close rejects', async () => {
    const server = track(createServer({ threads: 1 }));
    await server.listen(0, '127.0.0.1');
    const port = server.address()!.port;
    await expect(server.listen(0, '127.0.0.1')).rejects.toThrow(/already listening/);
    await expect(server.listen(port, '127.0.0.1')).rejects.toThrow(/already listening/);
    expect(server.address()!.port).toBe(port);
    await server.close();
    await expect(server.listen(0, '127.0.0.1')).rejects.toThrow(/closed/);
  });

  it('close() before listen resolves, and close() twice returns the same promise', async () => {
    const a = createServer({ threads: 1 });
    await a.close();
    await a.close();
    const b = track(createServer({ threads: 1 }));
    await b.listen(0, '127.0.0.1');
    const p1 = b.close();
    const p2 = b.close();
    expect(p2).toBe(p1);
    await p1;
  });

  it('rejects with EADDRINUSE when a plain net.Server holds the port', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      for (const threads of [1, 2]) {
        const server = track(createServer({ threads }));
        const err: unknown = await server.listen(port, '127.0.0.1').then(
          () => new Error('listen resolved'),
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(Error);
        expect((err as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
        expect((err as NodeJS.ErrnoException).syscall).toBe('bind');
        expect(server.address()).toBeNull();
        // A failed listen leaves the server able to listen elsewhere.
        await server.listen(0, '127.0.0.1');
        expect(server.address()!.port).not.toBe(port);
        await server.close();
      }
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  it('listen rejects bad ports and hosts', async () => {
    const server = track(createServer({ threads: 1 }));
    await expect(server.listen(70000)).rejects.toThrow(RangeError);
    await expect(server.listen(70000)).rejects.toThrow(/port/);
    await expect(server.listen(-1)).rejects.toThrow(RangeError);
    await expect(server.listen(1.5)).rejects.toThrow(TypeError);
    const loose = server as unknown as { listen(port: unknown, host?: unknown): Promise<void> };
    await expect(loose.listen('80')).rejects.toThrow(TypeError);
    await expect(loose.listen(0, 127)).rejects.toThrow(/host/);
    expect(server.address()).toBeNull();
    // Still usable after all that.
    await server.listen(0, '127.0.0.1');
    expect(server.address()).not.toBeNull();
  });

  it('counts connections', async () => {
    const { url, server, closes, opens } = await recordingServer(2);
    expect(server.connections).toBe(0);
    const clients = await Promise.all([connect('ws', url), connect('undici', url), connect('ws', url)]);
    await waitFor(() => server.connections === 3, 5000, '3 connections');
    clients[0].close();
    await waitFor(() => closes.length === 1, 5000, 'a close');
    expect(server.connections).toBe(2);
    opens.find((ws) => ws.readyState === WebSocket.OPEN)!.terminate();
    await waitFor(() => closes.length === 2, 5000, 'a second close');
    expect(server.connections).toBe(1);
    await server.close();
    expect(server.connections).toBe(0);
    expect(closes.length).toBe(3);
  });

  it('reports its thread count; the default is os.availableParallelism()', () => {
    expect(createServer({ threads: 3 }).threads).toBe(3);
    expect(createServer().threads).toBe(os.availableParallelism());
    expect(createServer({}).threads).toBe(os.availableParallelism());
  });

  it('listens on all interfaces by default', async () => {
    const remotes: string[] = [];
    const server: Server = track(createServer({ threads: 1, ...echoOptions(), open: (ws) => void remotes.push(ws.remoteAddress) }));
    await server.listen(0);
    const a = server.address()!;
    expect(['::', '0.0.0.0']).toContain(a.address);
    const c = await connect('ws', `ws://127.0.0.1:${a.port}`);
    c.send('any');
    expect((await c.next()).data).toBe('any');
    // On a dual-stack socket an IPv4 peer is shown as IPv4, not ::ffff:127.0.0.1.
    expect(remotes).toEqual(['127.0.0.1']);
  });
});

describe('handler errors', () => {
  it('a throwing message handler reports to `error` and the server keeps serving', async () => {
    const errors: { err: unknown; ws: WebSocket | undefined }[] = [];
    const { url } = await serve({
      threads: 1,
      message(ws, data) {
        if (data === 'boom') throw new Error('handler failed');
        ws.send(data);
      },
      error(err, ws) {
        errors.push({ err, ws });
      },
    });
    const c = await connect('ws', url);
    c.send('boom');
    c.send('after');
    expect((await c.next()).data).toBe('after');
    expect(errors.length).toBe(1);
    expect(errors[0].err).toBeInstanceOf(Error);
    expect((errors[0].err as Error).message).toBe('handler failed');
    expect(errors[0].ws).toBeInstanceOf(WebSocket);
    expect(errors[0].ws!.readyState).toBe(WebSocket.OPEN);
    const d = await connect('undici', url);
    d.send('new client');
    expect((await d.next()).data).toBe('new client');
  });

  it('throwing open and close handlers are reported too', async () => {
    const errors: unknown[] = [];
    const { url, server } = await serve({
      threads: 1,
      ...echoOptions(),
      open() {
        throw new Error('open failed');
      },
      close() {
        throw new Error('close failed');
      },
      error(err) {
        errors.push(err);
      },
    });
    const c = await connect('ws', url);
    c.send('works');
    expect((await c.next()).data).toBe('works');
    c.close();
    await c.closed;
    await waitFor(() => errors.length === 2, 5000, 'two errors');
    expect((errors as Error[]).map((e) => e.message)).toEqual(['open failed', 'close failed']);
    expect(server.connections).toBe(0);
  });
});
