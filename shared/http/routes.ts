/**
 * Every route of HTTP API v1, once. The API handler (`api.ts`) serves exactly these and the
 * CDK construct adds exactly these to API Gateway, so a route cannot work locally and be
 * missing in AWS. Pure data: it is bundled into the Lambdas and imported by CDK.
 *
 * `path` is an API Gateway route template: literal segments and whole-segment `{param}`s.
 * `group` decides who may call the route: `node` routes carry the node's bearer token and
 * are served by the heartbeat function; `admin` routes are authorised by IAM in AWS and
 * served by the admin function. The operator's console (page, script, styles) is admin
 * routes too: it shows nothing to a caller the other admin routes would refuse.
 */
export type RouteGroup = 'node' | 'admin';

export interface RouteSpec {
  readonly name: string;
  readonly group: RouteGroup;
  readonly method: 'GET' | 'POST';
  readonly path: string;
}

export const ROUTES = [
  { name: 'heartbeat', group: 'node', method: 'POST', path: '/v1/clusters/{cluster}/nodes/{node}/heartbeat' },
  { name: 'release', group: 'node', method: 'POST', path: '/v1/clusters/{cluster}/nodes/{node}/release' },
  { name: 'nodeRole', group: 'node', method: 'GET', path: '/v1/clusters/{cluster}/nodes/{node}' },
  { name: 'console', group: 'admin', method: 'GET', path: '/' },
  { name: 'consoleScript', group: 'admin', method: 'GET', path: '/console.js' },
  { name: 'consoleStyles', group: 'admin', method: 'GET', path: '/console.css' },
  { name: 'clusters', group: 'admin', method: 'GET', path: '/v1/clusters' },
  { name: 'status', group: 'admin', method: 'GET', path: '/v1/clusters/{cluster}' },
  { name: 'events', group: 'admin', method: 'GET', path: '/v1/clusters/{cluster}/events' },
  { name: 'switchover', group: 'admin', method: 'POST', path: '/v1/clusters/{cluster}/switchover' },
  { name: 'pause', group: 'admin', method: 'POST', path: '/v1/clusters/{cluster}/pause' },
  { name: 'resume', group: 'admin', method: 'POST', path: '/v1/clusters/{cluster}/resume' },
] as const satisfies readonly RouteSpec[];

export type Route = (typeof ROUTES)[number];
export type RouteName = Route['name'];

/** The parameter names of a path template: `'cluster' | 'node'` for `/v1/clusters/{cluster}/nodes/{node}`. */
export type PathParams<Path extends string> = Path extends `${string}{${infer Name}}${infer Rest}`
  ? Name | PathParams<Rest>
  : never;
