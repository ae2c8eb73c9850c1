// The HTTP side of the hooks: turning a native request event into the object a
// hook sees, and a hook's answer into what the worker writes.
import type { Headers } from './options';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, obs-text, inner spaces and tabs; never CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Headers owned by the server: a hook must not set them. */
const RESERVED = new Set([
  'connection', 'upgrade', 'content-length', 'transfer-encoding', 'sec-websocket-accept',
  'sec-websocket-protocol', 'sec-websocket-extensions',
]);

/** A request as decoded from a batch: strings laid out by the worker's emit_request. */
export interface RequestParts {
  method: string;
  url: string;
  remoteAddress: string;
  protocol: string;
  headers: Headers;
  offered: string[];
  /** An HTTP request's body (empty for upgrades). */
  body: Buffer;
}

const EMPTY = Buffer.alloc(0);

/**
 * Reads `count` strings from `values` at `start`: method, url, remote, protocol, then name/value
 * pairs; and the body, `bodyLength` bytes of the arena at `bodyOffset`.
 */
export function readRequest(values: readonly string[], start: number, count: number, arena: ArrayBuffer | undefined,
  bodyOffset: number, bodyLength: number): RequestParts {
  const headers: Headers = Object.create(null) as Headers;
  for (let i = start + 4; i < start + count; i += 2) {
    const name = values[i].toLowerCase();
    const value = values[i + 1];
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const offered = (headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  return {
    method: values[start],
    url: values[start + 1],
    remoteAddress: values[start + 2],
    protocol: values[start + 3],
    headers,
    offered,
    body: bodyLength > 0 && arena !== undefined ? Buffer.from(arena, bodyOffset, bodyLength) : EMPTY,
  };
}

/**
 * CRLF-terminated header lines for the worker to append to its response.
 * @throws TypeError on a name or value that could split the response.
 */
export function headerLines(headers: Headers | undefined, hasBody: boolean, stringBody: boolean): string {
  let out = '';
  let hasType = false;
  if (headers !== undefined) {
    if (headers === null || typeof headers !== 'object') throw new TypeError('headers must be an object of strings');
    for (const [name, value] of Object.entries(headers)) {
      if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
      if (typeof value !== 'string' || !FIELD_VALUE.test(value)) {
        throw new TypeError(`invalid value for header '${name}'`);
      }
      const lower = name.toLowerCase();
      if (RESERVED.has(lower)) throw new TypeError(`header '${name}' is set by the server`);
      if (lower === 'content-type') hasType = true;
      out += `${name}: ${value}\r\n`;
    }
  }
  if (hasBody && stringBody && !hasType) out += 'content-type: text/plain; charset=utf-8\r\n';
  return out;
}

/**
 * Checks a hook's status code.
 * @throws RangeError outside 200–599.
 */
export function checkStatus(status: unknown, fallback: number): number {
  if (status === undefined) return fallback;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
    throw new RangeError(`status must be an integer from 200 to 599, got ${String(status)}`);
  }
  return status;
}

/** True for a streamed body: an async iterable that is not a string or bytes. */
export function isBodyStream(body: unknown): body is AsyncIterable<string | Uint8Array> {
  return body !== null && typeof body === 'object' && !(body instanceof Uint8Array) &&
    typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

export function bodyBytes(body: unknown): Uint8Array {
  if (body === undefined) return new Uint8Array(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return body;
  throw new TypeError('body must be a string, a Uint8Array or an async iterable of them');
}
