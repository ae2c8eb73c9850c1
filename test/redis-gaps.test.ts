// The adapter's loss counting without Redis: the receiver's gap counter, the sender's
// per-channel numbers, and the wire header that carries them (version 2, version 1 still read).
import { describe, expect, it } from 'vitest';
import { GapCounter } from '../src/redis/gaps';
import { SequenceNumbers } from '../src/redis/sequences';
import { decode, encode, HEADER_BYTES, HEADER_V1_BYTES } from '../src/redis/wire';

const MIN = 60_000;

describe('GapCounter', () => {
  it('counts the numbers skipped in a stream, not its first message, repeats or numbers behind', () => {
    const g = new GapCounter(100, MIN);
    expect(g.seen('A', 't', 7, 0)).toBe(0); // first heard mid-stream: nothing known missed
    expect(g.seen('A', 't', 8, 1)).toBe(0);
    expect(g.seen('A', 't', 12, 2)).toBe(3); // 9, 10, 11
    expect(g.seen('A', 't', 12, 3)).toBe(0); // a repeat
    expect(g.seen('A', 't', 10, 4)).toBe(0); // a late resend
    expect(g.seen('A', 't', 13, 5)).toBe(0); // the last number stayed 12
    // The sender's counter started over: ignored until it passes the last number.
    for (let i = 0; i <= 13; i++) expect(g.seen('A', 't', i, 6)).toBe(0);
    expect(g.seen('A', 't', 14, 7)).toBe(0);
    expect(g.seen('A', 't', 16, 8)).toBe(1);
    expect(g.lost).toBe(4);
  });

  it('keeps streams apart: per origin and per topic; a new origin (a restarted process) is no gap', () => {
    const g = new GapCounter(100, MIN);
    g.seen('A', 't', 0, 0);
    g.seen('A', 'u', 50, 0);
    g.seen('B', 't', 1000, 0);
    expect(g.seen('A', 't', 1, 1)).toBe(0);
    expect(g.seen('A', 'u', 52, 1)).toBe(1);
    expect(g.seen('B', 't', 1001, 1)).toBe(0);
    expect(g.seen('C', 't', 900, 1)).toBe(0);
    expect(g.streams).toBe(4);
    expect(g.lost).toBe(1);
  });

  it('wraps around at 2^32; a jump of half the range or more is a restart, not a gap', () => {
    const g = new GapCounter(100, MIN);
    g.seen('A', 't', 2 ** 32 - 2, 0);
    expect(g.seen('A', 't', 2 ** 32 - 1, 1)).toBe(0);
    expect(g.seen('A', 't', 0, 2)).toBe(0);
    expect(g.seen('A', 't', 3, 3)).toBe(2);
    g.seen('A', 'w', 2 ** 32 - 1, 0);
    expect(g.seen('A', 'w', 4, 1)).toBe(4); // 0, 1, 2, 3 across the wrap
    expect(g.seen('A', 'w', 4 + 2 ** 31, 2)).toBe(0); // half the range ahead is behind: ignored
    expect(g.seen('A', 'w', 4 + 2 ** 31 - 1, 3)).toBe(2 ** 31 - 2); // the largest gap it counts
    expect(g.lost).toBe(2 + 4 + 2 ** 31 - 2);
  });

  it('forgets a topic on request and after forgetMs of silence; then its next message starts afresh', () => {
    const g = new GapCounter(100, 1000);
    g.seen('A', 't', 0, 0);
    g.forget('t');
    expect(g.streams).toBe(0);
    expect(g.seen('A', 't', 10, 1)).toBe(0);
    g.seen('A', 'quiet', 0, 1);
    expect(g.seen('A', 't', 11, 900)).toBe(0);
    expect(g.streams).toBe(2);
    expect(g.seen('A', 't', 13, 1500)).toBe(1); // 'quiet' last heard at 1: forgotten now
    expect(g.streams).toBe(1);
    expect(g.seen('A', 'quiet', 5, 1501)).toBe(0);
    expect(g.seen('A', 't', 20, 2400)).toBe(6); // 900 ms of silence: still followed
    expect(g.seen('A', 't', 30, 3400)).toBe(0); // 1000 ms: forgotten, starts afresh
  });

  it('forgets an origin gone quiet on a topic that stays busy', () => {
    const g = new GapCounter(100, 1000);
    g.seen('old', 't', 0, 0);
    for (let i = 0; i < 20; i++) g.seen('new', 't', i, 100 * i);
    expect(g.streams).toBe(1);
    expect(g.seen('old', 't', 5, 2000)).toBe(0);
  });

  it('holds at most maxStreams whatever the peers send; the least recently heard go first', () => {
    const g = new GapCounter(1000, MIN);
    for (let i = 0; i < 50_000; i++) g.seen(`origin${i}`, `topic${i % 7}`, i, i);
    expect(g.streams).toBe(1000);
    for (let i = 0; i < 50_000; i++) g.seen('one', `topic${i}`, i, 50_000 + i);
    expect(g.streams).toBe(1000);
    // The most recent ones are still followed.
    expect(g.seen('one', 'topic49999', 50_001, 100_000)).toBe(1);
    expect(g.seen('origin0', 'topic0', 5, 100_001)).toBe(0); // long forgotten
  });
});

