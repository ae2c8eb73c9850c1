// The `corews` command.
import { BENCH_USAGE, formatReport, parseBenchArgs, runBench } from './bench';

const USAGE = `usage: corews <command>

commands:
  bench   drive a WebSocket server and measure it (corews bench --help)
`;

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command === undefined ? 1 : 0;
  }
  if (command !== 'bench') {
    process.stderr.write(`corews: unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  let args;
  try {
    args = parseBenchArgs(rest);
  } catch (err) {
    process.stderr.write(`corews bench: ${(err as Error).message}\n${BENCH_USAGE}`);
    return 1;
  }
  let outcome;
  try {
    outcome = await runBench(args);
  } catch (err) {
    process.stderr.write(`corews bench: ${(err as Error).message}\n`);
    return 1;
  }
  const { report, firstError, aborted } = outcome;
  process.stdout.write(args.json ? `${JSON.stringify(report)}\n` : `${formatReport(report)}\n`);
  // A rejected certificate stops the run: no connection could succeed.
  if (aborted) {
    process.stderr.write(`corews bench: ${args.url}: ${firstError}${hint(firstError)}\n`);
    return 1;
  }
  // A run that could not open a single connection measured nothing.
  if (report.handshakes === 0) {
    process.stderr.write(`corews bench: no connection could be opened to ${args.url}${firstError ? ` (the first: ${firstError})` : ''}\n`);
    return 1;
  }
  return 0;
}

/** What to do about a rejected certificate. */
function hint(error: string): string {
  if (!/certificate verify failed/.test(error)) return '';
  return '; --ca <file> trusts the CA that issued it, -k/--insecure skips the check';
}
