// The events' contract and the limits of every size: drain follows every
// BACKPRESSURE, bufferedAmount counts what is queued (publishes included),
// sizes past a limit are refused with a RangeError or a 1009 that names it, a
// worker that cannot start makes listen() reject, and topic ids never collide.
import { constants } from 'node:buffer';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, MAX_MESSAGE_BYTES, SendStatus, type WebSocket } from '../src/index';
import { TopicRegistry } from '../src/topics';
import { spawnLines } from './helpers/child';
import { closeAllClients, closeAllServers, connect, destroyAllRaw, openRaw, serve, sleep } from './helpers/clients';
import { waitFor } from './helpers/server';

const MiB = 1024 * 1024;
const DIST = path.join(__dirname, '..', 'dist', 'index.js');

afterEach(async () => {
  destroyAllRaw();
  await closeAllClients();
  await closeAllServers();
});

describe('drain follows every BACKPRESSURE', () => {
  it('three 10 KiB sends in open to a client that reads everything: the third reports BACKPRESSURE, and drain fires', async () => {
    const statuses: SendStatus[] = [];
    let drains = 0;
    const { url } = await serve({
      open(ws) {
        for (let i = 0; i < 3; i++) statuses.push(ws.send(Buffer.alloc(10 * 1024, i)));
      },
      drain() {
        drains++;
      },
    });
    const client = await connect('ws', url);
    for (let i = 0; i < 3; i++) expect(((await client.next()).data as Buffer).length).toBe(10 * 1024);
    expect(statuses).toEqual([SendStatus.SENT, SendStatus.SENT, SendStatus.BACKPRESSURE]);
    // The kernel took all 30 KiB at once: nothing was ever queued, and drain is still owed.
    await waitFor(() => drains === 1, 3000, 'drain');
  });

  it("with the 'drop' policy a BACKPRESSURE send that the worker then drops is still followed by drain", async () => {
    let socket: WebSocket | undefined;
    let drains = 0;
    const { port } = await serve({
      maxBackpressure: 64 * 1024,
      backpressurePolicy: 'drop',
      open(ws) {
        socket = ws;
      },
      drain() {
        drains++;
      },
    });
    const raw = await openRaw(port);
    raw.socket.pause(); // reads nothing: the kernel's buffers fill, then the queue
    await waitFor(() => socket !== undefined, 3000, 'open');
    const ws = socket!;
    let sawBackpressure = false;
    for (let i = 0; i < 4000 && !sawBackpressure; i++) {
      sawBackpressure = ws.send(Buffer.alloc(8 * 1024)) === SendStatus.BACKPRESSURE;
      if (i % 50 === 49) await sleep(1);
    }
    expect(sawBackpressure).toBe(true);
    // Sends now go over the bound and are dropped by the worker (or by send itself).
    for (let i = 0; i < 64; i++) ws.send(Buffer.alloc(8 * 1024));
    raw.socket.resume();
    await waitFor(() => drains >= 1, 10_000, 'drain after the queue emptied');
    expect(ws.bufferedAmount).toBeLessThanOrEqual(16 * 1024);
  });
});

describe('bufferedAmount', () => {
  it('counts publishes once the worker has queued them, and is 0 again after drain', async () => {
    let socket: WebSocket | undefined;
    let drained = false;
    const { server, port } = await serve({
      maxBackpressure: 128 * MiB,
      open(ws) {
        ws.subscribe('news');
        socket = ws;
      },
      drain() {
        drained = true;
      },
    });
    const raw = await openRaw(port);
    raw.socket.pause();
    await waitFor(() => socket !== undefined, 3000, 'open');
    for (let i = 0; i < 24; i++) server.publish('news', Buffer.alloc(MiB, i));
    // The kernel holds at most ~10 MiB of the 24 MiB on loopback; the rest is queued.
    await waitFor(() => socket!.bufferedAmount > 8 * MiB, 5000, 'the publishes to be counted');
    expect(socket!.bufferedAmount).toBeLessThanOrEqual(24 * (MiB + 10));
    raw.socket.resume();
    await waitFor(() => drained && socket!.bufferedAmount === 0, 10_000, 'drain');
  });
});

describe('sizes past a limit', () => {
  it(`send and publish refuse binary data over ${MAX_MESSAGE_BYTES} bytes with a RangeError naming the limit`, async () => {
    expect(MAX_MESSAGE_BYTES).toBe(2 ** 32 - 16);
    let socket: WebSocket | undefined;
    const { server, url } = await serve({
      open(ws) {
        ws.subscribe('t');
        socket = ws;
      },
    });
    const client = await connect('ws', url);
    await waitFor(() => socket !== undefined, 3000, 'open');
    // Not zero-filled, never touched: the pages are never faulted in.
    const huge = Buffer.allocUnsafeSlow(MAX_MESSAGE_BYTES + 1);
    expect(() => socket!.send(huge)).toThrow(new RangeError(`send: a message is at most ${MAX_MESSAGE_BYTES} bytes (4 GiB - 16), got ${MAX_MESSAGE_BYTES + 1}`));
    expect(() => server.publish('t', huge)).toThrow(RangeError);
    expect(() => socket!.publish('t', huge)).toThrow(/publish: a message is at most 4294967280 bytes/);
    // Nothing was sent: the connection still echoes nothing and is open.
    expect(socket!.send('after')).toBe(SendStatus.SENT);
    expect((await client.next()).data).toBe('after');
  });

  it("a text message longer than V8's longest string is refused at its header with 1009", async () => {
    const { port } = await serve({ maxPayload: 1024 * MiB });
    const raw = await openRaw(port);
    raw.send({ opcode: 0x1, declaredLength: BigInt(constants.MAX_STRING_LENGTH + 1) });
    const close = await raw.readClose(3000);
    expect(close.code).toBe(1009);
    expect(close.reason).toMatch(/longest string/);
  });

  it('a binary message of the same length is not refused at its header', async () => {
    const { port } = await serve({ maxPayload: 1024 * MiB });
    const raw = await openRaw(port);
    raw.send({ opcode: 0x2, declaredLength: BigInt(constants.MAX_STRING_LENGTH + 1) });
    raw.write(Buffer.alloc(64 * 1024)); // part of the payload: the server waits for the rest
    raw.send({ opcode: 0x9, payload: 'not yet' }); // inside the payload: just more bytes
    await sleep(200);
    expect(raw.ended).toBe(false);
    expect(raw.unread.length).toBe(0);
  });
});

