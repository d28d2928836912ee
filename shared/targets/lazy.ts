import type { Target } from './target.js';

/**
 * Runs `load` once and shares its result. A rejection is forgotten, so the next call loads
 * again: a transient failure must not disable a target for the life of the process. (A
 * module whose top-level code threw stays failed, in Node's ESM loader and in esbuild's
 * bundles alike; what this retries is the rest of the load, such as creating the clients.)
 */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= load().catch((err: unknown) => {
      loaded = undefined;
      throw err;
    });
    return loaded;
  };
}

/** A target built (and its SDK code loaded) on first use, then reused. */
export function lazyTarget(id: string, type: string, load: () => Promise<Target>): Target {
  const get = loadOnce(load);
  return {
    id,
    type,
    apply: async (change, deadline) => (await get()).apply(change, deadline),
    observe: async (change, deadline, detail) => {
      const target = await get();
      return target.observe ? target.observe(change, deadline, detail) : { drift: null };
    },
  };
}
