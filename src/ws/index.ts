/**
 * corews/ws: the server side of the `ws` package's API on the corews native engine.
 * `import { WebSocketServer, WebSocket } from 'corews/ws'`. See README, "ws-compatible API".
 * @packageDocumentation
 */
import { WebSocketServer } from './server';
import { WebSocket } from './socket';

export { WebSocketServer, WebSocket };
/** ws's alias of {@link WebSocketServer} (`WebSocket.Server`). */
export const Server = WebSocketServer;
export type { BinaryType, OtherEvent, WebSocketEventMap, WebSocketListener, WsCallback, WsData, WsMessageData, WsSendOptions } from './socket';
export type { WebSocketServerEventMap, WebSocketServerListener } from './server';
export { RefusedSocket } from './refused-socket';
export type {
  CorewsOptions, HandleProtocols, VerifyClient, VerifyClientCallback, VerifyClientInfo, WebSocketServerOptions,
  WsPerMessageDeflateOptions,
} from './options';
export type { EmulatedRequest, EmulatedSocket, UpgradeIncomingMessage } from './request';
export { CloseEvent, ErrorEvent, MessageEvent, WsEvent, type AddEventListenerOptions, type EventListenerLike, type WsEventType } from './events';

/**
 * @throws Error always: streams over a WebSocket are not offered by corews/ws (wrap the socket's
 * 'message' events and send() in a stream of your own; pause() and resume() give it backpressure).
 */
export function createWebSocketStream(): never {
  throw new Error('corews/ws: createWebSocketStream() is not supported (wrap the socket in a stream of your own; pause()/resume() give it backpressure)');
}
