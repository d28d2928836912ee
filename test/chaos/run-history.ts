/**
 * Runs one chaos history: a cluster of simulated agents beating through the real API
 * handler and control plane, over the real DynamoDB store (dynalite, in this process),
 * with the schedule's faults; then a quiet phase and one sweep; and returns the history
 * for the checker.
 *
 * 1. Until `faultMs`: agents beat every interval (each through a worker with its own
 *    skewed clock), a sweep runs every interval, and the schedule's events happen.
 * 2. Then no new fault: operations still parked (paused, slow, hanging) finish.
 * 3. Once all is quiet and every target claim has expired (and every `settlesAt` has
 *    passed), one sweep runs, and the final record, event log and traffic are read.
 */
import { isRetryable, MIN_ATTEMPT_MS, retryWaitMs } from '../../cli/agent/beat-retry.js';
import { type LocalDynamo, startLocalDynamo } from '../../cli/local-dynamo.js';
import { ControlPlane, type HeartbeatResult } from '../../shared/control-plane/control-plane.js';
import { unsettledUntil } from '../../shared/core/serving.js';
import type { ClusterState } from '../../shared/core/state.js';
import { createApiHandler } from '../../shared/http/api.js';
import { silentLogger } from '../../shared/logger.js';
import { DynamoStateStore } from '../../shared/store/dynamo-store.js';
import type { StateStore } from '../../shared/store/port.js';
import type { Target } from '../../shared/targets/index.js';
import { apiEvent } from '../helpers/api-event.js';
import { makeCluster, seededRandom } from '../helpers/store-fixtures.js';
import { SimAgent } from './agents.js';
import { faultyStore, type StoreLog } from './faulty-store.js';
import type { AnswerRecord, ApplyRecord, History, OpKind, OpRecord } from './history.js';
import type { InvocationFaults, RejectedKind, Schedule, ScheduleEvent, ScheduleShape } from './schedule.js';
import { Sim } from './sim.js';

export interface ChaosConfig extends ScheduleShape {
  missedBeats: number;
  maxLagSeconds: number;
}

export const DEFAULT_CONFIG: ChaosConfig = {
  nodes: ['a', 'b', 'c'],
  workers: 3,
  intervalMs: 1_000,
  missedBeats: 2,
  leaseMs: 2_000,
  skewBoundMs: 200,
  faultMs: 4_000,
  maxLagSeconds: 5,
  planned: false,
};

/**
 * The same histories with another lease: `missedBeats` intervals, faults for two leases.
 * The default above keeps a lease of two beats (the tightest, and quick to run); the
 * product's default is three, under which property 7 holds for outages of any length.
 */
export function withMissedBeats(config: ChaosConfig, missedBeats: number): ChaosConfig {
  const leaseMs = config.intervalMs * missedBeats;
  return { ...config, missedBeats, leaseMs, faultMs: 2 * leaseMs };
}

const START = Date.UTC(2030, 0, 1);
/** A history that has not settled this long after its faults has a bug in the harness. */
const SETTLE_LIMIT_MS = 120_000;

/** One dynalite for many histories (each history is its own cluster). */
export class ChaosWorld {
  private constructor(
    private readonly dynamo: LocalDynamo,
    readonly store: StateStore,
  ) {}

  /** `wrap`: a deliberately broken store, to show the checker catches what it breaks. */
  static async start(options: { wrap?: (store: StateStore) => StateStore } = {}): Promise<ChaosWorld> {
    const dynamo = await startLocalDynamo({ table: 'chaos' });
    const store = new DynamoStateStore(dynamo.client, dynamo.table);
    return new ChaosWorld(dynamo, options.wrap ? options.wrap(store) : store);
  }

  close(): Promise<void> {
    return this.dynamo.close();
  }
}

type Invocation = { op: OpRecord; body: string };

