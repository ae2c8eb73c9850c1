// The permessage-deflate rows of `npm run bench` (issue 11), kept apart from
// bench/run.mjs, which runs them with its own machinery (passed in as `ctx`):
//
//  - echo of 1 KiB and 16 KiB JSON-like text with deflate, corews against ws
//    and Bun each with `perMessageDeflate: true`: msg/s, server CPU per
//    message, and the compression ratio of what the server sent (payload ÷
//    socket bytes, frame headers included, counted by the load generator the
//    same way for every server);
//  - idle memory at 10,000 connections that agreed to deflate, and what that
//    costs more than the plain idle row of the same run;
//  - 1,000 connections each mid-way through a compressed conversation
//    (64 messages of 1 KiB each way, then idle): server bytes per
//    connection, per mode of context takeover (corews's `true` has the
//    default maxMemory, 128 MiB, which 1,100 such connections pass: the
//    modes themselves are measured with 1 GiB);
//  - 1,000 connections exchanging compressed messages with maxMemory 16 MiB,
//    uncapped, and without deflate: the server's peak RSS.
//
// The servers take the option from BENCH_DEFLATE (bench/servers/control.mjs).

const KiB = 1024;
const MiB = 1024 * KiB;
const ON = { BENCH_DEFLATE: '1' };
const corews = (options) => ({ BENCH_DEFLATE: JSON.stringify(options) });
// corews with no context takeover either way; Bun reads any BENCH_DEFLATE as `true`, which agrees to the same.
const NCT = corews({ serverNoContextTakeover: true, clientNoContextTakeover: true });

// A conversation: this many 1 KiB messages each way per connection before it
// holds still: 64 KiB of history, which fills every 32 KiB window.
const CONVERSATION = { messages: 64, size: 1024 };
const CONVERSING = 1000;
const FIRST = 100; // connections that pay the one-off costs before the measured ones
const ACTIVE = { connections: 1000, size: 1024, cap: 16 * MiB };

const echo = (size) => ({ connections: 100, depth: 1, size, text: true, payload: 'json', deflate: true });
const mib = (x) => (x === null || x === undefined ? null : x / MiB);

