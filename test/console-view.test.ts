/**
 * The console page's logic in Node (issue 16): what it records of each status read, who it
 * draws as active when, what the timeline marks, how it words answers, and the requests its
 * buttons send. Times are data: nothing here reads a clock.
 */
import { describe, expect, it } from 'vitest';
import { consoleView } from '../shared/console/view.js';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import type { ClusterEvent } from '../shared/core/state.js';
import { FIXTURE_NOW, nodeFixture, statusFixture } from './helpers/status-fixture.js';

const view = consoleView();
const NOW = FIXTURE_NOW;
const MIN = 60_000;
const node = nodeFixture;
const status = (over: Partial<ClusterStatus> = {}, at = NOW) =>
  statusFixture({ now: new Date(at).toISOString(), ...over });

function promoted(at: number, from: string | null, to: string, epoch: number): ClusterEvent {
  return { cluster: 'db', kind: 'promoted', epoch, at, active: to, previous: from, reason: `${to} promoted` };
}

describe('observe: the page keeps what it read, for one window', () => {
  it('adds one sample per node per read, with the last beat time the control plane reported', () => {
    const first = view.observe({}, status({}, NOW - 1000));
    const second = view.observe(first, status());
    expect(second.a).toEqual([
      { at: NOW - 1000, lastSeen: NOW - 500, alive: true },
      { at: NOW, lastSeen: NOW - 500, alive: true },
    ]);
  });

  it('drops samples older than the window, so an open page holds at most one window', () => {
    const old = view.observe({}, status({}, NOW - 61 * MIN));
    expect(view.observe(old, status()).a).toHaveLength(1);
    expect(view.observe(old, status(), 62 * MIN).a).toHaveLength(2);
  });
});

describe('activePeriods: who was active when, from the event log', () => {
  it('splits the window at each promotion, starting from the first promotion’s previous active', () => {
    const events = [promoted(NOW - 20 * MIN, 'a', 'b', 2)];
    expect(view.activePeriods(status(), events, NOW - 60 * MIN, NOW)).toEqual([
      { from: NOW - 60 * MIN, to: NOW - 20 * MIN, node: 'a', epoch: 1 },
      { from: NOW - 20 * MIN, to: NOW, node: 'b', epoch: 2 },
    ]);
  });

  it('shows the current active for the whole window when nothing was promoted in it', () => {
    const events = [promoted(NOW - 90 * MIN, 'a', 'b', 2)];
    expect(view.activePeriods(status(), events, NOW - 60 * MIN, NOW)).toEqual([
      { from: NOW - 60 * MIN, to: NOW, node: 'b', epoch: 2 },
    ]);
  });
});

describe('timeline: the last hour as a picture', () => {
  it('marks a failover with a line and its words, and a node that was not alive with a down bar', () => {
    let history = view.observe({}, status({}, NOW - 2000));
    const down = status({ nodes: [node('a', { alive: false }), node('b', { role: 'active' })] }, NOW - 1000);
    history = view.observe(history, down);
    const svg = view.timeline(
      status(),
      [promoted(NOW - 20 * MIN, 'a', 'b', 2)],
      view.observe(history, status()),
    );
    expect(svg).toMatch(
      /^<svg class="timeline"[^>]* role="img" aria-label="Timeline of cluster db, last 60 minutes: 1 failover\(s\)/,
    );
    expect(svg).toContain('<line class="event promoted"');
    expect(svg).toContain('failover → b');
    expect(view.timeline(status(), [promoted(NOW - MIN, null, 'a', 1)], {})).toContain('first active → a');
    expect(svg).toMatch(/<rect class="down"[^>]*><title>a NOT ALIVE/);
    expect(svg).toContain('active: a (epoch 1) from 09:00:00 to 09:40:00');
  });

  it('draws one tick per distinct beat it saw, and none for a node never seen', () => {
    const neverB = node('b', { lastSeen: null });
    let history = view.observe({}, status({ nodes: [node('a'), neverB] }, NOW - 2000));
    history = view.observe(history, status({ nodes: [node('a'), neverB] }, NOW - 1000));
    history = view.observe(history, status({ nodes: [node('a', { lastSeen: NOW - 100 }), neverB] }));
    const svg = view.timeline(status({ nodes: [node('a'), neverB] }), [], history);
    expect(svg.match(/class="beat"/g)).toHaveLength(2);
  });
});

