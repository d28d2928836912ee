/**
 * The real store (DynamoStateStore over dynalite) seen through one operation's faults.
 * Each fault hits the operation's n-th store call: it can fail before reaching the store
 * (timeout, throttling), take effect and lose its answer (the caller sees an error, or the
 * SDK sends it again and the condition then fails on the caller's own write), answer late,
 * park the worker mid-operation past a lease, or (for the sweep's eventually consistent
 * read) return an older version of the record. Every state-changing call is recorded with
 * whether it took effect.
 */
import type { Promotion } from '../../shared/core/promotion.js';
import type { ClusterState } from '../../shared/core/state.js';
import type { StateStore } from '../../shared/store/port.js';
import type { OpRecord, PromotionRecord } from './history.js';
import type { Sim } from './sim.js';

export type FaultKind = 'timeout' | 'throttle' | 'lost-response' | 'retried' | 'slow' | 'pause' | 'stale';

export interface CallFault {
  /** Which of the operation's store calls (0 = the first). */
  call: number;
  kind: FaultKind;
  /** slow, pause: how long (simulated ms); stale: how many versions back (1 + ms % 4). */
  ms: number;
}

const WRITES: ReadonlySet<string> = new Set([
  'recordHeartbeat',
  'commitPromotion',
  'commitHold',
  'clearHold',
  'flushOutbox',
  'claimTarget',
  'commitServing',
  'finishTarget',
  'markTargetDrift',
  'recordTargetDetail',
  'setPause',
  'clearPause',
  'setCollision',
]);

/** What the run shares between operations: versions of the record seen so far, and the promotions. */
export interface StoreLog {
  versions: ClusterState[];
  promotions: PromotionRecord[];
}

export class FaultError extends Error {
  constructor(
    override readonly name: 'TimeoutError' | 'ThrottlingException',
    message: string,
  ) {
    super(message);
  }
}

const tookEffect = (result: unknown) => result !== null && result !== false && result !== 'overtaken';

function isState(value: unknown): value is ClusterState {
  return typeof value === 'object' && value !== null && 'epoch' in value && 'nodes' in value;
}

export function faultyStore(
  inner: StateStore,
  faults: readonly CallFault[],
  context: { sim: Sim; op: OpRecord; log: StoreLog },
): StateStore {
  const { sim, op, log } = context;
  let calls = 0;
  const remember = (value: unknown) => {
    for (const v of Array.isArray(value) ? value : [value]) if (isState(v)) log.versions.push(v);
  };
  const record = (method: string, args: unknown[], result: unknown) => {
    remember(result);
    if (!WRITES.has(method)) return;
    op.writes.push({ method, at: sim.t, applied: tookEffect(result) });
    if (method === 'commitPromotion' && isState(result)) {
      const decision = args[0] as Promotion;
      // A second delivery of the same request, at the same clock reading, makes the same
      // write: its failed condition is answered as the first one's success (it is one write).
      const same = log.promotions.some(
        (p) => p.epoch === result.epoch && p.to === decision.to && p.now === args[2] && p.by === decision.by,
      );
      if (same) return;
      log.promotions.push({
        op: op.id,
        at: sim.t,
        now: args[2] as number,
        epoch: result.epoch,
        from: decision.from,
        to: decision.to,
        cause: decision.cause,
        ...(decision.by ? { by: decision.by } : {}),
        nodes: result.nodes,
      });
    }
  };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const method = String(prop);
      return async (...args: unknown[]) => {
        const fault = faults.find((f) => f.call === calls);
        calls += 1;
        const send = async () => {
          const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          record(method, args, result);
          return result;
        };
        if (fault === undefined) return send();
        switch (fault.kind) {
          case 'timeout':
            throw new FaultError('TimeoutError', `${method}: no answer (injected before the store)`);
          case 'throttle':
            throw new FaultError('ThrottlingException', `${method}: rate exceeded (injected)`);
          case 'lost-response':
            await send();
            throw new FaultError('TimeoutError', `${method}: took effect, answer lost (injected)`);
          case 'retried': {
            if (!WRITES.has(method)) return send();
            await send();
            // The SDK sends the same request again: a conditional write now meets its own result.
            const again = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            remember(again);
            return again;
          }
          case 'slow': {
            const result = await send();
            await sim.sleep(fault.ms);
            return result;
          }
          case 'pause':
            await sim.sleep(fault.ms);
            return send();
          case 'stale': {
            const fresh = await send();
            if (method !== 'loadMany') return fresh;
            const older = log.versions.at(-1 - (1 + (fault.ms % 4)));
            return older === undefined ? fresh : [older];
          }
          default: {
            const unknown: never = fault.kind;
            throw new Error(`unknown fault ${String(unknown)}`);
          }
        }
      };
    },
  });
}
