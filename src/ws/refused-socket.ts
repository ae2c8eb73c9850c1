// The socket of a `'wsClientError'` for a handshake the native worker refused. In ws the
// listener gets the connection's socket and must answer on it; in corews the worker has answered
// (status and one-line reason) and closed the connection before JS hears of it, so there is no
// socket left to write to. This stands in for it: a Duplex that is already ended, whose writes
// go nowhere, with the peer's address and the status that was sent.
import { Duplex } from 'node:stream';

/** What `'wsClientError'` gets as its socket when the refusal was native (see README). */
export class RefusedSocket extends Duplex {
  /** The client's IP address. */
  readonly remoteAddress: string;
  /** `'IPv4'` or `'IPv6'`, by the form of `remoteAddress`. */
  readonly remoteFamily: 'IPv4' | 'IPv6';
  /** The HTTP status the server already answered with. */
  readonly status: number;

  /** @internal */
  constructor(remoteAddress: string, status: number) {
    super({
      // Discarded: the refusal was sent natively, and the connection is closed.
      write(_chunk: unknown, _encoding: BufferEncoding, callback: (err?: Error | null) => void) {
        callback();
      },
      read() {
        this.push(null);
      },
    });
    this.remoteAddress = remoteAddress;
    this.remoteFamily = remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
    this.status = status;
  }
}
