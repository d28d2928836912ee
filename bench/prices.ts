/**
 * Public AWS list prices used by the cost model (US East, N. Virginia; on-demand, no
 * free tier, no Savings Plans). Change them here only. `READ_ON` is when they were
 * checked; the source of each is named beside it.
 */
export const READ_ON = '2026-11-22';

export const PRICES = {
  /** https://aws.amazon.com/api-gateway/pricing/ — HTTP APIs, first 300 million requests per month. */
  apiGatewayHttpPerMillion: 1.0,
  /**
   * https://aws.amazon.com/api-gateway/pricing/ — REST APIs (ingress rest-api and private),
   * first 333 million requests per month; private APIs have no data-transfer-out charge but
   * go through PrivateLink (below).
   */
  apiGatewayRestPerMillion: 3.5,
  /**
   * https://aws.amazon.com/waf/pricing/ — AWS WAF (ingress rest-api): per web ACL per month,
   * per rule per month (the one rate-based rule), per million requests inspected.
   */
  waf: { webAclPerMonth: 5.0, rulePerMonth: 1.0, perMillionRequests: 0.6 },
  /**
   * https://aws.amazon.com/privatelink/pricing/ — an interface VPC endpoint (ingress private
   * reaches execute-api through one): per endpoint per Availability Zone per hour, and per GB
   * it processes (first petabyte).
   */
  vpcEndpoint: { perAzHour: 0.01, perGb: 0.01 },
  /** https://aws.amazon.com/lambda/pricing/ — Arm, first 7.5 billion GB-seconds per month. */
  lambdaArmPerGbSecond: 0.0000133334,
  /** https://aws.amazon.com/lambda/pricing/ — requests, any architecture. */
  lambdaPerMillionRequests: 0.2,
  /** Lambda bills duration in 1 ms increments. */
  lambdaBillingIncrementMs: 1,
  /**
   * https://aws.amazon.com/dynamodb/pricing/on-demand/ — on-demand write request units,
   * Standard table class, after the 50% on-demand price cut of 1 November 2024 (it was $1.25).
   */
  dynamoWritePerMillionWru: 0.625,
  /** Same page: read request units (was $0.25). A strongly consistent read of ≤ 4 KB is 1 RRU. */
  dynamoReadPerMillionRru: 0.125,
  /**
   * https://aws.amazon.com/cloudwatch/pricing/ — Logs, standard ingestion per GB (first
   * tier). Only used for the "with logs (estimate)" column.
   */
  cloudWatchLogsIngestPerGb: 0.5,
  /**
   * https://aws.amazon.com/route53/pricing/ — health checks, per health check per month.
   * Optional features (HTTPS, string matching, fast 10 s interval, latency measurement)
   * are each charged on top.
   */
  /**
   * Route 53 Application Recovery Controller: a cluster (five Regional endpoints) per hour,
   * as the issue that asked for the multi-Region comparison quotes it (about $2.50); not
   * re-checked against the pricing page.
   */
  arcClusterPerHour: 2.5,
  route53: {
    basicAwsEndpoint: 0.5,
    basicNonAwsEndpoint: 0.75,
    optionalFeatureAwsEndpoint: 1.0,
    optionalFeatureNonAwsEndpoint: 2.0,
  },
} as const;

/**
 * How the prices were checked on `READ_ON`: the DynamoDB on-demand figures ($0.625 /
 * $0.125 per million after the November 2024 cut) and the API Gateway HTTP API and Lambda
 * Arm figures were cross-checked against copies of the AWS pricing pages found with a
 * search tool (the official pages render their tables client-side). The Route 53
 * optional-feature prices are as published on the Route 53 pricing page and could only be
 * confirmed in substance (the search excerpts list the features, not the dollar amounts).
 * Added 2026-12-02 for the REST API ingresses: the REST API tiers ($3.50 per million for the
 * first 333 million) from AWS's private-API whitepaper's pricing table; the WAF figures
 * ($5 per web ACL, $1 per rule, $0.60 per million requests) from AWS's WAF cost blog post
 * and two pricing guides that agree; the PrivateLink interface endpoint figures ($0.01 per
 * AZ-hour and per GB) as AWS publishes them, not re-read from the page.
 */
export const PRICE_NOTES =
  'us-east-1 list prices, read on ' +
  `${READ_ON}: API Gateway HTTP API, Lambda Arm, DynamoDB on-demand (post-Nov-2024), CloudWatch Logs, Route 53 health checks; ` +
  'API Gateway REST API, AWS WAF and PrivateLink read on 2026-12-02';

/** Hours AWS uses for a month in its pricing examples. */
export const HOURS_PER_MONTH = 730;
export const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
