/**
 * Cost per node-month, computed (not measured in AWS) from what `heartbeat.ts` measured:
 * DynamoDB writes and write units per beat (the cluster item's size, 2- and 8-node), and
 * the handler's warm wall time per call rounded up to Lambda's 1 ms billing, at the heartbeat
 * function's memory size (256 MB, from `infra/control-plane.ts`). One heartbeat = one API
 * Gateway HTTP API request + one Lambda invocation + its DynamoDB writes; prices are the
 * constants in `prices.ts`. A separate estimate adds CloudWatch Logs ingestion (the
 * stage's JSON access-log line and Lambda's START/END/REPORT lines per beat), which the
 * deployed stack does write. The sweep's per-cluster cost (one eventually consistent read of
 * the cluster item per scheduled run, every minute) is reported beside it; the sweep's own
 * invocations are a fixed cost per deployment, not per node. The `function-url` ingress
 * (infra/control-plane.ts) costs the same minus the API Gateway request: a Lambda Function
 * URL charges nothing beyond the invocation. The REST API ingresses pay a REST API request
 * instead of an HTTP API one; `rest-api` adds the WAF's per-request charge (and a fixed
 * monthly charge per deployment: the web ACL and its one rule), `private` the PrivateLink
 * bytes of each beat (and a fixed charge per VPC: the interface endpoint's hours per AZ).
 */
import type { HeartbeatData } from './heartbeat.js';
import { type BenchOptions, pass, type Row, usd } from './lib.js';
import { HOURS_PER_MONTH, PRICES, READ_ON, SECONDS_PER_MONTH } from './prices.js';

/** From `infra/control-plane.ts`: `fn('Heartbeat', { memorySize: 256 })`. */
export const HEARTBEAT_MEMORY_MB = 256;
export const SWEEPS_PER_MONTH = (SECONDS_PER_MONTH / 3600) * 60; // rate(1 minute)
const INTERVALS_S = [1, 5, 10];

/** What the deployed stack logs per heartbeat, with typical values (an estimate). */
const ACCESS_LOG_LINE = JSON.stringify({
  requestId: 'Xy1AbCdEfGhIjKw=',
  ip: '203.0.113.10',
  caller: '-',
  method: 'POST',
  path: '/v1/clusters/db/nodes/db1/heartbeat',
  status: '200',
  latencyMs: '14',
  integrationError: '-',
});
const REQUEST_ID = '3f1c2a4e-9b7d-4e0a-8a51-2b1f9c7d6e5a';
const LAMBDA_PLATFORM_LINES = [
  `START RequestId: ${REQUEST_ID} Version: $LATEST`,
  `END RequestId: ${REQUEST_ID}`,
  `REPORT RequestId: ${REQUEST_ID}\tDuration: 9.52 ms\tBilled Duration: 10 ms\tMemory Size: 256 MB\tMax Memory Used: 91 MB\t`,
];
/**
 * Bytes one beat moves through a VPC endpoint (ingress private), both ways: request line,
 * headers with the bearer token, a small JSON body, the answer and TLS framing. An estimate,
 * on the high side.
 */
export const PRIVATELINK_BYTES_PER_BEAT = 2048;
/** Availability Zones an interface endpoint is usually placed in, for the fixed-cost line. */
const ENDPOINT_AZS = 2;

/** Bytes ingested per beat: each event's text plus the 26 bytes of per-event overhead PutLogEvents counts (conservative). */
export const LOG_BYTES_PER_BEAT = [ACCESS_LOG_LINE, ...LAMBDA_PLATFORM_LINES].reduce(
  (sum, line) => sum + Buffer.byteLength(line) + 26,
  0,
);

