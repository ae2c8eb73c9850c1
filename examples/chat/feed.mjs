// The room feed: the pub/sub adapter the chat hands to server.adapt(). It
// wraps the real one (Redis, or none in one process) for two reasons:
//
// - A joining socket must get the room's history before any live message, and
//   every live message exactly once. Native topics deliver without JS, so JS
//   cannot buffer them per socket; instead this process watches every room
//   message itself: its own publishes (the chat reports them) and the ones other
//   processes send, which the wrapper sees as they pass to host.deliver(). A
//   joining socket's live messages are buffered from that feed until its history
//   is out and the feed has passed the history's last id; then it subscribes
//   natively, in the same tick (rooms.mjs).
// - Presence lists are sent on topics named `local:…`: every process that sees
//   a presence change publishes the list to its own sockets, so the wrapper keeps
//   those topics from the broker (forwarding them would deliver each list once
//   per process).
//
// Room topics are also held subscribed at the broker for as long as the server
// runs (the room list is fixed), so a room going from no local socket to one
// never waits for a broker SUBSCRIBE while its history is read.

/** Topics under this prefix stay in this process. */
export const LOCAL_PREFIX = 'local:';

const decoder = new TextDecoder();

/**
 * `inner`: the real PubSubAdapter, or undefined for one process.
 * `onMessage(topic, text)`: called for every message published to a held topic
 * from another process, right after it was delivered to the local subscribers.
 */
export function roomFeed(inner, onMessage) {
  const native = new Set(); // topics the server has local subscribers for
  const held = new Set(); // topics the chat keeps subscribed at the broker
  const isLocal = (t) => t.startsWith(LOCAL_PREFIX);
  let host;
  const adapter = {
    attach(h) {
      host = h;
      inner?.attach({
        deliver(topic, data, binary) {
          host.deliver(topic, data, binary);
          // After the delivery: a join that goes live in onMessage must not get this one natively too.
          if (held.has(topic) && !binary) onMessage(topic, typeof data === 'string' ? data : decoder.decode(data));
        },
        topics: () => [...new Set([...host.topics().filter((t) => !isLocal(t)), ...held])],
      });
    },
    subscribe(topic) {
      if (isLocal(topic)) return;
      native.add(topic);
      if (!held.has(topic)) inner?.subscribe(topic);
    },
    unsubscribe(topic) {
      if (isLocal(topic)) return;
      native.delete(topic);
      if (!held.has(topic)) inner?.unsubscribe(topic);
    },
    publish(topic, data, binary) {
      if (!isLocal(topic)) inner?.publish(topic, data, binary);
    },
    stats() {
      return inner?.stats() ?? { state: 'ready', published: 0, received: 0, buffered: 0, dropped: 0, lagMs: 0, reconnects: 0 };
    },
    close: () => inner?.close() ?? Promise.resolve(),
  };
  return {
    adapter,
    /** Keeps `topic` subscribed at the broker whether or not a local socket is. */
    hold(topic) {
      if (held.has(topic)) return;
      held.add(topic);
      if (!native.has(topic)) inner?.subscribe(topic);
    },
  };
}
