// The bridged mode: a WebSocket upgrade on an https.Server, whose TLS lives in
// Node's TLSSocket and so cannot move into a worker as a descriptor. The addon
// makes a socketpair; a worker adopts one end exactly like an attached TCP
// connection (handshake, hooks, limits, deflate, stats all apply there), and
// this file pipes the other end to and from the TLS socket. Node only moves
// bytes; framing, validation and fan-out stay native.
import { closeSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { NativeServer } from './native';

/** Whether `socket` is a TLS socket (an https.Server's), which handleUpgrade bridges. */
export function isTlsSocket(socket: unknown): socket is tls.TLSSocket {
  return socket instanceof tls.TLSSocket;
}

/**
 * The client's address as corews's own listener shows it: IPv4-mapped IPv6 addresses (what a
 * dual-stack Node server reports for IPv4 clients) as IPv4.
 */
function clientAddress(socket: net.Socket): string {
  const address = socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/**
 * Hands the connection of `outer` (a TLS socket Node read `request` from) to worker `worker`
 * through a bridge, and pipes the two together until either side ends.
 * @param lingerMs how long `outer` may take to flush once the worker has let go of the
 * connection, before it is destroyed (a client that stops reading cannot hold it forever).
 * @returns false when no bridge could be made (`outer` is then destroyed).
 */
export function bridgeUpgrade(native: NativeServer, worker: number, outer: tls.TLSSocket, request: Uint8Array,
  lingerMs: number): boolean {
  if (outer.destroyed) return false;
  const fd = native.bridge(worker, request, clientAddress(outer));
  if (fd < 0) {
    outer.destroy();
    return false;
  }
  let inner: net.Socket;
  try {
    inner = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
  } catch {
    // The worker sees its end close (EOF) and drops the connection.
    closeSync(fd);
    outer.destroy();
    return false;
  }
  pipeBoth(outer, inner, lingerMs);
  return true;
}

/**
 * Both directions with backpressure (pipe pauses the side whose destination is full, so a
 * client that stops reading fills the socketpair and the worker's own queue, bounded by
 * maxBackpressure), half-closes passed on as they come (a client's close_notify or FIN is the
 * worker's EOF; the worker's SHUT_WR is Node's end()), and any error or close of one side tearing
 * down the other, so that no descriptor outlives the connection.
 */
function pipeBoth(outer: tls.TLSSocket, inner: net.Socket, lingerMs: number): void {
  // Half-closes are the worker's to decide (as over TCP): Node must not end
  // our output when the client ends its own.
  outer.allowHalfOpen = true;
  outer.on('error', () => inner.destroy());
  inner.on('error', () => outer.destroy());
  outer.on('close', () => inner.destroy());
  inner.on('close', () => {
    if (outer.destroyed) return;
    // The worker has closed the connection: what it wrote goes out, then the socket closes.
    const linger = setTimeout(() => outer.destroy(), lingerMs);
    linger.unref();
    outer.once('close', () => clearTimeout(linger));
    if (outer.writableFinished) outer.destroy();
    else outer.once('finish', () => outer.destroy());
    outer.end();
  });
  outer.pipe(inner);
  inner.pipe(outer);
}
