// The request a ws program sees in verifyClient, handleProtocols, shouldHandle, 'headers' and
// 'connection'. Through handleUpgrade (the `server` and `noServer` modes) it is Node's own
// http.IncomingMessage; on corews's own listener (the `port` mode) no IncomingMessage exists,
// so one is emulated from what the native handshake parsed.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { UpgradeRequest } from '../options';

/** The part of a `net.Socket` an {@link EmulatedRequest} carries. */
export interface EmulatedSocket {
  /** The client's IP address. */
  readonly remoteAddress: string;
  /** `'IPv4'` or `'IPv6'`, by the form of `remoteAddress`. */
  readonly remoteFamily: 'IPv4' | 'IPv6';
  /** True on a wss:// server (the `corews.tls` option). */
  readonly encrypted: boolean;
}

/**
 * An upgrade request on corews's own listener, shaped like the parts of `http.IncomingMessage`
 * that WebSocket code reads: `method`, `url`, `headers` (lower-case names, repeated fields joined
 * with ", "), `rawHeaders` (rebuilt from `headers`, so not in the order received), `httpVersion`
 * (always "1.1"), and `socket`/`connection` with `remoteAddress`, `remoteFamily`, `encrypted`.
 * It is not a stream and has no other IncomingMessage members.
 */
export interface EmulatedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly httpVersion: '1.1';
  readonly httpVersionMajor: 1;
  readonly httpVersionMinor: 1;
  readonly socket: EmulatedSocket;
  /** The same object as `socket` (Node's deprecated alias). */
  readonly connection: EmulatedSocket;
}

/** What the `connection` event and the hooks get: Node's request, or the emulated one. */
export type UpgradeIncomingMessage = IncomingMessage | EmulatedRequest;

/** @internal Builds the emulated request from the native `upgrade` hook's request. */
export function emulateRequest(req: UpgradeRequest, headers: Record<string, string>, secure: boolean): EmulatedRequest {
  const remoteAddress = req.remoteAddress;
  const socket: EmulatedSocket = { remoteAddress, remoteFamily: remoteAddress.includes(':') ? 'IPv6' : 'IPv4', encrypted: secure };
  const rawHeaders: string[] = [];
  for (const [name, value] of Object.entries(headers)) rawHeaders.push(name, value);
  return {
    method: req.method,
    url: req.url,
    headers: { ...headers },
    rawHeaders,
    httpVersion: '1.1',
    httpVersionMajor: 1,
    httpVersionMinor: 1,
    socket,
    connection: socket,
  };
}
