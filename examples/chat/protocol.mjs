// The chat's JSON protocol: parse and validate what a client sends, build what
// the server sends. Pure functions, no I/O, so every rule is in one place.

/** The error codes a client can get (`{"type":"error","code","message"}`). */
export const ErrorCode = Object.freeze({
  BAD_JSON: 'bad_json',
  UNKNOWN_TYPE: 'unknown_type',
  MISSING_FIELD: 'missing_field',
  UNKNOWN_ROOM: 'unknown_room',
  TEXT_TOO_LONG: 'text_too_long',
  RATE_LIMITED: 'rate_limited',
  NOT_JOINED: 'not_joined',
});

/** Longest user name, in characters (code points). */
export const MAX_USER = 32;

/** A protocol error: what the client did wrong, answered with an error message. */
export class ChatError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const chars = (s) => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

function field(msg, name, what) {
  const v = msg[name];
  if (typeof v !== 'string' || v.length === 0) {
    throw new ChatError(ErrorCode.MISSING_FIELD, `'${msg.type}' needs "${name}": ${what}`);
  }
  return v;
}

/**
 * Parses one client message. Returns `{ type: 'join', channel, user, since? }`,
 * `{ type: 'message', channel, text }` or `{ type: 'leave', channel }`; throws a
 * ChatError otherwise. `rooms` is the set of rooms that exist; `maxText` the
 * longest text in characters. A binary frame is bad JSON (the protocol is text).
 */
export function parseClientMessage(data, isBinary, { rooms, maxText }) {
  if (isBinary) throw new ChatError(ErrorCode.BAD_JSON, 'messages are JSON text frames, not binary');
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    throw new ChatError(ErrorCode.BAD_JSON, 'not valid JSON');
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
    throw new ChatError(ErrorCode.BAD_JSON, 'a message is a JSON object');
  }
  if (typeof msg.type !== 'string') throw new ChatError(ErrorCode.MISSING_FIELD, 'every message needs "type"');
  if (msg.type !== 'join' && msg.type !== 'message' && msg.type !== 'leave') {
    throw new ChatError(ErrorCode.UNKNOWN_TYPE, `unknown type "${msg.type.slice(0, 40)}" (join, message, leave)`);
  }
  const channel = field(msg, 'channel', 'a room name');
  if (!rooms.has(channel)) {
    throw new ChatError(ErrorCode.UNKNOWN_ROOM, `no room "${channel.slice(0, 40)}" (rooms: ${[...rooms].join(', ')})`);
  }
  if (msg.type === 'leave') return { type: 'leave', channel };
  if (msg.type === 'message') {
    const text = field(msg, 'text', 'the message text');
    if (chars(text) > maxText) throw new ChatError(ErrorCode.TEXT_TOO_LONG, `text is over ${maxText} characters`);
    return { type: 'message', channel, text };
  }
  const user = field(msg, 'user', 'your name');
  if (chars(user) > MAX_USER || user.trim() !== user) {
    throw new ChatError(ErrorCode.MISSING_FIELD, `"user" must be 1 to ${MAX_USER} characters, no surrounding spaces`);
  }
  const out = { type: 'join', channel, user };
  if (msg.since !== undefined) {
    if (!Number.isSafeInteger(msg.since) || msg.since < 0) {
      throw new ChatError(ErrorCode.MISSING_FIELD, '"since" must be a message id (an integer ≥ 0)');
    }
    out.since = msg.since;
  }
  return out;
}

/** A stored message as the room gets it. */
export const messageJson = ({ channel, user, text, id, ts }) =>
  JSON.stringify({ type: 'message', channel, user, text, id, ts });

export const presenceJson = (channel, users) => JSON.stringify({ type: 'presence', channel, users });

export const errorJson = (code, message) => JSON.stringify({ type: 'error', code, message });

/** Sent once a join's history is out: what follows is live. Lets a client tell catch-up from live. */
export const joinedJson = (channel, lastId) => JSON.stringify({ type: 'joined', channel, lastId });
