// The chat system (examples/chat/server.mjs) as a child process of a test,
// and a `ws` client that speaks its JSON protocol.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import WS from 'ws';

export const CHAT_SERVER = path.join(__dirname, '..', '..', 'examples', 'chat', 'server.mjs');

export interface ChatProcess {
  readonly proc: ChildProcess;
  readonly port: number;
  /** ws://127.0.0.1:port/ (the page is at http://127.0.0.1:port/). */
  readonly url: string;
  /** Its stdout lines up to `listening` (what it said it uses). */
  readonly banner: string[];
  output(): string;
  /** SIGTERM (graceful), SIGKILL after 10 s; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts the chat server with `env` on top of this process's (PORT defaults to 0), once it printed `listening <port>`. */
export function startChat(env: Record<string, string> = {}, readyMs = 120_000): Promise<ChatProcess> {
  const proc = spawn(process.execPath, [CHAT_SERVER], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const banner: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const stop = async (): Promise<number | null> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`the chat server did not print 'listening' within ${readyMs} ms: ${out}`));
    }, readyMs);
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^listening (\d+)$/.exec(line);
        if (!m) {
          banner.push(line);
          continue;
        }
        clearTimeout(timer);
        const port = Number(m[1]);
        resolve({ proc, port, url: `ws://127.0.0.1:${port}/`, banner, output: () => out, stop });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the chat server exited (${code}) before listening: ${out}`));
    });
  });
}

/** A server message of the chat protocol. */
export interface ChatMessage {
  type: string;
  channel?: string;
  user?: string;
  text?: string;
  id?: number;
  ts?: number;
  users?: string[];
  code?: string;
  message?: string;
}

export interface ChatClient {
  readonly ws: WS;
  /** Every message received so far, parsed. */
  readonly received: ChatMessage[];
  send(msg: unknown): void;
  sendRaw(data: string | Buffer): void;
  /** The next message (after those already taken by next()) matching `pred`. */
  next(pred: (m: ChatMessage) => boolean, ms?: number, what?: string): Promise<ChatMessage>;
  /** Resolves once received has a message matching `pred` (taken or not), at index `from` or later. */
  until(pred: (m: ChatMessage) => boolean, ms?: number, what?: string, from?: number): Promise<ChatMessage>;
  readonly closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

export function chatClient(url: string, options: WS.ClientOptions = {}): Promise<ChatClient> {
  const ws = new WS(url, options);
  const received: ChatMessage[] = [];
  let taken = 0;
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    received.push(JSON.parse(data.toString()) as ChatMessage);
    for (const w of waiters) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => {
      for (const w of waiters) w();
      resolve({ code, reason: reason.toString() });
    }),
  );
  const wait = (find: () => ChatMessage | undefined, ms: number, what: string): Promise<ChatMessage> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = find();
        if (m) {
          done();
          resolve(m);
          return true;
        }
        if (ws.readyState === WS.CLOSED) {
          done();
          reject(new Error(`closed while waiting for ${what}; got ${JSON.stringify(received.slice(-5))}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; last: ${JSON.stringify(received.slice(-5))}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      if (!check()) waiters.add(check);
    });
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => {});
      resolve({
        ws,
        received,
        send: (msg) => ws.send(JSON.stringify(msg)),
        sendRaw: (data) => ws.send(data),
        next: (pred, ms = 10_000, what = 'a message') =>
          wait(
            () => {
              for (; taken < received.length; taken++) {
                if (pred(received[taken])) return received[taken++];
              }
              return undefined;
            },
            ms,
            what,
          ),
        until: (pred, ms = 10_000, what = 'a message', from = 0) => {
          let i = from; // where the scan got to: each message is looked at once
          return wait(
            () => {
              for (; i < received.length; i++) if (pred(received[i])) return received[i];
              return undefined;
            },
            ms,
            what,
          );
        },
        closed,
        async close() {
          if (ws.readyState === WS.CLOSED) return;
          ws.close();
          await closed;
        },
      });
    });
  });
}
