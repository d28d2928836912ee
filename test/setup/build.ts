/**
 * Vitest global setup: builds dist/ once before any test file runs, so the end-to-end
 * tests run the `failover` command exactly as it ships (bin/failover.js → dist/), built
 * from the sources under test.
 */
import { buildCli } from '../../scripts/build.js';

export default async function setup(): Promise<void> {
  await buildCli();
}
