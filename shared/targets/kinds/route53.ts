import * as z from 'zod/mini';
import { int } from '../../config-fields.js';
import { type TargetKind, targetSchema } from '../kind.js';
import { lazyTarget } from '../lazy.js';
import { checkAddresses, hostedZoneId, recordName, zoneId } from './route53-fields.js';

const schema = targetSchema('route53', {
  hostedZoneId,
  recordName,
  recordType: z.enum(['A', 'AAAA', 'CNAME'], "must be 'A', 'AAAA' or 'CNAME'"),
  ttl: z._default(int(0, 172_800), 10),
});

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
    checkAddresses(target.recordType, t, 'route53', cluster.nodes, issue);
  },
  build: (target, { aws }) =>
    lazyTarget(target.id, 'route53', async () => {
      const [{ Route53Target }, clients] = await Promise.all([import('../route53.js'), aws()]);
      return new Route53Target(target.id, clients.route53(), target);
    }),
  iam(targets, { partition }) {
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
