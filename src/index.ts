/**
 * corews: a WebSocket server for Node.js whose I/O runs in native per-core
 * event loops. See README.md for the guide.
 * @packageDocumentation
 */
export { createServer, Server, type AddressInfo, type CloseOptions, type HttpServerLike, type IncomingRequest } from './server';
export type { AdapterHost, AdapterStats, PubSubAdapter } from './adapter';
export type { PerMessageDeflateOptions } from './deflate';
export type { CloseCodeCounts, DeflateStats, ServerStats } from './stats';
export type { Pem, TlsKeyObject, TlsOptions } from './tls';
export { MAX_MESSAGE_BYTES, WebSocket, SendStatus, type Payload, type ReadyState, type SendOptions } from './websocket';
export type {
  HandshakeRefusal,
  Headers,
  HttpRequest,
  HttpBodyStream,
  HttpResponse,
  ServerOptions,
  UpgradeAccept,
  UpgradeReject,
  UpgradeRequest,
  UpgradeResult,
} from './options';
