// RFC 6455 §4.2.1 / §4.2.2 (opening handshake) and RFC 9112 (HTTP/1.1 message
// syntax): every malformed request class gets its status, and the server keeps
// serving a fresh connection afterwards.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePayload, encodeFrame, KEY, KEY_ACCEPT, upgradeRequest } from '../helpers/raw-client';
import { echoOptions, notBefore, startServer, waitFor, type Started } from '../helpers/server';
import {
  OP, cleanupClientsAfterEach, connect, expectCloseFrame, expectEcho, expectRefusal, sawFin, sleep,
} from './conformance-util';

cleanupClientsAfterEach();

/** The request line and header lines of a valid upgrade, for hand-made variants. */
const VALID_LINES = [
  'Host: localhost',
  'Upgrade: websocket',
  'Connection: Upgrade',
  `Sec-WebSocket-Key: ${KEY}`,
  'Sec-WebSocket-Version: 13',
];

function rawRequest(requestLine: string, lines: string[]): string {
  return `${requestLine}\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;
}

function acceptFor(key: string): string {
  return crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/** Sends `request`, expects 101 with the right accept key, and an echo on that connection. */
async function expectAccepted(port: number, request: string, key = KEY): Promise<Record<string, string>> {
  const c = await connect(port);
  c.write(request);
  const res = await c.readHttp();
  expect(res.status).toBe(101);
  expect(res.headers['sec-websocket-accept']).toBe(acceptFor(key));
  expect(res.headers.upgrade?.toLowerCase()).toBe('websocket');
  expect(res.headers.connection?.toLowerCase()).toBe('upgrade');
  c.send({ opcode: OP.TEXT, payload: 'hello' });
  const f = await c.readFrame();
  expect(f.payload.toString()).toBe('hello');
  c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
  await expectCloseFrame(c, 1000);
  c.destroy();
  return res.headers;
}

describe('opening handshake (default options)', () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer(echoOptions());
  });
  afterAll(async () => {
    await s.server.close();
  });

  /** A refusal followed by a fresh echo on the same server. */
  async function refused(request: string | Buffer, status: number) {
    const res = await expectRefusal(s.port, request, status);
    await expectEcho(s.port);
    return res;
  }

  it('§4.2.2 valid request → 101 with Sec-WebSocket-Accept, Upgrade and Connection', async () => {
    const c = await connect(s.port);
    c.write(upgradeRequest('/'));
    const res = await c.readHttp();
    expect(res.status).toBe(101);
    expect(res.headers['sec-websocket-accept']).toBe(KEY_ACCEPT);
    expect(res.headers.upgrade.toLowerCase()).toBe('websocket');
    expect(res.headers.connection.toLowerCase()).toBe('upgrade');
    expect(res.headers['sec-websocket-protocol']).toBeUndefined();
    expect(res.headers['sec-websocket-extensions']).toBeUndefined();
    c.destroy();
    await expectEcho(s.port);
  });

  it('§4.2.2 Sec-WebSocket-Accept is SHA-1 of key + GUID for random keys', async () => {
    for (let i = 0; i < 5; i++) {
      const key = crypto.randomBytes(16).toString('base64');
      await expectAccepted(s.port, upgradeRequest('/', { 'Sec-WebSocket-Key': key }), key);
    }
  });

  it('§4.2.2 the raw 101 status line is HTTP/1.1 101 Switching Protocols', async () => {
    const c = await connect(s.port);
    c.write(upgradeRequest('/'));
    await waitFor(() => c.unread.includes('\r\n\r\n'), 5000, 'the 101 head');
    expect(c.unread.toString('latin1').split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
    c.destroy();
  });

  it('§4.2.1 request head sent one byte at a time → 101', async () => {
    const c = await connect(s.port);
    const req = Buffer.from(upgradeRequest('/'));
    for (const byte of req) {
      c.write(Buffer.from([byte]));
      await sleep(0);
    }
    const res = await c.readHttp();
    expect(res.status).toBe(101);
    expect(res.headers['sec-websocket-accept']).toBe(KEY_ACCEPT);
    c.destroy();
  });

  it('§4.2.1 Upgrade, Connection and header names are case-insensitive', async () => {
    await expectAccepted(s.port, rawRequest('GET / HTTP/1.1', [
      'host: localhost', 'UPGRADE: WebSocket', 'connection: UPGRADE', `sec-websocket-key: ${KEY}`, 'SEC-WEBSOCKET-VERSION: 13',
    ]));
  });

  it('§4.2.1 Connection is a token list: "keep-alive, Upgrade" is accepted', async () => {
    await expectAccepted(s.port, upgradeRequest('/', { Connection: 'keep-alive, Upgrade' }));
    await expectAccepted(s.port, upgradeRequest('/', { Connection: 'Upgrade,keep-alive' }));
    await expectAccepted(s.port, upgradeRequest('/', { Connection: ' keep-alive ,  upgrade ' }));
  });

  it('RFC 9112 §2.2 empty lines before the request line are ignored', async () => {
    await expectAccepted(s.port, `\r\n${upgradeRequest('/')}`);
    await expectAccepted(s.port, `\r\n\r\n${upgradeRequest('/')}`);
  });

  it('§4.2.1 Upgrade is a token list: "foo, websocket" is accepted', async () => {
    await expectAccepted(s.port, upgradeRequest('/', { Upgrade: 'foo, websocket' }));
  });

  it('§4.2.1 Connection token split across two Connection fields is accepted', async () => {
    const lines = VALID_LINES.filter((l) => !l.startsWith('Connection')).concat(['Connection: keep-alive', 'Connection: Upgrade']);
    await expectAccepted(s.port, rawRequest('GET / HTTP/1.1', lines));
  });

  it('§4.2.1 header values are trimmed of optional whitespace (key with spaces and tabs)', async () => {
    await expectAccepted(s.port, upgradeRequest('/', { 'Sec-WebSocket-Key': ` \t${KEY} \t` }));
  });

  it('§4.2.1 HTTP/1.2 (a higher 1.x version) → 101', async () => {
    await expectAccepted(s.port, upgradeRequest('/', {}, 'GET / HTTP/1.2'));
  });

  it('§4.2.1 any path is accepted when no path option is set', async () => {
    await expectAccepted(s.port, upgradeRequest('/any/where?x=1&y=2'));
  });

  it('§4.2.2 a subprotocol offered to a server without a protocols option → no Sec-WebSocket-Protocol', async () => {
    const h = await expectAccepted(s.port, upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'chat, superchat' }));
    expect(h['sec-websocket-protocol']).toBeUndefined();
  });

  it('§4.2.2/§9.1 permessage-deflate offered → not accepted; an RSV1 frame afterwards → 1002', async () => {
    const c = await connect(s.port);
    c.write(upgradeRequest('/', { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' }));
    const res = await c.readHttp();
    expect(res.status).toBe(101);
    expect(res.headers['sec-websocket-extensions']).toBeUndefined();
    c.send({ opcode: OP.TEXT, payload: Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), rsv: 4 });
    await expectCloseFrame(c, 1002);
    await expectEcho(s.port);
  });

  // --- not an upgrade -------------------------------------------------------

  it('§4.2.2 plain GET without Upgrade → 426 with Upgrade and Sec-WebSocket-Version headers', async () => {
    const res = await refused('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n', 426);
    expect(res.headers.upgrade.toLowerCase()).toBe('websocket');
    expect(res.headers['sec-websocket-version']).toBe('13');
  });

  it('§4.2.1 Upgrade header without a websocket token (h2c) → 426', async () => {
    const res = await refused(upgradeRequest('/', { Upgrade: 'h2c' }), 426);
    expect(res.headers.upgrade.toLowerCase()).toBe('websocket');
    expect(res.headers['sec-websocket-version']).toBe('13');
  });

  it('§4.2.1 Upgrade: "websocketx" is not the websocket token → 426', async () => {
    await refused(upgradeRequest('/', { Upgrade: 'websocketx' }), 426);
  });

  it('§4.2.1 missing Upgrade header → 426', async () => {
    await refused(upgradeRequest('/', { Upgrade: null }), 426);
  });

  // --- §4.2.1 item 1: method and version ------------------------------------

  it('§4.2.1 POST upgrade → 405 with Allow: GET', async () => {
    const res = await refused(upgradeRequest('/', {}, 'POST / HTTP/1.1'), 405);
    expect(res.headers.allow).toBe('GET');
  });

  it('§4.2.1 lower-case "get" is not GET (methods are case-sensitive) → 405', async () => {
    const res = await refused(upgradeRequest('/', {}, 'get / HTTP/1.1'), 405);
    expect(res.headers.allow).toBe('GET');
  });

  it('§4.2.1 HEAD, PUT, OPTIONS, CONNECT upgrades → 405', async () => {
    for (const m of ['HEAD', 'PUT', 'OPTIONS', 'CONNECT']) {
      const res = await expectRefusal(s.port, upgradeRequest('/', {}, `${m} / HTTP/1.1`), 405);
      expect(res.headers.allow).toBe('GET');
    }
    await expectEcho(s.port);
  });

  it('§4.2.1 HTTP/1.0 upgrade → 400', async () => {
    await refused(upgradeRequest('/', {}, 'GET / HTTP/1.0'), 400);
  });

  it('§4.2.1 HTTP/0.9 upgrade → 400', async () => {
    await refused(upgradeRequest('/', {}, 'GET / HTTP/0.9'), 400);
  });

  // --- §4.2.1 items 2–6: required header fields -----------------------------

  it('§4.2.1 missing Connection → 400', async () => {
    await refused(upgradeRequest('/', { Connection: null }), 400);
  });

  it('§4.2.1 Connection without an upgrade token (keep-alive) → 400', async () => {
    await refused(upgradeRequest('/', { Connection: 'keep-alive' }), 400);
  });

  it('§4.2.1 Connection: "upgraded" is not the upgrade token → 400', async () => {
    await refused(upgradeRequest('/', { Connection: 'upgraded' }), 400);
  });

  it('§4.2.1 missing Host → 400', async () => {
    await refused(upgradeRequest('/', { Host: null }), 400);
  });

  it('§4.2.1 repeated Host → 400', async () => {
    await refused(rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'Host: other']), 400);
  });

  it('§4.2.1 Host repeated with a different case (host / Host) → 400', async () => {
    await refused(rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'host: localhost']), 400);
  });

  it('§4.2.1 missing Sec-WebSocket-Key → 400', async () => {
    await refused(upgradeRequest('/', { 'Sec-WebSocket-Key': null }), 400);
  });

  it('§4.2.1 repeated Sec-WebSocket-Key → 400', async () => {
    await refused(rawRequest('GET / HTTP/1.1', [...VALID_LINES, `Sec-WebSocket-Key: ${KEY}`]), 400);
  });

  it.each([
    ['not base64 at all', 'not a base64 key!!!!!!!'],
    ['15 bytes', Buffer.alloc(15, 7).toString('base64')],
    ['17 bytes', Buffer.alloc(17, 7).toString('base64')],
    ['32 bytes', Buffer.alloc(32, 7).toString('base64')],
    ['16 bytes without padding', KEY.replace(/=+$/, '')],
    ['base64url alphabet', Buffer.from('fbff3e5a0b1c2d3e4f5a6b7c8d9e0ffe', 'hex').toString('base64url') + '=='],
    ['padding in the middle', 'dGhlIHNh=bXBsZSBub25jZQ='],
    ['empty', ''],
  ])('§4.2.1 Sec-WebSocket-Key %s → 400', async (_what, key) => {
    await refused(upgradeRequest('/', { 'Sec-WebSocket-Key': key }), 400);
  });

  it('§4.2.1 missing Sec-WebSocket-Version → 426 with Sec-WebSocket-Version: 13', async () => {
    const res = await refused(upgradeRequest('/', { 'Sec-WebSocket-Version': null }), 426);
    expect(res.headers['sec-websocket-version']).toBe('13');
  });

  it.each(['8', '12', '14', '013', '13.0', '13, 8'])('§4.2.2 Sec-WebSocket-Version %j → 426 with Sec-WebSocket-Version: 13', async (v) => {
    const res = await refused(upgradeRequest('/', { 'Sec-WebSocket-Version': v }), 426);
    expect(res.headers['sec-websocket-version']).toBe('13');
  });

  it('§4.2.2 repeated Sec-WebSocket-Version → 426', async () => {
    await refused(rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'Sec-WebSocket-Version: 13']), 426);
  });

  // --- checks happen in the documented order --------------------------------

  it('§4.2.1 check order: no Upgrade wins over a bad method (426 before 405)', async () => {
    await refused('POST / HTTP/1.0\r\nHost: x\r\n\r\n', 426);
  });

  it('§4.2.1 check order: bad method wins over HTTP/1.0 (405 before 400)', async () => {
    await refused(upgradeRequest('/', { Host: null }, 'POST / HTTP/1.0'), 405);
  });

  it('§4.2.1 check order: missing Host wins over a bad version (400 before 426)', async () => {
    await refused(upgradeRequest('/', { Host: null, 'Sec-WebSocket-Version': '8' }), 400);
  });

  it('§4.2.1 check order: bad key wins over a bad version (400 before 426)', async () => {
    await refused(upgradeRequest('/', { 'Sec-WebSocket-Key': 'short', 'Sec-WebSocket-Version': '8' }), 400);
  });

  it('§4.2.1 check order: missing Connection wins over a bad version (400 before 426)', async () => {
    await refused(upgradeRequest('/', { Connection: null, 'Sec-WebSocket-Version': null }), 400);
  });

  // --- RFC 9112 limits and syntax -------------------------------------------

  it('RFC 9112 request head of exactly 16 KiB → 101', async () => {
    const base = upgradeRequest('/', { 'X-Pad': '' });
    const pad = 16 * 1024 - Buffer.byteLength(base);
    const req = upgradeRequest('/', { 'X-Pad': 'p'.repeat(pad) });
    expect(Buffer.byteLength(req)).toBe(16 * 1024);
    await expectAccepted(s.port, req);
  });

  it('RFC 9112 request head over 16 KiB → 431', async () => {
    const base = upgradeRequest('/', { 'X-Pad': '' });
    const req = upgradeRequest('/', { 'X-Pad': 'p'.repeat(16 * 1024 - Buffer.byteLength(base) + 1) });
    expect(Buffer.byteLength(req)).toBe(16 * 1024 + 1);
    await refused(req, 431);
  });

  it('RFC 9112 request head of 100 KiB in one write → 431', async () => {
    await refused(upgradeRequest('/', { 'X-Pad': 'p'.repeat(100 * 1024) }), 431);
  });

  it('RFC 9112 request head over 16 KiB sent in 1 KiB pieces → 431', async () => {
    const c = await connect(s.port);
    const req = upgradeRequest('/', { 'X-Pad': 'p'.repeat(17_000) });
    for (let i = 0; i < req.length; i += 1024) {
      c.write(req.slice(i, i + 1024));
      await sleep(1);
    }
    const res = await c.readHttp();
    expect(res.status).toBe(431);
    await c.waitEnd();
    expect(sawFin(c)).toBe(true);
    await expectEcho(s.port);
  });

  it('RFC 9112 16 KiB without an end of head, no CRLF at all → 431', async () => {
    await refused(`GET /${'a'.repeat(17 * 1024)}`, 431);
  });

  it('RFC 9112 exactly 64 header fields → 101', async () => {
    const extra: Record<string, string> = {};
    for (let i = 0; i < 64 - 5; i++) extra[`X-F${i}`] = 'v';
    await expectAccepted(s.port, upgradeRequest('/', extra));
  });

  it('RFC 9112 65 header fields → 431', async () => {
    const extra: Record<string, string> = {};
    for (let i = 0; i < 65 - 5; i++) extra[`X-F${i}`] = 'v';
    await refused(upgradeRequest('/', extra), 431);
  });

  it.each([
    ['header line without a colon', rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'X-No-Colon'])],
    ['whitespace between field name and colon (RFC 9112 §5.1)', rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'X-Test : v'])],
    ['whitespace before colon on Host', rawRequest('GET / HTTP/1.1', ['Host : localhost', ...VALID_LINES.slice(1)])],
    ['obs-fold continuation line (RFC 9112 §5.2)', rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'X-Folded: a', ' b'])],
    ['obs-fold with tab', rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'X-Folded: a', '\tb: c'])],
    ['tab between field name and colon', rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'X-Test\t: v'])],
    ['whitespace-preceded line right after the request line (RFC 9112 §2.2)', rawRequest('GET / HTTP/1.1', [' X-Evil: 1', ...VALID_LINES])],
    ['bare LF inside a header line', rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'X-A: b\nX-B: c'])],
    ['bare CR inside a header line', rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'X-A: b\rX-B: c'])],
    ['bare LF line endings throughout', upgradeRequest('/').replace(/\r\n/g, '\n').replace(/\n\n$/, '\r\n\r\n')],
    ['bad token char "(" in a field name', rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'X(A): b'])],
    ['bad token char "@" in a field name', rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'X@A: b'])],
    ['empty field name', rawRequest('GET / HTTP/1.1', [...VALID_LINES, ': b'])],
    ['non-ASCII byte in a field name', rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'X-\u00e9: b'])],
    ['NUL in a field value', rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'X-A: a\u0000b'])],
    ['control char 0x01 in a field value', rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'X-A: a\u0001b'])],
    ['DEL in a field value', rawRequest('GET / HTTP/1.1', [...VALID_LINES, 'X-A: a\u007fb'])],
    ['request line without a version', rawRequest('GET /', VALID_LINES)],
    ['request line with only a method', rawRequest('GET', VALID_LINES)],
    ['request line with two spaces (empty target)', rawRequest('GET  / HTTP/1.1', VALID_LINES)],
    ['request line with a trailing space', rawRequest('GET / HTTP/1.1 ', VALID_LINES)],
    ['request line with an extra word', rawRequest('GET / HTTP/1.1 extra', VALID_LINES)],
    ['lower-case protocol name', rawRequest('GET / http/1.1', VALID_LINES)],
    ['unknown protocol name', rawRequest('GET / FOO/1.1', VALID_LINES)],
    ['version without a minor number', rawRequest('GET / HTTP/1', VALID_LINES)],
    ['two-digit version', rawRequest('GET / HTTP/11.1', VALID_LINES)],
    ['bad token char in the method', rawRequest('G@T / HTTP/1.1', VALID_LINES)],
    ['control char in the target', rawRequest('GET /a\u0001b HTTP/1.1', VALID_LINES)],
    ['non-ASCII byte in the target', rawRequest('GET /\u00e9 HTTP/1.1', VALID_LINES)],
    ['tab as request-line separator', rawRequest('GET\t/\tHTTP/1.1', VALID_LINES)],
    ['leading whitespace before the request line', rawRequest(' GET / HTTP/1.1', VALID_LINES)],
  ])('RFC 9112 %s → 400', async (_what, req) => {
    await refused(Buffer.from(req, 'latin1'), 400);
  });

  // --- pipelining -----------------------------------------------------------

  it('§4.2.2 frames pipelined right after the request (before reading 101) are processed', async () => {
    const c = await connect(s.port);
    c.write(Buffer.concat([
      Buffer.from(upgradeRequest('/')),
      encodeFrame({ opcode: OP.TEXT, payload: 'early-1' }),
      encodeFrame({ opcode: OP.BINARY, payload: Buffer.from([1, 2, 3]) }),
      encodeFrame({ opcode: OP.PING, payload: 'p' }),
      encodeFrame({ opcode: OP.TEXT, payload: 'early-2' }),
    ]));
    const res = await c.readHttp();
    expect(res.status).toBe(101);
    const frames = [await c.readFrame(), await c.readFrame(), await c.readFrame(), await c.readFrame()];
    const data = frames.filter((f) => f.opcode !== OP.PONG);
    const pongs = frames.filter((f) => f.opcode === OP.PONG);
    expect(pongs.map((f) => f.payload.toString())).toEqual(['p']);
    expect(data.map((f) => [f.opcode, f.payload.toString('hex')])).toEqual([
      [OP.TEXT, Buffer.from('early-1').toString('hex')],
      [OP.BINARY, '010203'],
      [OP.TEXT, Buffer.from('early-2').toString('hex')],
    ]);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  it('§4.2.2 request + messages + Close in one write → 101, echoes, Close echo', async () => {
    const c = await connect(s.port);
    c.write(Buffer.concat([
      Buffer.from(upgradeRequest('/')),
      encodeFrame({ opcode: OP.TEXT, payload: 'a' }),
      encodeFrame({ opcode: OP.TEXT, payload: 'b' }),
      encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1001) }),
    ]));
    expect((await c.readHttp()).status).toBe(101);
    const { code, before } = await c.readClose();
    expect(code).toBe(1001);
    expect(before.map((f) => f.payload.toString())).toEqual(['a', 'b']);
    await c.waitEnd();
    await expectEcho(s.port);
  });

  it('§4.2.2 request + a malformed frame in one write → 101 then Close 1002', async () => {
    const c = await connect(s.port);
    c.write(Buffer.concat([Buffer.from(upgradeRequest('/')), encodeFrame({ opcode: OP.TEXT, payload: 'x', mask: false })]));
    expect((await c.readHttp()).status).toBe(101);
    await expectCloseFrame(c, 1002);
    await expectEcho(s.port);
  });

  it('RFC 9112 bytes after a refused request are ignored; the refusal still ends in FIN', async () => {
    const c = await connect(s.port);
    c.write(`${upgradeRequest('/', { 'Sec-WebSocket-Version': '8' })}GARBAGE${'x'.repeat(5000)}`);
    const res = await c.readHttp();
    expect(res.status).toBe(426);
    await c.waitEnd();
    expect(sawFin(c)).toBe(true);
    expect(c.unread.length).toBe(0);
    await expectEcho(s.port);
  });
});

describe('opening handshake with path, origins and protocols options', () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer(echoOptions({ path: '/chat', origins: ['https://example.com', 'http://localhost:8080'], protocols: ['a', 'b'] }));
  });
  afterAll(async () => {
    await s.server.close();
  });

  const ok = { Origin: 'https://example.com' };

  async function refused(request: string, status: number) {
    const res = await expectRefusal(s.port, request, status);
    await expectEchoHere();
    return res;
  }

  async function expectEchoHere() {
    // A fresh valid connection on the same server (this one needs path and origin).
    await expectAccepted(s.port, upgradeRequest('/chat', ok));
  }

  it('§4.2.1 matching path and allowed Origin → 101', async () => {
    await expectAccepted(s.port, upgradeRequest('/chat', ok));
  });

  it('§4.2.1 path is compared without the query → 101', async () => {
    await expectAccepted(s.port, upgradeRequest('/chat?room=1&x=%20', ok));
    await expectAccepted(s.port, upgradeRequest('/chat?', ok));
  });

  it.each(['/', '/chat/', '/chatroom', '/Chat', '/chat/x', '/cha', '/x?/chat'])('§4.2.1 path %j does not match "/chat" → 404', async (p) => {
    await refused(upgradeRequest(p, ok), 404);
  });

  it('§4.2.1 check order: wrong path wins over a missing Connection (404 before 400)', async () => {
    await refused(upgradeRequest('/nope', { ...ok, Connection: null }), 404);
  });

  it('§4.2.1 check order: HTTP/1.0 wins over a wrong path (400 before 404)', async () => {
    await refused(upgradeRequest('/nope', ok, 'GET /nope HTTP/1.0'), 400);
  });

  it('§4.2.2 missing Origin with origins set → 403', async () => {
    await refused(upgradeRequest('/chat'), 403);
  });

  it('§4.2.2 Origin not in the list → 403', async () => {
    await refused(upgradeRequest('/chat', { Origin: 'https://evil.example' }), 403);
  });

  it('§4.2.2 Origin is an exact match, not a prefix or suffix → 403', async () => {
    await refused(upgradeRequest('/chat', { Origin: 'https://example.com.evil.net' }), 403);
    await refused(upgradeRequest('/chat', { Origin: 'https://sub.example.com' }), 403);
    await refused(upgradeRequest('/chat', { Origin: 'https://example.co' }), 403);
    await refused(upgradeRequest('/chat', { Origin: 'http://localhost:808' }), 403);
    await refused(upgradeRequest('/chat', { Origin: 'null' }), 403);
  });

  it('§4.2.2 Origin compared case-insensitively → 101', async () => {
    await expectAccepted(s.port, upgradeRequest('/chat', { Origin: 'HTTPS://EXAMPLE.COM' }));
    await expectAccepted(s.port, upgradeRequest('/chat', { Origin: 'http://LocalHost:8080' }));
  });

  it('§4.2.2 check order: bad version wins over a bad Origin (426 before 403)', async () => {
    const res = await refused(upgradeRequest('/chat', { Origin: 'https://evil.example', 'Sec-WebSocket-Version': '8' }), 426);
    expect(res.headers['sec-websocket-version']).toBe('13');
  });

  it('§4.2.2 check order: bad key wins over a bad Origin (400 before 403)', async () => {
    await refused(upgradeRequest('/chat', { 'Sec-WebSocket-Key': 'AAAA' }), 400);
  });

  it.each([
    ['a', 'a'],
    ['b', 'b'],
    ['b, a', 'a'],
    ['a, b', 'a'],
    ['c, b', 'b'],
    ['  b  ,  c  ', 'b'],
    ['c,b', 'b'],
  ])('§4.2.2 Sec-WebSocket-Protocol %j → server picks %j (first of its own list)', async (offer, chosen) => {
    const h = await expectAccepted(s.port, upgradeRequest('/chat', { ...ok, 'Sec-WebSocket-Protocol': offer }));
    expect(h['sec-websocket-protocol']).toBe(chosen);
  });

  it.each(['c', 'A', 'B, A', 'ab', 'a b', 'aa, bb'])('§4.2.2 Sec-WebSocket-Protocol %j matches none (case-sensitive) → no header', async (offer) => {
    const h = await expectAccepted(s.port, upgradeRequest('/chat', { ...ok, 'Sec-WebSocket-Protocol': offer }));
    expect(h['sec-websocket-protocol']).toBeUndefined();
  });

  it('§4.2.2 no Sec-WebSocket-Protocol offered → no header', async () => {
    const h = await expectAccepted(s.port, upgradeRequest('/chat', ok));
    expect(h['sec-websocket-protocol']).toBeUndefined();
  });

  it('§4.2.2 offers spread over two Sec-WebSocket-Protocol fields → server preference across both', async () => {
    const lines = [...VALID_LINES, 'Origin: https://example.com', 'Sec-WebSocket-Protocol: c, b', 'Sec-WebSocket-Protocol: a'];
    const h = await expectAccepted(s.port, rawRequest('GET /chat HTTP/1.1', lines));
    expect(h['sec-websocket-protocol']).toBe('a');
  });
});

describe('opening handshake with an http hook', () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer(echoOptions({ http: () => ({ status: 200, body: 'plain http ok\n' }) }));
  });
  afterAll(async () => {
    await s.server.close();
  });

  it('§4.2.1 request without Upgrade goes to the http hook instead of 426', async () => {
    const c = await connect(s.port);
    c.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const res = await c.readHttp();
    expect(res.status).toBe(200);
    expect(res.body).toBe('plain http ok\n');
    // HTTP/1.1: kept for the next request (test/http-hook.test.ts has the rest of keep-alive).
    expect(res.headers.connection).toBe('keep-alive');
    c.write('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect((await c.readHttp()).body).toBe('plain http ok\n');
    await c.waitEnd();
    await expectEcho(s.port);
  });

  it('§4.2.1 an upgrade with a bad version still gets 426 natively (the hook sees only non-upgrades)', async () => {
    await expectRefusal(s.port, upgradeRequest('/', { 'Sec-WebSocket-Version': '8' }), 426);
    await expectEcho(s.port);
  });

  it('§4.2.1 a malformed request still gets 400 natively', async () => {
    await expectRefusal(s.port, 'GET / HTTP/1.1\r\nNo-Colon\r\n\r\n', 400);
    await expectEcho(s.port);
  });
});

describe('opening handshake with an async upgrade hook', () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer(echoOptions({
      upgrade: async () => {
        // Long enough that the client's later writes surely arrive while the hook decides.
        await sleep(100);
        return { accept: true };
      },
    }));
  });
  afterAll(async () => {
    await s.server.close();
  });

  it('§4.2.2 frames pipelined while the upgrade hook decides are processed after 101', async () => {
    const c = await connect(s.port);
    c.write(Buffer.concat([
      Buffer.from(upgradeRequest('/')),
      encodeFrame({ opcode: OP.TEXT, payload: 'while-deciding' }),
    ]));
    await sleep(5);
    c.send({ opcode: OP.TEXT, payload: 'second-write' });
    expect((await c.readHttp()).status).toBe(101);
    expect((await c.readFrame()).payload.toString()).toBe('while-deciding');
    expect((await c.readFrame()).payload.toString()).toBe('second-write');
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
    await expectEcho(s.port);
  });

  it('§4.2.2 a client that disconnects while the upgrade hook decides (FIN and RST) does not hurt the server', async () => {
    for (const rst of [false, true]) {
      const c = await connect(s.port);
      c.write(Buffer.concat([Buffer.from(upgradeRequest('/')), encodeFrame({ opcode: OP.TEXT, payload: 'orphan' })]));
      await sleep(10);
      if (rst) c.socket.resetAndDestroy();
      else c.socket.end();
      await c.waitEnd();
    }
    await sleep(150); // let the hook's late decisions land on the dead connections
    await expectEcho(s.port);
  });

  it('§4.2.2 40 KB and 300 KB messages pipelined in later writes while the upgrade hook decides are processed', async () => {
    const c = await connect(s.port);
    c.write(upgradeRequest('/'));
    await sleep(5);
    const big = Buffer.alloc(40_000, 0x2a);
    c.send({ opcode: OP.BINARY, payload: big });
    const huge = Buffer.alloc(300_000, 0x2b);
    c.send({ opcode: OP.BINARY, payload: huge });
    const res = await c.readHttp();
    expect(res.status).toBe(101);
    const f = await c.readFrame();
    expect([f.opcode, f.payload.length, f.payload[0]]).toEqual([OP.BINARY, big.length, 0x2a]);
    const g = await c.readFrame();
    expect([g.opcode, g.payload.length, g.payload[0]]).toEqual([OP.BINARY, huge.length, 0x2b]);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
    await expectEcho(s.port);
  });
});

describe('handshake timeout with slow hooks', () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer(echoOptions({
      handshakeTimeout: 200,
      upgrade: async () => {
        await sleep(400);
        return { accept: true };
      },
      http: async () => {
        await sleep(400);
        return { status: 200, body: 'slow but fine\n' };
      },
    }));
  });
  afterAll(async () => {
    await s.server.close();
  });

  it('§4.2.1 a complete request is not timed out (408) while the upgrade hook decides → 101', async () => {
    const c = await connect(s.port);
    c.write(upgradeRequest('/'));
    const res = await c.readHttp(3000);
    expect(res.status).toBe(101);
    c.send({ opcode: OP.TEXT, payload: 'hook was slow' });
    expect((await c.readFrame()).payload.toString()).toBe('hook was slow');
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });

  it('§4.2.1 a complete plain request is not timed out (408) while the http hook answers → 200', async () => {
    const c = await connect(s.port);
    // Connection: close, so that the end follows the response (else it is kept alive).
    c.write('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    const res = await c.readHttp(3000);
    expect(res.status).toBe(200);
    expect(res.body).toBe('slow but fine\n');
    await c.waitEnd();
  });
});

describe('handshake timeout', () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer(echoOptions({ handshakeTimeout: 200 }));
  });
  afterAll(async () => {
    await s.server.close();
  });

  it('§4.2.1 nothing sent within handshakeTimeout → 408 and the connection closes', async () => {
    const c = await connect(s.port);
    const t0 = Date.now();
    const res = await c.readHttp(3000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(res.status).toBe(408);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.headers.connection.toLowerCase()).toBe('close');
    expect(res.body).toMatch(/^[^\r\n]+\n$/);
    await c.waitEnd();
    expect(sawFin(c)).toBe(true);
    await expectEcho(s.port);
  });

  it('§4.2.1 incomplete request head at handshakeTimeout → 408', async () => {
    const t0 = Date.now(); // before the connection: the timer starts at the accept
    const c = await connect(s.port);
    c.write(upgradeRequest('/').slice(0, 40));
    await sleep(50);
    c.write(upgradeRequest('/').slice(40, 60));
    const res = await c.readHttp(3000);
    // More bytes do not extend the time: still about handshakeTimeout, and not less.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(notBefore(200));
    expect(res.status).toBe(408);
    await c.waitEnd();
    expect(sawFin(c)).toBe(true);
    await expectEcho(s.port);
  });

  it('§4.2.1 a completed handshake is not timed out later', async () => {
    const c = await connect(s.port);
    c.write(upgradeRequest('/'));
    expect((await c.readHttp()).status).toBe(101);
    await sleep(400);
    expect(c.ended).toBe(false);
    c.send({ opcode: OP.TEXT, payload: 'after the timeout' });
    expect((await c.readFrame()).payload.toString()).toBe('after the timeout');
    expect(c.unread.length).toBe(0);
    c.send({ opcode: OP.CLOSE, payload: closePayload(1000) });
    await expectCloseFrame(c, 1000);
  });
});
