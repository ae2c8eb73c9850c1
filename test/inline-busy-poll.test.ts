// The busyPollMicros option of inline mode: after a loop turn that brought a
// handler something, the server keeps polling its sockets for up to that long
// before it gives the JS thread back to Node's loop. Shown with a real
// request/response peer in its own process (test/fixtures/pingpong-client.cjs),
// so that it answers while this process's thread spins:
// - with the option, the next message is handled inside the window, before a
//   setImmediate queued by the previous handler (which runs only when Node's
//   loop gets the thread back); without it, never;
// - while a peer keeps the window busy, a timer and another socket of this
//   process still make progress (the window is bounded);
// - bad values are refused with an error naming the option.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from '../src/index';
import { closeAllServers, track } from './helpers/clients';
import { waitFor } from './helpers/server';

const CLIENT = path.join(__dirname, 'fixtures', 'pingpong-client.cjs');
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await closeAllServers();
});

function pingPong(url: string, roundTrips: number) {
  const child = spawn(process.execPath, [CLIENT, url, String(roundTrips)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<string>((resolve) => child.once('exit', () => resolve(out)));
  return { child, exited };
}

/**
 * An echo server that logs, per message, its handler and the setImmediate that
 * handler queued; `overtaken` counts the handlers that ran before the previous
 * message's immediate, i.e. inside a busy-poll window.
 */
async function loggingServer(busyPollMicros: number) {
  const state = { handled: 0, immediates: 0, overtaken: 0 };
  const server: Server = track(createServer({
    threads: 0,
    busyPollMicros,
    message(ws, data) {
      if (state.immediates < state.handled) state.overtaken++;
      state.handled++;
      ws.send(data);
      setImmediate(() => state.immediates++);
    },
  }));
  await server.listen(0, '127.0.0.1');
  return { server, state, url: `ws://127.0.0.1:${server.address()!.port}` };
}

describe('busyPollMicros', () => {
  it('is an integer of 0–10000 µs, for inline mode only: errors name the option', () => {
    expect(createServer({ threads: 0, busyPollMicros: 0 }).threads).toBe(0);
    expect(createServer({ threads: 0, busyPollMicros: 10_000 }).threads).toBe(0);
    expect(() => createServer({ threads: 0, busyPollMicros: -1 })).toThrow(RangeError);
    expect(() => createServer({ threads: 0, busyPollMicros: 10_001 })).toThrow(/option 'busyPollMicros' must be between 0 and 10000, got 10001/);
    expect(() => createServer({ threads: 0, busyPollMicros: 2.5 })).toThrow(TypeError);
    expect(() => createServer({ threads: 0, busyPollMicros: '50' as unknown as number })).toThrow(/option 'busyPollMicros' must be an integer/);
    expect(() => createServer({ threads: 1, busyPollMicros: 50 })).toThrow(RangeError);
    expect(() => createServer({ threads: 1, busyPollMicros: 50 })).toThrow(/option 'busyPollMicros' applies to inline mode only \(threads: 0\), got threads: 1/);
    expect(createServer({ threads: 1, busyPollMicros: 0 }).threads).toBe(1);
  });

  it('off (the default), every message waits for Node\'s loop: a handler never runs before the previous one\'s setImmediate', async () => {
    const { state, url } = await loggingServer(0);
    const out = await pingPong(url, 300).exited;
    expect(out).toContain('DONE 300');
    expect(state.handled).toBe(300);
    expect(state.overtaken).toBe(0);
  });

  it('on, the next message of a request/response peer is handled inside the window, before Node\'s loop runs again', async () => {
    // 10 ms: far longer than a loopback round trip, however loaded the machine.
    const { server, state, url } = await loggingServer(10_000);
    const out = await pingPong(url, 300).exited;
    expect(out).toContain('DONE 300');
    expect(state.handled).toBe(300);
    // Not every one: each window ends, and the turn after it waits in Node's poll.
    expect(state.overtaken).toBeGreaterThan(30);
    // Each message is still one worker iteration: the window polls, it does not iterate idly.
    expect(server.stats().workers[0].loopIterations).toBeLessThan(300 * 1.2 + 10);
  });

  it('while a peer keeps the window busy, a timer and another socket of this process keep making progress', async () => {
    const { state, url } = await loggingServer(10_000);
    // Another socket on Node's own loop: a TCP echo in this process, pinged in turn.
    // Errors: the reset when the test ends the connection mid-echo.
    const echo = net.createServer((s) => s.on('error', () => {}).pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const other = net.connect((echo.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => other.once('connect', r));
    other.on('error', () => {});
    let echoes = 0;
    other.on('data', () => {
      echoes++;
      other.write('x');
    });
    let ticks = 0;
    const interval = setInterval(() => ticks++, 1);
    try {
      const peer = pingPong(url, 1_000_000);
      // The peer is busy throughout: it sends again as soon as an echo comes back.
      await waitFor(() => state.handled > 200, 10_000, 'the peer to be under way');
      const at = { ticks, echoes, handled: state.handled, overtaken: state.overtaken };
      other.write('x');
      await waitFor(() => ticks >= at.ticks + 20 && echoes >= at.echoes + 20, 10_000, 'the timer and the other socket to progress');
      // …and the windows were in use meanwhile (the peer's messages overtook immediates).
      expect(state.overtaken).toBeGreaterThan(at.overtaken);
      expect(state.handled).toBeGreaterThan(at.handled);
      peer.child.kill('SIGKILL');
    } finally {
      clearInterval(interval);
      other.destroy();
      await new Promise((r) => echo.close(r));
    }
  });
});
