// Shared by the benchmark scripts: processes, pinning, the CLI, statistics.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BUILD = path.join(ROOT, 'bench', 'build');
export const RESULTS = path.join(ROOT, 'bench', 'results');
export const CLI = path.join(ROOT, 'bin', 'corews.js');

/** With two or more cores the server gets core 0 and the load generator core 1. */
export const PIN = os.availableParallelism() >= 2;
export const SERVER_CPUS = '0';
export const CLIENT_CPUS = '1';

/** argv prefixed with `taskset -c cpus` where pinning applies. */
export function pinned(cpus, argv) {
  return PIN ? ['taskset', '-c', cpus, ...argv] : argv;
}

/** Compiles a C peer from bench/c into bench/build (cached by mtime). */
export function buildC(name, libs = []) {
  fs.mkdirSync(BUILD, { recursive: true });
  const src = path.join(ROOT, 'bench', 'c', `${name}.c`);
  const out = path.join(BUILD, name);
  if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(src).mtimeMs) {
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', out, src, ...libs], { stdio: 'inherit' });
  }
  return out;
}

/** Starts a long-running process; resolves once `ready(stdout so far)` holds. */
export function startProcess(argv, { ready = () => true, env = {}, timeoutMs = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${argv.join(' ')} did not start: ${err}`));
    }, timeoutMs);
    const check = () => {
      if (ready(out)) {
        clearTimeout(timer);
        resolve({ proc, output: () => out });
      }
    };
    proc.stdout.on('data', (d) => { out += d; check(); });
    proc.stderr.on('data', (d) => { err += d; });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${argv.join(' ')} exited with ${code}: ${err}`)); });
    check();
  });
}

/** Ends a process started by startProcess (by its PID) and waits for it. */
export async function stopProcess(p) {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.removeAllListeners('exit');
  const gone = new Promise((r) => p.proc.once('exit', r));
  p.proc.kill('SIGTERM');
  const t = setTimeout(() => p.proc.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}

/** Runs a command to completion and parses the last line of its stdout as JSON. */
export function runJson(argv, timeoutMs = 120000) {
  return new Promise((resolve, reject) => {
    const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    proc.once('exit', (code) => {
      clearTimeout(t);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`${argv.join(' ')} (exit ${code}) printed no JSON: ${out} ${err}`));
      }
    });
  });
}

/** `corews bench` as argv, pinned to the client core. */
export function benchArgv(mode, url, opts = {}) {
  const argv = [process.execPath, CLI, 'bench', mode, url, '--json'];
  for (const [k, v] of Object.entries(opts)) {
    if (v === true) argv.push(`--${k}`);
    else if (v !== false && v !== undefined) argv.push(`--${k}`, String(v));
  }
  return pinned(CLIENT_CPUS, argv);
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function freePort() {
  return new Promise((resolve) => {
    import('node:net').then(({ default: net }) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
  });
}

export function machine() {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.versions.node}`;
}

export function writeResult(name, data) {
  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, name);
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/**
 * The Bun binary from bench/node_modules, run once to check it works:
 * { path, version } or { path: null, why }. The `bun` npm package ships the
 * binary in @oven/bun-<platform>-<arch>/bin/bun; its postinstall script (when
 * npm runs it) moves it to bun/bin/bun.exe.
 */
export function findBun() {
  const modules = path.join(ROOT, 'bench', 'node_modules');
  const oven = path.join(modules, '@oven');
  const candidates = [];
  const arch = `${process.platform}-${process.arch}`;
  if (fs.existsSync(oven)) {
    for (const dir of fs.readdirSync(oven).filter((d) => d.startsWith(`bun-${arch}`)).sort()) {
      candidates.push(path.join(oven, dir, 'bin', 'bun'));
    }
  }
  candidates.push(path.join(modules, 'bun', 'bin', 'bun.exe'));
  const tried = [];
  for (const file of candidates) {
    if (!fs.existsSync(file)) continue;
    try {
      const version = execFileSync(file, ['--version'], { encoding: 'utf8', timeout: 15000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
      if (/^\d+\.\d+\.\d+/.test(version)) return { path: file, version };
      tried.push(`${path.relative(ROOT, file)} printed ${JSON.stringify(version.slice(0, 80))}`);
    } catch (err) {
      tried.push(`${path.relative(ROOT, file)}: ${String(err.message).split('\n')[0]}`);
    }
  }
  return { path: null, why: tried.length ? tried.join('; ') : 'no Bun binary under bench/node_modules (npm install --prefix bench)' };
}

/**
 * Certificates for the wss:// rows, made with the `openssl` command into a
 * temporary folder (removed at exit; never checked in): a CA (EC P-256) and
 * two server certificates it issued for localhost and 127.0.0.1, one with an
 * EC P-256 key and one with an RSA 2048 key. Returns their paths.
 */
export function makeBenchPki() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corews-bench-pki-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key');
  openssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=corews bench CA', '-days', '2', '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.crt');
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  const issue = (name, keyArgs) => {
    openssl(...keyArgs, '-out', `${name}.key`);
    openssl('req', '-new', '-key', `${name}.key`, '-subj', '/CN=localhost', '-out', `${name}.csr`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256',
      '-extfile', 'server.ext', '-out', `${name}.crt`);
    return { key: path.join(dir, `${name}.key`), cert: path.join(dir, `${name}.crt`) };
  };
  return {
    dir,
    ca: path.join(dir, 'ca.crt'),
    ecdsa: issue('ecdsa', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout']),
    rsa: issue('rsa', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']),
  };
}
