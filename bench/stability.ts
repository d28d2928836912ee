/**
 * The moments of a change, end to end with real processes on loopback (issues 10 and 11):
 *
 *  - Switchover (demote-first): `POST /switchover` → the new active's `--on-active`, and the
 *    gap between the old active's `--on-standby` finishing and the new one's `--on-active`
 *    starting (negative would be an overlap: two actives). Hooks stamp one shared log with
 *    `date +%s%N`; the old one's `--on-standby` takes 0.1 s, as stopping a service does.
 *    Also the new active's `GET /active` 200 relative to the commit.
 *  - Control-plane outage (static stability): three agents with failsafe, the server
 *    SIGKILLed for 30 s (10 s with --quick) and restarted on its data directory: role
 *    changes meanwhile (goal 0), and restart → the active's first recorded renewal.
 *  - Partitioned active: its heartbeats go through a TCP link the bench cuts; the peers
 *    still reach the control plane, so they refuse the failsafe and the active must go:
 *    cut → a standby's `--on-active` (budget lease + interval + 1 s, as a crash), and the
 *    gap between the old active's `--on-standby` and the new one's `--on-active` (≥ 0).
 *  - Three Regions (one `failover store`, three `serve --store --region`, agents given all
 *    three URLs): the first Region and the active are killed at the same moment; from the
 *    dead active's last beat to the new active's `--on-active` (budget lease + 2 × interval
 *    + 1 s: the survivor's beats move Region inside one interval).
 *
 * Every clock read is this machine's wall clock (hooks, the server, this process).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Link } from '../test/helpers/link.js';
import {
  type BenchOptions,
  firstActiveAt,
  healthUrl,
  type Proc,
  pass,
  type Row,
  secs,
  stopProc,
  summarize,
  waitFor,
} from './lib.js';
import { INTERVAL_MS, LEASE_MS, STOP_SECONDS, settled, startCluster } from './stability-cluster.js';

export interface StabilityOptions extends BenchOptions {
  switchovers: number;
  outageSeconds: number;
  partitions: number;
}

export async function runStability(options: StabilityOptions) {
  const switchover = await measureSwitchovers(options);
  const outage = await measureOutage(options);
  const partition = await measurePartitions(options);
  const regionLoss = await measureRegionLoss(options);
  const crashBoundMs = LEASE_MS + INTERVAL_MS + 1_000;
  const rows: Row[] = [
    {
      figure: `Switchover (demote-first): request → new active's --on-active (old --on-standby takes ${STOP_SECONDS} s)`,
      measured: `p50 ${secs(switchover.total.p50)} / p95 ${secs(switchover.total.p95)} / max ${secs(switchover.total.max)} (n=${switchover.total.n})`,
      budget: 'report (≤ 2 intervals + the hook when the old active confirms)',
      status: 'report',
    },
    {
      figure: "Switchover: gap from the old active's --on-standby end to the new one's --on-active",
      measured: `min ${secs(switchover.gap.min, 3)} / p50 ${secs(switchover.gap.p50, 3)} (n=${switchover.gap.n})`,
      budget: '≥ 0 (no overlap)',
      status: pass(switchover.gap.n > 0 && switchover.gap.min >= 0),
    },
    {
      figure: "Switchover: the new active's GET /active 200 after the commit",
      measured: `p50 ${secs(switchover.healthAfterCommit.p50)} / p95 ${secs(switchover.healthAfterCommit.p95)} (polled every 10 ms)`,
      budget: 'report (≤ 1 interval: the new active learns at its next beat)',
      status: 'report',
    },
    {
      figure: `Control plane down ${options.outageSeconds} s (3 agents, failsafe): role changes`,
      measured: `${outage.roleChanges} (epoch ${outage.epochBefore} → ${outage.epochAfter})`,
      budget: '0',
      status: pass(outage.roleChanges === 0 && outage.epochAfter === outage.epochBefore),
    },
    {
      figure: "Control plane back: restart (listening) → the active's first renewal",
      measured: secs(outage.firstRenewalMs),
      budget: 'report (≤ 1 interval)',
      status: 'report',
    },
    {
      figure: "Partitioned active (peers reach the control plane): cut → a standby's --on-active",
      measured: `p50 ${secs(partition.total.p50)} / max ${secs(partition.total.max)} (n=${partition.total.n})`,
      budget: `≤ ${secs(crashBoundMs, 1)} (lease + interval + 1 s)`,
      status: pass(partition.total.n > 0 && partition.total.max <= crashBoundMs),
    },
    {
      figure: "Partitioned active: gap from the old active's --on-standby to the new one's --on-active",
      measured: `min ${secs(partition.gap.min, 3)} / p50 ${secs(partition.gap.p50, 3)} (n=${partition.gap.n})`,
      budget: '≥ 0 (no overlap)',
      status: pass(partition.gap.n > 0 && partition.gap.min >= 0),
    },
    {
      figure: "Three Regions: the first Region and the active lost at once → the new active's --on-active",
      measured: `p50 ${secs(regionLoss.total.p50)} / max ${secs(regionLoss.total.max)} (n=${regionLoss.total.n}), from the dead active's last beat`,
      budget: `≤ ${secs(LEASE_MS + 2 * INTERVAL_MS + 1_000, 1)} (lease + 2 × interval + 1 s)`,
      status: pass(regionLoss.total.n > 0 && regionLoss.total.max <= LEASE_MS + 2 * INTERVAL_MS + 1_000),
    },
  ];
  return { rows, data: { switchover, outage, partition, regionLoss } };
}

async function measureSwitchovers(options: StabilityOptions) {
  const cluster = await startCluster('switchover', ['a', 'b'], { failsafe: false, health: true });
  const total: number[] = [];
  const gap: number[] = [];
  const healthAfterCommit: number[] = [];
  try {
    for (let i = 0; i < options.switchovers; i++) {
      const ready = await settled(cluster);
      const to = ready.active === 'a' ? 'b' : 'a';
      const epoch = ready.epoch + 1;
      const asked = Date.now();
      const flip = firstActiveAt(healthUrl(cluster.agents[to] as Proc), 10 * LEASE_MS);
      flip.catch(() => {});
      const res = await fetch(`${cluster.url}/v1/clusters/bench/switchover`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to }),
      });
      if (res.status !== 202) throw new Error(`switchover to ${to}: HTTP ${res.status} ${await res.text()}`);
      const promoted = await waitFor(
        `${to}'s --on-active at epoch ${epoch}`,
        () => cluster.hooks().find((l) => l.node === to && l.role === 'active' && l.epoch === epoch),
        10 * LEASE_MS,
      );
      const stepped = cluster
        .hooks()
        .find((l) => l.node === ready.active && l.role === 'standby' && l.epoch === ready.epoch);
      if (stepped === undefined)
        throw new Error(`${ready.active} never ran --on-standby at epoch ${ready.epoch}`);
      const commit = (await cluster.events()).find((e) => e.kind === 'promoted' && e.epoch === epoch);
      total.push(promoted.ms - asked);
      gap.push(promoted.ms - stepped.ms);
      if (commit) healthAfterCommit.push((await flip) - commit.at);
      options.log(
        `stability: switchover ${i + 1}/${options.switchovers} to ${to}: ${secs(promoted.ms - asked)}, gap ${secs(promoted.ms - stepped.ms, 3)}`,
      );
    }
  } finally {
    await cluster.close();
  }
  return { total: summarize(total), gap: summarize(gap), healthAfterCommit: summarize(healthAfterCommit) };
}

async function measureOutage(options: StabilityOptions) {
  const cluster = await startCluster('outage', ['a', 'b', 'c'], { failsafe: true });
  try {
    const ready = await settled(cluster);
    await sleep(INTERVAL_MS); // the standbys' first --on-standby hooks have run
    const killedAt = Date.now();
    await cluster.killServer();
    options.log(`stability: control plane down for ${options.outageSeconds} s`);
    await sleep(options.outageSeconds * 1000);
    const listening = await cluster.startServer();
    const renewed = await waitFor(
      "the active's first renewal",
      async () => {
        const s = await cluster.status().catch(() => null);
        const seen = s?.nodes.find((n) => n.id === ready.active)?.lastSeen;
        return seen != null && seen >= listening ? seen : null;
      },
      10 * LEASE_MS,
      10,
    );
    await sleep(2 * LEASE_MS); // a promotion after the return would show here
    const after = await cluster.status();
    const changes = cluster.hooks().filter((l) => l.ms >= killedAt);
    if (changes.length > 0)
      options.log(`stability: ${ready.active}'s log:\n${cluster.agents[ready.active]?.output()}`);
    return {
      roleChanges: changes.length,
      changes,
      epochBefore: ready.epoch,
      epochAfter: after.epoch,
      firstRenewalMs: Math.max(0, renewed - listening),
    };
  } finally {
    await cluster.close();
  }
}

async function measureRegionLoss(options: StabilityOptions) {
  const regions = ['us-east-1', 'us-east-2', 'us-west-2'];
  const cluster = await startCluster('regions', ['a', 'b'], { failsafe: false, regions });
  const total: number[] = [];
  try {
    for (let i = 0; i < options.partitions; i++) {
      const ready = await settled(cluster);
      await sleep(Math.random() * INTERVAL_MS);
      // The first Region and the active die at the same moment.
      await Promise.all([cluster.killServer(), stopProc(cluster.agents[ready.active] as Proc, 'SIGKILL')]);
      const epoch = ready.epoch + 1;
      const promoted = await waitFor(
        `a new active's --on-active at epoch ${epoch}`,
        () => cluster.hooks().find((l) => l.role === 'active' && l.epoch === epoch),
        10 * LEASE_MS,
      );
      const lastSeen = (await cluster.status()).nodes.find((n) => n.id === ready.active)?.lastSeen;
      if (lastSeen == null) throw new Error(`no lastSeen for ${ready.active}`);
      total.push(promoted.ms - lastSeen);
      options.log(
        `stability: region 1 and the active lost: ${promoted.node} active ${secs(promoted.ms - lastSeen)} after the last beat`,
      );
      await cluster.startServer();
      cluster.startAgent(ready.active);
    }
  } finally {
    await cluster.close();
  }
  return { total: summarize(total) };
}

async function measurePartitions(options: StabilityOptions) {
  const cluster = await startCluster('partition', ['a', 'b', 'c'], { failsafe: true, links: true });
  const total: number[] = [];
  const gap: number[] = [];
  try {
    for (let i = 0; i < options.partitions; i++) {
      const ready = await settled(cluster);
      const link = cluster.links[ready.active] as Link;
      const cutAt = Date.now();
      link.sever();
      const epoch = ready.epoch + 1;
      const promoted = await waitFor(
        `a new active's --on-active at epoch ${epoch}`,
        () => cluster.hooks().find((l) => l.role === 'active' && l.epoch === epoch),
        10 * LEASE_MS,
      );
      const stepped = await waitFor(
        `${ready.active}'s --on-standby`,
        () =>
          cluster
            .hooks()
            .find((l) => l.node === ready.active && l.role === 'standby' && l.epoch === ready.epoch),
        10 * LEASE_MS,
      );
      link.heal();
      total.push(promoted.ms - cutAt);
      gap.push(promoted.ms - stepped.ms);
      options.log(
        `stability: partition ${i + 1}/${options.partitions}: ${promoted.node} active after ${secs(promoted.ms - cutAt)}, gap ${secs(promoted.ms - stepped.ms, 3)}`,
      );
    }
  } finally {
    await cluster.close();
  }
  return { total: summarize(total), gap: summarize(gap) };
}
