/**
 * The console in a real browser (issue 16): headless Chromium (Debian's `chromium`, which
 * `.ci/run` installs) driven by playwright-core, against a local server whose nodes beat
 * from this test. The page shows the active, then the failover when the active stops
 * beating, runs a switchover through its dialog, and a page from another origin cannot
 * pause the cluster. Screenshots go to `test-results/` (git-ignored).
 *
 * Skipped with a message where `chromium` is not installed; under CI (`CI` set) that fails.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '../cli/local-server.js';
import { silentLogger } from '../shared/logger.js';
import { makeCluster, type TestCluster } from './helpers/store-fixtures.js';

const executablePath = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
})();
if (!executablePath) {
  if (process.env.CI) throw new Error('chromium is not installed: .ci/run installs it with apt-get');
  console.warn('chromium is not on PATH: skipping the console test in a real browser');
}

const CLUSTER = 'web';
const SHOTS = 'test-results';
let server: LocalServer;
let tc: TestCluster;
let browser: Browser;
let page: Page;
let foreign: Server;

/** Waits for what the page shows (a bound on waiting, not on speed: `npm run bench` measures that). */
const until = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 20_000, interval: 100 });

async function beat(node: string): Promise<void> {
  const res = await fetch(`${server.url}/v1/clusters/${CLUSTER}/nodes/${node}/heartbeat`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tc.tokens[node]}`, 'content-type': 'application/json' },
    body: '{}',
  });
  expect(res.status).toBe(200);
}

describe.skipIf(!executablePath)('the console in headless Chromium', () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // A one-hour sweep: the test's own sweep is the only one, so each change is the test's.
    tc = makeCluster({ id: CLUSTER, nodeIds: ['a', 'b', 'c'], intervalSeconds: 2 });
    server = await startLocalServer({
      config: tc.config,
      logger: silentLogger,
      port: 0,
      sweepIntervalMs: 3_600_000,
    });
    for (const node of ['a', 'b', 'c']) await beat(node);
    // Another origin: a page on another local port that tries to pause the cluster.
    foreign = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>elsewhere</title>');
    });
    await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1100, height: 1200 } });
  });

  afterAll(async () => {
    await browser?.close();
    foreign?.closeAllConnections();
    await new Promise((resolve) => foreign?.close(resolve));
    await server?.close();
  });

  it('shows the active node as text, with no error under its security policy', async () => {
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/`);
    const row = page.locator('tr', { has: page.locator('th', { hasText: /^a$/ }) });
    await until(() => row.locator('.role').textContent()).toBe('ACTIVE');
    await until(() => page.locator('#live').textContent()).toMatch(/^Live: read at /);
    expect(errors).toEqual([]);
  });

  it('shows the failover in the table and the timeline once the active stops beating', async () => {
    // b and c keep beating; a is silent past its lease (6 s), then the sweep promotes b.
    for (let i = 0; i < 7; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await beat('b');
      await beat('c');
    }
    await server.sweep();
    const row = (node: string) =>
      page.locator('tr', { has: page.locator('th', { hasText: new RegExp(`^${node}$`) }) });
    await until(() => row('b').locator('.role').textContent()).toBe('ACTIVE');
    await until(() => row('a').locator('td').nth(1).textContent()).toMatch(/^NOT ALIVE/);
    await until(() => page.locator('svg.timeline').textContent()).toContain('failover → b');
    await page.screenshot({ path: `${SHOTS}/console-failover.png`, fullPage: true });
  });

  it('switches over through the dialog, by keyboard, and shows the 202 answer', async () => {
    await beat('b');
    await beat('c');
    await page.getByRole('button', { name: 'Switch over…' }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await until(() => dialog.isVisible()).toBe(true);
    await page.getByLabel('Promote', { exact: true }).selectOption('c');
    await page.getByLabel('Reason (recorded in the event log)').fill('planned move to c');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await until(() => page.locator('#answer').textContent()).toMatch(
      /Accepted \(202\): b is asked to step down; c is promoted/,
    );
    await until(() => page.locator('.facts').textContent()).toContain('SWITCHOVER PENDING: b → c');
    await page.screenshot({ path: `${SHOTS}/console-switchover.png`, fullPage: true });
  });

  it("refuses a pause sent from another origin's page", async () => {
    const other = await browser.newPage();
    await other.goto(`http://127.0.0.1:${(foreign.address() as AddressInfo).port}/`);
    const status = await other.evaluate(async (url) => {
      try {
        const res = await fetch(url, {
          method: 'POST',
          mode: 'no-cors',
          headers: { 'content-type': 'text/plain' },
          body: '{"reason":"csrf"}',
        });
        return res.type;
      } catch {
        return 'refused';
      }
    }, `${server.url}/v1/clusters/${CLUSTER}/pause`);
    expect(['opaque', 'refused']).toContain(status);
    const after = (await (await fetch(`${server.url}/v1/clusters/${CLUSTER}`)).json()) as { paused: unknown };
    expect(after.paused).toBeNull();
    await other.close();
  });
});
