/**
 * `failover console --url https://…execute-api…`: the operator's console against a deployed
 * control plane, as `kubectl proxy` does it. A server on 127.0.0.1 forwards the console's
 * requests (the admin routes, page included) to the API, each signed with SigV4 from the
 * user's AWS credentials, so the browser holds no credentials and no new auth is needed.
 *
 * What it forwards, and how (each refusal is answered here, and nothing is sent on):
 * 1. Only admin routes, by method and path (`routes.ts`): it signs nothing else.
 * 2. The local server's browser guards (`localRequestCheck`): a foreign Origin is refused
 *    (403), and a Host other than a loopback name (421), so no other web page, and no
 *    DNS-rebinding page, can use the user's credentials through it.
 * 3. A body only as JSON (415 otherwise): the API refuses a cross-site form's text/plain
 *    body, and the proxy must not turn one into a signed JSON request.
 * 4. None of the browser's headers (cookies, its own authorization) go upstream: only the
 *    signed host and content-type, with the body.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ForbiddenError, MisdirectedRequestError } from '../shared/errors.js';
import { compileTemplate, header } from '../shared/http/api.js';
import { ROUTES } from '../shared/http/routes.js';
import { signedHeaders } from './admin-client.js';
import { httpText } from './http.js';
import { allowedHosts, localRequestCheck, readLimited, toEvent } from './http-edge.js';
import { parseOptions, portOption, requireOptions } from './options.js';
import { UsageError } from './usage.js';

export const CONSOLE_HELP = `Usage: failover console --url URL [--port N] [--region R]

Opens the operator's console for a deployed control plane: a server on 127.0.0.1
that serves the console page and forwards its admin requests to URL (the ApiUrl
output of the stack), each signed with SigV4 from your AWS credentials (the default
chain: environment, profile, SSO, instance role). Open the printed address in a
browser on this machine. Against a local server, open its own address instead.

Options:
  --url URL          the deployed ApiUrl (default: FAILOVER_URL)
  --port N           port on 127.0.0.1 (default 8788; 0 = any free port)
  --region R         AWS region for signing (default: from the URL, then AWS_REGION)
`;

/** Response headers passed back to the browser: the page's type and its security policy, the API's errors. */
const PASSED_BACK = [
  'content-type',
  'cache-control',
  'content-security-policy',
  'x-content-type-options',
  'x-frame-options',
  'referrer-policy',
  'allow',
];

export interface ConsoleProxy {
  url: string;
  close(): Promise<void>;
}

export async function startConsoleProxy(options: {
  upstream: string;
  port?: number;
  region?: string;
}): Promise<ConsoleProxy> {
  let upstream: URL;
  try {
    upstream = new URL(options.upstream);
  } catch {
    throw new UsageError(`--url must be a URL, got '${options.upstream}'`);
  }
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const routes = ROUTES.filter((r) => r.group === 'admin').map((r) => ({
    method: r.method,
    match: compileTemplate(r.path),
  }));
  const check = localRequestCheck(allowedHosts('127.0.0.1'));
  // One credential provider for the proxy's life: it caches the credentials until they
  // expire, so a request each second does not walk the chain (profile, SSO, IMDS) again.
  const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
  const credentials = defaultProvider();

  const server = createServer((req, res) => {
    const answer = (status: number, headers: Record<string, string>, body: string) => {
      res.writeHead(status, { 'cache-control': 'no-store', ...headers });
      res.end(body);
    };
    const refuse = (status: number, error: string, message: string) =>
      answer(status, { 'content-type': 'application/json' }, JSON.stringify({ error, message }));
    readLimited(req, res)
      .then(async (bytes) => {
        if (bytes === null) return;
        const event = toEvent(req, bytes);
        const method = event.requestContext.http.method;
        try {
          check(event, 'admin');
        } catch (err) {
          if (err instanceof ForbiddenError) return refuse(403, 'Forbidden', err.message);
          if (err instanceof MisdirectedRequestError) return refuse(421, 'MisdirectedRequest', err.message);
          throw err;
        }
        if (!routes.some((r) => r.method === method && r.match(event.rawPath) !== null)) {
          return refuse(404, 'NotFound', `no admin route for ${method} ${event.rawPath}`);
        }
        const body = bytes.length > 0 ? bytes.toString('utf8') : undefined;
        const type = (header(event, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
        if (body !== undefined && type !== 'application/json') {
          return refuse(
            415,
            'UnsupportedMediaType',
            'a request body must be sent with Content-Type: application/json',
          );
        }
        // The origin and its own path (a REST API's stage), then the path as sent: a path can
        // never name another host.
        const target = new URL(`${upstream.origin}${basePath}${event.rawPath}`);
        target.search = event.rawQueryString;
        const headers = await signedHeaders(target, method, body, options.region, credentials);
        const got = await httpText(target, { method, headers, body, timeoutMs: 15_000 });
        const back: Record<string, string> = {};
        for (const name of PASSED_BACK) {
          const value = got.headers[name];
          if (typeof value === 'string') back[name] = value;
        }
        answer(got.status, back, got.text);
      })
      .catch((err: Error) => {
        if (res.headersSent) return res.end();
        refuse(502, 'BadGateway', `cannot reach ${upstream.origin}: ${err.message}`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8788, '127.0.0.1', () => resolve());
  }).catch((err: { code?: unknown }) => {
    if (err.code === 'EADDRINUSE') {
      throw new UsageError(`port ${options.port} is in use; pick another with --port (0 = any free port)`);
    }
    throw err;
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => closeServer(server) };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function consoleCommand(argv: string[]): Promise<number> {
  const values = parseOptions(argv, {
    url: { type: 'string' },
    port: { type: 'string', default: '8788' },
    region: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(CONSOLE_HELP);
    return 0;
  }
  const { url } = requireOptions({ url: values.url ?? process.env.FAILOVER_URL }, { url: 'FAILOVER_URL' });
  const port = portOption(values.port);
  const proxy = await startConsoleProxy({
    upstream: url,
    port,
    ...(values.region ? { region: values.region } : {}),
  });
  process.stdout.write(
    `console on ${proxy.url}/ (loopback only), forwarding to ${new URL(url).origin} signed with your AWS credentials; Ctrl-C to stop\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await proxy.close();
  return 0;
}
