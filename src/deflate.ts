// The `perMessageDeflate` option (RFC 7692): its shape (the names `ws` uses,
// so migrating code keeps working), defaults and validation, normalised for
// the addon. Negotiation, compression and the memory budget are native.
import { describe } from './options';

/**
 * permessage-deflate settings. Without context takeover a side compresses every message on its
 * own: less memory (nothing kept between messages), a poorer ratio on small messages.
 */
export interface PerMessageDeflateOptions {
  /** Never keep the server's compression context between messages. Default false. */
  serverNoContextTakeover?: boolean;
  /** Ask clients not to keep theirs, so the server keeps no inflate window per connection. Default false. */
  clientNoContextTakeover?: boolean;
  /** Largest window the server compresses with, 8–15 (bits). Default: 15, or less if a client asks. */
  serverMaxWindowBits?: number;
  /**
   * Largest window clients may compress with, 8–15 (bits); offers that cannot take a limit are
   * declined. Default: no limit (15).
   */
  clientMaxWindowBits?: number;
  /** zlib compression level, 0–9, or -1 for zlib's default (6). Default -1. */
  level?: number;
  /** zlib memLevel, 1–9: memory of the compressor's hash table against speed and ratio. Default 8. */
  memLevel?: number;
  /** Payloads shorter than this (bytes) are sent uncompressed unless `send` says `compress: true`. Default 1024. */
  threshold?: number;
  /**
   * Bytes of zlib state the whole server may hold (shared evenly among its threads). Connections
   * past it still negotiate, without context takeover. Default 128 MiB.
   */
  maxMemory?: number;
}

/** The settings as the addon takes them: every field set; 0 window bits: no limit. */
export interface NativeDeflate {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
  level: number;
  memLevel: number;
  threshold: number;
  maxMemory: number;
}

const KNOWN = new Set([
  'serverNoContextTakeover', 'clientNoContextTakeover', 'serverMaxWindowBits', 'clientMaxWindowBits',
  'level', 'memLevel', 'threshold', 'maxMemory',
]);
// ws options that have no meaning here, and what to use instead.
const INSTEAD: Record<string, string> = {
  zlibDeflateOptions: "use 'perMessageDeflate.level' and 'perMessageDeflate.memLevel'",
  zlibInflateOptions: 'inflation needs no settings here',
  concurrencyLimit: "compression runs on the worker threads; bound its memory with 'perMessageDeflate.maxMemory'",
};

export const DEFAULT_DEFLATE_MAX_MEMORY = 128 * 1024 * 1024;

function flag(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new TypeError(`option 'perMessageDeflate.${name}' must be a boolean, got ${describe(value)}`);
  return value;
}

function int(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`option 'perMessageDeflate.${name}' must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) throw new RangeError(`option 'perMessageDeflate.${name}' must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** Validates the option; `undefined` or `false` turns permessage-deflate off. */
export function resolveDeflate(value: unknown): NativeDeflate | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) value = {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`option 'perMessageDeflate' must be a boolean or an object, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (KNOWN.has(key)) continue;
    const hint = INSTEAD[key];
    throw new TypeError(hint ? `option 'perMessageDeflate.${key}' is not supported: ${hint}` : `unknown option 'perMessageDeflate.${key}'`);
  }
  const o = value as Record<string, unknown>;
  return {
    serverNoContextTakeover: flag('serverNoContextTakeover', o.serverNoContextTakeover),
    clientNoContextTakeover: flag('clientNoContextTakeover', o.clientNoContextTakeover),
    serverMaxWindowBits: int('serverMaxWindowBits', o.serverMaxWindowBits, 0, 8, 15),
    clientMaxWindowBits: int('clientMaxWindowBits', o.clientMaxWindowBits, 0, 8, 15),
    level: int('level', o.level, -1, -1, 9),
    memLevel: int('memLevel', o.memLevel, 8, 1, 9),
    threshold: int('threshold', o.threshold, 1024, 0, Number.MAX_SAFE_INTEGER),
    maxMemory: int('maxMemory', o.maxMemory, DEFAULT_DEFLATE_MAX_MEMORY, 0, Number.MAX_SAFE_INTEGER),
  };
}
