// A child process that speaks in lines: a fixture prints "WORD value…" lines,
// a test waits for the next line starting with a word and may write commands.
// Several waits may be pending at once (for different words, or the same one):
// each line goes to one wait, and lines no wait took stay for later waits.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface LineChild {
  readonly proc: ChildProcessWithoutNullStreams;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** What the child wrote to stderr so far. */
  stderr(): string;
  /** The earliest line not yet taken that starts with `word`, without the word; it is taken. */
  next(word: string, ms?: number): Promise<string>;
  /** Writes one command line to the child's stdin. */
  command(line: string): void;
  /** Resolves with the exit code once the child has exited. */
  readonly exited: Promise<number | null>;
  kill(): void;
}

/** Spawns `file args…`; the child is killed after `killAfterMs` at the latest. */
export function spawnLines(file: string, args: string[], killAfterMs = 60_000): LineChild {
  const proc = spawn(file, args, { stdio: 'pipe' });
  const lines: string[] = [];
  let err = '';
  let buf = '';
  /** Lines before this index are all taken; after it, `taken` says which are. */
  let floor = 0;
  const taken = new Set<number>();
  const waiting = new Set<() => void>();
  const wakeAll = (): void => {
    for (const wake of [...waiting]) wake();
  };
  const take = (word: string): string | undefined => {
    for (let i = floor; i < lines.length; i++) {
      if (taken.has(i) || !(lines[i].startsWith(`${word} `) || lines[i] === word)) continue;
      taken.add(i);
      while (taken.delete(floor)) floor++;
      return lines[i].slice(word.length + 1);
    }
    return undefined;
  };
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    wakeAll();
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => {
    resolve(code);
    wakeAll();
  }));
  const timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
  void exited.then(() => clearTimeout(timer));
  return {
    proc,
    lines,
    stderr: () => err,
    async next(word, ms = 10_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const line = take(word);
        if (line !== undefined) return line;
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`child exited before '${word}': ${err}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for '${word}' from the child: ${err}`);
        await new Promise<void>((r) => {
          const wake = (): void => {
            clearTimeout(t);
            waiting.delete(wake);
            r();
          };
          const t = setTimeout(wake, left);
          waiting.add(wake);
        });
      }
    },
    command(line) {
      proc.stdin.write(`${line}\n`);
    },
    exited,
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}