describe('SequenceNumbers', () => {
  it('numbers each channel from 0, and restarts a channel it forgot past its bound', () => {
    const s = new SequenceNumbers(3);
    expect([s.take('a'), s.take('a'), s.take('b'), s.take('a')]).toEqual([0, 1, 0, 2]);
    s.take('c');
    s.take('b'); // 'a' is now the least recently used
    s.take('d');
    expect(s.size).toBe(3);
    expect(s.take('a')).toBe(0);
    expect(s.take('d')).toBe(1);
    // A receiver that followed 'a' up to 2 counts nothing for the restart, and follows 3 on.
    const g = new GapCounter(10, MIN);
    g.seen('o', 'a', 2, 0);
    expect(g.seen('o', 'a', 0, 1) + g.seen('o', 'a', 1, 2) + g.seen('o', 'a', 2, 3) + g.seen('o', 'a', 3, 4)).toBe(0);
    expect(g.seen('o', 'a', 5, 5)).toBe(1);
  });
});

describe('wire format', () => {
  const origin = Buffer.from('01234567');

  it('version 2 carries the sequence number, modulo 2^32, after the 18 bytes of version 1', () => {
    const m = encode(origin, 2 ** 32 + 5, true, Buffer.from([1, 2, 3]));
    expect(m.length).toBe(HEADER_BYTES + 3);
    expect(m[0]).toBe(2);
    expect(decode(m)).toMatchObject({ binary: true, seq: 5, payload: Buffer.from([1, 2, 3]) });
    expect(decode(m)!.origin.equals(origin)).toBe(true);
    expect(decode(encode(origin, 2 ** 32 - 1, false, 'héllo'))).toMatchObject({ binary: false, seq: 2 ** 32 - 1 });
    expect(String(decode(encode(origin, 0, false, 'héllo'))!.payload)).toBe('héllo');
  });

  it('reads version 1 (no sequence number); ignores other versions, short headers and unknown flags', () => {
    const v1 = Buffer.concat([Buffer.from([1, 0]), origin, Buffer.alloc(8), Buffer.from('old')]);
    expect(decode(v1)).toMatchObject({ seq: undefined, payload: Buffer.from('old') });
    expect(decode(v1.subarray(0, HEADER_V1_BYTES))!.payload.length).toBe(0);
    const v2 = encode(origin, 1, false, '');
    expect(decode(v2.subarray(0, HEADER_BYTES - 1))).toBeUndefined();
    expect(decode(Buffer.concat([Buffer.from([3]), v2.subarray(1)]))).toBeUndefined();
    expect(decode(Buffer.concat([Buffer.from([2, 2]), v2.subarray(2)]))).toBeUndefined();
    expect(decode(Buffer.alloc(0))).toBeUndefined();
  });
});
