/** `failover switchover | pause | resume`: the operator's actions, matching the admin API. */
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import { parseOptions } from './options.js';
import { ADMIN_OPTIONS, adminRequest, COMMON_HELP, renderStatus } from './status.js';

export const SWITCHOVER_HELP = `Usage: failover switchover --url URL --cluster C [--to NODE] [--force] [--reason TEXT]

Moves the active role now (a planned switchover): to NODE, or to the best eligible
standby. Refused when NODE is not alive or not eligible (lagging, other version,
maintenance) unless --force, which skips the eligibility checks but never liveness.
Works while automation is paused and past the flap guard.

Options:
${COMMON_HELP}
  --to NODE          the node to promote (default: the best eligible standby)
  --force            promote NODE even if it is not eligible
  --reason TEXT      recorded in the event log
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
  });
  if (values.help) {
    process.stdout.write(SWITCHOVER_HELP);
    return 0;
  }
  const body = {
    ...(values.to ? { to: values.to } : {}),
    ...(values.force ? { force: true } : {}),
    ...(values.reason ? { reason: values.reason } : {}),
  };
  const { api, path } = adminRequest(values);
  return show(values, await api.post<ClusterStatus>(`${path}/switchover`, body));
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
