// Presence: redisPresence with a real redis-server and several processes
// (test/fixtures/redis-node.cjs), and memoryPresence in this process.
import { beforeAll, describe, expect, it } from 'vitest';
import { memoryPresence, redisPresence, type Presence } from '../src/redis/index';
import { sleep } from './helpers/clients';
import { afterRenewal } from './helpers/presence-renewal';
import { HAVE_REDIS, requireRedisServer, until, useRedisNodes, type RedisNode, type RedisNodes } from './helpers/redis-nodes';
import type { RedisServer } from './helpers/redis-server';

const LEASE_MS = 1200;

interface Node extends RedisNode {
  /** The presence events this process printed so far, as "join room member". */
  events(): string[];
}

/** The suite's fixture and Redis (set by its beforeAll). */
let cluster: RedisNodes;
let redis: RedisServer;

async function node(name: string): Promise<Node> {
  const n = await cluster.start({ name, noAdapter: true, presence: { leaseMs: LEASE_MS } });
  return Object.assign(n, { events: () => n.child.lines.filter((l) => l.startsWith('PEVENT ')).map((l) => l.slice(7)) });
}

const members = async (n: Node, room: string): Promise<string[]> => JSON.parse(await n.ask(`pmembers ${room}`));

requireRedisServer();

describe.skipIf(!HAVE_REDIS)('redisPresence across processes', () => {
  const mine = useRedisNodes();
  beforeAll(() => {
    cluster = mine;
    redis = mine.redis;
  });

  it('join and leave events reach the watching processes once per change; several holders make one member', async () => {
    const [a, b, c] = await Promise.all([node('A'), node('B'), node('C')]);
    await a.ask('pwatch lobby');
    await until('A subscribed to the room', () => Number(redis.cli('PUBSUB', 'NUMSUB', 'corews:presence:e:{rlobby}')[1]) === 1);
    await b.ask('pjoin lobby alice');
    await until('A sees the join', () => a.events().length === 1);
    await until('B sees its own join', () => b.events().length === 1);
    expect(a.events()).toEqual(['join lobby alice']);
    expect(b.events()).toEqual(['join lobby alice']);
    expect(await members(c, 'lobby')).toEqual(['alice']);

    // More holders of alice: B again (another connection), and A. No event: she is in already.
    await b.ask('pjoin lobby alice');
    await a.ask('pjoin lobby alice');
    await b.ask('pleave lobby alice');
    await b.ask('pleave lobby alice');
    expect(await members(c, 'lobby')).toEqual(['alice']);
    await a.ask('pleave lobby alice');
    await until('A sees the leave', () => a.events().length === 2);
    expect(a.events()).toEqual(['join lobby alice', 'leave lobby alice']);
    expect(await members(c, 'lobby')).toEqual([]);
    // C never watched the room; B holds nothing in it any more.
    await sleep(200);
    expect(c.events()).toEqual([]);
    expect(b.events()).toEqual(['join lobby alice']);
  });

  it('members() is cluster-wide, sorted and unique', async () => {
    const [a, b] = await Promise.all([node('A'), node('B')]);
    await Promise.all([a.ask('pjoin r carol'), b.ask('pjoin r bob')]);
    await Promise.all([a.ask('pjoin r alice'), b.ask('pjoin r alice')]);
    await b.ask('pjoin r dave');
    expect(await members(a, 'r')).toEqual(['alice', 'bob', 'carol', 'dave']);
    expect(await members(b, 'r')).toEqual(['alice', 'bob', 'carol', 'dave']);
    expect(await members(a, 'empty')).toEqual([]);
    // Names with the characters the keys and channels use.
    await a.ask('pjoin odd:{r}:h:x b:1');
    await b.ask('pjoin odd:{r}:h:x a}{');
    expect(await members(b, 'odd:{r}:h:x')).toEqual(['a}{', 'b:1']);
    await a.ask('pleave odd:{r}:h:x b:1');
    expect(await members(b, 'odd:{r}:h:x')).toEqual(['a}{']);
    expect(await members(b, 'r')).toEqual(['alice', 'bob', 'carol', 'dave']);
  });

  it('the living renew their leases: members stay past many lease times', async () => {
    const [a, b] = await Promise.all([node('A'), node('B')]);
    await a.ask('pjoin keep dave');
    await b.ask('pwatch keep');
    await until('B subscribed', () => Number(redis.cli('PUBSUB', 'NUMSUB', 'corews:presence:e:{rkeep}')[1]) === 2);
    await sleep(LEASE_MS * 4);
    expect(await members(b, 'keep')).toEqual(['dave']);
    expect(b.events().filter((e) => e.startsWith('leave'))).toEqual([]);
  });

  it('a process killed with SIGKILL just after a renewal: its members leave within the lease on the others, announced once', async () => {
    const [a, b, c] = await Promise.all([node('A'), node('B'), node('C')]);
    await Promise.all([a.ask('pwatch room'), c.ask('pwatch room')]);
    await until('A and C subscribed', () => Number(redis.cli('PUBSUB', 'NUMSUB', 'corews:presence:e:{rroom}')[1]) === 2);
    await b.ask('pjoin room bob');
    await b.ask('pjoin room carol');
    await c.ask('pjoin room carol'); // carol is held by C as well: she stays
    await until('joins seen', () => a.events().length === 2 && c.events().length === 2).catch((e) => {
      throw new Error(`${e.message}: A ${JSON.stringify(a.events())} C ${JSON.stringify(c.events())}`);
    });
    // Killed with the freshest hold it can leave: the longest wait for its expiry.
    await afterRenewal(redis.url, 'room', 'bob');
    const killedAt = Date.now();
    b.child.proc.kill('SIGKILL');
    await b.child.exited;
    await until('the leave of bob', () => a.events().includes('leave room bob') && c.events().includes('leave room bob'), 5000);
    // leaseMs is the bound: a hold lives half of it, and the sweeps come every quarter.
    const converged = Date.now() - killedAt;
    console.log(`presence converged ${converged} ms after the kill (lease ${LEASE_MS} ms)`);
    expect(converged).toBeLessThanOrEqual(LEASE_MS);
    await sleep(LEASE_MS * 2);
    expect(a.events()).toEqual(['join room bob', 'join room carol', 'leave room bob']);
    expect(c.events()).toEqual(['join room bob', 'join room carol', 'leave room bob']);
    expect(await members(a, 'room')).toEqual(['carol']);
  });

  it('close() leaves everything the process holds', async () => {
    const [a, b] = await Promise.all([node('A'), node('B')]);
    await b.ask('pwatch x');
    await until('B subscribed', () => Number(redis.cli('PUBSUB', 'NUMSUB', 'corews:presence:e:{rx}')[1]) === 1);
    await a.ask('pjoin x eve');
    await a.ask('pjoin x frank');
    await until('joins seen', () => b.events().length === 2);
    await a.ask('close');
    await until('leaves seen', () => b.events().length === 4);
    expect(b.events().slice(2).sort()).toEqual(['leave x eve', 'leave x frank']);
    expect(await members(b, 'x')).toEqual([]);
  });

  it('after Redis lost its data (restart, nothing saved), the living put their members back', async () => {
    const a = await node('A');
    await a.ask('pjoin back gina');
    await redis.restart();
    // The next renewal puts her back (its join event may come before A's subscriber is back).
    await until('gina back', async () => JSON.stringify(await members(a, 'back')) === '["gina"]', 10_000);
  });
});

