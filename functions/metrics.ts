/**
 * The functions' metrics, as CloudWatch EMF lines in their logs (Powertools Metrics): what
 * the dashboard in the CDK construct draws. An adapter at the edge: the core and the
 * control plane know nothing of it; it sees the API's answers, the committed events and
 * the targets' applies through the ports they already have.
 *
 * Dimensions: `service` (Powertools' own) and, per cluster, `Cluster`: clusters come from the
 * config, so their number is bounded by it, and a path naming no configured cluster counts
 * as `(unknown)`, so no caller can create metrics. Nodes are never a dimension (each would
 * multiply the metrics' cost by the number of nodes). The sweep's figures cover every
 * cluster at once and have no `Cluster`.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricUnit as Unit } from '@aws-lambda-powertools/metrics/types';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Config } from '../shared/config.js';
import type { ClusterEvent } from '../shared/core/state.js';
import { compileTemplate } from '../shared/http/api.js';
import { ROUTES } from '../shared/http/routes.js';
import type { Target } from '../shared/targets/index.js';
import { METRIC, METRICS_NAMESPACE, SERVICE } from './metric-names.js';

const UNKNOWN_CLUSTER = '(unknown)';

export class FunctionMetrics {
  private readonly clusters: ReadonlySet<string>;
  private readonly heartbeat = compileTemplate(ROUTES.find((r) => r.name === 'heartbeat')?.path ?? '');

  constructor(
    config: Config,
    private readonly metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE }),
  ) {
    this.clusters = new Set(config.clusters.map((c) => c.id));
  }

  /**
   * One metric, written at once (an invocation may touch many clusters). With a cluster, in
   * two dimension sets: per cluster, and over all clusters (`service` alone, what alarms
   * and percentiles read); an empty set is Powertools' way to add the default set alone.
   */
  private emit(name: string, cluster: string | null, unit: Unit, value: number): void {
    const one = this.metrics.singleMetric();
    if (cluster !== null) {
      one.addDimensions({ Cluster: this.clusters.has(cluster) ? cluster : UNKNOWN_CLUSTER });
      one.addDimensions({});
    }
    one.addMetric(name, unit, value);
  }

  /** Counts a heartbeat by its answer: 200 accepted, 4xx rejected; other routes and 5xx are not beats' doing. */
  answered(event: APIGatewayProxyEventV2, result: APIGatewayProxyStructuredResultV2): void {
    const params = event.requestContext.http.method === 'POST' ? this.heartbeat(event.rawPath) : null;
    const status = result.statusCode ?? 200;
    if (params === null || status >= 500) return;
    let cluster: string;
    try {
      cluster = decodeURIComponent(params.cluster ?? '');
    } catch {
      cluster = UNKNOWN_CLUSTER;
    }
    this.emit(
      status === 200 ? METRIC.heartbeatsAccepted : METRIC.heartbeatsRejected,
      cluster,
      MetricUnit.Count,
      1,
    );
  }

  /** Counts a committed transition (called once per transition, by the worker whose write won). */
  event(event: ClusterEvent): void {
    if (event.kind === 'promoted') this.emit(METRIC.failovers, event.cluster, MetricUnit.Count, 1);
    if (event.kind === 'held') this.emit(METRIC.holds, event.cluster, MetricUnit.Count, 1);
  }

  /** The targets, each apply timed and its failures counted. */
  measured(byCluster: Map<string, Target[]>): Map<string, Target[]> {
    const measure = (cluster: string, target: Target): Target => ({
      id: target.id,
      type: target.type,
      apply: async (change, deadline) => {
        const started = Date.now();
        try {
          return await target.apply(change, deadline);
        } catch (err) {
          this.emit(METRIC.targetApplyFailures, cluster, MetricUnit.Count, 1);
          throw err;
        } finally {
          this.emit(METRIC.targetApplyLatency, cluster, MetricUnit.Milliseconds, Date.now() - started);
        }
      },
      ...(target.observe ? { observe: target.observe.bind(target) } : {}),
    });
    return new Map(
      [...byCluster].map(([cluster, targets]) => [cluster, targets.map((t) => measure(cluster, t))]),
    );
  }

  sweep(durationMs: number, errors: number): void {
    this.emit(METRIC.sweepDuration, null, MetricUnit.Milliseconds, durationMs);
    this.emit(METRIC.sweepErrors, null, MetricUnit.Count, errors);
  }
}
