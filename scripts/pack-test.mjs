// The package as users get it: build the prebuilt binary, `npm pack`, install
// the tarball into a fresh project with install scripts disabled and no
// compiler on PATH, then use it from ESM and CommonJS, type-check a consumer
// with tsc, run an echo round trip, and check the error when no binary fits.
//   node scripts/pack-test.mjs        (npm run test:pack)
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE = process.execPath;
const NPM_CLI = path.join(path.dirname(NODE), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
let passed = 0;
let failed = 0;

function check(name, fn) {
  try {
    fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}\n${String(err.stderr ?? '')}${String(err.stdout ?? '')}${err.message}`);
  }
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'corews-pack-'));
// A PATH with node and nothing else: no cc, c++, make, python, node-gyp.
const bin = path.join(work, 'bin');
fs.mkdirSync(bin);
fs.symlinkSync(NODE, path.join(bin, 'node'));
const env = { ...process.env, PATH: bin, npm_config_ignore_scripts: 'true' };
for (const key of Object.keys(env)) if (key.startsWith('npm_lifecycle') || key === 'npm_config_node_gyp') delete env[key];

try {
  execFileSync(NODE, [NPM_CLI, 'run', 'prebuild'], { cwd: ROOT, stdio: 'pipe' });
  const packed = JSON.parse(execFileSync(NODE, [NPM_CLI, 'pack', '--json', '--pack-destination', work], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }).toString());
  const files = packed[0].files.map((f) => f.path);
  const tarball = path.join(work, packed[0].filename);

  check('the tarball holds dist/, types, prebuilds/, native sources and binding.gyp, and no tests or build output', () => {
    for (const must of ['dist/index.js', 'dist/index.d.ts', 'prebuilds/linux-x64/corews.node', 'native/server/worker.cpp', 'binding.gyp', 'bin/corews.js', 'README.md', 'package.json']) {
      if (!files.includes(must)) throw new Error(`missing ${must}`);
    }
    const unwanted = files.filter((f) => /^(test|bench|build|scripts|examples)\//.test(f) || f.startsWith('native/build/') || f.startsWith('native/test/') || f.startsWith('native/fuzz/'));
    if (unwanted.length) throw new Error(`should not ship: ${unwanted.slice(0, 5).join(', ')}`);
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
`);
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: 'commonjs', moduleResolution: 'node', target: 'ES2022', skipLibCheck: false, types: ['node'], typeRoots: [path.join(ROOT, 'node_modules', '@types')] },
      files: ['consumer.ts'],
    }));
    execFileSync(NODE, [TSC, '-p', 'tsconfig.json'], { cwd: app, env, stdio: 'pipe' });
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
