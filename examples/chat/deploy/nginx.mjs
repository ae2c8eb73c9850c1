// nginx for the local cluster: nginx.conf (this folder) rendered with the
// ports and a prefix folder of the cluster's own, run in the foreground.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { canConnect, spawnLogged, stopChild, waitUntil } from './proc.mjs';

export const NGINX_TEMPLATE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'nginx.conf');

/**
 * The template with its @NAME@ fields filled from `values`. Throws on a field
 * the template has but `values` lacks, and on a value the template never uses
 * (a typo on either side would otherwise ship a broken config).
 */
export function renderNginxConf(template, values) {
  const used = new Set();
  const out = template.replace(/@([A-Z_]+)@/g, (_, name) => {
    if (!(name in values)) throw new Error(`nginx template: no value for @${name}@`);
    used.add(name);
    return String(values[name]);
  });
  for (const name of Object.keys(values)) {
    if (!used.has(name)) throw new Error(`nginx template: it has no @${name}@`);
  }
  return out;
}

/**
 * Renders the template for `upstreams` (ports of chat processes on
 * 127.0.0.1) into `dir`/nginx and starts nginx on 127.0.0.1:`port`
 * (one process: master_process off). `bin`: $NGINX, else nginx on PATH.
 */
export async function startNginx({ dir, port, upstreams, bin = process.env.NGINX ?? 'nginx' }) {
  const prefix = path.join(dir, 'nginx');
  fs.mkdirSync(prefix, { recursive: true });
  const conf = renderNginxConf(fs.readFileSync(NGINX_TEMPLATE, 'utf8'), {
    MASTER_PROCESS: 'off',
    PREFIX: prefix,
    LISTEN: `127.0.0.1:${port}`,
    UPSTREAMS: upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join('\n'),
  });
  const confFile = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(confFile, conf);
  const logFile = path.join(prefix, 'error.log');
  // -e: the error log before the config is read (else the system's default path).
  const p = spawnLogged(bin, ['-p', prefix, '-c', confFile, '-e', logFile], { logFile: path.join(prefix, 'stdout.log') });
  await waitUntil(`nginx on port ${port}`, () => canConnect('127.0.0.1', port), { child: p.child, logFile });
  return {
    name: 'nginx',
    port,
    url: `http://127.0.0.1:${port}/`,
    confFile,
    logFile,
    accessLog: path.join(prefix, 'access.log'),
    pid: p.child.pid,
    /** Fast shutdown (SIGTERM). */
    stop: () => stopChild(p.child, p.exited, 'SIGTERM'),
  };
}
