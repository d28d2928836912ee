/**
 * Reads the agent's systemd unit as systemd would, as far as the tests need: its settings,
 * and the command line ExecStart runs with a given environment file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const UNIT_NAME = 'failover-agent@.service';
export const unitText = (): string => readFileSync(join(ROOT, 'deploy', 'systemd', UNIT_NAME), 'utf8');

/** The unit's `Key=value` settings (comments dropped); the last one wins, as in systemd. */
export function unitSettings(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^(\w+)=(.*)$/.exec(line.trim());
    if (match) out.set(match[1] as string, match[2] as string);
  }
  return out;
}

/** `KEY=value` lines of an environment file. */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) env[match[1] as string] = match[2] as string;
  }
  return env;
}

/**
 * ExecStart's words after systemd's variable expansion: `${VAR}` is one word, `$VAR` a
 * word per whitespace-separated part (none when empty or unset).
 */
export function execStartArgs(execStart: string, env: Record<string, string>): string[] {
  return execStart.split(/\s+/).flatMap((word) => {
    const braced = /^\$\{(\w+)\}$/.exec(word);
    if (braced) return [env[braced[1] as string] ?? ''];
    const bare = /^\$(\w+)$/.exec(word);
    if (bare) return (env[bare[1] as string] ?? '').split(/\s+/).filter(Boolean);
    return [word];
  });
}
