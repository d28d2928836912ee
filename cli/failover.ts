/**
 * The `failover` command's entry point: `npm run build` bundles it into dist/failover.js,
 * which bin/failover.js runs in the same process (a signal to its PID reaches the agent).
 */
import { main } from './main.js';

// The AWS SDK warns on every start that its 2027 releases need Node 22; Node 20 is
// supported until then, so keep that one warning out of operators' terminals. Installed
// before any command (and so the SDK) loads: main.ts imports commands lazily.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const first = rest[0] as string | { type?: string } | undefined;
  const type = typeof first === 'string' ? first : first?.type;
  if (type === 'NodeVersionSupportWarning' || String(warning).includes('NodeVersionSupportWarning')) return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

process.exitCode = await main(process.argv.slice(2));