export async function runHistory(
  world: ChaosWorld,
  schedule: Schedule,
  config: ChaosConfig,
): Promise<History> {
  const tc = makeCluster({
    nodeIds: [...config.nodes],
    intervalSeconds: config.intervalMs / 1000,
    missedBeats: config.missedBeats,
    targetIds: ['dns'],
    rules: { maxLagSeconds: config.maxLagSeconds },
  });
  const id = tc.cluster.id;
  if (tc.cluster.leaseMs !== config.leaseMs)
    throw new Error(`lease is ${tc.cluster.leaseMs} ms, not ${config.leaseMs}`);
  const sim = new Sim(START);
  const log: StoreLog = { versions: [], promotions: [] };
  const ops: OpRecord[] = [];
  const answers: AnswerRecord[] = [];
  const applies: ApplyRecord[] = [];
  const outages: History['outages'] = [];
  const lostBeats: History['lostBeats'] = [];
  const agentDown: History['agentDown'] = [];
  const agents = config.nodes.map((n) => new SimAgent(n, sim));
  const route = seededRandom(schedule.routing);
  // A stream of its own, so that retries do not move other requests to other workers.
  const retryRandom = seededRandom(schedule.routing ^ 0x5eed);
  const pickWorker = () => Math.floor(route() * config.workers);
  const faultsEnd = START + config.faultMs;
  let faultsOn = true;
  let outageUntil = Number.NEGATIVE_INFINITY;
  const pendingBeat = new Map<string, Extract<ScheduleEvent, { kind: 'beat' }>>();

  /**
   * The target traffic follows: an apply may hang; traffic goes where the last one to land
   * said. Like the real adapters, which abort their calls at the deadline, a hung apply
   * lands at the latest at its deadline (by its worker's clock) and then fails: the change
   * took effect but its caller never heard so.
   */
  const targetFor = (hangMs: number | undefined, skew: number): Target => ({
    id: 'dns',
    type: 'sim',
    async apply(change, deadline) {
      const startedAt = sim.t;
      const cutOff = hangMs !== undefined && startedAt + hangMs > deadline - skew;
      if (hangMs !== undefined) await sim.sleep(Math.max(0, Math.min(hangMs, deadline - skew - startedAt)));
      applies.push({ epoch: change.epoch, active: change.active, startedAt, finishedAt: sim.t });
      if (cutOff) throw Object.assign(new Error('the apply ran past its deadline'), { name: 'TimeoutError' });
      return undefined;
    },
  });

  /** One invocation of a worker (a Lambda container): its own view of the store, faults, and clock. */
  const invoke = async (
    kind: OpKind,
    worker: number,
    faults: InvocationFaults | undefined,
    call: (cp: ControlPlane) => Promise<{ status?: number; body: string }>,
    duplicateOf?: number,
  ): Promise<Invocation> => {
    const skew = schedule.skews[worker] ?? 0;
    const op: OpRecord = {
      id: ops.length,
      kind,
      worker,
      invokedAt: sim.t,
      completedAt: Number.NaN,
      clock: { invoked: sim.t + skew, completed: Number.NaN },
      writes: [],
      ...(duplicateOf === undefined ? {} : { duplicateOf }),
    };
    ops.push(op);
    const active = faultsOn ? faults : undefined;
    const controlPlane = new ControlPlane({
      config: tc.config,
      store: faultyStore(world.store, active?.faults ?? [], { sim, op, log }),
      targets: new Map([[id, [targetFor(active?.hangApplyMs, skew)]]]),
      logger: silentLogger,
      now: () => sim.t + skew,
    });
    let body = '';
    try {
      const result = await call(controlPlane);
      body = result.body;
      if (result.status !== undefined) op.status = result.status;
      if (result.status !== undefined && result.status >= 400) op.error = body;
    } catch (err) {
      op.error = `${(err as Error).name}: ${(err as Error).message}`;
    }
    op.completedAt = sim.t;
    op.clock.completed = sim.t + skew;
    return { op, body };
  };

  /** Runs an invocation, and a second delivery of it at the same time when the schedule says so. */
  const deliver = (
    kind: OpKind,
    worker: number,
    faults: InvocationFaults | undefined,
    call: (cp: ControlPlane) => Promise<{ status?: number; body: string }>,
    then: (done: Invocation, original: boolean) => void = () => {},
  ) => {
    void sim.spawn(async () => {
      const first = await invoke(kind, worker, faults, call);
      then(first, true);
    });
    if (faultsOn && faults?.duplicate) {
      const original = ops.length - 1;
      void sim.spawn(async () => then(await invoke(kind, pickWorker(), undefined, call, original), false));
    }
  };

  const api =
    (method: string, path: string, token: string | undefined, body: string) =>
    async (controlPlane: ControlPlane) => {
      const handler = createApiHandler({
        controlPlane,
        logger: silentLogger,
        groups: ['node', 'admin'],
        authorizeAdmin: () => 'chaos-operator',
      });
      const res = await handler(apiEvent(method, path, { body, ...(token === undefined ? {} : { token }) }));
      return { status: res.statusCode, body: String(res.body ?? '') };
    };
  const nodePath = (node: string, cluster = id) => `/v1/clusters/${cluster}/nodes/${node}/heartbeat`;

  /**
   * One attempt of the beat due at `slot`. Like the real agent (cli/agent/beat-retry.ts), an
   * attempt with no answer (an outage, a dropped request), a 429 or a 5xx is sent again
   * after a jittered wait, as long as it ends before the next slot.
   */
  const attemptBeat = (
    agent: SimAgent,
    slot: number,
    attempt: number,
    event: Extract<ScheduleEvent, { kind: 'beat' }> | undefined,
  ) => {
    if (!agent.canBeat()) return;
    if (sim.t < outageUntil) {
      lostBeats.push({ agent: agent.id, at: sim.t });
      retryLater(agent, slot, attempt);
      return;
    }
    const sentAt = sim.t;
    const body = JSON.stringify(agent.beat());
    const worker = event?.worker ?? pickWorker();
    deliver(
      'beat',
      worker,
      event,
      api('POST', nodePath(agent.id), tc.tokens[agent.id], body),
      ({ op, body }, original) => {
        op.node = agent.id;
        const inTime = sim.t - sentAt < config.intervalMs;
        if (original && inTime && isRetryable(op.status)) retryLater(agent, slot, attempt);
        if (op.status !== 200) return;
        const result = JSON.parse(body) as HeartbeatResult;
        answers.push({
          op: op.id,
          node: agent.id,
          at: sim.t,
          role: result.role,
          epoch: result.epoch,
          active: result.active,
        });
        if (original) agent.answer(result, sentAt, config.intervalMs);
      },
    );
  };
  const retryLater = (agent: SimAgent, slot: number, attempt: number) => {
    const wait = retryWaitMs(attempt, config.intervalMs, retryRandom);
    if (sim.t + wait > slot + config.intervalMs - MIN_ATTEMPT_MS) return;
    void sim.spawn(async () => {
      await sim.sleep(wait);
      attemptBeat(agent, slot, attempt + 1, undefined);
    });
  };

  const sweep = (worker: number, faults: InvocationFaults | undefined) =>
    deliver('sweep', worker, faults, async (cp) => ({ body: JSON.stringify(await cp.sweep()) }));

  const admin = (event: Extract<ScheduleEvent, { kind: 'pause' | 'resume' | 'switchover' }>) => {
    const body =
      event.kind === 'switchover' ? JSON.stringify(event.to ? { to: event.to } : {}) : '{"reason":"chaos"}';
    deliver(
      event.kind,
      event.worker,
      event,
      api('POST', `/v1/clusters/${id}/${event.kind}`, undefined, body),
    );
  };

  const rejected = (what: RejectedKind, node: string) => {
    const token = tc.tokens[node];
    const request: Record<RejectedKind, Parameters<typeof api>> = {
      'bad-token': ['POST', nodePath(node), 'not-the-token', '{}'],
      'bad-json': ['POST', nodePath(node), token, '{"status":'],
      oversize: ['POST', nodePath(node), token, JSON.stringify({ version: 'v'.repeat(5_000) })],
      'unknown-node': ['POST', nodePath('zz'), token, '{}'],
      'unknown-cluster': ['POST', nodePath(node, 'no-such-cluster'), token, '{}'],
      'bad-field': ['POST', nodePath(node), token, '{"status":"dying"}'],
      'switchover-to-unknown': ['POST', `/v1/clusters/${id}/switchover`, undefined, '{"to":"zz"}'],
    };
    deliver('rejected', pickWorker(), undefined, api(...request[what]), ({ op }) => {
      op.node = what;
    });
  };

  const happen = (event: ScheduleEvent) => {
    const agent = agents.find((a) => 'node' in event && a.id === event.node);
    switch (event.kind) {
      case 'silence':
      case 'pause-agent':
        if (agent === undefined) return;
        agentDown.push({ agent: agent.id, from: sim.t, to: sim.t + event.ms });
        if (event.kind === 'silence') agent.silentUntil = sim.t + event.ms;
        else agent.pause(event.ms);
        return;
      case 'status':
        agent?.setStatus(event.status);
        return;
      case 'lag':
        if (agent) agent.lagSeconds = event.lagSeconds;
        return;
      case 'outage':
        outageUntil = Math.max(outageUntil, sim.t + event.ms);
        outages.push({ from: sim.t, to: sim.t + event.ms });
        return;
      case 'beat':
        pendingBeat.set(event.node, event);
        return;
      default:
        break;
    }
    if (sim.t < outageUntil) return;
    switch (event.kind) {
      case 'sweep':
        sweep(event.worker, event);
        return;
      case 'pause':
      case 'resume':
      case 'switchover':
        admin(event);
        return;
      case 'rejected':
        rejected(event.what, event.node);
        return;
      default: {
        const unreachable: never = event;
        throw new Error(`unknown event ${JSON.stringify(unreachable)}`);
      }
    }
  };

  const nextBeat = agents.map((_, i) => START + (schedule.phases[i] ?? 0));
  let nextSweep = START + config.intervalMs / 2;
  let sweeps = true;
  let events = [...schedule.events];
  let finalAt: number | undefined;
  let quietAt = 0;
  for (;;) {
    if (sim.t >= faultsEnd) faultsOn = false;
    while (faultsOn && events[0] !== undefined && START + events[0].at <= sim.t) {
      happen(events[0]);
      events = events.slice(1);
    }
    const reachable = sim.t >= outageUntil;
    for (const [i, agent] of agents.entries()) {
      const slot = nextBeat[i] as number;
      if (slot > sim.t) continue;
      nextBeat[i] = slot + config.intervalMs;
      const event = faultsOn && reachable && agent.canBeat() ? pendingBeat.get(agent.id) : undefined;
      if (event !== undefined) pendingBeat.delete(agent.id);
      attemptBeat(agent, slot, 0, event);
    }
    if (sweeps && nextSweep <= sim.t) {
      nextSweep += config.intervalMs;
      if (reachable) sweep(pickWorker(), undefined);
    }
    await sim.quiesce();
    if (finalAt === undefined && !faultsOn && reachable && !sim.busy) {
      quietAt = sim.t;
      sweeps = false;
      finalAt = claimsExpire(await world.store.load(id), sim.t);
    }
    if (finalAt !== undefined && sim.t >= finalAt) break;
    if (sim.t > faultsEnd + SETTLE_LIMIT_MS) throw new Error('the history did not settle');
    const next = Math.min(
      ...nextBeat,
      sweeps ? nextSweep : Number.POSITIVE_INFINITY,
      faultsOn
        ? Math.min(faultsEnd, START + (events[0]?.at ?? Number.POSITIVE_INFINITY))
        : Number.POSITIVE_INFINITY,
      sim.nextWake() ?? Number.POSITIVE_INFINITY,
      finalAt ?? Number.POSITIVE_INFINITY,
    );
    await sim.advanceTo(next);
  }

  const sweepAt = sim.t;
  sweep(0, undefined);
  await sim.quiesce();
  for (const agent of agents) agent.finish(sim.t);
  const state = await world.store.load(id);
  const events_ = await world.store.listEvents(id, 500);
  return {
    rules: {
      nodes: config.nodes,
      intervalMs: config.intervalMs,
      leaseMs: config.leaseMs,
      maxLagSeconds: config.maxLagSeconds,
      skewBoundMs: config.skewBoundMs,
    },
    ops,
    promotions: log.promotions,
    answers,
    beliefs: agents.flatMap((a) => a.beliefs),
    applies,
    outages,
    lostBeats,
    agentDown,
    final: {
      quietAt,
      sweepAt,
      epoch: state.epoch,
      active: state.active,
      promotedEvents: events_
        .filter((e) => e.kind === 'promoted')
        .map((e) => ({ epoch: e.epoch, active: e.active })),
      targets: Object.fromEntries(
        Object.entries(state.targets).map(([t, s]) => [t, { epoch: s.epoch, state: s.state }]),
      ),
    },
  };
}

/**
 * When every target claim in `state` has expired (a claim left by a failed worker blocks
 * re-applying until then) and every time a claim carried (`settlesAt`) has passed.
 */
function claimsExpire(state: ClusterState, now: number): number {
  const untils = Object.values(state.targets).flatMap((t) => {
    const until = unsettledUntil(t, now);
    return until === undefined ? [] : [until + 1];
  });
  return Math.max(now, ...untils);
}
