// What README.md and `npm start` promise, run as a user would: the demo
// server, the quick start pasted from the README, the chat example.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WS from 'ws';

const ROOT = path.join(__dirname, '..');
const running: ChildProcess[] = [];

afterEach(() => {
  for (const p of running.splice(0)) p.kill('SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Runs a script of the package (so `import 'corews'` resolves to it); resolves once stdout matches. */
function start(script: string, env: Record<string, string>, ready: RegExp): Promise<{ proc: ChildProcess; out: () => string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.push(proc);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${script} did not start: ${out}`)), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve({ proc, out: () => out });
      }
    });
    proc.once('exit', (code) => reject(new Error(`${script} exited with ${code}: ${out}`)));
  });
}

interface Client {
  ws: WS;
  /** The next message, including ones that arrived before anyone asked. */
  next(): Promise<string>;
  /** Messages not yet taken by next(). */
  pending: string[];
}

/** A ws client that queues every message from the moment it connects. */
function open(url: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WS(url);
    const pending: string[] = [];
    const waiting: ((s: string) => void)[] = [];
    ws.on('message', (d) => {
      const w = waiting.shift();
      if (w) w(String(d));
      else pending.push(String(d));
    });
    const next = (): Promise<string> =>
      pending.length > 0 ? Promise.resolve(pending.shift()!) : new Promise((r) => waiting.push(r));
    ws.once('open', () => resolve({ ws, next, pending }));
    ws.once('error', reject);
  });
}

function exited(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    proc.removeAllListeners('exit');
    proc.once('exit', (code) => resolve(code));
  });
}

describe('npm start', () => {
  it('serves the demo page and echoes, on PORT, and closes on SIGTERM', async () => {
    const port = await freePort();
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const script = pkg.scripts.start.replace(/^node /, '');
    const { proc, out } = await start(script, { PORT: String(port) }, /Ctrl-C to stop/);
    expect(out()).toContain(`port ${port}`);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('new WebSocket');
    const c = await open(`ws://127.0.0.1:${port}/`);
    c.ws.send('hello');
    expect(await c.next()).toBe('hello');
    c.ws.close();
    const gone = exited(proc);
    proc.kill('SIGTERM');
    expect(await gone).toBe(0);
  });
});

describe('README', () => {
  it('the quick start works when pasted', async () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const block = /```js\n(\/\/ echo\.mjs[\s\S]*?)```/.exec(readme);
    expect(block).not.toBeNull();
    const port = await freePort();
    // The file must live inside the package for `import 'corews'` to resolve to it.
    const file = path.join(ROOT, 'test', 'fixtures', `.quickstart-${process.pid}.mjs`);
    fs.writeFileSync(file, block![1].replace('listen(8080)', `listen(${port})`));
    try {
      await start(file, {}, /listening on/);
      const c = await open(`ws://127.0.0.1:${port}/`);
      expect(await c.next()).toBe('hello 127.0.0.1');
      c.ws.send('echo me');
      expect(await c.next()).toBe('echo me');
      c.ws.close();
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('the chat example relays within a room only, skipping the sender', async () => {
    const port = await freePort();
    await start('examples/chat.mjs', { PORT: String(port) }, /chat on port/);
    const a = await open(`ws://127.0.0.1:${port}/?room=r1`);
    expect(await a.next()).toMatch(/joined r1 \(1 here\)/);
    const b = await open(`ws://127.0.0.1:${port}/?room=r1`);
    expect(await a.next()).toMatch(/joined r1 \(2 here\)/);
    expect(await b.next()).toMatch(/joined r1 \(2 here\)/);
    const c = await open(`ws://127.0.0.1:${port}/?room=r2`);
    expect(await c.next()).toMatch(/joined r2 \(1 here\)/);
    a.ws.send('hi');
    expect(await b.next()).toBe('hi');
    await new Promise((r) => setTimeout(r, 100));
    expect(a.pending).toEqual([]); // the sender is skipped
    expect(c.pending).toEqual([]); // another room hears nothing
    for (const x of [a, b, c]) x.ws.close();
  });
});
