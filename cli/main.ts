import { readFileSync } from 'node:fs';
import { FailoverError } from '../shared/errors.js';
import { closest } from '../shared/suggest.js';
import { AdminRequestError, UsageError } from './usage.js';

const HELP = `failover: a serverless failover control plane for AWS

Usage: failover <command> [options]     (in its repository: npx failover …)

Commands:
  serve          run the local control plane (same as npm start)
  store          run the local control plane's storage on its own port, for several serve
                 processes at once (local Regions over one table)
  agent          send heartbeats for one node and run hooks on role changes
  status         show a cluster: active node, epoch, per-node liveness (local or deployed, IAM-signed)
  events         list a cluster's promotions and holds, newest first
  switchover     move the active role now (to a node, or the best standby)
  pause          pause automatic failover and failback (resume to undo)
  resume         resume automation
  console        open the operator's console for a deployed control plane (SigV4 proxy on 127.0.0.1)
  run-if-active  run a command only on the active node (for cron), with FAILOVER_EPOCH
  token          mint a node token and print its SHA-256 for the config

Run \`failover <command> --help\` for a command's options; \`failover --version\` prints the version.
`;

type Command = (argv: string[]) => number | Promise<number>;

/**
 * Each command loads only its own code: an agent or a cron job on a node starts fast and
 * never loads the local server's embedded storage or the CDK.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.js')).serve,
  store: async () => (await import('./store.js')).store,
  agent: async () => (await import('./agent/agent.js')).agent,
  status: async () => (await import('./status.js')).status,
  events: async () => (await import('./status.js')).events,
  switchover: async () => (await import('./operate.js')).switchover,
  pause: async () => (await import('./operate.js')).pause,
  resume: async () => (await import('./operate.js')).resume,
  console: async () => (await import('./console.js')).consoleCommand,
  'run-if-active': async () => (await import('./run-if-active.js')).runIfActive,
  token: async () => (await import('./token.js')).token,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(HELP);
    return 0;
  }
  if (command === '--version' || command === '-V') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const load = COMMANDS[command];
  if (load === undefined) {
    const match = closest(command, Object.keys(COMMANDS));
    process.stderr.write(
      `failover: unknown command '${command}'${match ? ` (did you mean ${match}?)` : ''}\n\n${HELP}`,
    );
    return 2;
  }
  try {
    const run = await load();
    return await run(rest);
  } catch (err) {
    // Bad usage and bad config are the user's to fix: one clear message, no stack trace.
    if (err instanceof UsageError || err instanceof FailoverError) {
      process.stderr.write(`failover ${command}: ${(err as Error).message}\n`);
      return 2;
    }
    // The control plane refused or failed the request: its message says why.
    if (err instanceof AdminRequestError) {
      process.stderr.write(`failover ${command}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** package.json sits one level up from both cli/ (sources) and dist/ (the build). */
function packageVersion(): string {
  return (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
}
