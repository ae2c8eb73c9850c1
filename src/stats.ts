// server.stats() and server.metrics(): the workers' counters summed, named,
// and rendered in the Prometheus text exposition format.
import { REJECT_STATUSES, type DeflateStats, type NativeStats } from './native';
import type { AdapterStats } from './adapter';

export type { DeflateStats };

/** Counters of one direction, keyed by close code ("other" for codes outside 1000–1015). */
export type CloseCodeCounts = Record<string, number>;

/** What {@link Server.stats} returns. Counters run from `listen`; gauges are current. */
export interface ServerStats {
  connections: { open: number; total: number };
  /** Refusals are keyed by HTTP status ("other" for any not listed). */
  handshakes: { accepted: number; rejected: Record<string, number> };
  messages: { in: number; out: number };
  /** Payload bytes in; frame bytes out. */
  bytes: { in: number; out: number };
  closeCodes: { sent: CloseCodeCounts; received: CloseCodeCounts };
  backpressure: { events: number; drops: number; closes: number };
  /** Times a worker stopped reading because JS fell behind. */
  readPauses: number;
  /**
   * Times a connection's queue reached `maxBackpressure` and the server stopped reading from it
   * until the queue was down to half (whatever filled it: replies, publishes, pongs).
   */
  outputPauses: number;
  rateLimitCloses: number;
  idleCloses: number;
  pingsSent: number;
  workers: { connectionsOpen: number; loopIterations: number }[];
  /**
   * TLS servers only: handshakes completed (of them resumed, and by version), failed (bad input,
   * a truncated hello, a handshake timeout, a peer that left mid-handshake) and renegotiation
   * attempts refused (each closes its connection).
   */
  tls?: { handshakes: number; resumed: number; tls12: number; tls13: number; handshakeFailures: number; renegotiationsRefused: number };
  /** With the perMessageDeflate option only: what was negotiated and compressed, and zlib's memory. */
  perMessageDeflate?: DeflateStats;
  /** With a scale-out adapter ({@link Server.adapt}) only: its state and counters. */
  adapter?: AdapterStats;
  /** Frame complete on a worker → its batch dispatched on the JS thread, in µs. */
  jsHopLatencyUs: { count: number; p50: number; p99: number; max: number };
}

function codes(slots: number[]): CloseCodeCounts {
  const out: CloseCodeCounts = {};
  slots.forEach((n, i) => {
    if (n > 0) out[i < 16 ? String(1000 + i) : 'other'] = n;
  });
  return out;
}

function sumArrays(rows: number[][]): number[] {
  const out: number[] = [];
  for (const row of rows) row.forEach((n, i) => (out[i] = (out[i] ?? 0) + n));
  return out;
}

/**
 * Sums the workers' counters. `jsDrops` and `jsCloses` are what `send` decided at
 * maxBackpressure before the message reached a worker.
 */
export function summarize(native: NativeStats, jsDrops: number, jsCloses: number, adapter?: AdapterStats): ServerStats {
  const w = native.workers;
  const sum = (f: (x: (typeof w)[number]) => number): number => w.reduce((a, x) => a + f(x), 0);
  const rejected: Record<string, number> = {};
  sumArrays(w.map((x) => x.handshakesRejected)).forEach((n, i) => {
    if (n > 0) rejected[i < REJECT_STATUSES.length ? String(REJECT_STATUSES[i]) : 'other'] = n;
  });
  return {
    connections: { open: sum((x) => x.connectionsOpen), total: sum((x) => x.connectionsTotal) },
    handshakes: { accepted: sum((x) => x.handshakesAccepted), rejected },
    messages: { in: sum((x) => x.messagesIn), out: sum((x) => x.messagesOut) },
    bytes: { in: sum((x) => x.bytesIn), out: sum((x) => x.bytesOut) },
    closeCodes: { sent: codes(sumArrays(w.map((x) => x.closeSent))), received: codes(sumArrays(w.map((x) => x.closeReceived))) },
    backpressure: {
      events: sum((x) => x.backpressureEvents),
      drops: sum((x) => x.backpressureDrops) + jsDrops,
      closes: sum((x) => x.backpressureCloses) + jsCloses,
    },
    readPauses: sum((x) => x.readPauses),
    outputPauses: sum((x) => x.outputPauses),
    rateLimitCloses: sum((x) => x.rateLimitCloses),
    idleCloses: sum((x) => x.idleCloses),
    pingsSent: sum((x) => x.pingsSent),
    workers: w.map((x) => ({ connectionsOpen: x.connectionsOpen, loopIterations: x.loopIterations })),
    ...(native.tls !== undefined ? { tls: { ...native.tls } } : {}),
    ...(native.perMessageDeflate !== undefined ? { perMessageDeflate: { ...native.perMessageDeflate } } : {}),
    ...(adapter !== undefined ? { adapter: { ...adapter } } : {}),
    jsHopLatencyUs: { ...native.hopUs },
  };
}

