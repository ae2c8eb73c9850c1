// An Express 5 app with corews on the same port: HTTP routes on Node's http
// server, WebSocket connections at /ws handed over to corews's native workers.
//   node examples/express/server.mjs        (PORT, default 8080; HOST, default all)
// then http://localhost:8080/ in a browser, or:
//   curl localhost:8080/health
//   npx wscat -c 'ws://localhost:8080/ws?room=lobby'
//   curl -X POST -H 'content-type: application/json' -d '{"text":"hi all"}' localhost:8080/api/rooms/lobby/messages
//
// /ws echoes every message to its sender; a connection that joined a room
// (?room=name) also relays its messages to the rest of the room, and
// POST /api/rooms/:room/messages publishes into a room from HTTP.
// SIGTERM/SIGINT: corews closes first (clients get 1001), then the HTTP server.
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import express from 'express';
import { createServer } from 'corews';

const WS_PATH = '/ws';

const page = `<!doctype html>
<meta charset="utf-8"><title>Express + corews</title>
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
 * Builds the app and starts listening. Resolves to the Express app, Node's
 * http server, the corews server, the port, and close() (corews, then HTTP).
 */
export async function start({ port = 8080, host, threads } = {}) {
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

  const app = express();
  app.get('/health', (req, res) => res.type('text/plain').send('ok'));
  app.get('/api/stats', (req, res) => {
    const { connections, messages } = wss.stats();
    res.json({ connections: wss.connections, opened: connections.total, messagesIn: messages.in, messagesOut: messages.out });
  });
  app.post('/api/rooms/:room/messages', express.json(), (req, res) => {
    const text = req.body?.text;
    if (typeof text !== 'string') return res.status(400).json({ error: 'body must be {"text": string}' });
    const subscribers = wss.subscribers(req.params.room);
    wss.publish(req.params.room, text);
    res.json({ room: req.params.room, subscribers });
  });
  app.get('/', (req, res) => res.type('html').send(page));

  const http = app.listen(port, host);
  await once(http, 'listening');
  wss.attach(http, { path: WS_PATH });
  // attach() takes only upgrades to WS_PATH and leaves the rest to the server's
  // other 'upgrade' listeners; Node keeps a socket nobody took open, so answer
  // those here (404 elsewhere, 503 at WS_PATH once corews has closed).
  http.on('upgrade', (req, socket) => {
    if (socket.destroyed) return; // corews took it
    const status = (req.url ?? '').split('?')[0] === WS_PATH ? '503 Service Unavailable' : '404 Not Found';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  let closing;
  const close = () => (closing ??= (async () => {
    await wss.close(); // WebSocket clients get 1001, then the workers stop
    await new Promise((resolve, reject) => http.close((err) => (err ? reject(err) : resolve())));
  })());
  return { app, http, wss, port: http.address().port, close };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { port, wss, close } = await start({ port: Number(process.env.PORT ?? 8080), host: process.env.HOST });
  console.log(`Express + corews on http://localhost:${port}/ (WebSocket at ws://localhost:${port}${WS_PATH}, ${wss.threads} worker threads)`);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, async () => {
      await close();
      console.log('closed');
    });
  }
}
