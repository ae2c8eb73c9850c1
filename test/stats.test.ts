// server.stats() and server.metrics() after scripted sessions with real
// sockets: every count is exact, and metrics() is well-formed Prometheus text
// whose values are those of stats().
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerStats } from '../src/index';
import { closeAllClients, closeAllServers, connect, expectRefused, httpGet, serve, type TestClient } from './helpers/clients';
import { echoOptions, waitFor } from './helpers/server';

afterEach(async () => {
  await closeAllClients();
  await closeAllServers();
});

/** Bytes of a server-to-client frame (unmasked) with a payload of `n` bytes. */
const frameBytes = (n: number): number => n + (n < 126 ? 2 : n < 65536 ? 4 : 10);

// ---------------------------------------------------------------- Prometheus text

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  help: string;
  type: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"$/;

/** Parses the Prometheus text exposition format (0.0.4) strictly; throws on any malformed line. */
function parsePrometheus(text: string): Map<string, Family> {
  expect(text.endsWith('\n')).toBe(true);
  const families = new Map<string, Family>();
  const lines = text.slice(0, -1).split('\n');
  let current: string | undefined;
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line.startsWith('# HELP ')) {
      const m = new RegExp(`^# HELP (${NAME}) (.+)$`).exec(line);
      if (!m) throw new Error(`malformed HELP, ${where}`);
      if (families.has(m[1])) throw new Error(`metric ${m[1]} described twice, ${where}`);
      families.set(m[1], { help: m[2], type: '', samples: [] });
      current = m[1];
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|summary|histogram|untyped)$`).exec(line);
      if (!m) throw new Error(`malformed TYPE, ${where}`);
      const f = families.get(m[1]);
      if (!f || m[1] !== current) throw new Error(`TYPE without HELP just before it, ${where}`);
      if (f.type !== '' || f.samples.length > 0) throw new Error(`TYPE after samples or twice, ${where}`);
      f.type = m[2];
      continue;
    }
    if (line.startsWith('#') || line === '') throw new Error(`unexpected line, ${where}`);
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`malformed sample, ${where}`);
    const [, name, labelText, valueText] = m;
    const value = Number(valueText);
    if (!/^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(valueText) || Number.isNaN(value)) throw new Error(`bad value, ${where}`);
    const labels: Record<string, string> = {};
    if (labelText !== undefined && labelText !== '') {
      for (const pair of labelText.split(',')) {
        const l = LABEL.exec(pair);
        if (!l) throw new Error(`malformed label ${JSON.stringify(pair)}, ${where}`);
        if (l[1] in labels) throw new Error(`label ${l[1]} twice, ${where}`);
        labels[l[1]] = l[2];
      }
    }
    // A sample belongs to the family described last: its name, or a summary's _sum/_count.
    const f = current === undefined ? undefined : families.get(current);
    const belongs = f !== undefined && (name === current || (f.type === 'summary' && (name === `${current}_sum` || name === `${current}_count`)));
    if (!belongs || f.type === '') throw new Error(`sample outside its metric's HELP and TYPE, ${where}`);
    f.samples.push({ name, labels, value });
  }
  return families;
}

/** The value of the one sample of `family` named `name` (default: the family) with exactly these labels. */
function value(families: Map<string, Family>, family: string, labels: Record<string, string> = {}, name = family): number | undefined {
  const f = families.get(family);
  const matches = f?.samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort())) ?? [];
  if (matches.length > 1) throw new Error(`${family} has ${matches.length} samples with labels ${JSON.stringify(labels)}`);
  return matches[0]?.value;
}

