/**
 * A fault schedule as data: what goes wrong, when, for one history. fast-check generates
 * it from a seed and shrinks it when a history fails, so a failure comes with the smallest
 * schedule that still breaks a property.
 */
import fc from 'fast-check';
import type { CallFault } from './faulty-store.js';

export type RejectedKind =
  | 'bad-token'
  | 'bad-json'
  | 'oversize'
  | 'unknown-node'
  | 'unknown-cluster'
  | 'bad-field'
  | 'switchover-to-unknown';

/** Faults for one invocation: its store calls', its target applies', and a second delivery. */
export interface InvocationFaults {
  faults: CallFault[];
  /** Target applies made by this invocation hang this long (simulated ms) before finishing. */
  hangApplyMs?: number;
  duplicate?: boolean;
}

export type ScheduleEvent =
  /** The node's agent stops beating (crash, or cut off from the control plane). */
  | { at: number; kind: 'silence'; node: string; ms: number }
  /** The node's agent process is stopped (SIGSTOP), past its own deadline. */
  | { at: number; kind: 'pause-agent'; node: string; ms: number }
  | { at: number; kind: 'status'; node: string; status: 'ok' | 'failing' }
  | { at: number; kind: 'lag'; node: string; lagSeconds: number }
  /** No request reaches the control plane and no sweep runs. */
  | { at: number; kind: 'outage'; ms: number }
  | ({ at: number; kind: 'beat'; node: string; worker: number } & InvocationFaults)
  | ({ at: number; kind: 'sweep'; worker: number } & InvocationFaults)
  | ({ at: number; kind: 'pause' | 'resume'; worker: number } & InvocationFaults)
  | ({ at: number; kind: 'switchover'; to?: string; worker: number } & InvocationFaults)
  | { at: number; kind: 'rejected'; what: RejectedKind; node: string };

export interface Schedule {
  /** Each control-plane worker's clock runs this far ahead of true time (ms). */
  skews: number[];
  /** Each agent's beat phase within the interval (ms): equal phases make beats race. */
  phases: number[];
  /** Which worker serves each routine beat and sweep. */
  routing: number;
  events: ScheduleEvent[];
}

export interface ScheduleShape {
  nodes: readonly string[];
  workers: number;
  intervalMs: number;
  leaseMs: number;
  skewBoundMs: number;
  /** Events fall in [0, faultMs). */
  faultMs: number;
  /** Whether operators move the role (switchover), which property 8 orders. */
  planned: boolean;
}

export function scheduleArb(shape: ScheduleShape): fc.Arbitrary<Schedule> {
  const { nodes, workers, intervalMs, leaseMs, faultMs } = shape;
  const at = fc.integer({ min: 0, max: faultMs - 1 });
  const node = fc.constantFrom(...nodes);
  const worker = fc.integer({ min: 0, max: workers - 1 });
  const fault: fc.Arbitrary<CallFault> = fc
    .record({
      call: fc.integer({ min: 0, max: 5 }),
      kind: fc.constantFrom('timeout', 'throttle', 'lost-response', 'retried', 'slow', 'pause', 'stale'),
      ms: fc.integer({ min: 0, max: 3 }),
    })
    .map((f) => ({
      ...f,
      // slow: an answer late by up to an interval; pause: a worker stopped past a lease.
      ms:
        f.kind === 'slow'
          ? (f.ms + 1) * (intervalMs / 4)
          : f.kind === 'pause'
            ? leaseMs + (f.ms + 1) * 500
            : f.ms,
    }));
  const invocation = fc.record(
    {
      faults: fc.array(fault, { minLength: 1, maxLength: 2 }),
      hangApplyMs: fc.integer({ min: 1, max: 2 * leaseMs }),
      duplicate: fc.boolean(),
    },
    { requiredKeys: ['faults'] },
  );
  const events: Array<fc.Arbitrary<ScheduleEvent>> = [
    fc.record({
      at,
      kind: fc.constant('silence'),
      node,
      ms: fc.integer({ min: intervalMs, max: 3 * leaseMs }),
    }),
    fc.record({
      at,
      kind: fc.constant('pause-agent'),
      node,
      ms: fc.integer({ min: intervalMs, max: 2 * leaseMs }),
    }),
    fc.record({ at, kind: fc.constant('status'), node, status: fc.constantFrom('ok', 'failing') }),
    fc.record({ at, kind: fc.constant('lag'), node, lagSeconds: fc.constantFrom(0, 1, 30) }),
    fc.record({ at, kind: fc.constant('outage'), ms: fc.integer({ min: intervalMs, max: 2 * leaseMs }) }),
    fc
      .tuple(fc.record({ at, kind: fc.constant('beat'), node, worker }), invocation)
      .map(([e, i]) => ({ ...e, ...i })),
    fc
      .tuple(fc.record({ at, kind: fc.constant('sweep'), worker }), invocation)
      .map(([e, i]) => ({ ...e, ...i })),
    fc
      .tuple(fc.record({ at, kind: fc.constantFrom('pause', 'resume'), worker }), invocation)
      .map(([e, i]) => ({ ...e, ...i })),
    fc.record({
      at,
      kind: fc.constant('rejected'),
      node,
      what: fc.constantFrom<RejectedKind>(
        'bad-token',
        'bad-json',
        'oversize',
        'unknown-node',
        'unknown-cluster',
        'bad-field',
        'switchover-to-unknown',
      ),
    }),
  ];
  if (shape.planned) {
    events.push(
      fc
        .tuple(
          fc.record(
            { at, kind: fc.constant('switchover'), worker, to: node },
            { requiredKeys: ['at', 'kind', 'worker'] },
          ),
          invocation,
        )
        .map(([e, i]) => ({ ...e, ...i })),
    );
  }
  return fc.record({
    skews: fc.array(fc.integer({ min: 0, max: shape.skewBoundMs }), {
      minLength: workers,
      maxLength: workers,
    }),
    phases: fc.array(fc.constantFrom(0, 0, intervalMs / 4, intervalMs / 2), {
      minLength: nodes.length,
      maxLength: nodes.length,
    }),
    routing: fc.nat(),
    events: fc
      .array(fc.oneof(...events), { minLength: 1, maxLength: 6 })
      .map((list) => [...list].sort((x, y) => x.at - y.at)),
  });
}
