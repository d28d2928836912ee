/**
 * Public AWS list prices used by the cost model (US East, N. Virginia; on-demand, no
 * free tier, no Savings Plans). Change them here only. `READ_ON` is when they were
 * checked; the source of each is named beside it.
 */
export const READ_ON = '2026-11-22';

export const PRICES = {
  /** https://aws.amazon.com/api-gateway/pricing/ — HTTP APIs, first 300 million requests per month. */
  apiGatewayHttpPerMillion: 1.0,
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
 */
export const PRICE_NOTES =
  'us-east-1 list prices, read on ' +
  `${READ_ON}: API Gateway HTTP API, Lambda Arm, DynamoDB on-demand (post-Nov-2024), CloudWatch Logs, Route 53 health checks`;

/** Hours AWS uses for a month in its pricing examples. */
export const HOURS_PER_MONTH = 730;
export const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
