// The unloaded round trip, one of bench/run.mjs's sections: one connection,
// one 32-byte message in flight, p50/p99 of the time from send to echo, for
// corews threaded (the JS hop between threads included), corews inline
// (threads: 0: no hop), Bun, and the minimal C echo server of bench/c (the
// floor: the kernel's loopback and the load generator, no WebSocket server
// work worth the name). Every server runs pinned to the server core, the
// variants' rounds interleaved so that the ratios come from the same minute;
// the best run (by p50) of each is kept. With --busy-poll N, corews-inline-busy
// is inline mode with busyPollMicros: N, and each server's CPU per round trip
// is printed too (what the spinning costs).
import { buildC, freePort, pinned, SERVER_CPUS, startProcess, stopProcess } from './common.mjs';

export const ROUND_TRIP = {
  id: 'roundtrip-1', label: 'round trip 32 B, 1 conn, 1 in flight', mode: 'latency', args: { connections: 1, size: 32, binary: true },
};

/** The C echo server as a server of bench/run.mjs: started here, not by startServer (no control channel). */
async function runC(ctx, sc) {
  const binary = buildC('echo_server', ['-lcrypto']);
  const port = await freePort();
  const srv = await startProcess(pinned(SERVER_CPUS, [binary, String(port)]));
  try {
    await ctx.sleep(200); // it prints nothing once it listens
    const { report } = ctx.startClient(ctx.benchArgv(sc.mode, `ws://${ctx.HOST}:${port}/`, { ...sc.args, duration: ctx.opts.duration, warmup: ctx.opts.warmup }),
      (ctx.opts.warmup + ctx.opts.duration) * 1000 + 60000);
    return await report;
  } finally {
    await stopProcess(srv);
  }
}

/**
 * `servers`: bench/run.mjs's, by name (corews, corews-inline, bun where found); `runLoad` its
 * runner. Returns { label, args, cells: { name: { runs, result? } } }.
 */
export async function runRoundTrip(ctx, servers, runLoad) {
  const sc = ROUND_TRIP;
  const inline = servers.find((s) => s.name === 'corews-inline');
  const busy = inline && ctx.opts.busyPoll > 0
    ? [{ ...inline, name: 'corews-inline-busy', env: { ...inline.env, CRWS_BUSY_POLL: String(ctx.opts.busyPoll) } }] : [];
  const variants = [
    ...[...['corews', 'corews-inline'].map((n) => servers.find((s) => s.name === n)), ...busy, servers.find((s) => s.name === 'bun')]
      .filter((s) => s?.argv)
      .map((s) => ({ name: s.name, run: () => runLoad(s, sc) })),
    { name: 'C echo', run: () => runC(ctx, sc) },
  ];
  const out = { label: sc.label, args: sc.args, cells: Object.fromEntries(variants.map((v) => [v.name, { runs: [] }])) };
  const n = ctx.opts.rounds * variants.length;
  let k = 0;
  for (let round = 0; round < ctx.opts.rounds; round++) {
    for (const v of variants) {
      k++;
      try {
        const r = await v.run();
        out.cells[v.name].runs.push(r);
        ctx.log(`[round trip ${k}/${n}] ${v.name}: p50 ${r.latencyUs.p50} µs, p99 ${r.latencyUs.p99} µs${r.errors ? `, ${r.errors} errors` : ''}`);
      } catch (err) {
        out.cells[v.name].runs.push({ failed: String(err.message ?? err), stderr: err.stderr });
        ctx.log(`[round trip ${k}/${n}] ${v.name}: FAILED ${String(err.message ?? err).split('\n')[0]}`);
      }
    }
  }
  for (const cell of Object.values(out.cells)) {
    const ok = cell.runs.filter((r) => !r.failed && Number.isFinite(r.latencyUs?.p50));
    if (ok.length) cell.result = ok.reduce((best, r) => (r.latencyUs.p50 < best.latencyUs.p50 ? r : best));
  }
  return out;
}

/** The section's lines: p50/p99 per server, inline (and inline busy-polling) ÷ each other, and inline's JS hop. */
export function roundTripLines(rt, rounds, fmt) {
  const names = Object.keys(rt.cells);
  const get = (name, q) => rt.cells[name]?.result?.latencyUs?.[q] ?? null;
  // inline ÷ each other server, where inline ran (--servers without corews-inline: none);
  // inline busy-polling ÷ the peers (Bun, C echo).
  const others = names.includes('corews-inline') ? names.filter((x) => x !== 'corews-inline' && x !== 'corews-inline-busy') : [];
  const pairs = [...others.map((x) => ['corews-inline', 'inline', x]),
    ...(names.includes('corews-inline-busy') ? others.filter((x) => !x.startsWith('corews')).map((x) => ['corews-inline-busy', 'busy', x]) : [])];
  const header = ['metric', ...names, ...pairs.map(([, short, x]) => `${short}/${x}`)];
  const ratioOf = (a, b) => (a !== null && b ? `${(a / b).toFixed(2)}×${a <= b ? ' ✓' : ''}` : 'n/a');
  const rows = ['p50', 'p99'].map((q) => [`${q} µs ↓`, ...names.map((x) => fmt(get(x, q))),
    ...pairs.map(([a, , x]) => ratioOf(get(a, q), get(x, q)))]);
  // Server CPU per round trip (the C echo server's is not sampled): what busy-polling spends.
  const cpu = (x) => rt.cells[x]?.result?.server?.cpuUsPerUnit ?? null;
  if (names.includes('corews-inline-busy')) rows.push(['CPU µs/rt ↓', ...names.map((x) => (cpu(x) === null ? 'n/a' : fmt(cpu(x)))), ...pairs.map(() => '')]);
  const w = header.map((_, c) => Math.max(...[header, ...rows].map((r) => [...r[c]].length)));
  const line = (r) => r.map((x, c) => (c === 0 ? x.padEnd(w[c]) : x.padStart(w[c]))).join('  ').trimEnd();
  const out = [`Unloaded round trip: ${rt.label} (this run, best p50 of ${rounds} interleaved round(s); C echo: bench/c/echo_server.c):`, '',
    line(header), w.map((x) => '─'.repeat(x)).join('  '), ...rows.map(line)];
  for (const name of names) {
    const failed = rt.cells[name].runs.filter((r) => r.failed);
    if (failed.length) out.push(`note: ${name}: ${failed.length} of ${rt.cells[name].runs.length} runs failed: ${[...new Set(failed.map((r) => r.failed.split('\n')[0]))].join('; ')}`);
  }
  for (const name of ['corews', 'corews-inline']) {
    const hop = rt.cells[name]?.result?.server?.stats?.jsHopLatencyUs;
    if (hop?.count > 0) out.push(`${name} JS hop (frame complete → handler), this row: p50 ${fmt(hop.p50)} µs, p99 ${fmt(hop.p99)} µs`);
  }
  out.push('uWebSockets.js itself is not measured (not on the npm registry); Bun serves WebSockets with uWebSockets inside.');
  return out;
}
