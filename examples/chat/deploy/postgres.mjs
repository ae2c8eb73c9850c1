// PostgreSQL for the local cluster: a fresh cluster (initdb) in a temporary
// folder, listening on 127.0.0.1 only, with trust authentication for the
// `chat` role (loopback, a throwaway database). PostgreSQL refuses to run as
// root, so when we are root the server runs as an unprivileged user:
// $CHAT_PG_USER, else `postgres` (Debian's package makes it), else `nobody`.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { spawnLogged, stopChild, waitUntil } from './proc.mjs';

/** The folder with initdb and postgres: $PG_BIN, else the newest /usr/lib/postgresql/<version>/bin. */
export function postgresBinDir() {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres')))
    : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions.length > 0) return path.join(root, versions[0], 'bin');
  const onPath = spawnSync('sh', ['-c', 'command -v postgres'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return path.dirname(onPath);
  throw new Error('PostgreSQL is not installed (Debian: apt-get install postgresql; or set PG_BIN to the folder with initdb and postgres)');
}

/** uid and gid to run PostgreSQL as: ourselves unless we are root. */
function runAs() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  const candidates = [process.env.CHAT_PG_USER, 'postgres', 'nobody'].filter(Boolean);
  for (const user of candidates) {
    const r = spawnSync('id', ['-u', user], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const g = spawnSync('id', ['-g', user], { encoding: 'utf8' });
    return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()), user };
  }
  throw new Error(`running as root and none of the users ${candidates.join(', ')} exists to run PostgreSQL as`);
}

/**
 * initdb into `dir`/pgdata, then the server on 127.0.0.1:`port`, then a
 * database `chat` owned by the role `chat`. Resolves with its URL once it
 * accepts connections.
 */
export async function startPostgres({ dir, port, bin = postgresBinDir() }) {
  const as = runAs();
  const pgRoot = path.join(dir, 'postgres');
  const data = path.join(pgRoot, 'data');
  const sockets = path.join(pgRoot, 'sockets');
  fs.mkdirSync(sockets, { recursive: true });
  if (as.uid !== undefined) {
    // The user must reach its folder: the cluster folder is ours (root's).
    fs.chmodSync(dir, 0o711);
    fs.chownSync(pgRoot, as.uid, as.gid);
    fs.chownSync(sockets, as.uid, as.gid);
  }
  const logFile = path.join(dir, `postgres-${port}.log`);
  const opts = { uid: as.uid, gid: as.gid, cwd: pgRoot, stdio: 'pipe', encoding: 'utf8' };
  const init = spawnSync(path.join(bin, 'initdb'),
    ['-D', data, '-U', 'chat', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions'], opts);
  fs.appendFileSync(logFile, `${init.stdout ?? ''}${init.stderr ?? ''}`);
  if (init.status !== 0) throw new Error(`initdb failed (${logFile}): ${init.stderr || init.error}`);
  if (as.uid !== undefined) fs.chownSync(logFile, as.uid, as.gid);

  const p = spawnLogged(path.join(bin, 'postgres'), [
    '-D', data,
    '-h', '127.0.0.1',
    '-p', String(port),
    '-k', sockets,
    // A throwaway database: speed over durability.
    '-c', 'fsync=off',
    '-c', 'synchronous_commit=off',
    '-c', 'full_page_writes=off',
  ], { logFile, uid: as.uid, gid: as.gid, cwd: pgRoot });
  const isReady = () => spawnSync(path.join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)]).status === 0;
  await waitUntil(`postgres on port ${port}`, isReady, { child: p.child, logFile, ms: 30_000 });
  execFileSync(path.join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'chat', 'chat'], { stdio: 'pipe' });
  return {
    name: 'postgres',
    port,
    url: `postgres://chat@127.0.0.1:${port}/chat`,
    logFile,
    pid: p.child.pid,
    runAs: as.user ?? null,
    /** Fast shutdown (SIGINT: ends open sessions, then exits cleanly). */
    stop: () => stopChild(p.child, p.exited, 'SIGINT', 15_000),
  };
}
