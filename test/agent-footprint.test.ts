/**
 * What `failover agent` loads, in the build that ships (dist/, built by the global setup):
 * an agent stays on every host for months, and each module it loads stays resident
 * (issue 14: under 50 MB; docs/performance.md, "Agent memory").
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../dist', import.meta.url));

/** The chunks a chunk imports statically (`import … from "./x.js"`, `import "./x.js"`), not `import()`. */
function staticImports(chunk: string): string[] {
  const text = readFileSync(join(DIST, chunk), 'utf8');
  return [...text.matchAll(/(?:\bfrom\s*|^import\s*)"\.\/([^"]+)"/gm)].map((m) => m[1] as string);
}

/** Every chunk the agent command's code loads before it runs: its chunk and their static imports. */
function agentChunks(): Set<string> {
  const entry = readFileSync(join(DIST, 'failover.js'), 'utf8');
  const agentChunk = /\bagent: async \(\) => \(await import\("\.\/([^"]+)"\)\)/.exec(entry)?.[1];
  if (agentChunk === undefined) throw new Error('dist/failover.js: no lazy import of the agent chunk');
  const seen = new Set<string>();
  const queue = ['failover.js', agentChunk];
  for (let chunk = queue.pop(); chunk !== undefined; chunk = queue.pop()) {
    if (seen.has(chunk)) continue;
    seen.add(chunk);
    queue.push(...staticImports(chunk));
  }
  return seen;
}

describe('failover agent', () => {
  it('loads neither zod nor the config schema and target registry: an agent never parses the cluster config', () => {
    const sources = [...agentChunks()]
      .map((chunk) => readFileSync(join(DIST, chunk), 'utf8'))
      .flatMap((text) => [...text.matchAll(/^\/\/ ((?:node_modules|shared|cli)\/\S+)$/gm)].map((m) => m[1]));
    expect(sources).toContain('cli/agent/agent.ts'); // the walk found the agent's code
    expect(sources.filter((s) => /zod|shared\/config\.ts|shared\/targets\//.test(s as string))).toEqual([]);
  });
});