/** Every sample of metrics() against stats() taken at the same moment (loop iterations may only have grown). */
function expectMetricsMatch(text: string, s: ServerStats): void {
  const m = parsePrometheus(text);
  for (const [name, f] of m) {
    expect(name.startsWith('corews_'), name).toBe(true);
    expect(f.help.length, `${name} HELP`).toBeGreaterThan(0);
  }
  const expectValue = (family: string, labels: Record<string, string>, v: number, name = family): void => {
    expect(value(m, family, labels, name), `${name}${JSON.stringify(labels)}`).toBe(v);
  };
  expect(m.get('corews_connections_open')?.type).toBe('gauge');
  expectValue('corews_connections_open', {}, s.connections.open);
  expect(m.get('corews_connections_total')?.type).toBe('counter');
  expectValue('corews_connections_total', {}, s.connections.total);
  expectValue('corews_handshakes_total', { result: 'accepted', status: '101' }, s.handshakes.accepted);
  for (const [status, n] of Object.entries(s.handshakes.rejected)) expectValue('corews_handshakes_total', { result: 'rejected', status }, n);
  expect(m.get('corews_handshakes_total')?.samples).toHaveLength(1 + Object.keys(s.handshakes.rejected).length);
  expectValue('corews_messages_total', { direction: 'in' }, s.messages.in);
  expectValue('corews_messages_total', { direction: 'out' }, s.messages.out);
  expectValue('corews_bytes_total', { direction: 'in' }, s.bytes.in);
  expectValue('corews_bytes_total', { direction: 'out' }, s.bytes.out);
  for (const [code, n] of Object.entries(s.closeCodes.sent)) expectValue('corews_close_codes_total', { direction: 'sent', code }, n);
  for (const [code, n] of Object.entries(s.closeCodes.received)) expectValue('corews_close_codes_total', { direction: 'received', code }, n);
  expect(m.get('corews_close_codes_total')?.samples).toHaveLength(Object.keys(s.closeCodes.sent).length + Object.keys(s.closeCodes.received).length);
  expectValue('corews_backpressure_events_total', {}, s.backpressure.events);
  expectValue('corews_backpressure_drops_total', {}, s.backpressure.drops);
  expectValue('corews_backpressure_closes_total', {}, s.backpressure.closes);
  expectValue('corews_read_pauses_total', {}, s.readPauses);
  expectValue('corews_output_pauses_total', {}, s.outputPauses);
  expectValue('corews_rate_limit_closes_total', {}, s.rateLimitCloses);
  expectValue('corews_idle_closes_total', {}, s.idleCloses);
  expectValue('corews_pings_sent_total', {}, s.pingsSent);
  s.workers.forEach((w, i) => {
    expect(value(m, 'corews_loop_iterations_total', { worker: String(i) })).toBeGreaterThanOrEqual(w.loopIterations);
  });
  expect(m.get('corews_loop_iterations_total')?.samples).toHaveLength(s.workers.length);
  const hop = 'corews_js_hop_latency_microseconds';
  expect(m.get(hop)?.type).toBe('summary');
  expectValue(hop, { quantile: '0.5' }, s.jsHopLatencyUs.p50);
  expectValue(hop, { quantile: '0.99' }, s.jsHopLatencyUs.p99);
  expectValue(hop, {}, s.jsHopLatencyUs.count, `${hop}_count`);
  // Every counter and gauge the spec lists is there.
  for (const name of [
    'corews_connections_open', 'corews_connections_total', 'corews_handshakes_total', 'corews_messages_total', 'corews_bytes_total',
    'corews_close_codes_total', 'corews_backpressure_events_total', 'corews_backpressure_drops_total', 'corews_backpressure_closes_total',
    'corews_read_pauses_total', 'corews_rate_limit_closes_total', 'corews_idle_closes_total', 'corews_pings_sent_total',
    'corews_loop_iterations_total', hop,
  ]) {
    expect(m.has(name), name).toBe(true);
  }
}

// ---------------------------------------------------------------- the tests

