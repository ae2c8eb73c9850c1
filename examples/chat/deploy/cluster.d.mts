// Types of cluster.mjs, for the TypeScript tests that start the cluster.

/** A process of the cluster that can be stopped. */
export interface Service {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Where its output goes. */
  readonly logFile: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** A process that can also crash (SIGKILL) and come back on the same port. */
export interface Restartable extends Service {
  kill(): Promise<void>;
  start(): Promise<void>;
}

export interface ChatProcess extends Restartable {
  /** Its stdout lines since its last start. */
  readonly lines: string[];
}

export interface Postgres extends Service {
  /** The unprivileged user it runs as when we are root, else null. */
  readonly runAs: string | null;
}

export interface Nginx extends Service {
  readonly confFile: string;
  readonly accessLog: string;
}

export interface ClusterOptions {
  /** Chat processes behind nginx (default 2). */
  processes?: number;
  /** nginx's port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Extra environment for the chat processes. */
  env?: Record<string, string>;
  /** The folder for data and logs (default: a new temporary one). */
  dir?: string;
  /** Leave the folder on stop. */
  keep?: boolean;
}

export interface Cluster {
  readonly dir: string;
  /** http://127.0.0.1:port/ (nginx). */
  readonly url: string;
  /** ws://127.0.0.1:port/ (nginx). */
  readonly wsUrl: string;
  readonly redis: Restartable;
  readonly postgres: Postgres;
  readonly chats: ChatProcess[];
  readonly nginx: Nginx;
  stop(): Promise<void>;
}

/** The cluster's options with parts left out (bench/chat.mjs). */
export interface PartialClusterOptions extends ClusterOptions {
  /** false: no redis-server, each chat process on its own (in-process pub/sub and cache). */
  redis?: boolean;
  /** false: no nginx; `url` and `wsUrl` are the first chat process's. */
  nginx?: boolean;
}

/** A cluster started with PartialClusterOptions: what was left out is null. */
export interface PartialCluster extends Omit<Cluster, 'redis' | 'nginx'> {
  readonly redis: Restartable | null;
  readonly nginx: Nginx | null;
}

export function startCluster(options?: ClusterOptions & { redis?: true; nginx?: true }): Promise<Cluster>;
export function startCluster(options: PartialClusterOptions): Promise<PartialCluster>;
