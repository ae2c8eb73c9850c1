import { describe, expect, it } from 'vitest';
import WS from 'ws';
import { createServer } from '../src/index';

describe('smoke', () => {
  it('echoes', async () => {
    const server = createServer({ threads: 1, message(ws, d) { ws.send(d); } });
    await server.listen(0, '127.0.0.1');
    const c = new WS(`ws://127.0.0.1:${server.address()!.port}`);
    const got = await new Promise<string>((res) => { c.on('open', () => c.send('hi')); c.on('message', (d) => res(String(d))); });
    expect(got).toBe('hi');
    c.close();
    await server.close();
  });
});
