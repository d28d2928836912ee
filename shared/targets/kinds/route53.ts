import { isIP } from 'node:net';
import * as z from 'zod/mini';
import { int } from '../../config-fields.js';
import { type TargetKind, targetSchema } from '../kind.js';
import { lazyTarget } from '../lazy.js';

const schema = targetSchema('route53', {
  hostedZoneId: z
    .string({ error: 'must be a hosted zone id' })
    .check(
      z.regex(/^(\/hostedzone\/)?Z[A-Z0-9]{1,32}$/, 'must be a hosted zone id such as Z0123456789ABCDEFGHIJ'),
    ),
  recordName: z
    .string({ error: 'must be a DNS name' })
    .check(
      z.regex(
        /^(?=.{1,254}$)([a-zA-Z0-9_](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9_](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?\.?$/,
        'must be a DNS name',
      ),
    ),
  recordType: z.enum(['A', 'AAAA', 'CNAME'], "must be 'A', 'AAAA' or 'CNAME'"),
  ttl: z._default(int(0, 172_800), 10),
});

const WANT = { A: 'an IPv4 address', AAAA: 'an IPv6 address', CNAME: 'a host name' } as const;
const FAMILY = { A: 4, AAAA: 6, CNAME: 0 } as const;
const zoneId = (hostedZoneId: string) => hostedZoneId.replace(/^\/hostedzone\//, '');

/** A DNS record whose value is the active node's address (every serving node's in active-active mode). */
export const route53 = {
  type: 'route53',
  schema,
  // Each node's address must be what the record holds.
  check(target, t, cluster, issue) {
    if (cluster.mode === 'active-active' && target.recordType === 'CNAME') {
      issue(
        ['targets', t, 'recordType'],
        'a CNAME holds one name: use A or AAAA records in active-active mode',
      );
    }
    cluster.nodes.forEach((node, n) => {
      if (isIP(node.address) !== FAMILY[target.recordType]) {
        issue(
          ['nodes', n, 'address'],
          `must be ${WANT[target.recordType]} for targets[${t}] (route53 ${target.recordType})`,
        );
      }
    });
  },
  build: (target, { aws }) =>
    lazyTarget(target.id, 'route53', async () => {
      const [{ Route53Target }, clients] = await Promise.all([import('../route53.js'), aws()]);
      return new Route53Target(target.id, clients.route53(), target);
    }),
  iam(targets, partition) {
    const zones = [...new Set(targets.map((t) => zoneId(t.hostedZoneId)))];
    return [
      ...zones.flatMap((zone) => {
        const records = targets.filter((t) => zoneId(t.hostedZoneId) === zone);
        const zoneArn = `arn:${partition}:route53:::hostedzone/${zone}`;
        return [
          {
            actions: ['route53:ChangeResourceRecordSets'],
            resources: [zoneArn],
            // Only UPSERTs of the configured names and types, not any record in the zone.
            conditions: {
              'ForAllValues:StringEquals': {
                'route53:ChangeResourceRecordSetsNormalizedRecordNames': [
                  ...new Set(records.map((t) => t.recordName.toLowerCase().replace(/\.$/, ''))),
                ],
                'route53:ChangeResourceRecordSetsRecordTypes': [...new Set(records.map((t) => t.recordType))],
                'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
              },
            },
          },
          { actions: ['route53:ListResourceRecordSets'], resources: [zoneArn] },
        ];
      }),
      {
        actions: ['route53:GetChange'],
        resources: [`arn:${partition}:route53:::change/*`],
        wildcardReason:
          'route53:GetChange needs the id of a change made at run time; changes are scoped to change/*.',
      },
    ];
  },
} satisfies TargetKind<typeof schema>;
