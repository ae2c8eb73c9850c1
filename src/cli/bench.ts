// `corews bench <mode> <url> [options]`: drives a WebSocket server with the
// native load generator and reports throughput and latency.
import dns from 'node:dns/promises';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { binding } from '../loader';
import type { BenchMode, BenchPayload, LoadGeneratorConfig, LoadResult } from '../native';

export const BENCH_USAGE = `usage: corews bench <mode> <url> [options]

url: ws://host[:port]/path, or wss://… for TLS (checks the server's
     certificate against Node's root CAs unless --ca or --insecure says otherwise)

modes:
  echo      N connections, D messages in flight each, echoed back
  latency   N connections, one message in flight each; latency percentiles
  connect   open, handshake, drop, repeat: handshakes per second (wss://: each a
            full TLS handshake too, counted as TLS handshakes per second)
  idle      open N connections and hold them for the duration
  fanout    N receivers (?role=subscriber) and one publisher (?role=publisher);
            deliveries per second

options:
  --connections N   connections (default 100; fanout: receivers)
  --depth D         messages in flight per connection (default 1; fanout: publisher's lead)
  --size S          payload bytes (default 32)
  --binary | --text frame type (default binary)
  --duration SEC    measuring window (default 5)
  --warmup SEC      traffic before the window opens (default 1)
  --threads T       load generator threads (default 1)
  --sources A,B     local addresses to spread connections over (default: the
                    kernel's choice; 127.0.0.x spread automatically past 16,000)
  --payload P       pattern (default: a fixed byte pattern) or json (JSON-like
                    text, distinct messages in turn)
  --deflate         offer permessage-deflate; where agreed, send compressed and
                    inflate the server's messages; reports the bytes on the wire
  --messages K      idle: each connection first exchanges K echoed messages
  --ca FILE         wss://: trust the CA certificate(s) in FILE (PEM) instead of
                    Node's root CAs
  -k, --insecure    wss://: accept any certificate (no check of the chain or the
                    name; for tests)
  --json            print one JSON line instead of a table
`;

/** What `corews bench --json` prints. */
export interface BenchReport {
  mode: BenchMode;
  connections: number;
  messages: number;
  seconds: number;
  msgsPerSec: number;
  mbPerSec: number;
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number };
  errors: number;
  open: number;
  handshakes: number;
  /**
   * With --deflate only. Bytes in the window (idle mode: all of them): `payload` is what messages
   * carried, `wire` the socket bytes with frame headers; ratio = payload ÷ wire (0 when nothing moved).
   */
  deflate?: {
    negotiated: number;
    agreed: string;
    compressedIn: number;
    bytesIn: { payload: number; wire: number };
    bytesOut: { payload: number; wire: number };
    ratioIn: number;
    ratioOut: number;
  };
  /** wss:// runs only. */
  tls?: BenchTlsReport;
}

/** What a wss:// run reports of TLS. */
export interface BenchTlsReport {
  /** TLS handshakes completed (connect: in the window; other modes: while opening the connections). */
  handshakes: number;
  /** connect: TLS handshakes per second of the window; null in the other modes. */
  handshakesPerSec: number | null;
  /** What the first handshake negotiated: 'TLSv1.3', the cipher suite, the ALPN protocol ('' for none). */
  protocol: string;
  cipher: string;
  alpn: string;
  /** Whether the server's certificate was checked (false with --insecure). */
  verified: boolean;
}

/** A run's report, and why connections failed. */
export interface BenchOutcome {
  report: BenchReport;
  /** Why the first failed connection failed ('' if none did). */
  firstError: string;
  /** Stopped early because no connection can succeed (a rejected certificate). */
  aborted: boolean;
}

/** Parsed arguments: the generator's settings, with a URL where it has an address. */
export type BenchArgs = Omit<LoadGeneratorConfig, 'address' | 'port' | 'host' | 'path' | 'tls'> & {
  url: string;
  json: boolean;
  /** wss://: accept any certificate. */
  insecure: boolean;
  /** wss://: the file of trusted CA certificates, or null for Node's root CAs. */
  ca: string | null;
};

