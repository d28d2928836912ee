/**
 * Checks a chaos history against safety properties 1–8 of PRODUCT.md. Pure: a history in,
 * the violations out, each naming its property. Deliberately written without the core's
 * rules (no `decide`, no `eligibility`), so a bug there cannot hide itself here.
 */
import type { PromotionCause } from '../../shared/core/promotion.js';
import type { BeliefRecord, History, PromotionRecord } from './history.js';

export interface Violation {
  property: 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;
  message: string;
}

/** Moves somebody asked for: property 8 orders these, property 5 the others. */
const PLANNED: ReadonlySet<PromotionCause> = new Set(['switchover', 'release', 'failback', 'maintenance']);

export function check(history: History): Violation[] {
  return [
    ...oneActivePerEpoch(history),
    ...promotedAliveAndEligible(history),
    ...oneWinnerPerEpoch(history),
    ...targetsConverge(history),
    ...believedActiveNeverOverlaps(history),
    ...rejectedChangesNothing(history),
    ...noPromotionAfterOutage(history),
  ];
}

/** Property 1: every epoch names one active, and epochs go up by one, from the previous active. */
function oneActivePerEpoch(h: History): Violation[] {
  const out: Violation[] = [];
  const say = (message: string) => out.push({ property: 1, message });
  const byEpoch = new Map<number, Set<string>>();
  for (const p of h.promotions) byEpoch.set(p.epoch, (byEpoch.get(p.epoch) ?? new Set()).add(p.to));
  for (const a of h.answers) {
    if (a.epoch === 0) continue;
    // An active asked to step down (demote-first handover) is told `active: null`: nobody
    // acts as active for that moment. Such an answer names no active.
    if (a.active !== null) byEpoch.set(a.epoch, (byEpoch.get(a.epoch) ?? new Set()).add(a.active));
    if (a.epoch > h.final.epoch)
      say(`${a.node} was answered epoch ${a.epoch}, past the last (${h.final.epoch})`);
  }
  for (const [epoch, actives] of byEpoch) {
    if (actives.size > 1)
      say(`epoch ${epoch} has ${actives.size} actives: ${[...actives].sort().join(', ')}`);
  }
  let previous: PromotionRecord | undefined;
  for (const p of h.promotions) {
    const expected = (previous?.epoch ?? 0) + 1;
    if (p.epoch !== expected) say(`epoch ${p.epoch} was committed after epoch ${expected - 1}`);
    else if (previous !== undefined && p.from !== previous.to) {
      say(
        `epoch ${p.epoch} took over from ${p.from}, but epoch ${previous.epoch}'s active was ${previous.to}`,
      );
    }
    previous = p;
  }
  if ((previous?.epoch ?? 0) !== h.final.epoch || (previous?.to ?? null) !== h.final.active) {
    say(
      `the record ends at epoch ${h.final.epoch} (${h.final.active}), the promotions at epoch ${previous?.epoch ?? 0} (${previous?.to ?? null})`,
    );
  }
  return out;
}

/** Property 2: at its write, by the writer's clock, the promoted node was alive and eligible. */
function promotedAliveAndEligible(h: History): Violation[] {
  const out: Violation[] = [];
  for (const p of h.promotions) {
    const node = p.nodes[p.to];
    const why =
      node?.lastSeen === undefined
        ? 'had never beaten'
        : p.now - node.lastSeen > h.rules.leaseMs
          ? `was last seen ${p.now - node.lastSeen} ms before the write (lease ${h.rules.leaseMs} ms)`
          : node.status !== 'ok'
            ? `reported ${node.status}`
            : node.promisedUntil !== undefined && node.promisedUntil > p.now
              ? 'had promised a peer not to act as active'
              : h.rules.maxLagSeconds !== undefined &&
                  (node.lagSeconds === undefined || node.lagSeconds > h.rules.maxLagSeconds)
                ? `reported lag ${node.lagSeconds ?? '(none)'} s (limit ${h.rules.maxLagSeconds} s)`
                : null;
    if (why !== null) out.push({ property: 2, message: `epoch ${p.epoch} promoted ${p.to}, which ${why}` });
  }
  return out;
}

/** Property 3: one applied promoting write and one `promoted` event per epoch. */
function oneWinnerPerEpoch(h: History): Violation[] {
  const out: Violation[] = [];
  const writes = new Map<number, number>();
  for (const p of h.promotions) writes.set(p.epoch, (writes.get(p.epoch) ?? 0) + 1);
  for (const [epoch, n] of writes) {
    if (n > 1) out.push({ property: 3, message: `${n} promoting writes took effect for epoch ${epoch}` });
  }
  for (let epoch = 1; epoch <= h.final.epoch; epoch++) {
    const events = h.final.promotedEvents.filter((e) => e.epoch === epoch);
    const winner = h.promotions.find((p) => p.epoch === epoch)?.to;
    if (events.length !== 1) {
      out.push({ property: 3, message: `epoch ${epoch} has ${events.length} promoted events` });
    } else if (winner !== undefined && events[0]?.active !== winner) {
      out.push({
        property: 3,
        message: `epoch ${epoch}'s event names ${events[0]?.active}, its write ${winner}`,
      });
    }
  }
  return out;
}

