/// <reference lib="dom" />
/**
 * The console page's DOM wiring: reads every cluster's status each second through the
 * admin routes, renders it with the view, and sends the actions an operator confirms.
 *
 * Live updates by polling, not server-sent events: API Gateway's HTTP API cannot stream a
 * response from Lambda, so SSE would work locally and not through `failover console`.
 * One status read is one DynamoDB GetItem; a read each second per cluster is the price.
 *
 * Invariant: like `consoleView`, `consoleApp` is served as its own source text, so it
 * refers to nothing outside its body and its arguments.
 */
import type { ClusterStatus } from '../control-plane/control-plane.js';
import type { ClusterEvent } from '../core/state.js';
import type { ActionInput, ConsoleView, History } from './view.js';

export function consoleApp(view: ConsoleView, doc: Document): void {
  const POLL_MS = 1000;
  /** Events are read again when the status shows a change, and at least this often. */
  const EVENTS_EVERY_MS = 10_000;

  interface Shown {
    live: HTMLElement;
    status: ClusterStatus | null;
    events: ClusterEvent[];
    eventsKey: string;
    eventsAt: number;
    history: History;
  }
  const shown = new Map<string, Shown>();
  const byId = <T extends HTMLElement>(id: string) => doc.getElementById(id) as T;
  const main = byId<HTMLElement>('clusters');
  const live = byId<HTMLElement>('live');
  const answer = byId<HTMLElement>('answer');
  const dialog = byId<HTMLDialogElement>('confirm');
  const form = byId<HTMLFormElement>('confirm-form');
  const to = byId<HTMLSelectElement>('to');
  const immediate = byId<HTMLInputElement>('immediate');
  const reason = byId<HTMLTextAreaElement>('reason');
  let pending: { action: ActionInput['action']; cluster: string; opener: HTMLElement } | null = null;

  async function request(method: 'GET' | 'POST', path: string, body?: unknown) {
    try {
      const res = await fetch(path, {
        method,
        cache: 'no-store',
        headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
    } catch (err) {
      return { status: 0, body: { message: `cannot reach the control plane: ${(err as Error).message}` } };
    }
  }

  function addCluster(id: string): void {
    const section = doc.createElement('section');
    const heading = `cluster-${id.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
    section.setAttribute('aria-labelledby', heading);
    const name = view.escapeHtml(id);
    section.innerHTML =
      `<h2 id="${heading}">Cluster ${name}</h2>` +
      `<div class="actions" role="group" aria-label="Actions on ${name}">` +
      `<button type="button" data-action="switchover" data-cluster="${name}">Switch over…</button> ` +
      `<button type="button" data-action="pause" data-cluster="${name}">Pause automation…</button> ` +
      `<button type="button" data-action="resume" data-cluster="${name}">Resume automation…</button></div>` +
      '<div class="live"></div>';
    main.append(section);
    shown.set(id, {
      live: section.querySelector('.live') as HTMLElement,
      status: null,
      events: [],
      eventsKey: '',
      eventsAt: 0,
      history: {},
    });
  }

  async function refresh(id: string, s: Shown): Promise<void> {
    const path = `/v1/clusters/${encodeURIComponent(id)}`;
    const read = await request('GET', path);
    if (read.status !== 200) {
      s.live.innerHTML = `<p class="error">Cannot read the status (${read.status}): ${view.escapeHtml(read.body.message ?? read.body.Message)}</p>`;
      return;
    }
    const status = read.body as unknown as ClusterStatus;
    s.history = view.observe(s.history, status);
    const key = JSON.stringify([
      status.epoch,
      status.paused,
      status.hold,
      status.handover,
      status.lastTransition,
    ]);
    const now = Date.parse(status.now);
    if (key !== s.eventsKey || now - s.eventsAt >= EVENTS_EVERY_MS) {
      const events = await request('GET', `${path}/events?limit=200`);
      if (events.status === 200) {
        s.events = events.body.events as ClusterEvent[];
        s.eventsKey = key;
        s.eventsAt = now;
      }
    }
    s.status = status;
    s.live.innerHTML = view.clusterHtml(status, s.events, s.history);
  }

  async function poll(): Promise<void> {
    const started = Date.now();
    try {
      await Promise.all([...shown].map(([id, s]) => refresh(id, s)));
      main.setAttribute('aria-busy', 'false');
      live.textContent = `Live: read at ${new Date().toLocaleTimeString()}, every second.`;
    } finally {
      // Whatever one read did, the page keeps reading: a stale time above says it failed.
      setTimeout(poll, Math.max(0, POLL_MS - (Date.now() - started)));
    }
  }

  async function start(): Promise<void> {
    const list = await request('GET', '/v1/clusters');
    if (list.status !== 200) {
      live.textContent = `Cannot list the clusters (${list.status}): ${String(list.body.message ?? list.body.Message)}`;
      setTimeout(start, POLL_MS);
      return;
    }
    for (const id of list.body.clusters as string[]) addCluster(id);
    await poll();
  }

  const TITLES = { switchover: 'Switch over', pause: 'Pause automation of', resume: 'Resume automation of' };

  main.addEventListener('click', (event) => {
    const button = (event.target as HTMLElement).closest('button[data-action]') as HTMLElement | null;
    if (button === null) return;
    const action = button.dataset.action as ActionInput['action'];
    const cluster = button.dataset.cluster as string;
    pending = { action, cluster, opener: button };
    byId('confirm-title').textContent = `${TITLES[action]} cluster ${cluster}?`;
    const status = shown.get(cluster)?.status;
    const isSwitchover = action === 'switchover';
    byId('to-field').hidden = !isSwitchover;
    byId('immediate-field').hidden = !isSwitchover;
    to.innerHTML =
      '<option value="">the best eligible standby</option>' +
      (status?.nodes ?? [])
        .filter((n) => n.role !== 'active')
        .map(
          (n) =>
            `<option value="${view.escapeHtml(n.id)}">${view.escapeHtml(n.id)} (${n.alive ? 'alive' : 'NOT ALIVE'}${n.eligible ? '' : ', not eligible'})</option>`,
        )
        .join('');
    immediate.checked = false;
    reason.value = '';
    dialog.showModal();
    reason.focus();
  });

  byId('cancel').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    pending?.opener.focus();
    pending = null;
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (pending === null) return;
    const input: ActionInput = {
      action: pending.action,
      cluster: pending.cluster,
      reason: reason.value,
      ...(pending.action === 'switchover' ? { to: to.value, immediate: immediate.checked } : {}),
    };
    dialog.close();
    const { path, body } = view.actionRequest(input);
    answer.textContent = `${TITLES[input.action]} ${input.cluster}: sending…`;
    request('POST', path, body).then((res) => {
      answer.textContent = `${TITLES[input.action]} ${input.cluster}: ${view.answerText(input.action, res.status, res.body)}`;
    });
  });

  start();
}