const MODES: readonly BenchMode[] = ['echo', 'latency', 'connect', 'idle', 'fanout'];
const PAYLOADS: readonly BenchPayload[] = ['pattern', 'json'];

function numberArg(name: string, raw: string | undefined, min: number, max: number, integer: boolean): number {
  if (raw === undefined) throw new TypeError(`--${name} needs a value`);
  const n = Number(raw);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new TypeError(`--${name} must be ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`);
  if (n < min || n > max) throw new RangeError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Parses `bench` arguments (after the word `bench`). @throws TypeError/RangeError naming the argument. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const positional: string[] = [];
  const a: BenchArgs = {
    mode: 'echo', url: '', connections: 100, depth: 1, size: 32, binary: true, duration: 5, warmup: 1, threads: 1, sources: [], json: false,
    insecure: false, ca: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
      case '--connections': a.connections = numberArg('connections', argv[++i], 1, 1_000_000, true); break;
      case '--depth': a.depth = numberArg('depth', argv[++i], 1, 100_000, true); break;
      case '--size': a.size = numberArg('size', argv[++i], 0, 64 * 1024 * 1024, true); break;
      case '--duration': a.duration = numberArg('duration', argv[++i], 0.1, 3600, false); break;
      case '--warmup': a.warmup = numberArg('warmup', argv[++i], 0, 600, false); break;
      case '--threads': a.threads = numberArg('threads', argv[++i], 1, 256, true); break;
      case '--binary': a.binary = true; break;
      case '--text': a.binary = false; break;
      case '--json': a.json = true; break;
      case '--deflate': a.deflate = true; break;
      case '--messages': a.messages = numberArg('messages', argv[++i], 1, 1_000_000, true); break;
      case '--payload': {
        const p = argv[++i];
        if (p === undefined) throw new TypeError('--payload needs a value');
        if (!PAYLOADS.includes(p as BenchPayload)) throw new TypeError(`--payload must be one of ${PAYLOADS.join(', ')}, got ${JSON.stringify(p)}`);
        a.payload = p as BenchPayload;
        break;
      }
      case '-k':
      case '--insecure': a.insecure = true; break;
      case '--ca': {
        const file = argv[++i];
        if (file === undefined || file === '' || file.startsWith('-')) throw new TypeError('--ca needs a file of PEM CA certificates');
        a.ca = file;
        break;
      }
      case '--sources': {
        const list = argv[++i];
        if (list === undefined) throw new TypeError('--sources needs a value');
        a.sources = list.split(',').map((s) => s.trim()).filter(Boolean);
        for (const s of a.sources) if (!net.isIP(s)) throw new TypeError(`--sources: ${JSON.stringify(s)} is not an IP address`);
        break;
      }
      default:
        if (arg.startsWith('-')) throw new TypeError(`unknown option ${arg}`);
        positional.push(arg);
    }
  }
  if (positional.length !== 2) throw new TypeError('expected <mode> and <url>');
  const mode = positional[0] as BenchMode;
  if (!MODES.includes(mode)) throw new TypeError(`unknown mode ${JSON.stringify(positional[0])}: one of ${MODES.join(', ')}`);
  a.mode = mode;
  a.url = positional[1];
  if (a.messages !== undefined && mode !== 'idle') throw new TypeError('--messages applies to the idle mode only');
  if (a.ca !== null && a.insecure) throw new TypeError('--ca and --insecure contradict each other: --ca checks the certificate against the CAs in a file, --insecure checks nothing');
  return a;
}

