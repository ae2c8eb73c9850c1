// redis-server for the local cluster: loopback only, no persistence (the chat
// keeps history in PostgreSQL; Redis carries only live traffic and presence).
import net from 'node:net';
import path from 'node:path';
import { spawnLogged, stopChild, waitUntil } from './proc.mjs';

/** True when redis at host:port answers PING with PONG. */
export function redisPing(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let got = '';
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('\r\n')) done(got.startsWith('+PONG'));
    });
    s.once('error', () => done(false));
  });
}

/**
 * Starts redis-server on 127.0.0.1:`port` with its files in `dir`; resolves
 * once it answers PING. `bin`: $REDIS_SERVER or redis-server on PATH.
 */
export async function startRedis({ dir, port, bin = process.env.REDIS_SERVER ?? 'redis-server' }) {
  const logFile = path.join(dir, `redis-${port}.log`);
  const launch = async () => {
    const p = spawnLogged(bin, [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--save', '',
      '--appendonly', 'no',
      '--daemonize', 'no',
      '--protected-mode', 'yes',
    ], { logFile });
    await waitUntil(`redis-server on port ${port}`, () => redisPing('127.0.0.1', port), { child: p.child, logFile });
    return p;
  };
  let p = await launch();
  return {
    name: 'redis',
    port,
    url: `redis://127.0.0.1:${port}`,
    logFile,
    get pid() {
      return p.child.pid;
    },
    /** Stops it (SIGTERM: redis exits at once, as nothing is saved). */
    stop: () => stopChild(p.child, p.exited, 'SIGTERM'),
    /** Kills it without warning (SIGKILL), as a crash would. */
    kill: () => stopChild(p.child, p.exited, 'SIGKILL'),
    /** Starts it again on the same port (after stop or kill): empty, as after a crash. */
    async start() {
      p = await launch();
    },
  };
}
