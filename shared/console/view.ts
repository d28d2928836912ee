/**
 * The console page's logic that is not DOM wiring: what it records from each status it
 * reads, the HTML of a cluster, the timeline picture, the requests its buttons send and
 * how it words the answers. Pure functions of their arguments (time included), so they are
 * tested in Node.
 *
 * Invariant: `consoleView` is served to the browser as its own source text (see
 * `assets.ts`), so its body refers to nothing outside itself (no imports at run time, no
 * module constants). The served script is evaluated in a test, which catches a slip.
 */
import type { ClusterStatus } from '../control-plane/control-plane.js';
import type { ClusterEvent } from '../core/state.js';

/** What the page saw of one node at one status read (times on the control plane's clock). */
export interface BeatSample {
  at: number;
  /** The control plane's time of the node's last beat, as of this read. */
  lastSeen: number | null;
  alive: boolean;
}

/** Per cluster, per node: the samples since the page was opened, at most `windowMs` old. */
export type History = Record<string, BeatSample[]>;

/** What a button asks for, as the page's dialog collects it. */
export interface ActionInput {
  action: 'switchover' | 'pause' | 'resume';
  cluster: string;
  reason: string;
  /** Switchover only: the node to promote ('' = the best eligible standby). */
  to?: string;
  /** Switchover only: promote at once instead of waiting for the active to step down. */
  immediate?: boolean;
}

export type ConsoleView = ReturnType<typeof consoleView>;

