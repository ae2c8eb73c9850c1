// A child process that speaks in lines: a fixture prints "WORD value…" lines,
// a test waits for the next line starting with a word and may write commands.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface LineChild {
  readonly proc: ChildProcessWithoutNullStreams;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** What the child wrote to stderr so far. */
  stderr(): string;
  /** The next line (after those already taken) that starts with `word`, without the word. */
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
  let taken = 0;
  let wake: (() => void) | undefined;
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    wake?.();
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => {
    wake?.();
    resolve(code);
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
        for (; taken < lines.length; taken++) {
          if (lines[taken].startsWith(`${word} `) || lines[taken] === word) return lines[taken++].slice(word.length + 1);
        }
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`child exited before '${word}': ${err}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for '${word}' from the child: ${err}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          wake = () => {
            clearTimeout(t);
            r();
          };
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
