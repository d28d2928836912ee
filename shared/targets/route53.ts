import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { withAwsRetry } from './aws-retry.js';
import type { Observation, Target, TargetChange, TargetDetail } from './target.js';

export interface Route53Options {
  hostedZoneId: string;
  recordName: string;
  recordType: 'A' | 'AAAA' | 'CNAME';
  ttl: number;
}

/**
 * A DNS record whose value is the active node's address (in active-active mode, every
 * serving node's). UPSERT, so applying twice is harmless.
 */
export class Route53Target implements Target {
  readonly type = 'route53';
  private readonly zone: string;
  private readonly name: string;

  constructor(
    readonly id: string,
    private readonly client: Route53Client,
    private readonly options: Route53Options,
  ) {
    this.zone = options.hostedZoneId.replace(/^\/hostedzone\//, '');
    this.name = fqdn(options.recordName);
  }

  async apply(change: TargetChange, deadline: number): Promise<TargetDetail> {
    const out = await withAwsRetry(
      `route53 ${this.name} ${this.options.recordType}`,
      deadline,
      (abortSignal) =>
        this.client.send(
          new ChangeResourceRecordSetsCommand({
            HostedZoneId: this.zone,
            ChangeBatch: {
              Comment: `failover ${change.cluster} epoch ${change.epoch}: ${change.active}`.slice(0, 256),
              Changes: [
                {
                  Action: 'UPSERT',
                  ResourceRecordSet: {
                    Name: this.name,
                    Type: this.options.recordType,
                    TTL: this.options.ttl,
                    // One value in active-passive mode; every serving node's in active-active mode.
                    ResourceRecords: change.members.map((m) => ({ Value: m.address })),
                  },
                },
              ],
            },
          }),
          { abortSignal },
        ),
    );
    return changeDetail(out.ChangeInfo);
  }

  /** Reads the record (and, while a change is pending, its status) and compares it with the active's address. */
  async observe(change: TargetChange, deadline: number, detail?: TargetDetail): Promise<Observation> {
    const out = await withAwsRetry(`route53 list ${this.name}`, deadline, (abortSignal) =>
      this.client.send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: this.zone,
          StartRecordName: this.name,
          StartRecordType: this.options.recordType,
          MaxItems: 1,
        }),
        { abortSignal },
      ),
    );
    const record = out.ResourceRecordSets?.find(
      (r) => fqdn(r.Name ?? '') === this.name && r.Type === this.options.recordType,
    );
    const values = (record?.ResourceRecords ?? []).map((r) => r.Value ?? '').sort();
    const wanted = change.members.map((m) => m.address).sort();
    const label = `record ${this.name} ${this.options.recordType}`;
    const drift =
      record === undefined
        ? `${label} is missing`
        : values.join(',') !== wanted.join(',')
          ? `${label} points to ${values.join(', ') || 'nothing'}, not ${wanted.join(', ')}`
          : // A raised TTL would keep clients on a deposed node long after a failover.
            record.TTL !== this.options.ttl
            ? `${label} has TTL ${record.TTL}, not ${this.options.ttl}`
            : null;
    if (detail?.changeStatus !== 'PENDING' || !detail.changeId) return { drift };
    const changeId = detail.changeId;
    const status = await withAwsRetry(`route53 change ${changeId}`, deadline, (abortSignal) =>
      this.client.send(new GetChangeCommand({ Id: changeId }), { abortSignal }),
    );
    return { drift, detail: changeDetail(status.ChangeInfo) };
  }
}

function changeDetail(info: { Id?: string; Status?: string } | undefined): TargetDetail {
  return { changeId: (info?.Id ?? '').replace(/^\/change\//, ''), changeStatus: info?.Status ?? 'UNKNOWN' };
}

/** Route 53 returns names fully qualified and lowercase, with octal escapes for a few characters. */
export function fqdn(name: string): string {
  const lower = name.toLowerCase().replace(/\\052/g, '*');
  return lower.endsWith('.') ? lower : `${lower}.`;
}
