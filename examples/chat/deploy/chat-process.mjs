// One chat process (examples/chat/server.mjs) of the local cluster, on a port
// chosen in advance (nginx's upstream list names it), so that a restart comes
// back where nginx looks for it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnLogged, stopChild, waitUntil } from './proc.mjs';

export const CHAT_SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'server.mjs');

/**
 * Starts `node examples/chat/server.mjs` with PORT, HOST (127.0.0.1), REDIS_URL, DATABASE_URL
 * and CHAT_DATA_DIR (plus `env`); resolves once it prints `listening <port>`.
 */
export async function startChat({ dir, port, name, redisUrl, databaseUrl, env = {} }) {
  const logFile = path.join(dir, `${name}.log`);
  const launch = async () => {
    const p = spawnLogged(process.execPath, [CHAT_SERVER], {
      logFile,
      env: {
        PORT: String(port),
        HOST: '127.0.0.1',
        REDIS_URL: redisUrl,
        DATABASE_URL: databaseUrl,
        CHAT_DATA_DIR: path.join(dir, name),
        ...env,
      },
    });
    await waitUntil(`${name} on port ${port}`, () => p.lines.includes(`listening ${port}`), { child: p.child, logFile, ms: 20_000 });
    return p;
  };
  let p = await launch();
  return {
    name,
    port,
    url: `ws://127.0.0.1:${port}/`,
    logFile,
    get pid() {
      return p.child.pid;
    },
    /** Every line it printed on stdout since its last start. */
    get lines() {
      return p.lines;
    },
    /** Graceful stop (SIGTERM). */
    stop: () => stopChild(p.child, p.exited, 'SIGTERM'),
    /** Kills it without warning (SIGKILL), as a crash would. */
    kill: () => stopChild(p.child, p.exited, 'SIGKILL'),
    /** Starts it again on the same port. */
    async start() {
      p = await launch();
    },
  };
}
