import { mintToken } from '../shared/tokens.js';
import { parseOptions } from './options.js';

export const TOKEN_HELP = `Usage: failover token

Mints a random node (or admin) token. Give the token to the agent and put only its
SHA-256 in the config as tokenSha256 (or adminTokenSha256).
`;

export function token(argv: string[]): number {
  if (parseOptions(argv, { help: { type: 'boolean', short: 'h' } }).help) {
    process.stdout.write(TOKEN_HELP);
    return 0;
  }
  const { token, sha256 } = mintToken();
  process.stdout.write(`token:       ${token}\ntokenSha256: ${sha256}\n`);
  return 0;
}
