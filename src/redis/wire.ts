// One Redis pub/sub message of the adapter. The topic is the channel (after the prefix);
// the message is a fixed header, then the payload as published. Version 2 (written), 22 bytes:
//   byte 0      format version (2)
//   byte 1      flags: bit 0 set for a binary message (else text, UTF-8)
//   bytes 2–9   the publishing process's origin id (random), so it skips its own
//   bytes 10–17 the publish time, ms since the epoch, float64 little-endian (for lagMs)
//   bytes 18–21 the origin's sequence number on this channel, uint32 little-endian, wrapping
//               (receivers count a jump in it as lost messages)
// Version 1 (read, from processes of an earlier corews) is the first 18 bytes alone, no
// sequence number: its messages are delivered, and their gaps cannot be counted. An earlier
// corews reads only version 1, so it ignores what a process of this one publishes.
// Binary-safe: payloads travel as Buffers, never through a string.

export const WIRE_VERSION = 2;
export const ORIGIN_BYTES = 8;
/** Header of version 1: version, flags, origin, sentAt. */
export const HEADER_V1_BYTES = 2 + ORIGIN_BYTES + 8;
/** Header of version 2: version 1's, then the sequence number. */
export const HEADER_BYTES = HEADER_V1_BYTES + 4;

/** A message as read off the wire. */
export interface WireMessage {
  binary: boolean;
  origin: Buffer;
  sentAt: number;
  /** The origin's sequence number on the channel; undefined in a version 1 message. */
  seq: number | undefined;
  payload: Buffer;
}

/**
 * Frames one message: the header, then `data` (a string is written as UTF-8). `seq` is taken
 * modulo 2^32.
 */
export function encode(origin: Buffer, seq: number, binary: boolean, data: Uint8Array | string): Buffer {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  const out = Buffer.allocUnsafe(HEADER_BYTES + size);
  out[0] = WIRE_VERSION;
  out[1] = binary ? 1 : 0;
  origin.copy(out, 2, 0, ORIGIN_BYTES);
  out.writeDoubleLE(Date.now(), 2 + ORIGIN_BYTES);
  out.writeUInt32LE(seq >>> 0, HEADER_V1_BYTES);
  if (typeof data === 'string') out.write(data, HEADER_BYTES, 'utf8');
  else out.set(data, HEADER_BYTES);
  return out;
}

/** Reads one message (version 1 or 2); undefined for one not in this format (another writer on the channel). */
export function decode(message: Buffer): WireMessage | undefined {
  const version = message[0];
  const header = version === 2 ? HEADER_BYTES : version === 1 ? HEADER_V1_BYTES : 0;
  if (header === 0 || message.length < header || (message[1] & ~1) !== 0) return undefined;
  return {
    binary: (message[1] & 1) === 1,
    origin: message.subarray(2, 2 + ORIGIN_BYTES),
    sentAt: message.readDoubleLE(2 + ORIGIN_BYTES),
    seq: version === 2 ? message.readUInt32LE(HEADER_V1_BYTES) : undefined,
    payload: message.subarray(header),
  };
}
