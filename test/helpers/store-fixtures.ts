/**
 * Shared fixtures for the store, race and API tests: a fake clock, a recording target,
 * config builders, a command counter for the SDK client and a seeded PRNG.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type ClusterConfig, type Config, type ConfigInput, parseConfig } from '../../shared/config.js';
import { ControlPlane } from '../../shared/control-plane/control-plane.js';
import { silentLogger } from '../../shared/logger.js';
import { DynamoStateStore } from '../../shared/store/dynamo-store.js';
import type { StateStore } from '../../shared/store/port.js';
import type { Target, TargetChange } from '../../shared/targets/index.js';
import { sleep } from '../../shared/time.js';
import { mintToken } from '../../shared/tokens.js';

/** A mutable control-plane clock: time is data, never a sleep. */
export class FakeClock {
  constructor(public t = Date.UTC(2030, 0, 1)) {}
  readonly now = (): number => this.t;
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}

/**
 * Lets `ms` pass in steps of `stepMs`, calling `beat` after each full step: nodes that do not
 * beat then expire while the control plane plainly is up. (A gap in which nobody beats is
 * the control plane's own absence, which holds automatic failover for a lease: core/grace.ts.)
 */
export async function passWhileBeating(
  clock: FakeClock,
  ms: number,
  stepMs: number,
  beat: () => Promise<unknown>,
): Promise<void> {
  let left = ms;
  for (; left > stepMs; left -= stepMs) {
    clock.advance(stepMs);
    await beat();
  }
  clock.advance(left);
}

/** A target that records every call; it can be told to fail the next N calls or to be slow. */
export class FakeTarget implements Target {
  readonly type = 'fake';
  readonly calls: TargetChange[] = [];
  /** Calls still to fail; each failure throws `failWith`. */
  failures = 0;
  failWith: () => Error = () => Object.assign(new Error('connection refused'), { name: 'TargetApplyError' });
  /** Optional hook run inside apply (e.g. to wait on a gate and so make the apply slow). */
  during: ((change: TargetChange) => Promise<void>) | null = null;

  constructor(readonly id = 'dns') {}

  async apply(change: TargetChange): Promise<undefined> {
    this.calls.push(change);
    if (this.during !== null) await this.during(change);
    if (this.failures > 0) {
      this.failures -= 1;
      throw this.failWith();
    }
    return undefined;
  }

  epochs(): number[] {
    return this.calls.map((c) => c.epoch);
  }
}

let counter = 0;
/** A cluster id unique in this process, valid for the config schema. */
export function freshId(prefix = 'c'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

export interface TestCluster {
  config: Config;
  cluster: ClusterConfig;
  /** Bearer token per node id. */
  tokens: Record<string, string>;
  address: Record<string, string>;
}

/**
 * One cluster whose nodes are `nodeIds` in priority order, with a `log` target config
 * entry per id in `targetIds` (the control plane is then given fake targets with those ids).
 */
export function makeCluster(
  options: {
    id?: string;
    nodeIds?: string[];
    intervalSeconds?: number;
    missedBeats?: number;
    targetIds?: string[];
    adminTokenSha256?: string;
    /** Per node id, the hash of the token a rotation is replacing (`previousTokenSha256`). */
    previousTokenSha256?: Record<string, string>;
    mode?: 'active-passive' | 'active-active';
    /** Further cluster settings (sync gate, failback, flap guard), as in the config file. */
    rules?: Partial<ConfigInput['clusters'][number]>;
  } = {},
): TestCluster {
  const id = options.id ?? freshId();
  const nodeIds = options.nodeIds ?? ['a', 'b'];
  const tokens: Record<string, string> = {};
  const address: Record<string, string> = {};
  const nodes = nodeIds.map((nodeId, i) => {
    const minted = mintToken();
    tokens[nodeId] = minted.token;
    address[nodeId] = `192.0.2.${10 + i}`;
    const previous = options.previousTokenSha256?.[nodeId];
    return {
      id: nodeId,
      address: address[nodeId],
      tokenSha256: minted.sha256,
      ...(previous === undefined ? {} : { previousTokenSha256: previous }),
    };
  });
  const config = parseConfig({
    clusters: [
      {
        id,
        heartbeatIntervalSeconds: options.intervalSeconds ?? 1,
        missedBeats: options.missedBeats ?? 3,
        nodes,
        targets: (options.targetIds ?? []).map((t) => ({ type: 'log', id: t })),
        ...(options.mode ? { mode: options.mode } : {}),
        ...options.rules,
      },
    ],
    ...(options.adminTokenSha256 ? { adminTokenSha256: options.adminTokenSha256 } : {}),
  });
  const cluster = config.clusters[0] as ClusterConfig;
  return { config, cluster, tokens, address };
}

export function nodeOf(cluster: ClusterConfig, id: string) {
  const node = cluster.nodes.find((n) => n.id === id);
  if (node === undefined) throw new Error(`no node ${id} in ${cluster.id}`);
  return node;
}

export function makeControlPlane(
  tc: TestCluster,
  store: StateStore,
  clock: FakeClock,
  targets: Target[] = [],
): ControlPlane {
  return new ControlPlane({
    config: tc.config,
    store,
    targets: new Map([[tc.cluster.id, targets]]),
    logger: silentLogger,
    now: clock.now,
  });
}

export function dynamoStore(client: DynamoDBClient, table: string): DynamoStateStore {
  return new DynamoStateStore(client, table);
}

/** Records the name of every command the client sends, until `stop()`. */
export function countCommands(client: DynamoDBClient) {
  const name = `countCommands-${++counter}`;
  const commands: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name },
  );
  return {
    commands,
    reset: () => {
      commands.length = 0;
    },
    stop: () => {
      client.middlewareStack.remove(name);
    },
  };
}

/** mulberry32: a small seeded PRNG, so a failing interleaving can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Wraps a store so that every call first waits a random 0..maxDelayMs (seeded): this
 * widens the window between a read and the conditional write that depends on it.
 */
export function jitteringStore(store: StateStore, random: () => number, maxDelayMs: number): StateStore {
  const wait = () => (maxDelayMs > 0 ? sleep(Math.floor(random() * (maxDelayMs + 1))) : Promise.resolve());
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await wait();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