/** Scenarios in bench/run.mjs's shape, with `serverEnv`, `servers`, `clientArgs`, `run` and `once` on top. */
export function deflateScenarios({ rate, cpu }) {
  const wireRatio = ['wire ratio ×', (r) => r.deflate?.ratioIn ?? null, 'higher'];
  const perConn = ['RSS B/conn', (r) => r.bytesPerConnection, 'lower'];
  // RSS the process still holds once all of them closed (after a GC), ÷ 1,000.
  const kept = ['RSS B/conn kept after close', (r) => r.keptPerConnection ?? null, 'lower', { ratio: false }];
  const zlibPerConn = ['zlib counter B/conn', (r) => r.zlibPerConnection ?? null, 'lower', { ratio: false }];
  const conversation = (id, label, env, servers) => ({
    id: `deflate-conv-${id}`, label, mode: 'idle', once: true, deflate: true, run: runConversation, serverEnv: env, servers,
    args: { connections: CONVERSING, ...CONVERSATION, deflate: env !== null },
    rows: env === null ? [perConn, kept] : [perConn, ['RSS B/conn over no deflate', (r) => r.overPlain ?? null, 'lower', { ratio: false }], zlibPerConn, kept],
  });
  const active = (id, label, env) => ({
    id: `deflate-active-${id}`, label, mode: 'memory', once: true, deflate: true, run: runActive, serverEnv: env, servers: ['corews'],
    args: { connections: ACTIVE.connections, depth: 1, size: ACTIVE.size, text: true, payload: 'json', deflate: env !== null },
    rows: [
      ['peak RSS growth MiB', (r) => mib(r.rssGrowth), 'lower'],
      ['zlib counter peak MiB', (r) => mib(r.zlibMemoryMax), 'lower'],
      rate('msg'),
    ],
  });
  return [
    { id: 'deflate-echo-1k', label: 'deflate echo 1 KiB JSON, 100 conns', mode: 'echo', deflate: true, serverEnv: ON, args: echo(1024), rows: [rate('msg'), cpu('msg'), wireRatio] },
    { id: 'deflate-echo-16k', label: 'deflate echo 16 KiB JSON, 100 conns', mode: 'echo', deflate: true, serverEnv: ON, args: echo(16 * KiB), rows: [rate('msg'), cpu('msg'), wireRatio] },
    // What Bun's `true` agrees to (no context takeover either way, one shared
    // compressor), asked of corews too: the like-for-like comparison with Bun.
    { id: 'deflate-echo-1k-nct', label: '  … 1 KiB, no context takeover (Bun\'s true)', mode: 'echo', deflate: true, serverEnv: NCT, servers: ['corews', 'bun'], args: echo(1024), rows: [rate('msg'), cpu('msg'), wireRatio] },
    { id: 'deflate-echo-16k-nct', label: '  … 16 KiB, no context takeover (Bun\'s true)', mode: 'echo', deflate: true, serverEnv: NCT, servers: ['corews', 'bun'], args: echo(16 * KiB), rows: [rate('msg'), cpu('msg'), wireRatio] },
    {
      id: 'deflate-idle-10k', label: 'deflate idle, 10,000 conns', mode: 'idle', deflate: true, serverEnv: ON, clientArgs: { deflate: true },
      args: { connections: 10000 },
      rows: [perConn, ['RSS B/conn over plain idle', (r) => r.overPlain ?? null, 'lower', { ratio: false }]],
    },
    conversation('plain', `1,000 conns after ${CONVERSATION.messages} msgs, no deflate`, null),
    conversation('true', '1,000 mid-conversation, perMessageDeflate: true', ON),
    conversation('takeover', '  … context takeover both ways (maxMemory 1 GiB)', corews({ maxMemory: 1024 * MiB }), ['corews']),
    conversation('snct', '  … serverNoContextTakeover (maxMemory 1 GiB)', corews({ serverNoContextTakeover: true, maxMemory: 1024 * MiB }), ['corews']),
    conversation('nct', '  … no context takeover either way', corews({ serverNoContextTakeover: true, clientNoContextTakeover: true }), ['corews']),
    conversation('forced', '  … maxMemory 1 MiB (forced)', corews({ maxMemory: MiB }), ['corews']),
    active('plain', '1,000 conns echoing 1 KiB JSON, no deflate', null),
    active('cap', `  … deflate, maxMemory ${ACTIVE.cap / MiB} MiB`, corews({ maxMemory: ACTIVE.cap })),
    active('uncapped', '  … deflate, maxMemory 1 GiB', corews({ maxMemory: 1024 * MiB })),
  ];
}

/** The server to start for a scenario: its BENCH_DEFLATE on top of the server's env. */
export function serverFor(server, sc) {
  return sc.serverEnv ? { ...server, env: { ...server.env, ...sc.serverEnv } } : server;
}

const deflateStats = (s) => s?.corews?.perMessageDeflate ?? null;

/**
 * 1,000 connections mid-way through a conversation: FIRST connections
 * converse first (one-off costs: code, zlib's first streams, malloc arenas),
 * then 1,000 more; RSS after a GC before and after the 1,000, ÷ 1,000.
 */