export interface NodeMonth {
  intervalSeconds: number;
  beatsPerMonth: number;
  apiGateway: number;
  lambdaRequests: number;
  lambdaDuration: number;
  dynamo: number;
  dynamo8Nodes: number;
  total: number;
  total8Nodes: number;
  /** Ingress `function-url`: no API Gateway request, the rest alike. */
  totalFunctionUrl: number;
  /** A REST API request instead (ingresses rest-api and private). */
  restApi: number;
  /** Ingress rest-api: WAF's per-request charge. */
  wafRequests: number;
  /** Ingress private: the beats' bytes through the VPC endpoint. */
  privateLinkData: number;
  /** Ingress rest-api, per node (the WAF's fixed monthly charge is in `fixed`). */
  totalRestApi: number;
  /** Ingress private, per node (the endpoint's hours are in `fixed`). */
  totalPrivate: number;
  logsEstimate: number;
}

export interface CostData {
  pricesReadOn: string;
  billedMsPerBeat: number;
  wruPerBeat: { nodes2: number; nodes8: number; nodes8Rich: number };
  logBytesPerBeat: number;
  perNodeMonth: NodeMonth[];
  /** Each extra 10 ms of billed duration, per node-month at a 5 s interval. */
  per10msAt5s: number;
  sweepReadsPerClusterMonth: number;
  /** Fixed monthly charges of an ingress, whatever the number of nodes. */
  fixed: {
    /** Ingress rest-api, per deployment (Region): the web ACL and its one rule. */
    wafPerMonth: number;
    /** Ingress private, per VPC endpoint and AZ (shared by every private API the VPC reaches). */
    vpcEndpointPerAzMonth: number;
  };
  route53: {
    basicAws: number;
    basicNonAws: number;
    fastAws: number;
    fastNonAws: number;
    fastHttpsNonAws: number;
  };
}

