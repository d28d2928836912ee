/**
 * AWS targets load their SDK code on first use. A load that fails (a transient file-system
 * error while requiring the SDK, say) must not be remembered: the next apply loads again.
 */
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { Route53Client } from '@aws-sdk/client-route-53';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../shared/config.js';
import { silentLogger } from '../shared/logger.js';
import { buildTargets, type TargetChange } from '../shared/targets/index.js';

const CHANGE: TargetChange = {
  cluster: 'db',
  active: 'a',
  address: '10.0.0.1',
  members: [{ id: 'a', address: '10.0.0.1' }],
  epoch: 1,
  previous: null,
  reason: 'test',
  at: 0,
};

const config = parseConfig({
  clusters: [
    {
      id: 'db',
      nodes: [{ id: 'a', address: '10.0.0.1', tokenSha256: 'a'.repeat(64) }],
      targets: [
        {
          type: 'route53',
          hostedZoneId: 'Z0123456789ABCDEFGHIJ',
          recordName: 'db.example.com',
          recordType: 'A',
        },
      ],
    },
  ],
});

afterEach(() => {
  vi.doUnmock('../shared/targets/aws-clients.js');
});

describe('lazily loaded AWS targets', () => {
  it('loads the SDK clients again on the next apply after a failed load, instead of failing for the life of the process', async () => {
    const route53 = new Route53Client({ region: 'us-east-1' });
    const elbv2 = new ElasticLoadBalancingV2Client({ region: 'us-east-1' });
    let loads = 0;
    vi.doMock('../shared/targets/aws-clients.js', () => {
      loads += 1;
      if (loads === 1) throw new Error('EMFILE: too many open files');
      return { defaultAwsClients: () => ({ route53: () => route53, elbv2: () => elbv2 }) };
    });
    const [target] = buildTargets(config, silentLogger, {}).get('db') ?? [];

    // vitest reports the factory's error in its own words; what matters is that the load failed.
    await expect(target?.apply(CHANGE, 0)).rejects.toThrow();
    expect(loads).toBe(1);
    // The second attempt loads the clients and gets as far as the call (no time left here).
    await expect(target?.apply(CHANGE, 0)).rejects.toThrow(/gave up at the deadline/);
    expect(loads).toBe(2);
    route53.destroy();
    elbv2.destroy();
  });
});
