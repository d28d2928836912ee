/** Field schemas and rules shared by the Route 53 kinds (`route53`, `route53-health`). */
import { isIP } from 'node:net';
import * as z from 'zod/mini';
import type { ConfigIssue, KindNode } from '../kind.js';

export const hostedZoneId = z
  .string({ error: 'must be a hosted zone id' })
  .check(
    z.regex(/^(\/hostedzone\/)?Z[A-Z0-9]{1,32}$/, 'must be a hosted zone id such as Z0123456789ABCDEFGHIJ'),
  );

export const recordName = z
  .string({ error: 'must be a DNS name' })
  .check(
    z.regex(
      /^(?=.{1,254}$)([a-zA-Z0-9_](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9_](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?\.?$/,
      'must be a DNS name',
    ),
  );

/** The zone id without the `/hostedzone/` prefix Route 53 returns it with. */
export const zoneId = (id: string) => id.replace(/^\/hostedzone\//, '');

const WANT = { A: 'an IPv4 address', AAAA: 'an IPv6 address', CNAME: 'a host name' } as const;
const FAMILY = { A: 4, AAAA: 6, CNAME: 0 } as const;

/** Each node's address must be what the record holds: an issue naming `nodes[i].address` for each that is not. */
export function checkAddresses(
  recordType: keyof typeof WANT,
  t: number,
  type: string,
  nodes: readonly KindNode<Record<never, never>>[],
  issue: ConfigIssue,
): void {
  nodes.forEach((node, n) => {
    if (isIP(node.address) !== FAMILY[recordType]) {
      issue(['nodes', n, 'address'], `must be ${WANT[recordType]} for targets[${t}] (${type} ${recordType})`);
    }
  });
}
