#!/usr/bin/env node
// A local chat cluster on loopback: redis-server, PostgreSQL, two (or more)
// chat processes and nginx in front of them, all in one temporary folder.
//
//   node examples/chat/deploy/cluster.mjs [--port 8080] [--processes 2]
//
// (--port 0: a free one) prints the URL to open and stops everything on Ctrl-C. The tests start the
// same cluster through startCluster() below.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChat } from './chat-process.mjs';
import { startNginx } from './nginx.mjs';
import { startPostgres } from './postgres.mjs';
import { freePort } from './proc.mjs';
import { startRedis } from './redis.mjs';

/**
 * Starts the cluster. Options: `processes` (chat processes, ≥ 2 by default 2),
 * `port` (nginx's; 0 or none: a free one), `env` (extra environment for the chat
 * processes), `dir` (else a new temporary folder), `keep` (leave the folder
 * and its logs on stop), `redis: false` (no redis-server: each chat process on its
 * own, as bench/chat.mjs's one-process scenario runs), `nginx: false` (clients go to
 * the chat processes directly). On a failure, what had started is stopped again.
 */
export async function startCluster(options = {}) {
  const processes = options.processes ?? 2;
  if (!Number.isInteger(processes) || processes < 1) throw new RangeError(`processes must be a positive integer (got ${processes})`);
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'chat-cluster-'));
  const started = [];
  const stopAll = async () => {
    for (const s of [...started].reverse()) await s.stop().catch(() => {});
    started.length = 0;
  };
  try {
    const redis = options.redis === false ? null : await startRedis({ dir, port: await freePort() });
    if (redis) started.push(redis);
    const postgres = await startPostgres({ dir, port: await freePort() });
    started.push(postgres);
    const chats = [];
    for (let i = 0; i < processes; i++) {
      const chat = await startChat({
        dir,
        port: await freePort(),
        name: `chat-${i + 1}`,
        redisUrl: redis?.url ?? '',
        databaseUrl: postgres.url,
        env: options.env,
      });
      started.push(chat);
      chats.push(chat);
    }
    const nginx = options.nginx === false ? null : await startNginx({ dir, port: options.port || (await freePort()), upstreams: chats.map((c) => c.port) });
    if (nginx) started.push(nginx);
    return {
      dir,
      /** The web UI, through nginx (without nginx: the first chat process). */
      url: nginx ? nginx.url : `http://127.0.0.1:${chats[0].port}/`,
      /** The WebSocket endpoint, through nginx (without: the first chat process). */
      wsUrl: nginx ? `ws://127.0.0.1:${nginx.port}/` : chats[0].url,
      redis,
      postgres,
      chats,
      nginx,
      /** Stops everything this cluster started (nginx first, PostgreSQL last), then removes the folder unless `keep`. */
      async stop() {
        await stopAll();
        if (!options.keep) fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopAll();
    if (!options.keep) fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new RangeError(`${arg} takes a non-negative integer (got ${argv[i]})`);
      return v;
    };
    if (arg === '--port') out.port = value();
    else if (arg === '--processes') out.processes = value();
    else if (arg === '--keep') out.keep = true;
    else throw new TypeError(`unknown argument ${arg} (usage: cluster.mjs [--port N] [--processes N] [--keep])`);
  }
  return out;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = parseArgs(process.argv.slice(2));
  const cluster = await startCluster({ port: 8080, ...opts });
  console.log(`redis      ${cluster.redis.url} (pid ${cluster.redis.pid})`);
  console.log(`postgres   ${cluster.postgres.url} (pid ${cluster.postgres.pid}, as ${cluster.postgres.runAs ?? 'us'})`);
  for (const c of cluster.chats) console.log(`${c.name.padEnd(10)} ${c.url} (pid ${c.pid})`);
  console.log(`nginx      ${cluster.nginx.url} (pid ${cluster.nginx.pid})`);
  console.log(`logs       ${cluster.dir}`);
  console.log(`open ${cluster.url}  (Ctrl-C stops all)`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping…');
    await cluster.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
