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
  let report;
  try {
    report = await runBench(args);
  } catch (err) {
    process.stderr.write(`corews bench: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(args.json ? `${JSON.stringify(report)}\n` : `${formatReport(report)}\n`);
  // A run that could not open a single connection measured nothing.
  if (report.handshakes === 0) {
    process.stderr.write(`corews bench: no connection could be opened to ${args.url}\n`);
    return 1;
  }
  return 0;
}
