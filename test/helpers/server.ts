// Starting and stopping corews servers in tests.
import { createServer, type Server, type ServerOptions } from '../../src/index';

export interface Started<UserData = unknown> {
  server: Server<UserData>;
  port: number;
  /** ws://127.0.0.1:port */
  url: string;
}

/**
 * The variant run of inline mode (scripts/test-variants.sh): COREWS_TEST_INLINE=1 turns the one
 * worker thread of {@link startServer} into inline mode (threads: 0); servers asking for several
 * threads keep them.
 */
export const INLINE_VARIANT = process.env.COREWS_TEST_INLINE === '1';

/** A server listening on a free loopback port (1 thread unless told otherwise; see {@link INLINE_VARIANT}). */
export async function startServer<UserData = unknown>(
  options: ServerOptions<UserData> = {},
  host = '127.0.0.1',
): Promise<Started<UserData>> {
  const one = INLINE_VARIANT ? 0 : 1;
  const threads = options.threads === undefined || options.threads === 1 ? one : options.threads;
  const server = createServer<UserData>({ ...options, threads });
  await server.listen(0, host);
  const port = server.address()!.port;
  const h = host.includes(':') ? `[${host}]` : host;
  return { server, port, url: `ws://${h}:${port}` };
}

/** An echo server: text back as text, binary as binary. */
export function echoOptions<UserData = unknown>(extra: ServerOptions<UserData> = {}): ServerOptions<UserData> {
  return {
    message(ws, data, isBinary) {
      ws.send(data, { binary: isBinary });
    },
    ...extra,
  };
}

/** Resolves when `predicate` holds, polling every 5 ms; rejects after `ms`. */
export async function waitFor(predicate: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * The lower bound for a timeout test: how long a timeout of `ms` takes at the
 * least, measured from before whatever starts the timer (so that a loaded
 * machine can only make it later). A little under `ms`, for the timers'
 * millisecond granularity; the upper bounds stay generous instead.
 */
export function notBefore(ms: number): number {
  return 0.8 * ms - 10;
}
