// A type test, compiled by `npm run typecheck` (tsconfig.json includes test/) and never run: the
// typed on()/once()/off() overloads of corews/ws infer listener arguments from the event name,
// and a listener of an unrelated shape is a compile error (each `@ts-expect-error` line must fail
// to compile, or tsc reports the directive as unused).
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type UpgradeIncomingMessage, type WsMessageData } from '../../src/ws/index';

export function typedListeners(wss: WebSocketServer): void {
  wss.on('connection', (ws, req) => {
    const socket: WebSocket = ws;
    const request: UpgradeIncomingMessage = req;
    void socket, request;
    ws.on('message', (data, isBinary) => {
      const d: WsMessageData = data;
      const b: boolean = isBinary;
      void d, b;
    });
    ws.once('close', (code, reason) => {
      const c: number = code;
      const r: Buffer = reason;
      void c, r;
    });
    ws.on('ping', (data) => void data.byteLength);
    const onPong = (data: Buffer): void => void data;
    ws.on('pong', onPong);
    ws.off('pong', onPong);
    ws.on('custom-event', () => {}); // other names take any listener, as on an EventEmitter

    // @ts-expect-error close's code is a number, not a string
    ws.on('close', (code: string) => void code);
    // ws programs name the default form (binaryType 'nodebuffer'): that compiles.
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
    // @ts-expect-error a message is never a number
    ws.on('message', (data: number) => void data);
    // @ts-expect-error ping's payload is a Buffer
    ws.once('ping', (data: string) => void data);
  });
  wss.once('headers', (headers, req) => {
    headers.push('X-Hello: 1');
    void req.url;
  });
  wss.on('wsClientError', (err, socket, req) => {
    const e: Error = err;
    const s: Duplex = socket;
    void e, s, req.headers;
  });
  wss.on('listening', () => {});
  const onError = (err: Error): void => void err.message;
  wss.on('error', onError);
  wss.off('error', onError);

  // @ts-expect-error connection's first argument is a WebSocket, not a number
  wss.on('connection', (ws: number) => void ws);
  // @ts-expect-error 'listening' has no arguments to type as a string
  wss.on('listening', (what: string) => void what);
  // @ts-expect-error wsClientError's first argument is an Error
  wss.on('wsClientError', (err: string) => void err);
}