export function runCost(heartbeat: HeartbeatData, _options: BenchOptions): { rows: Row[]; data: CostData } {
  const billedMs = Math.max(
    PRICES.lambdaBillingIncrementMs,
    Math.ceil(heartbeat.handler.wallMs.p50 / PRICES.lambdaBillingIncrementMs) *
      PRICES.lambdaBillingIncrementMs,
  );
  // If the emulator did not report capacity, fall back to the item size rule (1 WRU per KB).
  const wru = heartbeat.ops.capacityReported
    ? heartbeat.ops.wruPerBeat
    : {
        nodes2: heartbeat.ops.writesPerBeat * Math.ceil(heartbeat.ops.itemBytes.nodes2 / 1024),
        nodes8: heartbeat.ops.writesPerBeat * Math.ceil(heartbeat.ops.itemBytes.nodes8 / 1024),
        nodes8Rich: heartbeat.ops.writesPerBeat * Math.ceil(heartbeat.ops.itemBytes.nodes8Rich / 1024),
      };
  const gbSecondsPerBeat = (billedMs / 1000) * (HEARTBEAT_MEMORY_MB / 1024);
  const perNodeMonth = INTERVALS_S.map((intervalSeconds): NodeMonth => {
    const beats = SECONDS_PER_MONTH / intervalSeconds;
    const apiGateway = (beats / 1e6) * PRICES.apiGatewayHttpPerMillion;
    const lambdaRequests = (beats / 1e6) * PRICES.lambdaPerMillionRequests;
    const lambdaDuration = beats * gbSecondsPerBeat * PRICES.lambdaArmPerGbSecond;
    const dynamo = ((beats * wru.nodes2) / 1e6) * PRICES.dynamoWritePerMillionWru;
    // The larger of the two 8-node items (with version/position/lag in every beat).
    const dynamo8Nodes =
      ((beats * Math.max(wru.nodes8, wru.nodes8Rich)) / 1e6) * PRICES.dynamoWritePerMillionWru;
    const base = apiGateway + lambdaRequests + lambdaDuration;
    const restApi = (beats / 1e6) * PRICES.apiGatewayRestPerMillion;
    const wafRequests = (beats / 1e6) * PRICES.waf.perMillionRequests;
    const privateLinkData = ((beats * PRIVATELINK_BYTES_PER_BEAT) / 1024 ** 3) * PRICES.vpcEndpoint.perGb;
    const viaRestApi = base - apiGateway + restApi + dynamo;
    return {
      intervalSeconds,
      beatsPerMonth: beats,
      apiGateway,
      lambdaRequests,
      lambdaDuration,
      dynamo,
      dynamo8Nodes,
      total: base + dynamo,
      total8Nodes: base + dynamo8Nodes,
      totalFunctionUrl: base - apiGateway + dynamo,
      restApi,
      wafRequests,
      privateLinkData,
      totalRestApi: viaRestApi + wafRequests,
      totalPrivate: viaRestApi + privateLinkData,
      logsEstimate: ((beats * LOG_BYTES_PER_BEAT) / 1024 ** 3) * PRICES.cloudWatchLogsIngestPerGb,
    };
  });
  const r53 = PRICES.route53;
  const route53 = {
    basicAws: r53.basicAwsEndpoint,
    basicNonAws: r53.basicNonAwsEndpoint,
    fastAws: r53.basicAwsEndpoint + r53.optionalFeatureAwsEndpoint,
    fastNonAws: r53.basicNonAwsEndpoint + r53.optionalFeatureNonAwsEndpoint,
    fastHttpsNonAws: r53.basicNonAwsEndpoint + 2 * r53.optionalFeatureNonAwsEndpoint,
  };
  // The sweep reads eventually consistent: half a read unit per 4 KB.
  const rruPerRead = Math.ceil(heartbeat.ops.itemBytes.nodes2 / 4096) / 2;
  const data: CostData = {
    pricesReadOn: READ_ON,
    billedMsPerBeat: billedMs,
    wruPerBeat: wru,
    logBytesPerBeat: LOG_BYTES_PER_BEAT,
    perNodeMonth,
    per10msAt5s: (SECONDS_PER_MONTH / 5) * 0.01 * (HEARTBEAT_MEMORY_MB / 1024) * PRICES.lambdaArmPerGbSecond,
    sweepReadsPerClusterMonth: ((SWEEPS_PER_MONTH * rruPerRead) / 1e6) * PRICES.dynamoReadPerMillionRru,
    fixed: {
      wafPerMonth: PRICES.waf.webAclPerMonth + PRICES.waf.rulePerMonth,
      vpcEndpointPerAzMonth: PRICES.vpcEndpoint.perAzHour * HOURS_PER_MONTH,
    },
    route53,
  };

  const rows: Row[] = perNodeMonth.map((c): Row => {
    const parts =
      `API GW ${usd(c.apiGateway)} + Lambda ${usd(c.lambdaRequests + c.lambdaDuration)} ` +
      `+ DynamoDB ${usd(c.dynamo)}`;
    const measured =
      `${usd(c.total)} (${parts}); 8-node cluster with version/position/lag ${usd(c.total8Nodes)}; ` +
      `+ logs ≈ ${usd(c.logsEstimate)}`;
    if (c.intervalSeconds !== 5) {
      return {
        figure: `Cost per node-month, ${c.intervalSeconds} s interval`,
        measured,
        budget: 'report',
        status: 'report',
      };
    }
    const vs =
      c.total < route53.basicAws
        ? 'under the basic $0.50 check'
        : `above the basic ${usd(route53.basicAws)} check, under the fast ${usd(route53.fastAws)}–${usd(route53.fastNonAws)} check`;
    return {
      figure: 'Cost per node-month, 5 s interval',
      measured:
        `${measured}; each +10 ms of billed Lambda time +${usd(data.per10msAt5s, 3)}; ` +
        `${c.total < route53.fastNonAws ? vs : 'above every comparable Route 53 check'}`,
      budget: `aim < Route 53 ${usd(route53.basicAws)}–${usd(route53.fastNonAws)} per check (✅ = under ${usd(route53.fastNonAws)})`,
      status: pass(c.total < route53.fastNonAws),
    };
  });
  const at5s = perNodeMonth.find((c) => c.intervalSeconds === 5) as NodeMonth;
  rows.push(
    {
      figure: 'Cost per node-month, cheapest ingress (function-url), 5 s interval',
      measured:
        `${usd(at5s.totalFunctionUrl)} (Lambda ${usd(at5s.lambdaRequests + at5s.lambdaDuration)} + DynamoDB ` +
        `${usd(at5s.dynamo)}; no API Gateway request); 8-node cluster ${usd(at5s.total8Nodes - at5s.apiGateway)}`,
      budget: `< Route 53's cheapest check, ${usd(route53.basicAws)}`,
      status: pass(at5s.totalFunctionUrl < route53.basicAws),
    },
    {
      figure: 'Cost per node-month, ingress rest-api (REST API behind AWS WAF), 5 s interval',
      measured:
        `${usd(at5s.totalRestApi)} (REST API ${usd(at5s.restApi)} + WAF requests ${usd(at5s.wafRequests)} + ` +
        `Lambda ${usd(at5s.lambdaRequests + at5s.lambdaDuration)} + DynamoDB ${usd(at5s.dynamo)}); ` +
        `plus ${usd(data.fixed.wafPerMonth)} per deployment-month, whatever the nodes (web ACL + its one rule)`,
      budget: 'report',
      status: 'report',
    },
    {
      figure: 'Cost per node-month, ingress private (private REST API), 5 s interval',
      measured:
        `${usd(at5s.totalPrivate)} (REST API ${usd(at5s.restApi)} + PrivateLink data ≈ ${usd(at5s.privateLinkData, 3)} + ` +
        `Lambda ${usd(at5s.lambdaRequests + at5s.lambdaDuration)} + DynamoDB ${usd(at5s.dynamo)}); ` +
        `plus the execute-api VPC endpoint, per VPC not per node: ${usd(data.fixed.vpcEndpointPerAzMonth)} ` +
        `per AZ-month (${usd(ENDPOINT_AZS * data.fixed.vpcEndpointPerAzMonth)} in ${ENDPOINT_AZS} AZs), shared by every private API the VPC reaches`,
      budget: 'report',
      status: 'report',
    },
    {
      // Assumption: a multi-Region strongly consistent table bills each write once in every
      // replica Region (the write, then a replicated write at the same unit price), and
      // nothing for the witness; API Gateway and Lambda bill only the Region that took the beat.
      figure: 'Cost per node-month, three Regions (MRSC global table), 5 s interval',
      measured:
        `${usd(at5s.total + 2 * at5s.dynamo)} with three replicas (DynamoDB ${usd(3 * at5s.dynamo)}: every write ` +
        `in each Region), ${usd(at5s.total + at5s.dynamo)} with two and a witness; one Region ${usd(at5s.total)}; ` +
        `Route 53 ARC about ${usd(PRICES.arcClusterPerHour * HOURS_PER_MONTH, 0)} per cluster-month`,
      budget: 'report',
      status: 'report',
    },
    {
      figure: 'Sweep reads per cluster-month (1-minute schedule)',
      measured: `${usd(data.sweepReadsPerClusterMonth, 4)} (${rruPerRead} RRU per cluster per run, ${Math.round(SWEEPS_PER_MONTH).toLocaleString('en-US')} runs)`,
      budget: 'report',
      status: 'report',
    },
    {
      figure: 'For comparison: Route 53 health check per month',
      measured:
        `${usd(route53.basicAws)} basic (AWS endpoint), ${usd(route53.basicNonAws)} (non-AWS); ` +
        `fast 10 s interval ${usd(route53.fastAws)} / ${usd(route53.fastNonAws)}; ` +
        `fast + HTTPS (non-AWS) ${usd(route53.fastHttpsNonAws)}`,
      budget: 'report',
      status: 'report',
    },
  );
  return { rows, data };
}
