/**
 * Every command's command line: node's parseArgs, with its errors put in words a user can
 * act on (the closest known option for a typo, where a command belongs), and required
 * options checked together so one run names everything that is missing.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { closest } from '../shared/suggest.js';
import { UsageError } from './usage.js';

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses `args` strictly (no positionals). `positionalHint` adds to the message for an
 * argument that is not an option, e.g. where a command to run belongs.
 */
export function parseOptions<const O extends OptionSpecs>(
  args: string[],
  options: O,
  positionalHint?: (argument: string) => string,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw describeParseError(err, options, positionalHint);
  }
}

function describeParseError(
  err: unknown,
  options: OptionSpecs,
  positionalHint: ((argument: string) => string) | undefined,
): unknown {
  const { code, message } = err as { code?: string; message: string };
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(message)?.[1] ?? '';
    const match = closest(option.replace(/^-+/, ''), Object.keys(options));
    return new UsageError(`unknown option ${option}${match ? ` (did you mean --${match}?)` : ''}`);
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const argument = /'([^']*)'/.exec(message)?.[1] ?? '';
    return new UsageError(
      `unexpected argument '${argument}'${positionalHint ? `: ${positionalHint(argument)}` : ''}`,
    );
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    // "Option '--url <value>' argument missing" / "Option '--json' does not take an argument"
    const option = /'(-[^' ]+)/.exec(message)?.[1] ?? '';
    return new UsageError(
      message.includes('missing') ? `${option} needs a value` : `${option} does not take a value`,
    );
  }
  return err;
}

/**
 * Checks required options together: `missing --url (or FAILOVER_URL), --cluster and --node`.
 * `env` names the environment variable that stands in for an option.
 */
export function requireOptions<const K extends string>(
  values: Record<K, string | undefined>,
  env: Partial<Record<K, string>> = {},
): Record<K, string> {
  const missing = (Object.keys(values) as K[])
    .filter((name) => !values[name])
    .map((name) => `--${name}${env[name] ? ` (or ${env[name]})` : ''}`);
  if (missing.length > 0) {
    const list =
      missing.length === 1 ? missing[0] : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)}`;
    throw new UsageError(`missing ${list}`);
  }
  return values as Record<K, string>;
}

/** `--port`: a whole number from 0 (any free port) to 65535. */
export function portOption(raw: string): number {
  const port = Number(raw);
  if (!/^\d{1,5}$/.test(raw.trim()) || port > 65_535) {
    throw new UsageError(`--port must be 0-65535 (0 = any free port), got '${raw}'`);
  }
  return port;
}
