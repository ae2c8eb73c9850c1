// The `tls` option (wss://): its shape, as Node's tls.createSecureContext takes
// it, validated and normalised for the addon. The certificates themselves are
// loaded by the addon (OpenSSL, the one the node binary carries), which
// reports a bad PEM or a key that does not match its certificate.
import { describe } from './options';

/** PEM text, as a string or its bytes. */
export type Pem = string | Uint8Array;

/** A private key with its own passphrase (as in Node's `key: [{ pem, passphrase }]`). */
export interface TlsKeyObject {
  pem: Pem;
  passphrase?: string;
}

/**
 * The certificate set of a wss:// server: the `tls` option, `server.addContext` (SNI) and
 * `server.setSecureContext` (rotation). Same shapes as Node's `tls.createSecureContext`.
 */
export interface TlsOptions {
  /** PEM private key(s); several for several certificate types (e.g. RSA and ECDSA). */
  key: Pem | readonly (Pem | TlsKeyObject)[];
  /** PEM certificate chain(s), leaf first; one per key. */
  cert: Pem | readonly Pem[];
  /** PEM CA certificates used to complete the chain sent to clients. */
  ca?: Pem | readonly Pem[];
  /** Passphrase of encrypted keys that have none of their own. */
  passphrase?: string;
  /** OpenSSL cipher list; `TLS_*` names are TLS 1.3 suites (as in Node). */
  ciphers?: string;
  /** Default `'TLSv1.2'`. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Default `'TLSv1.3'`. */
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Key exchange groups, colon-separated (e.g. `'X25519:P-256'`). Default: OpenSSL's. */
  ecdhCurve?: string;
  /** Seconds a TLS session (ticket or cached) can be resumed. Default 300. */
  sessionTimeout?: number;
}

/** The set as the addon takes it. */
export interface NativeTls {
  keys: { pem: string; passphrase?: string }[];
  certs: string[];
  ca: string[];
  ciphers: string;
  ecdhCurve: string;
  /** OpenSSL version numbers (0x0303, 0x0304); 0: the default. */
  minVersion: number;
  maxVersion: number;
  sessionTimeout: number;
}

const KNOWN = new Set(['key', 'cert', 'ca', 'passphrase', 'ciphers', 'minVersion', 'maxVersion', 'ecdhCurve', 'sessionTimeout']);
const VERSIONS: Record<string, number> = { 'TLSv1.2': 0x0303, 'TLSv1.3': 0x0304 };

function pem(name: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
  throw new TypeError(`option '${name}' must be a PEM string or Buffer, got ${describe(value)}`);
}

function pems(name: string, value: unknown): string[] {
  if (Array.isArray(value)) return value.map((v, i) => pem(`${name}[${i}]`, v));
  return [pem(name, value)];
}

function text(name: string, value: unknown): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') throw new TypeError(`option '${name}' must be a string, got ${describe(value)}`);
  return value;
}

function version(name: string, value: unknown): number {
  if (value === undefined) return 0;
  const v = typeof value === 'string' ? VERSIONS[value] : undefined;
  if (v === undefined) {
    if (typeof value !== 'string') throw new TypeError(`option '${name}' must be 'TLSv1.2' or 'TLSv1.3', got ${describe(value)}`);
    throw new RangeError(`option '${name}' must be 'TLSv1.2' or 'TLSv1.3' (older versions are not offered), got ${describe(value)}`);
  }
  return v;
}

/** Validates a certificate set; `name` is how errors call it ('tls', or a method's argument). */
export function resolveTls(value: unknown, name = 'tls'): NativeTls | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`option '${name}' must be an object, got ${describe(value)}`);
  }
  for (const k of Object.keys(value)) {
    if (!KNOWN.has(k)) throw new TypeError(`unknown option '${name}.${k}'`);
  }
  const o = value as Record<string, unknown>;
  if (o.key === undefined) throw new TypeError(`option '${name}.key' is required`);
  if (o.cert === undefined) throw new TypeError(`option '${name}.cert' is required`);
  const passphrase = o.passphrase === undefined ? undefined : text(`${name}.passphrase`, o.passphrase);
  const keyList = Array.isArray(o.key) ? (o.key as unknown[]) : [o.key];
  const keys = keyList.map((k, i) => {
    const at = Array.isArray(o.key) ? `${name}.key[${i}]` : `${name}.key`;
    if (k !== null && typeof k === 'object' && !(k instanceof Uint8Array)) {
      const ko = k as Record<string, unknown>;
      for (const f of Object.keys(ko)) if (f !== 'pem' && f !== 'passphrase') throw new TypeError(`unknown option '${at}.${f}'`);
      const own = ko.passphrase === undefined ? passphrase : text(`${at}.passphrase`, ko.passphrase);
      return { pem: pem(`${at}.pem`, ko.pem), ...(own !== undefined ? { passphrase: own } : {}) };
    }
    return { pem: pem(at, k), ...(passphrase !== undefined ? { passphrase } : {}) };
  });
  if (keys.length === 0) throw new TypeError(`option '${name}.key' must hold at least one key`);
  const certs = pems(`${name}.cert`, o.cert);
  if (certs.length === 0) throw new TypeError(`option '${name}.cert' must hold at least one certificate`);
  const minVersion = version(`${name}.minVersion`, o.minVersion);
  const maxVersion = version(`${name}.maxVersion`, o.maxVersion);
  if (minVersion && maxVersion && minVersion > maxVersion) {
    throw new RangeError(`option '${name}.minVersion' must not be above '${name}.maxVersion'`);
  }
  let sessionTimeout = 0;
  if (o.sessionTimeout !== undefined) {
    const s = o.sessionTimeout;
    if (typeof s !== 'number' || !Number.isInteger(s)) throw new TypeError(`option '${name}.sessionTimeout' must be an integer number of seconds, got ${describe(s)}`);
    if (s < 1 || s > 86_400 * 7) throw new RangeError(`option '${name}.sessionTimeout' must be between 1 and 604800 seconds, got ${s}`);
    sessionTimeout = s;
  }
  return {
    keys,
    certs,
    ca: o.ca === undefined ? [] : pems(`${name}.ca`, o.ca),
    ciphers: text(`${name}.ciphers`, o.ciphers),
    ecdhCurve: text(`${name}.ecdhCurve`, o.ecdhCurve),
    minVersion,
    maxVersion,
    sessionTimeout,
  };
}
