#!/usr/bin/env node
// The `failover` command: the CLI that `npm run build` compiles into dist/ (run by
// `prepare` after `npm ci` and by `npm pack`). Plain JavaScript in this process: no
// TypeScript loader, no wrapper between a signal and the agent.
import '../dist/failover.js';
