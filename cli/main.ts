import { FailoverError } from '../shared/errors.js';
import { agent } from './agent.js';
import { serve } from './serve.js';
import { events, status } from './status.js';
import { token } from './token.js';
import { UsageError } from './usage.js';

const HELP = `failover: a serverless failover control plane for AWS

Usage: npx failover <command> [options]

Commands:
  serve     run the local control plane (same as npm start)
  agent     send heartbeats for one node and run hooks on role changes
  status    show a cluster: active node, epoch, per-node liveness (local or deployed, IAM-signed)
  events    list a cluster's promotions and holds, newest first
  token     mint a node token and print its SHA-256 for the config

Run \`npx failover <command> --help\` for a command's options.
`;

const COMMANDS: Record<string, (argv: string[]) => number | Promise<number>> = {
  serve,
  agent,
  status,
  events,
  token,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(HELP);
    return 0;
  }
  const run = COMMANDS[command];
  if (run === undefined) {
    process.stderr.write(`failover: unknown command '${command}'\n\n${HELP}`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (err) {
    // Bad usage and bad config are the user's to fix: one clear message, no stack trace.
    const code = (err as { code?: unknown } | null)?.code;
    if (
      err instanceof UsageError ||
      err instanceof FailoverError ||
      (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
    ) {
      process.stderr.write(`failover ${command}: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}
