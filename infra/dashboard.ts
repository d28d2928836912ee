/**
 * The control plane's CloudWatch dashboard: what the functions emit as EMF
 * (functions/metrics.ts), beside API Gateway's and Lambda's own metrics.
 *
 * Per-cluster graphs are SEARCH expressions over the `Cluster` dimension, so one graph
 * shows every cluster however many the config holds (a widget may list at most 500
 * metrics; a search needs no list) and a cluster added later appears without a redeploy.
 */
import { Duration } from 'aws-cdk-lib';
import {
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { FilterPattern, type ILogGroup, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE, SERVICE } from '../functions/metric-names.js';

export interface FailoverDashboardProps {
  /**
   * The API Gateway API (ingress http-api, rest-api, private): its own metrics (requests, 4xx,
   * 5xx, and the WAF's blocks for rest-api) and its access log group, from which throttled
   * requests (429) are counted. With Function URLs, the functions' own metrics stand for it.
   * @default none
   */
  readonly api?: { readonly metrics: readonly Metric[]; readonly accessLogs: ILogGroup };
  readonly functions: Readonly<Record<string, IFunction>>;
}

const PERIOD = Duration.minutes(1);

/** The EMF metric over all clusters (the `service` dimension set). */
export function serviceMetric(name: string, statistic = 'Sum'): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service: SERVICE },
    statistic,
    period: PERIOD,
  });
}

/** One line per cluster. */
function perCluster(name: string, statistic = 'Sum'): IMetric {
  return new MathExpression({
    expression: `SEARCH('{${METRICS_NAMESPACE},Cluster,service} MetricName="${name}"', '${statistic}', ${PERIOD.toSeconds()})`,
    label: '',
    period: PERIOD,
  });
}

export class FailoverDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: FailoverDashboardProps) {
    super(scope, id);
    const fns = Object.entries(props.functions);
    const graph = (title: string, left: IMetric[], width = 8) =>
      new GraphWidget({ title, left, width, height: 6, period: PERIOD });

    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          '## failover control plane\nPer-cluster graphs draw one line per cluster. Active node and timeline per cluster: `failover console --url <ApiUrl>`.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      graph('Failovers (changes of active) per cluster', [perCluster(METRIC.failovers)]),
      graph('Holds per cluster', [perCluster(METRIC.holds)]),
      graph('Target apply failures per cluster', [perCluster(METRIC.targetApplyFailures)]),
    );
    this.dashboard.addWidgets(
      graph('Target apply latency (ms)', [
        serviceMetric(METRIC.targetApplyLatency, 'p50'),
        serviceMetric(METRIC.targetApplyLatency, 'p99'),
        serviceMetric(METRIC.targetApplyLatency, 'Maximum'),
      ]),
      graph('Sweep duration (ms)', [
        serviceMetric(METRIC.sweepDuration, 'Average'),
        serviceMetric(METRIC.sweepDuration, 'Maximum'),
      ]),
      graph('Sweep errors (clusters not reconciled)', [serviceMetric(METRIC.sweepErrors)]),
    );
    this.dashboard.addWidgets(
      graph('Heartbeats accepted per cluster', [perCluster(METRIC.heartbeatsAccepted)], 12),
      graph('Heartbeats rejected per cluster', [perCluster(METRIC.heartbeatsRejected)], 12),
    );
    this.dashboard.addWidgets(
      ...(props.api
        ? [
            graph(
              `API requests, 4xx, 5xx, throttled (429)${props.api.metrics.length > 3 ? ', blocked by WAF' : ''}`,
              this.apiMetrics(props.api.metrics, props.api.accessLogs),
            ),
          ]
        : []),
      graph('Lambda errors and throttles', [
        ...fns.map(([name, f]) => f.metricErrors({ period: PERIOD, label: `${name} errors` })),
        ...fns.map(([name, f]) => f.metricThrottles({ period: PERIOD, label: `${name} throttles` })),
      ]),
      graph(
        'Lambda duration p99 (ms)',
        fns.map(([name, f]) => f.metricDuration({ period: PERIOD, statistic: 'p99', label: name })),
      ),
    );
  }

  /** The API's own metrics, and its throttled requests, which API Gateway has no metric for (429s within 4xx). */
  private apiMetrics(metrics: readonly Metric[], accessLogs: ILogGroup): IMetric[] {
    new MetricFilter(this, 'ThrottledFilter', {
      logGroup: accessLogs,
      filterPattern: FilterPattern.stringValue('$.status', '=', '429'),
      metricNamespace: METRICS_NAMESPACE,
      metricName: 'ApiThrottled',
      metricValue: '1',
    });
    return [
      ...metrics.map((m) => m.with({ period: PERIOD })),
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'ApiThrottled',
        statistic: 'Sum',
        period: PERIOD,
      }),
    ];
  }
}
