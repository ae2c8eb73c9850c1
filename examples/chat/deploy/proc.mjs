// Processes of the local cluster: spawned with their output in a log file,
// waited for until they serve, and stopped by their own PID (never by name).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

/**
 * Spawns `file args` with stdout and stderr appended to `logFile`. Returns the
 * child and `lines`, every stdout line so far (for "listening <port>").
 */
export function spawnLogged(file, args, { logFile, env, uid, gid, cwd } = {}) {
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  const child = spawn(file, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    uid,
    gid,
    cwd,
  });
  const lines = [];
  let partial = '';
  child.stdout.on('data', (d) => {
    log.write(d);
    partial += d.toString();
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      lines.push(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
  });
  child.stderr.on('data', (d) => log.write(d));
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // A file that does not exist: 'exit' never comes, 'error' does.
    child.once('error', (err) => {
      log.write(`spawn ${file}: ${err.message}\n`);
      resolve({ code: null, signal: null, error: err });
    });
  });
  // 'close', not 'exit': output may still be on its way when the process has exited.
  let ended = false;
  const endLog = () => {
    if (!ended) log.end();
    ended = true;
  };
  child.once('close', endLog);
  child.once('error', endLog);
  return { child, lines, exited };
}

/** True once the child has exited (or failed to start). */
export function hasExited(child) {
  return child.exitCode !== null || child.signalCode !== null || child.pid === undefined;
}

/** Polls `check()` every 50 ms until it returns true; throws after `ms` or when `child` exits. */
export async function waitUntil(what, check, { child, ms = 15_000, logFile } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child && hasExited(child)) throw new Error(`${what}: the process exited (${describeLog(logFile)})`);
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready in ${ms} ms (${describeLog(logFile)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function describeLog(logFile) {
  if (!logFile) return 'no log';
  let text = '';
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch {
    return `no log at ${logFile}`;
  }
  return `${logFile}: ${text.slice(-1500)}`;
}

/** True when a TCP connection to host:port succeeds. */
export function canConnect(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A port nothing listens on right now (the kernel's choice for port 0 on 127.0.0.1). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Sends `signal` to the child (by its PID) and waits for it to exit; SIGKILL
 * after `ms`. A child that already exited is left alone.
 */
export async function stopChild(child, exited, signal = 'SIGTERM', ms = 10_000) {
  if (hasExited(child)) return;
  child.kill(signal);
  const timer = setTimeout(() => {
    if (!hasExited(child)) child.kill('SIGKILL');
  }, ms);
  await exited;
  clearTimeout(timer);
}
