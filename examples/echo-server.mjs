// The demo behind `npm start`: an echo server with a tiny browser page.
//   PORT=9000 npm start     (default 8080)
import { createServer } from 'corews';

const port = Number(process.env.PORT ?? 8080);

const page = `<!doctype html>
<meta charset="utf-8"><title>corews echo</title>
<input id="m" value="hello" autofocus> <button id="b">send</button>
<pre id="log"></pre>
<script>
  const log = (s) => (document.getElementById('log').textContent += s + '\\n');
  const ws = new WebSocket('ws://' + location.host + '/');
  ws.onopen = () => log('open');
  ws.onmessage = (e) => log('echo: ' + e.data);
  ws.onclose = (e) => log('closed ' + e.code);
  document.getElementById('b').onclick = () => ws.send(document.getElementById('m').value);
</script>`;

const server = createServer({
  // Plain HTTP requests get the page; WebSocket upgrades go native.
  http: () => ({ status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: page }),
  message(ws, data, isBinary) {
    ws.send(data, { binary: isBinary });
  },
});

await server.listen(port);
console.log(`corews echo server on port ${port} with ${server.threads} worker threads`);
console.log(`  browser: http://localhost:${port}/`);
console.log(`  CLI:     npx wscat -c ws://localhost:${port}/`);
console.log('Ctrl-C to stop.');

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await server.close();
    console.log('closed');
  });
}
