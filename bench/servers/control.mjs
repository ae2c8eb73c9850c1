// What the three servers under test share (Node and Bun alike): the fan-out
// convention and a control channel for bench/run.mjs.
//
// Control: one command per line on stdin, one answer per line on stdout.
//   stats   →  stats {"messages":…,"deliveries":…,"opened":…,"open":…}
//   gc      →  collects garbage where the runtime allows it (node --expose-gc,
//              Bun.gc), then `gc done`
// messages: messages received; deliveries: copies fanned out to subscribers;
// opened: connections accepted so far; open: connections open now.

export const TOPIC = 'bench';

/** `publisher`, `subscriber`, or `echo` for any other request target. */
export function roleOf(url) {
  const m = /[?&]role=(publisher|subscriber)(?:&|$)/.exec(url ?? '');
  return m ? m[1] : 'echo';
}

/** Counters the server updates; `control(stats)` answers for them. */
export function newStats() {
  return { messages: 0, deliveries: 0, opened: 0, open: 0 };
}

function collectGarbage() {
  if (typeof globalThis.Bun !== 'undefined') globalThis.Bun.gc(true);
  else if (typeof globalThis.gc === 'function') globalThis.gc();
}

/** Serves the control channel on stdin; it never keeps the process alive by itself. */
export function control(stats) {
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const command = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (command === 'stats') {
        process.stdout.write(`stats ${JSON.stringify(stats)}\n`);
      } else if (command === 'gc') {
        collectGarbage();
        process.stdout.write('gc done\n');
      } else if (command !== '') {
        process.stdout.write(`error unknown command ${JSON.stringify(command)}\n`);
      }
    }
  });
  process.stdin.on('error', () => {});
  process.stdin.unref?.();
}

/**
 * permessage-deflate for the server under test, from BENCH_DEFLATE: unset or
 * '' is off; '1' or 'true' is `perMessageDeflate: true`; a JSON object is the
 * options for corews; ws and Bun take any value as `perMessageDeflate: true`.
 */
export function deflateOption() {
  const v = process.env.BENCH_DEFLATE ?? '';
  if (v === '') return false;
  if (v === '1' || v === 'true') return true;
  return JSON.parse(v);
}

/** Exits on SIGTERM/SIGINT without waiting for connections (the benchmark is over). */
export function exitOnSignal() {
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
}