describe('clusterHtml: every fact in words', () => {
  it('shows the role as text, not colour alone, and the pending handover, pause and targets', () => {
    const html = view.clusterHtml(
      status({
        paused: { since: '2026-12-02T09:59:00.000Z', by: 'local', reason: 'patching' },
        handover: {
          cause: 'switchover',
          from: 'b',
          to: 'a',
          since: '2026-12-02T09:59:59.000Z',
          deadline: '2026-12-02T10:00:02.000Z',
          by: 'local',
          reason: 'planned',
          steppedDown: false,
        },
      }),
      [],
      {},
    );
    expect(html).toContain('<tr class="standby"><th scope="row">a</th><td><span class="role">standby</span>');
    expect(html).toContain('<tr class="active"><th scope="row">b</th><td><span class="role">ACTIVE</span>');
    expect(html).toContain('PAUSED since 2026-12-02T09:59:00.000Z by local: patching');
    expect(html).toContain(
      'SWITCHOVER PENDING: b → a, waiting for b to step down (until 2026-12-02T10:00:02.000Z)',
    );
    expect(html).toContain('dns (route53): <strong>applied</strong> at epoch 2');
  });

  it('shows which Region took each beat only when the control plane runs in several', () => {
    expect(view.clusterHtml(status(), [], {})).not.toContain('beat via');
    const html = view.clusterHtml(
      status({
        nodes: [node('a', { region: 'us-east-2', previousToken: true }), node('b', { role: 'active' })],
      }),
      [],
      {},
    );
    expect(html).toContain('<th scope="col">beat via</th>');
    expect(html).toContain('<td>us-east-2</td></tr>');
    expect(html).toContain('beats with the previous token of a rotation');
  });

  it('escapes what operators and nodes wrote (event reasons, versions)', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const html = view.clusterHtml(
      status({ nodes: [node('a', { version: evil }), node('b', { role: 'active' })] }),
      [{ ...promoted(NOW - MIN, 'a', 'b', 2), reason: evil }],
      {},
    );
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe('actions: the requests the buttons send, and the answers shown', () => {
  it('sends a switchover to a chosen node, at once only when asked, with the reason', () => {
    expect(view.actionRequest({ action: 'switchover', cluster: 'db', to: 'a', reason: ' planned ' })).toEqual(
      {
        path: '/v1/clusters/db/switchover',
        body: { to: 'a', reason: 'planned' },
      },
    );
    expect(
      view.actionRequest({ action: 'switchover', cluster: 'db', to: '', immediate: true, reason: 'now' }),
    ).toEqual({ path: '/v1/clusters/db/switchover', body: { immediate: true, reason: 'now' } });
    expect(view.actionRequest({ action: 'pause', cluster: 'a b', reason: 'x' })).toEqual({
      path: '/v1/clusters/a%20b/pause',
      body: { reason: 'x' },
    });
  });

  it('words a 202 as the pending handover, a 409 with its reason, and other failures with their status', () => {
    const pending = status({
      handover: {
        cause: 'switchover',
        from: 'b',
        to: 'a',
        since: '',
        deadline: '2026-12-02T10:00:03.000Z',
        by: null,
        reason: '',
        steppedDown: false,
      },
    });
    expect(view.answerText('switchover', 202, pending)).toBe(
      'Accepted (202): b is asked to step down; a is promoted once it confirms, at the latest at 2026-12-02T10:00:03.000Z.',
    );
    expect(view.answerText('switchover', 200, status())).toBe('Done (200): b is active at epoch 2.');
    expect(view.answerText('pause', 409, { error: 'Conflict', message: 'already paused' })).toBe(
      'Refused (409): already paused',
    );
    expect(view.answerText('resume', 403, { Message: 'Forbidden' })).toBe('Failed (403): Forbidden');
  });
});
