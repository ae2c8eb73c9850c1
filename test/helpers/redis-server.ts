// A real redis-server for tests: started on a free loopback port with nothing saved to
// disk, stopped by its PID (never by name), restartable on the same port for fault tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:port */
  readonly url: string;
  /** The running server's PID (changes on restart). */
  readonly pid: number;
  /** Stops the server (SIGTERM by PID, SIGKILL after 5 s) and waits until it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after {@link stop}). */
  restart(): Promise<void>;
  /** Runs one command with redis-cli against it; its stdout lines. */
  cli(...args: string[]): string[];
}

/** Whether redis-server is installed (tests skip without it, saying so). */
export function haveRedis(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

/** The installed redis-server's major version (7 for 7.0.15). */
export function redisMajor(): number {
  const out = spawnSync('redis-server', ['--version']).stdout?.toString() ?? '';
  return Number(/v=(\d+)/.exec(out)?.[1] ?? 0);
}

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Starts redis-server on a free loopback port; `extra` are more `--name value` arguments. */
export async function startRedis(extra: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  let proc = await launchRedis(port, extra);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return proc.pid!;
    },
    async stop() {
      await stopRedis(proc);
    },
    async restart() {
      await stopRedis(proc);
      proc = await launchRedis(port, extra);
    },
    cli(...args) {
      const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });
      return r.stdout.toString().split('\n').filter((l) => l !== '');
    },
  };
}

/**
 * Spawns redis-server on `port` (loopback, nothing saved, quiet; `extra` are more `--name value`
 * arguments) and resolves once it answers PING; a cluster node is one with cluster arguments.
 */
export async function launchRedis(port: number, extra: string[]): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--protected-mode', 'no', '--loglevel', 'warning', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}: ${log}`);
    if (await answers(port)) return proc;
    if (Date.now() > deadline) {
      await stopRedis(proc);
      throw new Error(`redis-server did not answer on port ${port} within 10 s: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** True when something on the port answers PING with PONG. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('\r\n')) {
        s.destroy();
        resolve(got.startsWith('+PONG'));
      }
    });
  });
}

/** Stops a redis-server it launched: SIGTERM by PID, SIGKILL after 5 s; resolves once it has exited. */
export async function stopRedis(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await gone;
  clearTimeout(t);
}
