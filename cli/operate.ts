/** `failover switchover | pause | resume`: the operator's actions, matching the admin API. */
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import { sleep } from '../shared/time.js';
import { parseOptions } from './options.js';
import { ADMIN_OPTIONS, adminRequest, COMMON_HELP, describeHandover, renderStatus } from './status.js';

/** How often `switchover` reads the status while it waits for the old active to step down. */
const POLL_MS = 200;

export const SWITCHOVER_HELP = `Usage: failover switchover --url URL --cluster C [--to NODE] [--force] [--reason TEXT] [--no-wait]

Moves the active role (a planned switchover): to NODE, or to the best eligible
standby. Refused when NODE is not alive or not eligible (lagging, other version,
maintenance) unless --force, which skips the eligibility checks but never liveness.
Works while automation is paused and past the flap guard.

Demote-first: the active is told to step down, runs --on-standby and confirms; only
then is NODE promoted, so the two never act as active at once. An active that does not
confirm is replaced once its lease has run out (at most one lease). The command waits
until the move is done.

Options:
${COMMON_HELP}
  --to NODE          the node to promote (default: the best eligible standby)
  --force            promote NODE even if it is not eligible
  --reason TEXT      recorded in the event log
  --no-wait          promote at once, without asking the active to step down first:
                     until it learns (next beat) or its lease ends, only the epoch fences it
`;

export const PAUSE_HELP = `Usage: failover pause|resume --url URL --cluster C [--reason TEXT]

pause: no automatic failover or failback until resume; heartbeats are still recorded
and a switchover still works. Status shows since when and by whom.

Options:
${COMMON_HELP}
  --reason TEXT      why (recorded in the event log)
`;

const OPTIONS = { ...ADMIN_OPTIONS, reason: { type: 'string' } } as const;

export async function switchover(argv: string[]): Promise<number> {
  const values = parseOptions(argv, {
    ...OPTIONS,
    to: { type: 'string' },
    force: { type: 'boolean', default: false },
    'no-wait': { type: 'boolean', default: false },
  });
  if (values.help) {
    process.stdout.write(SWITCHOVER_HELP);
    return 0;
  }
  const body = {
    ...(values.to ? { to: values.to } : {}),
    ...(values.force ? { force: true } : {}),
    ...(values.reason ? { reason: values.reason } : {}),
    ...(values['no-wait'] ? { immediate: true } : {}),
  };
  const { api, path } = adminRequest(values);
  const asked = await api.post<ClusterStatus>(`${path}/switchover`, body);
  if (asked.handover === null) return show(values, asked);
  process.stderr.write(`${describeHandover(asked.handover)}\n`);
  const done = await untilHandedOver(() => api.get<ClusterStatus>(path), asked);
  show(values, done);
  if (done.epoch > asked.epoch) return 0;
  process.stderr.write(
    done.handover === null
      ? 'the switchover was abandoned: see `failover events`\n'
      : `still pending: ${describeHandover(done.handover)}\n`,
  );
  return 1;
}

/** Polls the status until the handover is over (or should long be): past its deadline, plus two beats. */
async function untilHandedOver(
  read: () => Promise<ClusterStatus>,
  asked: ClusterStatus,
): Promise<ClusterStatus> {
  const deadline = Date.parse(asked.handover?.deadline ?? '') - Date.parse(asked.now);
  const giveUpAt = performance.now() + deadline + 2 * asked.intervalMs + 5_000;
  for (;;) {
    await sleep(POLL_MS);
    const status = await read();
    if (status.handover === null || status.epoch !== asked.epoch || performance.now() > giveUpAt)
      return status;
  }
}

export const pause = (argv: string[]) => pauseOrResume(argv, 'pause');
export const resume = (argv: string[]) => pauseOrResume(argv, 'resume');

async function pauseOrResume(argv: string[], action: 'pause' | 'resume'): Promise<number> {
  const values = parseOptions(argv, OPTIONS);
  if (values.help) {
    process.stdout.write(PAUSE_HELP);
    return 0;
  }
  const { api, path } = adminRequest(values);
  const body = values.reason ? { reason: values.reason } : {};
  return show(values, await api.post<ClusterStatus>(`${path}/${action}`, body));
}

function show(values: { json?: boolean }, status: ClusterStatus): number {
  process.stdout.write(
    values.json
      ? `${JSON.stringify(status, null, 2)}\n`
      : renderStatus(status, process.stdout.isTTY === true),
  );
  return 0;
}
