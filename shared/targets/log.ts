import type { Logger } from '../logger.js';
import type { Target, TargetChange } from './target.js';

/** Writes the change to the log: for trying the product out, or as an audit line beside real targets. */
export class LogTarget implements Target {
  readonly type = 'log';
  constructor(
    readonly id: string,
    private readonly logger: Logger,
  ) {}

  async apply(change: TargetChange): Promise<undefined> {
    this.logger.info(
      `target ${this.id}: ${change.cluster} now points to ${change.members.map((m) => `${m.id} (${m.address})`).join(', ')}, epoch ${change.epoch}`,
      { target: this.id, ...change },
    );
  }
}