/** Property 4: one sweep after the faults, traffic and every target record follow the last epoch. */
function targetsConverge(h: History): Violation[] {
  if (h.final.active === null) return [];
  const out: Violation[] = [];
  const last = h.applies.at(-1);
  if (last === undefined || last.epoch !== h.final.epoch || last.active !== h.final.active) {
    const where = last === undefined ? 'nowhere' : `${last.active} (epoch ${last.epoch})`;
    out.push({
      property: 4,
      message: `after the sweep at ${h.final.sweepAt}, traffic goes to ${where}, not ${h.final.active} (epoch ${h.final.epoch})`,
    });
  }
  for (const [id, t] of Object.entries(h.final.targets)) {
    if (t.epoch !== h.final.epoch || t.state !== 'applied') {
      out.push({
        property: 4,
        message: `target ${id} is ${t.state} at epoch ${t.epoch}, not applied at ${h.final.epoch}`,
      });
    }
  }
  return out;
}

/**
 * Properties 5 and 8: no two agents believe they are active at once (unless the older one
 * is a paused agent fenced by a higher epoch), and an old active stops believing before the
 * control plane commits the next epoch. Planned moves (property 8) are told apart from
 * failovers (property 5) by the cause of the promotion that opened the later epoch.
 */
function believedActiveNeverOverlaps(h: History): Violation[] {
  const out: Violation[] = [];
  const property = (epoch: number): 5 | 8 => {
    const cause = h.promotions.find((p) => p.epoch === epoch)?.cause;
    return cause !== undefined && PLANNED.has(cause) ? 8 : 5;
  };
  const fencedBy = (x: BeliefRecord, y: BeliefRecord) => x.fenced && x.epoch < y.epoch;
  for (const [i, x] of h.beliefs.entries()) {
    for (const y of h.beliefs.slice(i + 1)) {
      if (x.agent === y.agent || Math.max(x.from, y.from) >= Math.min(x.to, y.to)) continue;
      if (fencedBy(x, y) || fencedBy(y, x)) continue;
      out.push({
        property: property(Math.max(x.epoch, y.epoch)),
        message: `${x.agent} (epoch ${x.epoch}) and ${y.agent} (epoch ${y.epoch}) both believed they were active from ${Math.max(x.from, y.from)} to ${Math.min(x.to, y.to)}`,
      });
    }
  }
  for (const p of h.promotions) {
    for (const b of h.beliefs) {
      if (b.fenced || b.epoch >= p.epoch || b.agent === p.to || !(b.from < p.at && p.at < b.to)) continue;
      out.push({
        property: property(p.epoch),
        message: `epoch ${p.epoch} was committed at ${p.at} while ${b.agent} still believed it was active (epoch ${b.epoch}, until ${b.to})`,
      });
    }
  }
  return out;
}

/** Property 6: a request answered with a 4xx changed nothing; a malformed one got a 4xx. */
function rejectedChangesNothing(h: History): Violation[] {
  const out: Violation[] = [];
  for (const op of h.ops) {
    const status = op.status ?? 0;
    if (op.kind === 'rejected' && !(status >= 400 && status < 500)) {
      out.push({
        property: 6,
        message: `op ${op.id} (a malformed ${op.node} request) was answered ${status}`,
      });
    }
    if (status < 400 || status >= 500) continue;
    for (const w of op.writes.filter((x) => x.applied)) {
      out.push({
        property: 6,
        message: `op ${op.id} (${op.kind}) was answered ${status} (${op.error ?? ''}) but its ${w.method} took effect at ${w.at}`,
      });
    }
  }
  return out;
}

/**
 * Property 7: after the control plane returns from an outage, an incumbent whose renewals
 * the outage swallowed (and that stayed up) is not replaced automatically until it has had
 * a lease to renew. The product promises it for any outage with a lease of three beats or
 * more (agents retry a failed beat until their next slot, so an outage too short for the
 * control plane to see costs one beat at most, which such a lease absorbs); with a lease of
 * two beats, one lost beat is a failover by definition, and only an outage longer than 1.5
 * intervals (one the control plane can tell from a lost beat) counts.
 */
function noPromotionAfterOutage(h: History): Violation[] {
  const out: Violation[] = [];
  const { leaseMs, skewBoundMs, intervalMs } = h.rules;
  const visibleOnly = leaseMs < 3 * intervalMs;
  for (const outage of merged(h.outages)) {
    if (visibleOnly && outage.to - outage.from <= 1.5 * intervalMs) continue;
    const incumbent = h.promotions.filter((p) => p.at < outage.from).at(-1)?.to;
    if (incumbent === undefined) continue;
    const swallowed = h.lostBeats.some(
      (b) => b.agent === incumbent && b.at >= outage.from && b.at < outage.to,
    );
    if (!swallowed) continue;
    for (const p of h.promotions) {
      if (p.from !== incumbent || p.cause !== 'lease-expired') continue;
      // Grace is measured on a worker's clock, which may run up to the skew bound ahead.
      if (p.at < outage.to || p.at >= outage.to + leaseMs - skewBoundMs) continue;
      if (h.agentDown.some((d) => d.agent === incumbent && d.from < p.at && d.to > outage.from)) continue;
      out.push({
        property: 7,
        message: `${p.to} replaced ${incumbent} at ${p.at}, ${p.at - outage.to} ms after an outage of ${outage.to - outage.from} ms ended (lease ${leaseMs} ms) that swallowed ${incumbent}'s beats`,
      });
    }
  }
  return out;
}

/** Overlapping outages as one. */
function merged(outages: History['outages']): History['outages'] {
  const out: History['outages'] = [];
  for (const o of [...outages].sort((x, y) => x.from - y.from)) {
    const last = out.at(-1);
    if (last !== undefined && o.from <= last.to) last.to = Math.max(last.to, o.to);
    else out.push({ ...o });
  }
  return out;
}
