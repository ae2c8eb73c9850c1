// The bridged mode's rows of `npm run bench` (issue 13): corews on a Node
// https.Server (bench/servers/corews.mjs with CRWS_ATTACH=1 and a certificate:
// Node's TLS socket piped over a socketpair to the worker) against corews's
// own `tls` listener and ws on https.createServer, the same wss:// load on
// each, rounds interleaved so the ratios come from the same minute; the best
// run of each is kept. bench/run.mjs runs them with its own machinery
// (runLoad, log, fmtValue passed in as `ctx`).

const rate = ['msg/s', (r) => r.msgsPerSec, 'higher'];
const cpu = ['CPU µs/msg', (r) => r.server.cpuUsPerUnit, 'lower'];

export const BRIDGE_SCENARIOS = [
  { id: 'bridge-echo-32-d1', label: 'wss echo 32 B, 100 conns, depth 1', mode: 'echo', tls: 'ecdsa', args: { connections: 100, depth: 1, size: 32, binary: true }, rows: [rate, cpu] },
  { id: 'bridge-echo-32-d16', label: 'wss echo 32 B, 100 conns, depth 16', mode: 'echo', tls: 'ecdsa', args: { connections: 100, depth: 16, size: 32, binary: true }, rows: [rate, cpu] },
  { id: 'bridge-echo-64k-d1', label: 'wss echo 64 KiB, 100 conns, depth 1', mode: 'echo', tls: 'ecdsa', args: { connections: 100, depth: 1, size: 65536, binary: true }, rows: [rate, cpu] },
];

/** The three servers: corews's own `tls` listener, corews bridged on https.Server, ws on https.Server. */
function variants(servers) {
  const own = servers.find((s) => s.name === 'corews');
  const ws = servers.find((s) => s.name === 'ws');
  return [
    { key: 'own', name: 'corews tls', server: own },
    { key: 'bridged', name: 'corews bridged', server: { ...own, name: 'corews bridged', env: { ...own.env, CRWS_ATTACH: '1' } } },
    ...(ws ? [{ key: 'ws', name: 'ws https', server: ws }] : []),
  ];
}

export async function runBridgeComparison(scenarios, servers, rounds, ctx) {
  const vs = variants(servers);
  const out = [];
  for (const sc of scenarios) {
    const cmp = { id: sc.id, label: sc.label, args: sc.args };
    for (const v of vs) cmp[v.key] = { name: v.name, runs: [] };
    const n = rounds * vs.length;
    let k = 0;
    for (let round = 0; round < rounds; round++) {
      for (const v of vs) {
        k++;
        try {
          const r = await ctx.runLoad(v.server, sc);
          cmp[v.key].runs.push(r);
          ctx.log(`[bridge ${k}/${n}] ${sc.label} · ${v.name}: ${ctx.fmtValue('msg/s', r.msgsPerSec)} msg/s${r.errors ? `, ${r.errors} errors` : ''}`);
        } catch (err) {
          cmp[v.key].runs.push({ failed: String(err.message ?? err), stderr: err.stderr });
          ctx.log(`[bridge ${k}/${n}] ${sc.label} · ${v.name}: FAILED ${String(err.message ?? err).split('\n')[0]}`);
        }
      }
    }
    for (const v of vs) {
      const ok = cmp[v.key].runs.filter((r) => !r.failed && Number.isFinite(r.msgsPerSec));
      if (ok.length) cmp[v.key].result = ok.reduce((best, r) => (r.msgsPerSec > best.msgsPerSec ? r : best));
    }
    out.push(cmp);
  }
  return { rounds, scenarios: out, rows: scenarios.map((sc) => sc.rows) };
}

/** The printed section: each variant's numbers, bridged ÷ own listener and bridged ÷ ws. */
export function bridgeLines(cmp, ctx) {
  const hasWs = cmp.scenarios.some((s) => s.ws);
  const rows = [['scenario', 'metric', 'corews tls', 'corews bridged', ...(hasWs ? ['ws https'] : []), 'bridged/tls', ...(hasWs ? ['bridged/ws'] : [])]];
  const value = (cell, get) => {
    const x = cell?.result ? get(cell.result) : null;
    return typeof x === 'number' && Number.isFinite(x) ? x : null;
  };
  const errs = (cell) => (cell && ((cell.result?.errors ?? 0) + cell.runs.filter((r) => r.failed).length) ? ' !' : '');
  const ratio = (a, b) => (a !== null && b ? `${(a / b).toFixed(2)}×` : 'n/a');
  cmp.scenarios.forEach((s, si) => {
    cmp.rows[si].forEach(([metric, get, better], i) => {
      const own = value(s.own, get);
      const bridged = value(s.bridged, get);
      const ws = value(s.ws, get);
      rows.push([i === 0 ? s.label : '', `${metric} ${better === 'higher' ? '↑' : '↓'}`,
        `${ctx.fmtValue(metric, own)}${errs(s.own)}`, `${ctx.fmtValue(metric, bridged)}${errs(s.bridged)}`,
        ...(hasWs ? [`${ctx.fmtValue(metric, ws)}${errs(s.ws)}`] : []), ratio(bridged, own), ...(hasWs ? [ratio(bridged, ws)] : [])]);
    });
  });
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => [...r[c]].length)));
  const line = (r) => r.map((x, c) => (c < 2 ? x.padEnd(w[c]) : x.padStart(w[c]))).join('  ').trimEnd();
  const out = [`corews bridged on a Node https.Server vs corews's own tls listener and ws on https.createServer (this run, best of ${cmp.rounds} interleaved round(s), 1 worker thread):`, '',
    line(rows[0]), w.map((x) => '─'.repeat(x)).join('  '), ...rows.slice(1).map(line)];
  for (const s of cmp.scenarios) {
    for (const key of ['own', 'bridged', 'ws']) {
      const failed = s[key]?.runs.filter((r) => r.failed) ?? [];
      if (failed.length) out.push(`note: ${s.label} · ${s[key].name}: ${failed.length} of ${s[key].runs.length} runs failed: ${[...new Set(failed.map((r) => r.failed.split('\n')[0]))].join('; ')}`);
    }
  }
  out.push('bridged: the https.Server does TLS in Node, then pipes the bytes over a socketpair to the worker, which frames, validates and fans out; ↑ ratios over 1 mean bridged is faster, ↓ ratios under 1 mean it costs less CPU.');
  return out;
}