describe('stats() and metrics()', () => {
  it('are exact after a scripted session', async () => {
    const { server, url, port } = await serve({ ...echoOptions(), threads: 1, path: '/ws' });
    const empty = server.stats();
    expect(empty).toMatchObject({
      connections: { open: 0, total: 0 },
      handshakes: { accepted: 0, rejected: {} },
      messages: { in: 0, out: 0 },
      bytes: { in: 0, out: 0 },
      closeCodes: { sent: {}, received: {} },
      backpressure: { events: 0, drops: 0, closes: 0 },
      readPauses: 0,
      outputPauses: 0,
      rateLimitCloses: 0,
      idleCloses: 0,
      pingsSent: 0,
      jsHopLatencyUs: { count: 0 },
    });

    // Handshakes: three accepted, one 404 (path), one 426 (plain GET).
    const [a, b, c]: TestClient[] = await Promise.all([connect('ws', `${url}/ws`), connect('ws', `${url}/ws?x=1`), connect('undici', `${url}/ws`)]);
    expect((await expectRefused(`${url}/elsewhere`)).status).toBe(404);
    expect((await httpGet(port, '/ws')).status).toBe(426);

    // Messages: text (with multi-byte UTF-8) and binary, of several sizes and length encodings.
    const texts = ['hello', 'ünïcödé ✓', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(70_000)];
    const binaries = [Buffer.alloc(0), Buffer.alloc(1, 1), Buffer.alloc(65_535, 2), Buffer.alloc(65_536, 3)];
    for (const t of texts) {
      a.send(t);
      expect((await a.next()).data).toBe(t);
    }
    for (const bin of binaries) {
      b.send(bin);
      expect(Buffer.compare((await b.next()).data as Buffer, bin)).toBe(0);
    }
    const payloads = [...texts.map((t) => Buffer.byteLength(t)), ...binaries.map((x) => x.length)];
    const n = payloads.length;
    const bytesIn = payloads.reduce((x, y) => x + y, 0);
    const bytesOut = payloads.reduce((x, y) => x + frameBytes(y), 0);

    let s = server.stats();
    expect(s.messages).toEqual({ in: n, out: n });
    expect(s.bytes).toEqual({ in: bytesIn, out: bytesOut });
    expect(s.jsHopLatencyUs.count).toBe(n);
    expect(s.connections).toEqual({ open: 3, total: 3 });

    // Closes: a with 4001 (outside 1000–1015: "other"), b with 1000; the server echoes each.
    a.close(4001, 'bye');
    b.close(1000);
    await Promise.all([a.closed, b.closed]);
    await waitFor(() => server.connections === 1, 5000, 'two closes');
    expect(c.isClosed).toBe(false);

    s = server.stats();
    expect(s.connections).toEqual({ open: 1, total: 3 });
    expect(s.handshakes).toEqual({ accepted: 3, rejected: { 404: 1, 426: 1 } });
    expect(s.messages).toEqual({ in: n, out: n });
    expect(s.bytes).toEqual({ in: bytesIn, out: bytesOut });
    expect(s.closeCodes).toEqual({ sent: { 1000: 1, other: 1 }, received: { 1000: 1, other: 1 } });
    expect(s.backpressure).toEqual({ events: 0, drops: 0, closes: 0 });
    expect(s.readPauses).toBe(0);
    expect(s.outputPauses).toBe(0);
    expect(s.rateLimitCloses).toBe(0);
    expect(s.idleCloses).toBe(0);
    expect(s.pingsSent).toBe(0);
    expect(s.workers).toHaveLength(1);
    expect(s.workers[0].connectionsOpen).toBe(1);
    expect(s.workers[0].loopIterations).toBeGreaterThan(0);
    const hop = s.jsHopLatencyUs;
    expect(hop.count).toBe(s.messages.in);
    expect(hop.p50).toBeGreaterThan(0);
    expect(hop.p50).toBeLessThanOrEqual(hop.p99);
    expect(hop.p99).toBeLessThanOrEqual(hop.max);
    expect(Object.keys(s).sort()).toEqual(
      ['backpressure', 'bytes', 'closeCodes', 'connections', 'handshakes', 'idleCloses', 'jsHopLatencyUs', 'messages', 'pingsSent',
        'outputPauses', 'rateLimitCloses', 'readPauses', 'workers'].sort(),
    );

    expectMetricsMatch(server.metrics(), server.stats());
  });

  it('the server closing: close codes sent by the server, and the peer answering', async () => {
    let closer: ((code: number, reason: string) => void) | undefined;
    const { server, url } = await serve({
      ...echoOptions(),
      open(ws) {
        closer = (code, reason) => void ws.close(code, reason);
      },
    });
    const c = await connect('ws', url);
    await waitFor(() => closer !== undefined, 5000, 'the open handler');
    closer!(1011, 'oops');
    expect(await c.closed).toEqual({ code: 1011, reason: 'oops' });
    await waitFor(() => server.connections === 0, 5000, 'the close');
    const s = server.stats();
    expect(s.closeCodes).toEqual({ sent: { 1011: 1 }, received: { 1011: 1 } });
    expect(s.connections).toEqual({ open: 0, total: 1 });
    expectMetricsMatch(server.metrics(), server.stats());
  });

  it('handshakes the upgrade hook refuses are counted as rejected, by status', async () => {
    const { server, url } = await serve({
      ...echoOptions(),
      upgrade: (req) => (req.url === '/private' ? { accept: false } : { accept: true }),
    });
    expect((await expectRefused(`${url}/private`)).status).toBe(403);
    const c = await connect('ws', `${url}/public`);
    c.send('x');
    await c.next();
    expect(server.stats().handshakes).toEqual({ accepted: 1, rejected: { 403: 1 } });
  });

  it('with two workers: one entry per worker, gauges that add up, loop iterations on each', async () => {
    const { server, url } = await serve({ ...echoOptions(), threads: 2 });
    const clients: TestClient[] = [];
    // Connections are spread over the workers: connect until both have some.
    while (clients.length < 64 && (clients.length < 4 || server.stats().workers.some((w) => w.connectionsOpen === 0))) {
      clients.push(await connect('ws', url));
      await waitFor(() => server.stats().connections.open === clients.length, 5000, 'the connection in the stats');
    }
    const s = server.stats();
    expect(s.workers).toHaveLength(2);
    for (const w of s.workers) {
      expect(w.connectionsOpen).toBeGreaterThan(0);
      expect(w.loopIterations).toBeGreaterThan(0);
    }
    expect(s.workers[0].connectionsOpen + s.workers[1].connectionsOpen).toBe(clients.length);
    expect(s.connections).toEqual({ open: clients.length, total: clients.length });
    for (const [i, c] of clients.entries()) c.send(`m${i}`);
    for (const [i, c] of clients.entries()) expect((await c.next()).data).toBe(`m${i}`);
    const after = server.stats();
    expect(after.messages).toEqual({ in: clients.length, out: clients.length });
    expect(after.jsHopLatencyUs.count).toBe(clients.length);
    expectMetricsMatch(server.metrics(), server.stats());
  });
});
