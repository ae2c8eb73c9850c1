// A real Redis Cluster for tests: three masters (no replicas) on free loopback ports,
// cluster-enabled, each in a temp dir of its own (nodes.conf lives there), the slots
// split by `redis-cli --cluster create`. Stopped by PID (never by name), dirs removed.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, launchRedis, stopRedis } from './redis-server';

export interface ClusterNode {
  readonly port: number;
  /** This node's id (CLUSTER MYID). */
  readonly id: string;
  /** The running server's PID (changes on restart). */
  readonly pid: number;
  /** Runs one command with redis-cli against this node alone; its stdout lines. */
  cli(...args: string[]): string[];
}

export interface RedisCluster {
  readonly nodes: readonly ClusterNode[];
  /** `{ host, port }` of every master, as ioredis's Cluster takes them. */
  readonly startup: { host: string; port: number }[];
  /** The master that serves the key's (or channel's) slot. */
  owner(key: string): ClusterNode;
  /** The key's slot (CLUSTER KEYSLOT). */
  slot(key: string): number;
  /**
   * Stops the node (SIGTERM: it saves nodes.conf, so it keeps its id and slots) and starts it
   * again on the same ports and dir; resolves once every node reports cluster_state:ok.
   */
  restart(node: ClusterNode): Promise<void>;
  /** Stops every node (SIGTERM by PID, SIGKILL after 5 s) and removes the temp dirs. */
  stop(): Promise<void>;
}

/** Whether redis-server and redis-cli (with --cluster) are installed. */
export function haveRedisCluster(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0 && spawnSync('redis-cli', ['--version']).status === 0;
}

function cli(port: number, args: string[]): string[] {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 20_000 });
  return r.stdout.toString().split('\n').map((l) => l.trim()).filter((l) => l !== ''); // INFO lines end in CR
}

/** Starts a three-master cluster and waits until every node reports cluster_state:ok. */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'corews-redis-cluster-'));
  const procs: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map(stopRedis));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    const relaunch: (() => Promise<ChildProcess>)[] = [];
    for (let i = 0; i < masters; i++) {
      // Two ports a node: clients, and the cluster bus (chosen too, not port + 10000).
      const [port, bus] = [await freePort(), await freePort()];
      const nodeDir = mkdtempSync(path.join(dir, `n${port}-`));
      ports.push(port);
      relaunch.push(() => launch(port, bus, nodeDir));
      procs.push(await relaunch[i]());
    }
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { timeout: 30_000 });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    const allOk = async (): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!ports.every((p) => cli(p, ['CLUSTER', 'INFO']).includes('cluster_state:ok'))) {
        if (Date.now() > deadline) throw new Error('the cluster did not reach cluster_state:ok within 20 s');
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await allOk();
    const nodes: ClusterNode[] = ports.map((port, i) => ({
      port,
      id: cli(port, ['CLUSTER', 'MYID'])[0],
      get pid() {
        return procs[i].pid!;
      },
      cli: (...args: string[]) => cli(port, args),
    }));
    const slot = (key: string): number => Number(cli(ports[0], ['CLUSTER', 'KEYSLOT', key])[0]);
    return {
      nodes,
      startup: ports.map((port) => ({ host: '127.0.0.1', port })),
      slot,
      owner(key) {
        const s = slot(key);
        // CLUSTER NODES lines: id addr flags master ping pong epoch state slot-ranges...
        for (const line of cli(ports[0], ['CLUSTER', 'NODES'])) {
          const f = line.split(' ');
          if (!f[2].includes('master')) continue;
          for (const range of f.slice(8)) {
            const [lo, hi = lo] = range.split('-').map(Number);
            if (s >= lo && s <= hi) return nodes.find((n) => n.id === f[0])!;
          }
        }
        throw new Error(`no master serves slot ${s}`);
      },
      async restart(node) {
        const i = nodes.indexOf(node);
        await stopRedis(procs[i]);
        procs[i] = await relaunch[i]();
        await allOk();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function launch(port: number, bus: number, dir: string): Promise<ChildProcess> {
  return launchRedis(port, ['--cluster-port', String(bus), '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
    '--cluster-node-timeout', '2000', '--dir', dir]);
}
