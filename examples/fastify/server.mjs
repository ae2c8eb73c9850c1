// A Fastify 5 app with corews on the same port: HTTP routes on Fastify
// (fastify.server is its Node http.Server), WebSocket connections at /ws
// handed over to corews's native workers.
//   node examples/fastify/server.mjs        (PORT, default 8080; HOST, default localhost)
// then http://localhost:8080/ in a browser, or:
//   curl localhost:8080/health
//   npx wscat -c 'ws://localhost:8080/ws?room=lobby'
//   curl -X POST -H 'content-type: application/json' -d '{"text":"hi all"}' localhost:8080/api/rooms/lobby/messages
//
// /ws echoes every message to its sender; a connection that joined a room
// (?room=name) also relays its messages to the rest of the room, and
// POST /api/rooms/:room/messages publishes into a room from HTTP.
// SIGTERM/SIGINT: fastify.close(), whose preClose hook closes corews first
// (clients get 1001), then Fastify closes its HTTP server.
//
// Fastify itself has no 'upgrade' handling (@fastify/websocket adds one, with
// ws: do not register both for the same path). When it listens on a name with
// several addresses (localhost: 127.0.0.1 and ::1) it runs one http server per
// address and re-emits their 'upgrade' events on fastify.server, so attaching
// there covers all of them.
import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { createServer } from 'corews';

const WS_PATH = '/ws';

const page = `<!doctype html>
<meta charset="utf-8"><title>Fastify + corews</title>
<p>room <input id="room" value="lobby"> <button id="join">join</button></p>
<p><input id="m" value="hello"> <button id="send">send</button></p>
<pre id="log"></pre>
<script>
  let ws;
  const log = (s) => (document.getElementById('log').textContent += s + '\\n');
  document.getElementById('join').onclick = () => {
    ws?.close();
    ws = new WebSocket('ws://' + location.host + '${WS_PATH}?room=' + encodeURIComponent(document.getElementById('room').value));
    ws.onopen = () => log('open');
    ws.onmessage = (e) => log(e.data);
    ws.onclose = (e) => log('closed ' + e.code);
  };
  document.getElementById('send').onclick = () => ws?.send(document.getElementById('m').value);
</script>`;

/** The room a request target asks for (`?room=name`), or null. */
function roomOf(url) {
  return new URL(url, 'ws://x').searchParams.get('room') || null;
}

/**
 * Builds the app and starts listening. Resolves to the Fastify instance, its
 * http server, the corews server, the port, and close() (= fastify.close():
 * corews, then HTTP).
 */
export async function start({ port = 8080, host = 'localhost', threads, logger = false } = {}) {
  const wss = createServer({
    ...(threads ? { threads } : {}),
    open(ws) {
      const room = roomOf(ws.url);
      ws.data = { room };
      if (room) ws.subscribe(room);
    },
    message(ws, data, isBinary) {
      ws.send(data, { binary: isBinary }); // echo
      if (ws.data.room) ws.publish(ws.data.room, data, { binary: isBinary }); // and to the rest of the room
    },
  });

  const app = Fastify({ logger });
  app.get('/health', async (req, reply) => reply.type('text/plain').send('ok'));
  app.get('/api/stats', async () => {
    const { connections, messages } = wss.stats();
    return { connections: wss.connections, opened: connections.total, messagesIn: messages.in, messagesOut: messages.out };
  });
  app.post('/api/rooms/:room/messages', {
    schema: { body: { type: 'object', required: ['text'], properties: { text: { type: 'string' } } } },
  }, async (req) => {
    const { room } = req.params;
    const subscribers = wss.subscribers(room);
    wss.publish(room, req.body.text);
    return { room, subscribers };
  });
  app.get('/', async (req, reply) => reply.type('text/html; charset=utf-8').send(page));

  // corews closes before Fastify stops its HTTP server.
  app.addHook('preClose', async () => {
    await wss.close();
  });

  await app.listen({ port, host });
  wss.attach(app.server, { path: WS_PATH });
  // attach() takes only upgrades to WS_PATH and leaves the rest to the server's
  // other 'upgrade' listeners; Node keeps a socket nobody took open, so answer
  // those here (404 elsewhere, 503 at WS_PATH once corews has closed).
  app.server.on('upgrade', (req, socket) => {
    if (socket.destroyed) return; // corews took it
    const status = (req.url ?? '').split('?')[0] === WS_PATH ? '503 Service Unavailable' : '404 Not Found';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  return { app, http: app.server, wss, port: app.server.address().port, close: () => app.close() };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { port, wss, close } = await start({ port: Number(process.env.PORT ?? 8080), host: process.env.HOST });
  console.log(`Fastify + corews on http://localhost:${port}/ (WebSocket at ws://localhost:${port}${WS_PATH}, ${wss.threads} worker threads)`);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, async () => {
      await close();
      console.log('closed');
    });
  }
}
