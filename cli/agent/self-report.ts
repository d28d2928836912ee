/**
 * What a node says about itself with each beat: its status (maintenance file, --check)
 * and, from --report, its replication position, lag and version.
 */
import { existsSync } from 'node:fs';
import type { AgentOptions } from './args.js';
import { runCommand } from './hooks.js';

type Status = 'ok' | 'failing' | 'maintenance';

export class SelfReport {
  private lastStatus: Status | null = null;

  constructor(
    private readonly options: Pick<AgentOptions, 'check' | 'report' | 'maintenanceFile'>,
    private readonly log: (message: string) => void,
    /** For a malformed --report: rate-limited like the beat failures. */
    private readonly problem: (message: string) => void,
  ) {}

  /** The beat's status and --report fields; `timeoutMs` bounds each command. */
  async collect(timeoutMs: number): Promise<Record<string, unknown>> {
    const status = await this.status(timeoutMs);
    if (status !== this.lastStatus) {
      if (this.lastStatus !== null || status !== 'ok') this.log(`reporting status ${status}`);
      this.lastStatus = status;
    }
    return { status, ...(await this.reported(timeoutMs)) };
  }

  /** maintenance while the file exists; else the check's verdict; else ok. */
  private async status(timeoutMs: number): Promise<Status> {
    if (this.options.maintenanceFile && existsSync(this.options.maintenanceFile)) return 'maintenance';
    if (!this.options.check) return 'ok';
    const { code } = await runCommand(this.options.check, timeoutMs);
    return code === 0 ? 'ok' : 'failing';
  }

  /** position / lagSeconds / version from --report; anything malformed is left out, with a warning. */
  private async reported(timeoutMs: number): Promise<Record<string, unknown>> {
    if (!this.options.report) return {};
    const { code, stdout } = await runCommand(this.options.report, timeoutMs);
    let parsed: unknown;
    try {
      parsed = JSON.parse(stdout);
    } catch {
      parsed = null;
    }
    if (code !== 0 || typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      this.problem(`--report exited ${code} or printed no JSON object; reporting no position or lag`);
      return {};
    }
    const p = parsed as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    if (typeof p.position === 'number' || typeof p.position === 'string') out.position = p.position;
    if (typeof p.lagSeconds === 'number' && p.lagSeconds >= 0) out.lagSeconds = p.lagSeconds;
    if (typeof p.version === 'string' && p.version !== '') out.version = p.version;
    return out;
  }
}