async function runConversation(ctx, server, sc) {
  const { messages, size } = sc.args;
  const addon = ctx.noteAddon();
  const srv = await ctx.startServer(serverFor(server, sc));
  const clients = [];
  try {
    const url = `ws://${ctx.HOST}:${srv.port}/`;
    const flags = { size, text: true, payload: 'json', messages, deflate: sc.args.deflate, duration: 600, warmup: 0 };
    const hold = (n, source) => {
      const c = ctx.startClient(ctx.benchArgv('idle', url, { ...flags, connections: n, sources: source }), 700000);
      clients.push(c);
      return c;
    };
    const conversed = (n) => ctx.waitFor(`${n} conversations on ${server.name}`, async () => {
      const s = await srv.stats();
      return s.open >= n && s.messages >= n * messages;
    }, 180000);
    hold(FIRST, '127.0.0.2');
    const okA = await conversed(FIRST);
    await ctx.sleep(300);
    await srv.gc();
    const rss1 = ctx.rssBytes(srv.pid);
    const s1 = await srv.stats();
    hold(CONVERSING, '127.0.0.3');
    const okB = await conversed(FIRST + CONVERSING);
    await ctx.sleep(300);
    await srv.gc();
    await ctx.sleep(200);
    const rss2 = ctx.rssBytes(srv.pid);
    const s2 = await srv.stats();
    for (const c of clients) c.proc.kill('SIGINT');
    const reports = await Promise.all(clients.map((c) => c.report));
    // And once they have all gone: what the process keeps of them.
    await ctx.waitFor(`no connections on ${server.name}`, async () => (await srv.stats()).open === 0, 30000);
    await ctx.sleep(300);
    await srv.gc();
    await ctx.sleep(200);
    const rss3 = ctx.rssBytes(srv.pid);
    const z1 = deflateStats(s1);
    const z2 = deflateStats(s2);
    return {
      mode: 'conversation',
      addon,
      connections: CONVERSING,
      messagesEach: messages,
      complete: okA && okB,
      open: reports.reduce((a, r) => a + r.open, 0),
      errors: reports.reduce((a, r) => a + r.errors, 0),
      agreed: reports[1]?.deflate?.agreed ?? null,
      compressedIn: reports.reduce((a, r) => a + (r.deflate?.compressedIn ?? 0), 0),
      rssBytes: { [`at${FIRST}`]: rss1, [`at${FIRST + CONVERSING}`]: rss2, afterClose: rss3 },
      bytesPerConnection: (rss2 - rss1) / CONVERSING,
      keptPerConnection: (rss3 - rss1) / CONVERSING,
      // corews: zlib state held (streams and inflate chunk buffers), by its own count
      zlibPerConnection: z1 && z2 ? (z2.zlibMemory - z1.zlibMemory) / CONVERSING : null,
      deflateStats: z2,
    };
  } finally {
    for (const c of clients) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await srv.stop();
  }
}

/**
 * 1,000 connections exchanging messages for the window: the server's peak
 * RSS (sampled every 100 ms) over its RSS after a GC before the clients, and
 * corews's zlib counter at its peak.
 */
async function runActive(ctx, server, sc) {
  const addon = ctx.noteAddon();
  const srv = await ctx.startServer(serverFor(server, sc));
  try {
    const url = `ws://${ctx.HOST}:${srv.port}/`;
    await srv.gc();
    const rss0 = ctx.rssBytes(srv.pid);
    let peakRss = rss0;
    let zlibMemoryMax = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          peakRss = Math.max(peakRss, ctx.rssBytes(srv.pid));
          const z = deflateStats(await srv.stats());
          if (z) zlibMemoryMax = Math.max(zlibMemoryMax, z.zlibMemory);
        } catch {}
        await ctx.sleep(100);
      }
    })();
    const { report } = ctx.startClient(ctx.benchArgv('echo', url, { ...sc.args, duration: ctx.opts.duration + 1, warmup: ctx.opts.warmup }), 120000);
    let r;
    try {
      r = await report;
    } finally {
      sampling = false;
      await sampler;
    }
    if (srv.exited()) throw srv.exited();
    const s = await srv.stats();
    return {
      ...r,
      addon,
      rssBytes: { before: rss0, peak: peakRss },
      rssGrowth: peakRss - rss0,
      zlibMemoryMax: deflateStats(s) ? zlibMemoryMax : null,
      deflateStats: deflateStats(s),
    };
  } finally {
    await srv.stop();
  }
}