export function consoleView() {
  const HOUR_MS = 3_600_000;

  const escapeHtml = (value: unknown): string =>
    String(value ?? '').replace(
      /[&<>"']/g,
      (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
    );

  const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 19);

  const age = (ms: number | null): string => {
    if (ms === null) return 'never';
    if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
    if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
    return `${Math.round(ms / 60_000)} min`;
  };

  /** Adds what `status` says of each node to `history`, dropping samples older than `windowMs`. */
  function observe(history: History, status: ClusterStatus, windowMs = HOUR_MS): History {
    const at = Date.parse(status.now);
    const next: History = {};
    for (const node of status.nodes) {
      const kept = (history[node.id] ?? []).filter((s) => s.at > at - windowMs && s.at < at);
      next[node.id] = [...kept, { at, lastSeen: node.lastSeen, alive: node.alive }];
    }
    return next;
  }

  /** Who was active from `start` to `end`, from the promotions in the event log (newest first or not). */
  function activePeriods(
    status: ClusterStatus,
    events: ClusterEvent[],
    start: number,
    end: number,
  ): Array<{ from: number; to: number; node: string | null; epoch: number }> {
    const promotions = events
      .filter((e) => e.kind === 'promoted' && e.at > start && e.at <= end)
      .sort((a, b) => a.at - b.at);
    const periods: Array<{ from: number; to: number; node: string | null; epoch: number }> = [];
    let from = start;
    let node = promotions.length > 0 ? (promotions[0] as ClusterEvent).previous : status.active;
    let epoch = promotions.length > 0 ? (promotions[0] as ClusterEvent).epoch - 1 : status.epoch;
    for (const p of promotions) {
      periods.push({ from, to: p.at, node, epoch });
      from = p.at;
      node = p.active;
      epoch = p.epoch;
    }
    periods.push({ from, to: end, node, epoch });
    return periods.filter((p) => p.to > p.from);
  }

  /** Runs of consecutive samples with the same liveness; a gap of more than `maxGapMs` between reads breaks a run (unknown, not drawn). */
  function runs(samples: BeatSample[], maxGapMs: number) {
    const out: Array<{ from: number; to: number; alive: boolean }> = [];
    for (const s of samples) {
      const last = out[out.length - 1];
      if (last !== undefined && last.alive === s.alive && s.at - last.to <= maxGapMs) last.to = s.at;
      else out.push({ from: s.at, to: s.at, alive: s.alive });
    }
    return out;
  }

  /**
   * The last hour as a picture: a row for the active node (from the event log, the whole
   * hour), a row per node with its beats and the times it was not alive (from the page's own
   * reads, since it was opened), and a line at every event (failovers stand out).
   */
  function timeline(status: ClusterStatus, events: ClusterEvent[], history: History, windowMs = HOUR_MS) {
    const now = Date.parse(status.now);
    const start = now - windowMs;
    const left = 90;
    const width = 900;
    const row = 22;
    const top = 18;
    const height = top + row * (status.nodes.length + 1) + 20;
    const x = (t: number) =>
      (left + ((Math.max(start, Math.min(now, t)) - start) / windowMs) * (width - left - 10)).toFixed(1);
    const w = (a: number, b: number) => Math.max(1, Number(x(b)) - Number(x(a))).toFixed(1);
    const parts: string[] = [];
    for (let i = 0; i <= 4; i++) {
      const t = start + (windowMs * i) / 4;
      const label = i === 4 ? 'now' : `-${Math.round((windowMs - (windowMs * i) / 4) / 60_000)} min`;
      parts.push(
        `<line class="grid" x1="${x(t)}" x2="${x(t)}" y1="${top - 4}" y2="${height - 16}"/>`,
        `<text class="axis" x="${x(t)}" y="${height - 4}" text-anchor="middle">${label}</text>`,
      );
    }
    parts.push(`<text class="label" x="4" y="${top + 15}">active</text>`);
    for (const p of activePeriods(status, events, start, now)) {
      const name = p.node === null ? 'none' : `${p.node} (epoch ${p.epoch})`;
      parts.push(
        `<g><title>${escapeHtml(`active: ${name} from ${clock(p.from)} to ${clock(p.to)}`)}</title>`,
        `<rect class="${p.node === null ? 'no-active' : 'active'}" x="${x(p.from)}" y="${top}" width="${w(p.from, p.to)}" height="${row - 4}"/>`,
        `<text class="on-bar" x="${Number(x(p.from)) + 3}" y="${top + 13}">${escapeHtml(p.node ?? 'none')}</text></g>`,
      );
    }
    status.nodes.forEach((node, i) => {
      const y = top + row * (i + 1);
      const samples = history[node.id] ?? [];
      parts.push(`<text class="label" x="4" y="${y + 15}">${escapeHtml(node.id)}</text>`);
      for (const r of runs(samples, 2.5 * 1000 + status.intervalMs)) {
        parts.push(
          `<rect class="${r.alive ? 'alive' : 'down'}" x="${x(r.from)}" y="${y + 4}" width="${w(r.from, r.to)}" height="${row - 10}"><title>${escapeHtml(`${node.id} ${r.alive ? 'alive' : 'NOT ALIVE (no beat within the lease)'} from ${clock(r.from)} to ${clock(r.to)}`)}</title></rect>`,
        );
      }
      const beats = [
        ...new Set(samples.map((s) => s.lastSeen).filter((t): t is number => t !== null && t > start)),
      ];
      for (const t of beats)
        parts.push(`<line class="beat" x1="${x(t)}" x2="${x(t)}" y1="${y + 2}" y2="${y + row - 4}"/>`);
    });
    // Events as lines (a promotion in red); what each was is in its title and the list below,
    // since labels of events seconds apart would print over each other at this scale.
    for (const e of events.filter((e) => e.at > start && e.at <= now)) {
      const what =
        e.kind === 'promoted' ? `${e.previous === null ? 'first active' : 'failover'} → ${e.active}` : e.kind;
      parts.push(
        `<g><title>${escapeHtml(`${clock(e.at)} ${what}: ${e.reason}`)}</title>` +
          `<line class="event ${e.kind}" x1="${x(e.at)}" x2="${x(e.at)}" y1="${top - 6}" y2="${height - 16}"/></g>`,
      );
    }
    const opened = Object.values(history)
      .flatMap((s) => s.map((sample) => sample.at))
      .reduce((a, b) => Math.min(a, b), now);
    if (opened > start) {
      parts.push(
        `<line class="opened" x1="${x(opened)}" x2="${x(opened)}" y1="${top + row}" y2="${height - 16}"/>`,
      );
    }
    const promotions = events.filter(
      (e) => e.kind === 'promoted' && e.previous !== null && e.at > start,
    ).length;
    const summary = `Timeline of cluster ${status.cluster}, last ${Math.round(windowMs / 60_000)} minutes: ${promotions} failover(s); beats drawn since ${clock(opened)}`;
    return `<svg class="timeline" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(summary)}"><title>${escapeHtml(summary)}</title>${parts.join('')}</svg>`;
  }

  const position = (n: ClusterStatus['nodes'][number]) =>
    [
      n.position === null ? null : `position ${n.position}`,
      n.lagSeconds === null ? null : `lag ${n.lagSeconds} s`,
    ]
      .filter(Boolean)
      .join(', ') || '—';

  const nodeState = (n: ClusterStatus['nodes'][number]) => {
    if (n.lastSeen === null) return 'never seen';
    const parts = [n.alive ? 'alive' : 'NOT ALIVE', n.status ?? ''];
    if (n.role === 'standby' && n.alive && !n.eligible)
      parts.push(`not eligible: ${n.ineligibleReason ?? ''}`);
    if (n.collision) parts.push(`COLLISION: claims epoch ${n.collision.claimedEpoch ?? '?'}`);
    if (n.previousToken) parts.push('beats with the previous token of a rotation');
    return parts.filter(Boolean).join(', ');
  };

  /** Cluster-wide facts, each as words: nothing here is told by colour alone. */
  function summary(s: ClusterStatus): string[] {
    const facts = [
      `active: ${s.active ?? 'none'}`,
      `epoch ${s.epoch}`,
      `lease ${s.leaseMs / 1000} s (${s.missedBeats} × ${s.intervalMs / 1000} s)`,
      `${s.mode}, failback ${s.failback}`,
    ];
    if (s.paused) facts.push(`PAUSED since ${s.paused.since} by ${s.paused.by}: ${s.paused.reason}`);
    if (s.hold) facts.push(`HOLD (${s.hold.code}): ${s.hold.reason}`);
    if (s.handover) {
      const h = s.handover;
      facts.push(
        `${h.cause.toUpperCase()} PENDING: ${h.from} → ${h.to}, ${h.steppedDown ? `${h.from} has stepped down` : `waiting for ${h.from} to step down (until ${h.deadline})`}`,
      );
    }
    if (s.flapGuard.holding)
      facts.push(`flap guard holding: ${s.flapGuard.lastHour} automatic changes in the last hour`);
    return facts;
  }

  /** One cluster's live part: facts, targets, node table, timeline and the last hour's events. */
  function clusterHtml(status: ClusterStatus, events: ClusterEvent[], history: History): string {
    const now = Date.parse(status.now);
    const recent = events.filter((e) => e.at > now - HOUR_MS).sort((a, b) => b.at - a.at);
    // Multi-Region: which Region took each node's last beat.
    const regions = status.nodes.some((n) => n.region !== null);
    const rows = status.nodes
      .map(
        (n) =>
          `<tr class="${n.role}${n.alive ? '' : ' down'}"><th scope="row">${escapeHtml(n.id)}</th>` +
          `<td><span class="role">${n.role === 'active' ? 'ACTIVE' : 'standby'}</span></td>` +
          `<td>${escapeHtml(nodeState(n))}</td><td>${age(n.lastSeenAgeMs)}</td>` +
          `<td>${n.missedBeats ?? '—'}</td><td>${escapeHtml(position(n))}</td>` +
          `<td>${escapeHtml(n.version ?? '—')}${n.versionMismatch ? ' (MISMATCH)' : ''}</td>` +
          `<td>${n.priority}</td><td>${n.heartbeats}</td>` +
          `${regions ? `<td>${escapeHtml(n.region ?? '—')}</td>` : ''}</tr>`,
      )
      .join('');
    const targets = status.targets
      .map(
        (t) =>
          `<li>${escapeHtml(t.id)} (${escapeHtml(t.type)}): <strong>${escapeHtml(t.state)}</strong>` +
          `${t.epoch === null ? '' : ` at epoch ${t.epoch}`}${t.error ? `: ${escapeHtml(t.error)}` : ''}</li>`,
      )
      .join('');
    const log = recent
      .map(
        (e) =>
          `<li><time datetime="${new Date(e.at).toISOString()}">${clock(e.at)}</time> <strong>${escapeHtml(e.kind)}</strong> ` +
          `epoch ${e.epoch}: ${escapeHtml(e.reason)}${e.by ? ` (by ${escapeHtml(e.by)})` : ''}</li>`,
      )
      .join('');
    return (
      `<ul class="facts">${summary(status)
        .map((f) => `<li>${escapeHtml(f)}</li>`)
        .join('')}</ul>` +
      `<h3>Targets</h3>${targets ? `<ul class="targets">${targets}</ul>` : '<p>none configured</p>'}` +
      `<h3>Nodes</h3><table><thead><tr><th scope="col">node</th><th scope="col">role</th><th scope="col">state</th>` +
      `<th scope="col">last beat</th><th scope="col">missed beats</th><th scope="col">data</th>` +
      `<th scope="col">version</th><th scope="col">priority</th><th scope="col">beats</th>` +
      `${regions ? '<th scope="col">beat via</th>' : ''}</tr></thead><tbody>${rows}</tbody></table>` +
      `<h3>Last hour</h3>${timeline(status, events, history)}` +
      `<p class="note">Active node: from the event log. Beats and liveness: what this page has read every second since it was opened.</p>` +
      `<h3>Events</h3>${log ? `<ol class="events">${log}</ol>` : '<p>none in the last hour</p>'}`
    );
  }

  /** The admin request a confirmed action sends: the same routes and bodies as the CLI. */
  function actionRequest(input: ActionInput): { path: string; body: Record<string, unknown> } {
    const path = `/v1/clusters/${encodeURIComponent(input.cluster)}/${input.action}`;
    const reason = input.reason.trim() === '' ? {} : { reason: input.reason.trim() };
    if (input.action !== 'switchover') return { path, body: reason };
    return {
      path,
      body: {
        ...(input.to ? { to: input.to } : {}),
        ...(input.immediate ? { immediate: true } : {}),
        ...reason,
      },
    };
  }

  /** How the page words an action's answer (HTTP status and JSON body). */
  function answerText(action: ActionInput['action'], httpStatus: number, body: unknown): string {
    const b = (body ?? {}) as Partial<ClusterStatus> & { message?: string; Message?: string };
    if (httpStatus === 202 && b.handover) {
      return `Accepted (202): ${b.handover.from} is asked to step down; ${b.handover.to} is promoted once it confirms, at the latest at ${b.handover.deadline}.`;
    }
    if (httpStatus === 200) {
      if (action === 'switchover') return `Done (200): ${b.active ?? 'none'} is active at epoch ${b.epoch}.`;
      return action === 'pause' ? 'Done (200): automation paused.' : 'Done (200): automation resumed.';
    }
    const why = b.message ?? b.Message ?? 'no reason given';
    return httpStatus === 409 ? `Refused (409): ${why}` : `Failed (${httpStatus}): ${why}`;
  }

  return { escapeHtml, observe, activePeriods, timeline, clusterHtml, actionRequest, answerText };
}