/** The stats in the Prometheus text exposition format (version 0.0.4). */
export function prometheus(s: ServerStats): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge' | 'summary', help: string, samples: [string, number][]): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  const label = (pairs: Record<string, string>): string =>
    `{${Object.entries(pairs).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
  metric('corews_connections_open', 'gauge', 'Open WebSocket connections.', [['', s.connections.open]]);
  metric('corews_connections_total', 'counter', 'WebSocket connections opened.', [['', s.connections.total]]);
  metric('corews_handshakes_total', 'counter', 'Handshakes by result and HTTP status.', [
    [label({ result: 'accepted', status: '101' }), s.handshakes.accepted],
    ...Object.entries(s.handshakes.rejected).map(([status, n]): [string, number] => [label({ result: 'rejected', status }), n]),
  ]);
  metric('corews_messages_total', 'counter', 'Messages received and sent.', [
    [label({ direction: 'in' }), s.messages.in], [label({ direction: 'out' }), s.messages.out]]);
  metric('corews_bytes_total', 'counter', 'Payload bytes received and frame bytes sent.', [
    [label({ direction: 'in' }), s.bytes.in], [label({ direction: 'out' }), s.bytes.out]]);
  metric('corews_close_codes_total', 'counter', 'Close frames by direction and code.', [
    ...Object.entries(s.closeCodes.sent).map(([code, n]): [string, number] => [label({ direction: 'sent', code }), n]),
    ...Object.entries(s.closeCodes.received).map(([code, n]): [string, number] => [label({ direction: 'received', code }), n]),
  ]);
  metric('corews_backpressure_events_total', 'counter', 'Times a send queue passed 16 KiB.', [['', s.backpressure.events]]);
  metric('corews_backpressure_drops_total', 'counter', 'Messages dropped at maxBackpressure.', [['', s.backpressure.drops]]);
  metric('corews_backpressure_closes_total', 'counter', 'Connections closed at maxBackpressure.', [['', s.backpressure.closes]]);
  metric('corews_read_pauses_total', 'counter', 'Times a worker stopped reading because JS fell behind.', [['', s.readPauses]]);
  metric('corews_output_pauses_total', 'counter', 'Times a connection was read no more because its send queue reached maxBackpressure.', [['', s.outputPauses]]);
  metric('corews_rate_limit_closes_total', 'counter', 'Connections closed by maxMessagesPerSecond.', [['', s.rateLimitCloses]]);
  metric('corews_idle_closes_total', 'counter', 'Connections closed by idleTimeout.', [['', s.idleCloses]]);
  metric('corews_pings_sent_total', 'counter', 'Heartbeat pings sent.', [['', s.pingsSent]]);
  metric('corews_loop_iterations_total', 'counter', 'Event loop iterations per worker.',
    s.workers.map((w, i): [string, number] => [label({ worker: String(i) }), w.loopIterations]));
  metric('corews_js_hop_latency_microseconds', 'summary', 'Frame complete on a worker to dispatch on the JS thread.', [
    [label({ quantile: '0.5' }), s.jsHopLatencyUs.p50], [label({ quantile: '0.99' }), s.jsHopLatencyUs.p99],
    [label({ quantile: '1' }), s.jsHopLatencyUs.max], ['_count', s.jsHopLatencyUs.count]]);
  const a = s.adapter;
  if (a !== undefined) {
    const states = ['connecting', 'ready', 'reconnecting', 'closed'] as const;
    metric('corews_adapter_state', 'gauge', 'The scale-out adapter\'s state (1 for the current one).',
      states.map((st): [string, number] => [label({ state: st }), a.state === st ? 1 : 0]));
    metric('corews_adapter_published_total', 'counter', 'Local publishes sent to the broker.', [['', a.published]]);
    metric('corews_adapter_received_total', 'counter', 'Messages from other processes delivered here.', [['', a.received]]);
    metric('corews_adapter_buffered', 'gauge', 'Local publishes waiting for the broker.', [['', a.buffered]]);
    metric('corews_adapter_dropped_total', 'counter', 'Local publishes the adapter gave up.', [['', a.dropped]]);
    if (a.lost !== undefined) {
      metric('corews_adapter_lost_total', 'counter', 'Messages other processes published that never arrived here.', [['', a.lost]]);
    }
    metric('corews_adapter_lag_milliseconds', 'gauge', 'Publish to delivery here of the last message received.', [['', a.lagMs]]);
    metric('corews_adapter_reconnects_total', 'counter', 'Times the broker was reached again after it was lost.', [['', a.reconnects]]);
  }
  return `${lines.join('\n')}\n`;
}