/** What can only be computed once everything ran: the deflate idle row against the plain one. */
export function deriveDeflate(results, servers) {
  for (const s of servers) {
    const over = (id, baseline) => {
      const r = results[id]?.[s.name]?.result;
      const b = results[baseline]?.[s.name]?.result;
      if (r && b) r.overPlain = r.bytesPerConnection - b.bytesPerConnection;
    };
    over('deflate-idle-10k', 'idle-10k');
    for (const id of Object.keys(results)) if (id.startsWith('deflate-conv-') && id !== 'deflate-conv-plain') over(id, 'deflate-conv-plain');
  }
}

/** Lines under the table: what the deflate rows are, and what each server agreed to. */
export function deflateLegend(results, scenarios, servers) {
  if (!scenarios.some((s) => s.deflate)) return [];
  const lines = [
    'deflate rows: the load generator offers "permessage-deflate; client_max_window_bits" and sends JSON-like text compressed;',
    '  wire ratio × = payload ÷ socket bytes (frame headers included) of what the server sent; ws and Bun run with perMessageDeflate: true',
    '  (Bun compresses a message only when its send asks, so its echo asks every time). "mid-conversation": each connection exchanged',
    `  ${CONVERSATION.messages} messages of ${CONVERSATION.size} B each way, then idle; RSS growth from ${FIRST} to ${FIRST + CONVERSING} such connections ÷ ${CONVERSING}, after a GC;`,
    `  "kept after close": the part of that growth still resident once all ${FIRST + CONVERSING} have closed (after a GC).`,
  ];
  const agreed = [];
  for (const s of servers) {
    const r = results['deflate-echo-1k']?.[s.name]?.result;
    if (r?.deflate) agreed.push(`${s.name} "${r.deflate.agreed}"${r.deflate.compressedIn < r.messages ? ` (${r.deflate.compressedIn} of ${r.messages} replies compressed)` : ''}`);
  }
  if (agreed.length) lines.push(`  agreed: ${agreed.join(', ')}`);
  return lines;
}

/** The issue's goals as budget lines: (name, status, detail). */
export function deflateBudgets(results, budget, fmtInt) {
  const idle = results['deflate-idle-10k']?.corews?.result;
  if (idle && idle.overPlain !== undefined) {
    budget('idle compressing connection ≤ 64 B more than plain (RSS)', idle.overPlain <= 64 ? 'met' : 'not met',
      `${fmtInt(idle.overPlain)} B more per connection (${fmtInt(idle.bytesPerConnection)} vs ${fmtInt(idle.bytesPerConnection - idle.overPlain)}; RSS growth 1,000→10,000, noisy by about ±50 B here; test/deflate-memory.test.ts measures malloc and the JS heap)`);
  }
  const cap = results['deflate-active-cap']?.corews?.result;
  const plain = results['deflate-active-plain']?.corews?.result;
  if (cap && plain) {
    const over = cap.rssGrowth - plain.rssGrowth;
    const forced = cap.deflateStats?.forcedNoContextTakeover ?? 0;
    budget(`maxMemory ${ACTIVE.cap / MiB} MiB holds under 1,000 compressing connections (RSS)`, over <= ACTIVE.cap ? 'met' : 'not met',
      `peak RSS growth ${(cap.rssGrowth / MiB).toFixed(1)} MiB vs ${(plain.rssGrowth / MiB).toFixed(1)} MiB without deflate (+${(over / MiB).toFixed(1)} MiB); zlib counter peak ${((cap.zlibMemoryMax ?? 0) / MiB).toFixed(1)} MiB; ${forced} of ${cap.deflateStats?.negotiated ?? '?'} connections forced to no context takeover`);
  }
}

/** The deflate scenarios' part of a run, for bench/results/deflate.json (the numbers behind README's deflate tables). */
export function deflateResults(results, scenarios, tableJson, meta) {
  const ids = scenarios.filter((s) => s.deflate).map((s) => s.id);
  if (ids.length === 0) return null;
  // The plain rows the deflate ones are read against.
  for (const id of ['idle-10k']) if (results[id]) ids.push(id);
  return {
    ...meta,
    scenarios: Object.fromEntries(ids.map((id) => [id, results[id]])),
    table: tableJson.filter((row) => ids.includes(row.scenario)),
  };
}
