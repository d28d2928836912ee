import { findCluster, loadConfigFile } from '../shared/config.js';
import { mintToken } from '../shared/tokens.js';
import { parseOptions, requireOptions } from './options.js';
import { UsageError } from './usage.js';

export const TOKEN_HELP = `Usage: failover token
       failover token --rotate --config FILE --cluster C --node N

Mints a random node (or admin) token. Give the token to the agent and put only its
SHA-256 in the config as tokenSha256 (or adminTokenSha256).

--rotate replaces a node's token without downtime: it prints a new token and the config
change that accepts both the new and the current token (previousTokenSha256) until the
agent has switched; \`failover status\` names the nodes that still beat with the old one.
`;

export function token(argv: string[]): number {
  const values = parseOptions(argv, {
    rotate: { type: 'boolean', default: false },
    config: { type: 'string' },
    cluster: { type: 'string' },
    node: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(TOKEN_HELP);
    return 0;
  }
  if (!values.rotate) {
    if (values.config || values.cluster || values.node) {
      throw new UsageError('--config, --cluster and --node go with --rotate');
    }
    const { token, sha256 } = mintToken();
    process.stdout.write(`token:       ${token}\ntokenSha256: ${sha256}\n`);
    return 0;
  }
  process.stdout.write(
    rotation(requireOptions({ config: values.config, cluster: values.cluster, node: values.node })),
  );
  return 0;
}

/** The new token and the steps of a rotation of one node's token, as printed. */
function rotation(where: { config: string; cluster: string; node: string }): string {
  const cluster = findCluster(loadConfigFile(where.config), where.cluster);
  if (cluster === undefined) throw new UsageError(`no cluster '${where.cluster}' in ${where.config}`);
  const node = cluster.nodes.find((n) => n.id === where.node);
  if (node === undefined) throw new UsageError(`no node '${where.node}' in cluster '${where.cluster}'`);
  if (node.previousTokenSha256 !== undefined) {
    throw new UsageError(
      `node '${node.id}' is already rotating its token (it has previousTokenSha256): once its agent beats ` +
        'with the new token, remove previousTokenSha256, deploy, and rotate again',
    );
  }
  const { token, sha256 } = mintToken();
  const change = JSON.stringify({ tokenSha256: sha256, previousTokenSha256: node.tokenSha256 }, null, 2);
  return [
    `token:       ${token}`,
    `tokenSha256: ${sha256}`,
    '',
    `Rotating the token of node ${node.id} in cluster ${cluster.id}, without downtime:`,
    `1. In ${where.config}, set on node ${node.id} (both tokens are then accepted):`,
    change.replace(/^/gm, '     '),
    '   and deploy it (cdk deploy), or restart failover serve.',
    `2. Give the agent of ${node.id} the new token (FAILOVER_TOKEN) and restart it.`,
    `3. Once \`failover status --cluster ${cluster.id}\` no longer says that ${node.id} beats with its previous`,
    '   token, remove previousTokenSha256 from the node and deploy again: the old token is then refused.',
    '',
  ].join('\n');
}
