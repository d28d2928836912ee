/**
 * The console page as served (issue 16), against a real local server: its content types
 * and security policy, nothing shown without admin authorisation, and the served script
 * itself, run in a Node VM with a minimal stand-in for the DOM, driving the admin routes
 * exactly as it does in a browser (switchover 202, its 409, pause and resume). Requests
 * the page did not make (another origin's, a form's) are refused.
 */

import { fileURLToPath } from 'node:url';
import { runInNewContext } from 'node:vm';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '../cli/local-server.js';
import { CONSOLE_ASSETS, CONSOLE_CSP } from '../shared/console/assets.js';
import { silentLogger } from '../shared/logger.js';
import { rawRequest } from './helpers/raw-http.js';
import { stateSnapshot } from './helpers/state-snapshot.js';
import { makeCluster, type TestCluster } from './helpers/store-fixtures.js';

const CLUSTER = 'demo';
let server: LocalServer;
let tc: TestCluster;

/** A local server for cluster demo with a, b and c alive, and a active. */
async function startDemo(): Promise<LocalServer> {
  // A one-hour interval and sweep: only the requests of the test change state.
  tc = makeCluster({ id: CLUSTER, nodeIds: ['a', 'b', 'c'], intervalSeconds: 3_600 });
  const started = await startLocalServer({
    config: tc.config,
    logger: silentLogger,
    port: 0,
    sweepIntervalMs: 3_600_000,
  });
  for (const node of ['a', 'b', 'c']) {
    const res = await fetch(`${started.url}/v1/clusters/${CLUSTER}/nodes/${node}/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tc.tokens[node]}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(200);
  }
  return started;
}

beforeAll(async () => {
  server = await startDemo();
});

afterAll(async () => {
  await server?.close();
});

describe('the page, its script and styles as served', () => {
  it.each([
    ['/', 'text/html; charset=utf-8'],
    ['/console.js', 'text/javascript; charset=utf-8'],
    ['/console.css', 'text/css; charset=utf-8'],
  ])('serves %s as %s, under the strict policy, not sniffed, not framed, not cached', async (path, type) => {
    const res = await fetch(`${server.url}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('allows only its own script, styles and requests: nothing inline, nothing from elsewhere', () => {
    expect(CONSOLE_CSP).toContain("default-src 'none'");
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe');
    const page = CONSOLE_ASSETS.page.body;
    expect(page.match(/<script\b[^>]*>/g)).toEqual(['<script src="/console.js" defer>']);
    expect(page).not.toMatch(/<style|\sstyle=|\son[a-z]+=|https?:\/\//);
  });

  it('labels every field of the confirmation dialog', () => {
    const page = CONSOLE_ASSETS.page.body;
    for (const id of ['to', 'reason']) expect(page).toContain(`<label for="${id}">`);
    expect(page).toMatch(/<label><input type="checkbox" id="immediate">/);
    expect(page).toContain('<dialog id="confirm" aria-labelledby="confirm-title">');
  });
});

/**
 * The served script in a VM: `document` is a stand-in with the few elements the script
 * uses; `fetch` goes to the real server, adding the Origin a browser adds to a same-origin
 * POST; `setTimeout` is recorded, so each poll is run by the test, not by a clock.
 */
function runPage(script: string, server: LocalServer) {
  class Element {
    textContent = '';
    innerHTML = '';
    hidden = false;
    value = '';
    checked = false;
    open = false;
    readonly dataset: Record<string, string> = {};
    readonly children: Element[] = [];
    private readonly listeners: Record<string, Array<(event: unknown) => void>> = {};
    private live: Element | undefined;
    setAttribute() {}
    focus() {}
    append(child: Element) {
      this.children.push(child);
    }
    querySelector(selector: string) {
      expect(selector).toBe('.live');
      this.live ??= new Element();
      return this.live;
    }
    addEventListener(type: string, listener: (event: unknown) => void) {
      this.listeners[type] = [...(this.listeners[type] ?? []), listener];
    }
    dispatch(type: string, event: unknown = {}) {
      for (const listener of this.listeners[type] ?? []) listener(event);
    }
    showModal() {
      this.open = true;
    }
    close() {
      this.open = false;
      this.dispatch('close');
    }
  }
  const elements = new Map<string, Element>();
  const document = {
    getElementById: (id: string) => elements.get(id) ?? elements.set(id, new Element()).get(id),
    createElement: () => new Element(),
  };
  const sent: Array<{ method: string; path: string; headers: Record<string, string>; body?: string }> = [];
  const inFlight = new Set<Promise<unknown>>();
  const fetchFromPage = (
    path: string,
    init: { method: string; headers: Record<string, string>; body?: string },
  ) => {
    sent.push({
      method: init.method,
      path,
      headers: init.headers,
      ...(init.body ? { body: init.body } : {}),
    });
    const headers = init.method === 'POST' ? { ...init.headers, origin: server.url } : init.headers;
    const answer = fetch(`${server.url}${path}`, { ...init, headers }).then(async (res) => {
      const text = await res.text();
      return { status: res.status, json: async () => JSON.parse(text) };
    });
    inFlight.add(answer);
    return answer;
  };
  const timers: Array<() => void> = [];
  runInNewContext(script, {
    document,
    fetch: fetchFromPage,
    setTimeout: (callback: () => void) => timers.push(callback),
  });
  /** Waits until every request the page made is answered and the page has acted on the answers. */
  const settle = async () => {
    while (inFlight.size > 0) {
      const pending = [...inFlight];
      await Promise.all(pending);
      for (const p of pending) inFlight.delete(p);
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const el = (id: string) => document.getElementById(id) as Element;
  const section = () => (el('clusters').children[0] as Element).querySelector('.live');
  return {
    el,
    sent,
    settle,
    section,
    /** Runs the next scheduled poll to its end. */
    poll: async () => {
      const next = timers.shift();
      expect(next).toBeDefined();
      next?.();
      await settle();
    },
    click: (action: string) =>
      el('clusters').dispatch('click', {
        target: { closest: () => ({ dataset: { action, cluster: CLUSTER }, focus() {} }) },
      }),
    confirm: () => el('confirm-form').dispatch('submit', { preventDefault() {} }),
  };
}

/** The script as the Lambda bundle serves it: bundled and minified by esbuild as NodejsFunction does. */
async function bundledScript(): Promise<string> {
  const out = await build({
    entryPoints: [fileURLToPath(new URL('../shared/console/assets.ts', import.meta.url))],
    bundle: true,
    minify: true,
    format: 'cjs',
    platform: 'node',
    target: 'node24',
    write: false,
    logLevel: 'error',
  });
  const module = { exports: {} as { CONSOLE_ASSETS?: typeof CONSOLE_ASSETS } };
  new Function('module', 'exports', out.outputFiles[0]?.text ?? '')(module, module.exports);
  return module.exports.CONSOLE_ASSETS?.script.body ?? '';
}

describe.each([
  ['as served here', async () => CONSOLE_ASSETS.script.body],
  ['as bundled for Lambda (minified)', bundledScript],
])('the served script %s drives the admin routes as a browser would', (_how, script) => {
  it('lists the clusters, shows the active, and switches over, pauses and resumes with the answers shown', async () => {
    const own = await startDemo();
    try {
      await drive(runPage(await script(), own), own);
    } finally {
      await own.close();
    }
  });
});

/** Lists, shows, switches over (202, then 409), pauses and resumes through the page. */
async function drive(page: ReturnType<typeof runPage>, server: LocalServer): Promise<void> {
  await page.settle();
  expect(page.el('clusters').children).toHaveLength(1);
  expect(page.section().innerHTML).toContain('<span class="role">ACTIVE</span>');
  expect(page.section().innerHTML).toContain('active: a');
  expect(page.el('live').textContent).toMatch(/^Live: read at /);

  // Switchover to c, demote-first: 202 and the handover pending in the status.
  page.click('switchover');
  expect(page.el('confirm').open).toBe(true);
  expect(page.el('to-field').hidden).toBe(false);
  expect(page.el('to').innerHTML).toContain('<option value="c">c (alive)</option>');
  expect(page.el('to').innerHTML).not.toContain('value="a"');
  page.el('to').value = 'c';
  page.el('reason').value = 'planned move';
  page.confirm();
  expect(page.el('confirm').open).toBe(false);
  await page.settle();
  expect(page.sent.at(-1)).toEqual({
    method: 'POST',
    path: `/v1/clusters/${CLUSTER}/switchover`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ to: 'c', reason: 'planned move' }),
  });
  expect(page.el('answer').textContent).toMatch(
    /^Switch over demo: Accepted \(202\): a is asked to step down; c is promoted once it confirms/,
  );
  await page.poll();
  expect(page.section().innerHTML).toContain('SWITCHOVER PENDING: a → c');

  // A second one while it is pending: the 409 and its reason.
  page.click('switchover');
  page.el('to').value = 'b';
  page.el('reason').value = 'again';
  page.confirm();
  await page.settle();
  expect(page.el('answer').textContent).toMatch(
    /^Switch over demo: Refused \(409\): a switchover from a to c is in progress/,
  );

  page.click('pause');
  expect(page.el('to-field').hidden).toBe(true);
  page.el('reason').value = 'maintenance';
  page.confirm();
  await page.settle();
  expect(page.el('answer').textContent).toBe('Pause automation of demo: Done (200): automation paused.');
  await page.poll();
  expect(page.section().innerHTML).toContain('PAUSED since');
  expect(page.section().innerHTML).toContain('<strong>paused</strong>');

  page.click('resume');
  page.el('reason').value = 'done';
  page.confirm();
  await page.settle();
  expect(page.el('answer').textContent).toBe('Resume automation of demo: Done (200): automation resumed.');
  const status = (await (await fetch(`${server.url}/v1/clusters/${CLUSTER}`)).json()) as {
    paused: unknown;
  };
  expect(status.paused).toBeNull();
}

describe('requests the page did not make are refused, changing nothing', () => {
  it.each([
    [
      "another origin's fetch of the page's own request",
      { origin: 'http://evil.example', 'content-type': 'application/json' },
      403,
    ],
    [
      "another origin's form post (text/plain)",
      { origin: 'http://evil.example', 'content-type': 'text/plain' },
      403,
    ],
    ['a form post with no Origin (text/plain)', { 'content-type': 'text/plain' }, 415],
  ])('refuses %s', async (_what, headers, status) => {
    const before = await stateSnapshot(server, CLUSTER);
    const res = await rawRequest(server.url, {
      method: 'POST',
      path: `/v1/clusters/${CLUSTER}/pause`,
      headers,
      body: JSON.stringify({ reason: 'x' }),
    });
    expect(res.status).toBe(status);
    expect(await stateSnapshot(server, CLUSTER)).toEqual(before);
  });
});