describe('memoryPresence', () => {
  it('has the same behaviour in one process', async () => {
    const p: Presence = memoryPresence();
    const events: string[] = [];
    p.on('join', (room, member) => events.push(`join ${room} ${member}`));
    p.on('leave', (room, member) => events.push(`leave ${room} ${member}`));
    p.watch('lobby');
    await p.join('lobby', 'bob');
    await p.join('lobby', 'alice');
    await p.join('lobby', 'alice');
    expect(await p.members('lobby')).toEqual(['alice', 'bob']);
    await p.leave('lobby', 'alice');
    expect(events).toEqual(['join lobby bob', 'join lobby alice']);
    await p.leave('lobby', 'alice');
    await p.leave('lobby', 'nobody');
    expect(events).toEqual(['join lobby bob', 'join lobby alice', 'leave lobby alice']);
    await p.join('other', 'carol');
    await p.close();
    expect(events[3]).toBe('join other carol');
    expect(events.slice(4).sort()).toEqual(['leave lobby bob', 'leave other carol']);
    expect(await p.members('lobby')).toEqual([]);
    await expect(p.join('lobby', 'x')).rejects.toThrow(/closed/);
    await expect(p.join(1 as unknown as string, 'x')).rejects.toThrow(TypeError);
  });
});

describe('redisPresence options', () => {
  it('throw TypeError or RangeError naming the option', () => {
    expect(() => redisPresence({ leaseMs: 10 })).toThrow(RangeError);
    expect(() => redisPresence({ leaseMs: 10 })).toThrow(/options\.leaseMs/);
    expect(() => redisPresence({ leaseMs: 'x' as unknown as number })).toThrow(TypeError);
    expect(() => redisPresence({ prefix: 5 as unknown as string })).toThrow(/options\.prefix/);
    expect(() => redisPresence({ url: 'localhost' })).toThrow(/options\.url/);
  });
});
