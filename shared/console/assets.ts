/**
 * The operator's console: one page, one script, one style sheet, served by the API handler
 * as admin routes (`routes.ts`), so the page answers only a caller the admin routes would
 * answer, and works the same from the local server and through `failover console`.
 *
 * No framework and nothing from a CDN: the page works offline. The script is the source
 * text of `consoleView` and `consoleApp` (see their invariant), so what is tested in Node is
 * what the browser runs, with no build step for the browser in between.
 */
import { consoleApp } from './app.js';
import { consoleView } from './view.js';

/**
 * Nothing but this server's own script, styles and JSON: no inline script or style, no
 * framing (clickjacking a confirm button), no form posting anywhere, no base-URL change.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  // The empty icon (`data:,`) keeps the browser from asking for /favicon.ico, a route there is not.
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** A handler's answer that is not JSON. */
export class Asset {
  constructor(
    readonly contentType: string,
    readonly body: string,
  ) {}

  headers(): Record<string, string> {
    return {
      'content-type': this.contentType,
      'cache-control': 'no-store',
      'content-security-policy': CONSOLE_CSP,
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    };
  }
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>failover console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console.css">
<script src="/console.js" defer></script>
</head>
<body>
<header>
<h1>failover console</h1>
<p id="live">Connecting…</p>
<p id="answer" role="status" aria-live="polite"></p>
</header>
<main id="clusters" aria-busy="true"></main>
<dialog id="confirm" aria-labelledby="confirm-title">
<form id="confirm-form">
<h2 id="confirm-title">Confirm</h2>
<p id="to-field"><label for="to">Promote</label> <select id="to"></select></p>
<p id="immediate-field"><label><input type="checkbox" id="immediate"> Promote at once, without waiting for the active to step down (only the epoch fences it until it learns)</label></p>
<p><label for="reason">Reason (recorded in the event log)</label><br><textarea id="reason" required maxlength="256" rows="2" cols="60"></textarea></p>
<p><button type="submit">Confirm</button> <button type="button" id="cancel">Cancel</button></p>
</form>
</dialog>
</body>
</html>
`;

const STYLES = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem 2rem; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.4rem; margin: 0; }
header { display: flex; gap: 2rem; align-items: baseline; flex-wrap: wrap; }
#answer { font-weight: bold; }
section { border-top: 2px solid #888; margin-top: 1.5rem; }
.facts { display: flex; flex-wrap: wrap; gap: .3rem 1.5rem; list-style: none; padding: 0; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: .2rem .6rem; border-bottom: 1px solid #ddd; }
tr.active .role { font-weight: bold; background: #1f6f3f; color: #fff; padding: 0 .3rem; }
tr.down td { color: #a30000; }
button:focus-visible, select:focus-visible, textarea:focus-visible, input:focus-visible { outline: 3px solid #1a5fb4; outline-offset: 2px; }
.error { color: #a30000; font-weight: bold; }
.note { color: #555; font-size: .9em; }
svg.timeline { width: 100%; max-width: 900px; height: auto; font-size: 11px; }
svg .grid { stroke: #ccc; }
svg .axis, svg .label { fill: #333; }
svg .active { fill: #2e8b57; }
svg .no-active { fill: #bbb; }
svg .on-bar { fill: #fff; }
svg .alive { fill: #9fd3ad; }
svg .down { fill: #e06666; }
svg .beat { stroke: #1b4d2b; stroke-width: 1; }
svg .event { stroke: #555; stroke-dasharray: 2 2; }
svg .event.promoted { stroke: #b00; stroke-width: 2; stroke-dasharray: none; }
svg .opened { stroke: #1a5fb4; stroke-dasharray: 4 3; }
dialog::backdrop { background: rgba(0, 0, 0, .4); }
`;

/**
 * `__name` is declared because a loader that keeps function names (tsx) wraps the
 * functions' inner declarations in calls to it; the browser only needs it to exist.
 */
const SCRIPT = `"use strict";
const __name = (f) => f;
(${consoleApp})((${consoleView})(), document);
`;

export const CONSOLE_ASSETS = {
  page: new Asset('text/html; charset=utf-8', PAGE),
  script: new Asset('text/javascript; charset=utf-8', SCRIPT),
  styles: new Asset('text/css; charset=utf-8', STYLES),
};
