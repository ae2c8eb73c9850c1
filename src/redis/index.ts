/**
 * corews/redis: scale-out over Redis. `redisAdapter()` makes `server.publish` reach the
 * subscribers of every process on one Redis; `redisPresence()` tracks who is in which room
 * across them, `memoryPresence()` within one process. Needs the optional peer `ioredis`
 * (memoryPresence does not).
 * @packageDocumentation
 */
export { redisAdapter, type RedisAdapterOptions } from './adapter';
export { redisPresence, type RedisPresenceOptions } from './redis-presence';
export { memoryPresence } from './memory-presence';
export type { Presence } from './presence';
export type { AdapterHost, AdapterStats, PubSubAdapter } from '../adapter';