describe('listen() when a worker cannot start', () => {
  // The child uses up its descriptors, frees `free` of them, and listens.
  const SCRIPT = `
    const fs = require('node:fs');
    const { createServer } = require(${JSON.stringify(DIST)});
    const fds = [];
    try { for (;;) fds.push(fs.openSync('/dev/null', 'r')); } catch {}
    for (let i = 0; i < Number(process.argv[1]); i++) fs.closeSync(fds.pop());
    const server = createServer({ threads: 1 });
    server.listen(0, '127.0.0.1').then(
      () => { process.stdout.write('LISTENING\\n'); return server.close(); },
      (err) => {
        process.stdout.write('REJECTED ' + err.code + ' ' + err.message + '\\n');
        for (const fd of fds.splice(0, 16)) fs.closeSync(fd);
        return server.listen(0, '127.0.0.1').then(() => { process.stdout.write('RETRIED\\n'); return server.close(); });
      },
    ).then(() => process.exit(0));
  `;

  it.each([
    [1, 'its event poller'],
    [2, 'its wakeup descriptor'],
  ])('with %i descriptor(s) to spare (none left for %s): listen rejects with EMFILE, and works once descriptors are free', async (free) => {
    const child = spawnLines('bash', ['-c', `ulimit -n 256 && exec "${process.execPath}" -e "$0" ${free}`, SCRIPT], 20_000);
    const line = await child.next('REJECTED', 15_000);
    expect(line).toMatch(/^EMFILE listen EMFILE: cannot create the (event poller|wakeup descriptor)/);
    await child.next('RETRIED', 15_000);
    expect(await child.exited).toBe(0);
  });
});

describe('Node before 18.14', () => {
  it('without os.availableParallelism, threads defaults to the number of CPUs', async () => {
    const script = `
      const os = require('node:os');
      os.availableParallelism = undefined;
      const { createServer } = require(${JSON.stringify(DIST)});
      process.stdout.write('THREADS ' + createServer().threads + ' ' + os.cpus().length + '\\n');
    `;
    const child = spawnLines(process.execPath, ['-e', script]);
    const [threads, cpus] = (await child.next('THREADS')).split(' ').map(Number);
    expect(threads).toBe(cpus);
    expect(threads).toBeGreaterThan(0);
    expect(await child.exited).toBe(0);
    expect(createServer().threads).toBe(os.availableParallelism());
  });
});

describe('topic ids', () => {
  it('are reused once free, so they never wrap and no live id is handed out twice', () => {
    const r = new TopicRegistry(2);
    const live = new Map<string, number>();
    const liveIds = new Set<number>();
    const longLived = r.add('long-lived', 0);
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 100_000; i++) {
      const name = `t${next(300)}`;
      if (live.has(name)) {
        expect(r.remove(name, next(2))).toBe(live.get(name));
        liveIds.delete(live.get(name)!);
        live.delete(name);
      } else {
        const id = r.add(name, next(2));
        expect(id).not.toBe(longLived);
        expect(liveIds.has(id)).toBe(false);
        live.set(name, id);
        liveIds.add(id);
      }
    }
    // At most 301 topics were ever live at once.
    expect(r.highestId).toBeLessThanOrEqual(301);
    expect(r.get('long-lived')?.id).toBe(longLived);
  });

  it('a topic that outlives heavy churn of others keeps getting its publishes, and only its own', async () => {
    const got: string[] = [];
    let sockets = 0;
    const { server, url } = await serve({
      open(ws) {
        sockets++;
        ws.subscribe(`own-${sockets}`);
      },
      message(ws, data) {
        const [op, topic] = String(data).split(' ');
        if (op === 'sub') ws.subscribe(topic);
        else ws.unsubscribe(topic);
        ws.send('ok');
      },
    });
    const keeper = await connect('ws', url);
    const churner = await connect('ws', url);
    for (let i = 0; i < 200; i++) {
      churner.send(`sub churn-${i}`);
      churner.send(`unsub churn-${i}`);
      await churner.next();
      await churner.next();
    }
    server.publish('own-1', 'for the keeper');
    server.publish('churn-0', 'for nobody');
    got.push(String((await keeper.next()).data));
    expect(got).toEqual(['for the keeper']);
    await sleep(50);
    expect(churner.queued).toBe(0);
  });
});
