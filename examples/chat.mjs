// A chat server: clients join rooms by URL (ws://host:8080/?room=lobby) and
// every message goes to everyone else in the room, fanned out natively.
import { createServer } from 'corews';

const server = createServer({
  open(ws) {
    const room = new URL(ws.url, 'ws://x').searchParams.get('room') ?? 'lobby';
    ws.data = { room };
    ws.subscribe(room);
    server.publish(room, `* someone joined ${room} (${server.subscribers(room)} here)`);
  },
  message(ws, text) {
    ws.publish(ws.data.room, text); // to everyone in the room but the sender
  },
  close(ws) {
    server.publish(ws.data.room, '* someone left');
  },
});

await server.listen(Number(process.env.PORT ?? 8080));
console.log(`chat on port ${server.address().port}`);
process.once('SIGINT', () => server.close());
process.once('SIGTERM', () => server.close());