/** The trusted issuers for wss://: the --ca file, or Node's root CAs (and NODE_EXTRA_CA_CERTS, as Node's own clients). */
function trustedCas(a: BenchArgs): string {
  if (a.ca !== null) {
    let pem: string;
    try {
      pem = fs.readFileSync(a.ca, 'utf8');
    } catch (err) {
      throw new TypeError(`--ca: cannot read ${JSON.stringify(a.ca)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new TypeError(`--ca: ${JSON.stringify(a.ca)} holds no PEM certificate`);
    return pem;
  }
  let pem = tls.rootCertificates.join('\n');
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  if (extra) {
    try {
      pem += `\n${fs.readFileSync(extra, 'utf8')}`;
    } catch {
      // Node only warns about an unreadable NODE_EXTRA_CA_CERTS; so does the root store here: not at all.
    }
  }
  return pem;
}

/** Loopback addresses to spread many connections over, one per 16,000. */
function autoSources(address: string, connections: number): string[] {
  if (connections <= 16_000 || !address.startsWith('127.')) return [];
  const n = Math.ceil(connections / 16_000);
  return Array.from({ length: n }, (_, i) => `127.0.0.${i + 1}`);
}

/** Resolves the URL and builds the generator's configuration. */
export async function benchConfig(a: BenchArgs): Promise<LoadGeneratorConfig> {
  let url: URL;
  try {
    url = new URL(a.url);
  } catch {
    throw new TypeError(`invalid url ${JSON.stringify(a.url)}`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new TypeError(`only ws:// and wss:// URLs are supported, got ${url.protocol}//`);
  const secure = url.protocol === 'wss:';
  if (!secure && a.insecure) throw new TypeError('--insecure applies to wss:// URLs only');
  if (!secure && a.ca !== null) throw new TypeError('--ca applies to wss:// URLs only');
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  const tlsConfig = secure ? { host: hostname, verify: !a.insecure, ca: a.insecure ? '' : trustedCas(a) } : undefined;
  const address = net.isIP(hostname) ? hostname : (await dns.lookup(hostname)).address;
  return {
    mode: a.mode,
    address,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    host: url.host,
    path: `${url.pathname}${url.search}`,
    connections: a.connections,
    depth: a.depth,
    size: a.size,
    binary: a.binary,
    duration: a.duration,
    warmup: a.warmup,
    threads: a.threads,
    sources: a.sources.length > 0 ? a.sources : autoSources(address, a.connections),
    payload: a.payload ?? 'pattern',
    deflate: a.deflate === true,
    messages: a.messages ?? 0,
    ...(tlsConfig ? { tls: tlsConfig } : {}),
  };
}

export function toReport(a: BenchArgs, r: LoadResult, secure = false): BenchReport {
  const messages = a.mode === 'connect' ? r.handshakes : r.messages;
  const seconds = r.seconds;
  const round = (x: number): number => Math.round(x * 10) / 10;
  const report: BenchReport = {
    mode: a.mode,
    connections: a.connections,
    messages,
    seconds: Math.round(seconds * 1000) / 1000,
    msgsPerSec: seconds > 0 ? Math.round(messages / seconds) : 0,
    mbPerSec: seconds > 0 ? round(r.bytes / seconds / 1e6) : 0,
    latencyUs: { p50: round(r.latencyUs.p50), p90: round(r.latencyUs.p90), p99: round(r.latencyUs.p99), p999: round(r.latencyUs.p999), max: round(r.latencyUs.max) },
    errors: r.errors,
    open: r.open,
    handshakes: r.handshakes,
    ...(r.deflate !== undefined ? { deflate: deflateReport(r) } : {}),
  };
  if (secure) {
    report.tls = {
      handshakes: r.tlsHandshakes,
      handshakesPerSec: a.mode !== 'connect' ? null : seconds > 0 ? Math.round(r.tlsHandshakes / seconds) : 0,
      protocol: r.tlsProtocol,
      cipher: r.tlsCipher,
      alpn: r.tlsAlpn,
      verified: !a.insecure,
    };
  }
  return report;
}

function deflateReport(r: LoadResult): NonNullable<BenchReport['deflate']> {
  const d = r.deflate!;
  const ratio = (payload: number, wire: number): number => (wire > 0 ? Math.round((payload / wire) * 1000) / 1000 : 0);
  return {
    negotiated: d.negotiated,
    agreed: d.agreed,
    compressedIn: d.compressedIn,
    bytesIn: { payload: r.bytes, wire: d.wireIn },
    bytesOut: { payload: d.payloadOut, wire: d.wireOut },
    ratioIn: ratio(r.bytes, d.wireIn),
    ratioOut: ratio(d.payloadOut, d.wireOut),
  };
}

/** Runs one benchmark; live progress goes to stderr when it is a terminal. */
export async function runBench(a: BenchArgs): Promise<BenchOutcome> {
  const config = await benchConfig(a);
  let gen;
  try {
    gen = new binding.LoadGenerator(config);
  } catch (err) {
    // The --ca file passed the PEM check here but OpenSSL found no certificate in it.
    if (a.ca !== null && (err as NodeJS.ErrnoException).code === 'ERR_COREWS_TLS') throw new TypeError(`--ca: ${JSON.stringify(a.ca)}: ${(err as Error).message}`);
    throw err;
  }
  const started = Date.now();
  gen.start();
  const tty = process.stderr.isTTY === true && !a.json;
  const stop = (): void => gen.stop();
  process.once('SIGINT', stop);
  try {
    let last = 0;
    let lastAt = Date.now();
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const p = gen.progress();
      if (tty && Date.now() - lastAt >= 500) {
        const rate = ((p.messages - last) * 1000) / (Date.now() - lastAt);
        process.stderr.write(`\r[${a.mode}] ${((Date.now() - started) / 1000).toFixed(1)}s ${p.measuring ? 'measuring' : 'warming up'}  ${Math.round(rate).toLocaleString('en-US')} msg/s  open ${p.open}  errors ${p.errors}   `);
        last = p.messages;
        lastAt = Date.now();
      }
      if (p.done) break;
    }
    if (tty) process.stderr.write('\n');
    const r = gen.finish();
    return { report: toReport(a, r, config.tls !== undefined), firstError: r.firstError, aborted: r.aborted };
  } finally {
    process.removeListener('SIGINT', stop);
  }
}

export function formatReport(r: BenchReport): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const rows: [string, string][] = [
    ['mode', r.mode],
    ['connections', n(r.connections)],
    ['window', `${r.seconds} s`],
    [r.mode === 'connect' ? 'handshakes' : 'messages', n(r.messages)],
    [r.mode === 'connect' ? 'handshakes/s' : 'messages/s', n(r.msgsPerSec)],
    ['MB/s (payload in)', String(r.mbPerSec)],
    ['latency p50 / p90 / p99 / p99.9 / max (µs)', `${r.latencyUs.p50} / ${r.latencyUs.p90} / ${r.latencyUs.p99} / ${r.latencyUs.p999} / ${r.latencyUs.max}`],
    ['open at end', n(r.open)],
    ['errors', n(r.errors)],
  ];
  if (r.deflate) {
    const d = r.deflate;
    rows.push(
      ['permessage-deflate agreed', `${n(d.negotiated)} connections${d.agreed ? ` (${d.agreed})` : ''}`],
      ['compressed messages in', n(d.compressedIn)],
      ['in: payload / wire bytes', `${n(d.bytesIn.payload)} / ${n(d.bytesIn.wire)} (${d.ratioIn}×)`],
      ['out: payload / wire bytes', `${n(d.bytesOut.payload)} / ${n(d.bytesOut.wire)} (${d.ratioOut}×)`],
    );
  }
  if (r.tls) {
    rows.push(['TLS', r.tls.protocol ? `${r.tls.protocol} ${r.tls.cipher}, ALPN ${r.tls.alpn || 'none'}${r.tls.verified ? '' : ', certificate NOT checked (--insecure)'}` : 'no handshake completed']);
    rows.push(['TLS handshakes', n(r.tls.handshakes)]);
    if (r.tls.handshakesPerSec !== null) rows.push(['TLS handshakes/s', n(r.tls.handshakesPerSec)]);
  }
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}
