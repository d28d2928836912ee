/**
 * Demote-first switchover end to end: a real `failover serve`, two real agents whose hooks
 * stamp one shared log with nanosecond times, and the real `failover switchover` command.
 * The old active's --on-standby must have finished before the new active's --on-active
 * starts, every time; a frozen (SIGSTOP) old active delays the move by its lease, no less.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import type { ClusterEvent } from '../shared/core/state.js';
import { mintToken } from '../shared/tokens.js';
import {
  agentArgs,
  hookLines,
  type Proc,
  Processes,
  removeDir,
  waitFor,
  waitForLine,
} from './helpers/processes.js';

const LEASE_MS = 3_000; // heartbeatIntervalSeconds 1 × missedBeats 3
const procs = new Processes();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'failover-switchover-'));
});

afterAll(async () => {
  await procs.stopAll();
  removeDir(dir);
});

interface Pair {
  cluster: string;
  url: string;
  agents: Record<'a' | 'b', Proc>;
  /** The shared hook log: `<ns> <node> <what> <epoch>` per line. */
  log: string;
}

/** One hook line: when (ns since the epoch), which node, what (active, standby-start, standby-end), epoch. */
interface HookLine {
  ns: bigint;
  node: string;
  what: string;
  epoch: number;
}

async function startPair(cluster: string): Promise<Pair> {
  const tokens: Record<string, string> = {};
  const nodes = ['a', 'b'].map((id, i) => {
    const { token, sha256 } = mintToken();
    tokens[id] = token;
    return { id, address: `192.0.2.${i + 1}`, tokenSha256: sha256 };
  });
  const file = join(dir, `${cluster}.json`);
  writeFileSync(
    file,
    JSON.stringify({ clusters: [{ id: cluster, heartbeatIntervalSeconds: 1, missedBeats: 3, nodes }] }),
  );
  const server = procs.start(`server ${cluster}`, [
    'serve',
    '--config',
    file,
    '--memory',
    '--port',
    '0',
    '--sweep-interval',
    '0.5',
  ]);
  const url = (await waitForLine(server, /listening on (http:\/\/\S+)/, 20_000))[1] as string;
  const log = join(dir, `${cluster}.hooks`);
  const stamp = (what: string) => `echo "$(date +%s%N) $FAILOVER_NODE ${what} $FAILOVER_EPOCH" >> '${log}'`;
  // --on-standby takes a while (as stopping a database does): the new active must wait for all of it.
  const onStandby = `${stamp('standby-start')}; sleep 0.2; ${stamp('standby-end')}`;
  const agents = {} as Pair['agents'];
  for (const id of ['a', 'b'] as const) {
    agents[id] = procs.start(
      `agent ${id}`,
      agentArgs(url, cluster, id, ['--on-active', stamp('active'), '--on-standby', onStandby]),
      { FAILOVER_TOKEN: tokens[id] as string },
    );
    await waitForLine(
      agents[id],
      id === 'a' ? /role: active \(epoch 1\D/ : /role: standby \(epoch 1\D/,
      20_000,
    );
  }
  return { cluster, url, agents, log };
}

function hookLog(pair: Pair): HookLine[] {
  return hookLines(pair.log).map((line) => {
    const [ns, node, what, epoch] = line.split(' ');
    return { ns: BigInt(ns as string), node: node as string, what: what as string, epoch: Number(epoch) };
  });
}

async function status(pair: Pair): Promise<ClusterStatus> {
  return (await (await fetch(`${pair.url}/v1/clusters/${pair.cluster}`)).json()) as ClusterStatus;
}

async function events(pair: Pair): Promise<ClusterEvent[]> {
  const res = await fetch(`${pair.url}/v1/clusters/${pair.cluster}/events?limit=200`);
  return ((await res.json()) as { events: ClusterEvent[] }).events;
}

/** `failover switchover --to NODE`, run to its end; returns its exit code and output. */
async function switchover(
  pair: Pair,
  to: string,
  extra: string[] = [],
): Promise<{ code: number; output: string }> {
  const cli = procs.start(`switchover to ${to}`, [
    'switchover',
    '--url',
    pair.url,
    '--cluster',
    pair.cluster,
    '--to',
    to,
    ...extra,
  ]);
  const code = await new Promise<number>((resolve) => cli.child.once('exit', (c) => resolve(c ?? -1)));
  return { code, output: cli.output() };
}

describe('demote-first switchover end to end (real processes)', () => {
  it("runs the old active's --on-standby to its end before the new active's --on-active, 20 switchovers in a row", async () => {
    const pair = await startPair('twenty');
    let active: 'a' | 'b' = 'a';
    for (let epoch = 2; epoch <= 21; epoch++) {
      const to: 'a' | 'b' = active === 'a' ? 'b' : 'a';
      const { code, output } = await switchover(pair, to);
      expect(code, output).toBe(0);
      expect(output).toMatch(/SWITCHOVER PENDING since .*: \w → \w, waiting for \w to step down/);
      await waitFor(`${to}'s --on-active at epoch ${epoch}`, () =>
        hookLog(pair).some((l) => l.node === to && l.what === 'active' && l.epoch === epoch),
      );
      active = to;
    }

    const lines = hookLog(pair);
    for (let epoch = 2; epoch <= 21; epoch++) {
      const promoted = lines.find((l) => l.what === 'active' && l.epoch === epoch) as HookLine;
      const old = promoted.node === 'a' ? 'b' : 'a';
      // The old active stepped down from the epoch before: its hook ended before the new one began.
      const stepDown = lines.find((l) => l.node === old && l.what === 'standby-end' && l.epoch === epoch - 1);
      expect(stepDown, `epoch ${epoch}: ${old} never finished --on-standby`).toBeDefined();
      expect((stepDown as HookLine).ns < promoted.ns, `epoch ${epoch}: overlap`).toBe(true);
    }
    const list = await events(pair);
    expect(
      list.filter((e) => e.kind === 'promoted' && / stepped down; promoted /.test(e.reason)),
    ).toHaveLength(20);
    expect(list.filter((e) => e.kind === 'collision')).toEqual([]);
    expect(await status(pair)).toMatchObject({ epoch: 21, active: 'a', handover: null });
  }, 180_000);

  it('waits out the lease of a frozen (SIGSTOP) active, then proceeds; the old active demotes itself when it thaws', async () => {
    const pair = await startPair('frozen');
    pair.agents.a.child.kill('SIGSTOP');
    let lastSeen: number;
    try {
      await sleep(300); // a beat already on its way lands
      lastSeen = (await status(pair)).nodes.find((n) => n.id === 'a')?.lastSeen ?? Number.NaN;
      const { code, output } = await switchover(pair, 'b');
      expect(code, output).toBe(0);
    } finally {
      pair.agents.a.child.kill('SIGCONT');
    }
    const list = await events(pair);
    const asked = list.find((e) => e.kind === 'handover') as ClusterEvent;
    const promoted = list.find((e) => e.kind === 'promoted' && e.epoch === 2) as ClusterEvent;
    // a's lease ran out (counted from its last beat, or from the request, whichever the
    // control plane saw first): never a moment earlier.
    expect(promoted.reason).toMatch(
      /^(a missed \d+ beats .*|.*a did not confirm within the lease .*); promoted b/,
    );
    expect(promoted.at - lastSeen).toBeGreaterThanOrEqual(LEASE_MS);
    expect(promoted.at).toBeGreaterThan(asked.at);

    await waitForLine(pair.agents.a, /role: standby \(epoch 2\D|demoting self/);
    await waitFor('b --on-active at epoch 2', () =>
      hookLog(pair).some((l) => l.node === 'b' && l.what === 'active' && l.epoch === 2),
    );
  }, 60_000);

  it('promotes at once with --no-wait, and says the old active was not asked first', async () => {
    const pair = await startPair('nowait');
    const { code, output } = await switchover(pair, 'b', ['--no-wait']);
    expect(code, output).toBe(0);
    expect(await status(pair)).toMatchObject({ epoch: 2, active: 'b', handover: null });
    expect((await events(pair)).find((e) => e.kind === 'promoted' && e.epoch === 2)?.reason).toMatch(
      /immediate: a was not asked to step down first, only the epoch fences it$/,
    );
  }, 60_000);
});
