/**
 * ELBv2 targets. Two ways to move a load balancer's traffic to the active node:
 *  - `elbv2-targets`: register the active in one target group, deregister the cluster's others;
 *  - `elbv2-weights`: weight 1 for the active's own target group, 0 for the others, in the
 *    forward action of a listener or rule: an instant switch with no registration delay.
 */
import {
  type Action,
  DeregisterTargetsCommand,
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  ModifyListenerCommand,
  ModifyRuleCommand,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { TargetApplyError } from '../errors.js';
import { withAwsRetry } from './aws-retry.js';
import type { Observation, Target, TargetChange, TargetDetail } from './target.js';

export class Elbv2TargetsTarget implements Target {
  readonly type = 'elbv2-targets';

  constructor(
    readonly id: string,
    private readonly client: ElasticLoadBalancingV2Client,
    private readonly options: { targetGroupArn: string; port?: number },
    private readonly nodes: ReadonlyArray<{ id: string; targetId?: string }>,
  ) {}

  /**
   * Registers the members (the active; every serving node in active-active mode) first,
   * then deregisters the other cluster nodes, so there is never a gap.
   */
  async apply(change: TargetChange, deadline: number): Promise<TargetDetail> {
    const members = change.members.map((m) => m.id);
    const wanted = members.map((id) => this.target(id));
    await withAwsRetry(`elbv2 register ${wanted.map((t) => t.Id).join(', ')}`, deadline, (abortSignal) =>
      this.client.send(
        new RegisterTargetsCommand({ TargetGroupArn: this.options.targetGroupArn, Targets: wanted }),
        { abortSignal },
      ),
    );
    const others = (await this.registeredClusterNodes(deadline)).filter((id) => !members.includes(id));
    if (others.length > 0) {
      await withAwsRetry(`elbv2 deregister ${others.join(', ')}`, deadline, (abortSignal) =>
        this.client.send(
          new DeregisterTargetsCommand({
            TargetGroupArn: this.options.targetGroupArn,
            Targets: others.map((id) => this.target(id)),
          }),
          { abortSignal },
        ),
      );
    }
    return { registered: wanted.map((t) => t.Id).join(','), deregistered: others.join(',') };
  }

  async observe(change: TargetChange, deadline: number): Promise<Observation> {
    const registered = await this.registeredClusterNodes(deadline);
    const members = change.members.map((m) => m.id);
    const missing = members.filter((id) => !registered.includes(id));
    const wrong = registered.filter((id) => !members.includes(id));
    if (missing.length > 0) {
      return { drift: `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not registered` };
    }
    if (wrong.length > 0) return { drift: `${wrong.join(', ')} still registered` };
    return { drift: null };
  }

  /** Cluster nodes currently registered (draining ones count as gone). */
  private async registeredClusterNodes(deadline: number): Promise<string[]> {
    const out = await withAwsRetry('elbv2 describe target health', deadline, (abortSignal) =>
      this.client.send(new DescribeTargetHealthCommand({ TargetGroupArn: this.options.targetGroupArn }), {
        abortSignal,
      }),
    );
    const ids = new Set(
      (out.TargetHealthDescriptions ?? [])
        .filter((d) => d.TargetHealth?.State !== 'draining')
        .map((d) => d.Target?.Id),
    );
    return this.nodes.filter((n) => ids.has(n.targetId)).map((n) => n.id);
  }

  private target(nodeId: string): { Id: string; Port?: number } {
    const targetId = this.nodes.find((n) => n.id === nodeId)?.targetId;
    if (targetId === undefined) throw new TargetApplyError(`node ${nodeId} has no targetId`);
    return this.options.port === undefined ? { Id: targetId } : { Id: targetId, Port: this.options.port };
  }
}

export class Elbv2WeightsTarget implements Target {
  readonly type = 'elbv2-weights';

  constructor(
    readonly id: string,
    private readonly client: ElasticLoadBalancingV2Client,
    private readonly options: { listenerArn?: string; ruleArn?: string },
    private readonly nodes: ReadonlyArray<{ id: string; targetGroupArn?: string }>,
  ) {}

  async apply(change: TargetChange, deadline: number): Promise<TargetDetail> {
    const actions = await this.readActions(deadline);
    const updated = this.reweigh(
      actions,
      change.members.map((m) => m.id),
    );
    await withAwsRetry(`elbv2 modify ${this.arn}`, deadline, (abortSignal) =>
      this.options.listenerArn
        ? this.client.send(
            new ModifyListenerCommand({ ListenerArn: this.options.listenerArn, DefaultActions: updated }),
            {
              abortSignal,
            },
          )
        : this.client.send(new ModifyRuleCommand({ RuleArn: this.options.ruleArn, Actions: updated }), {
            abortSignal,
          }),
    );
    return { activeTargetGroups: change.members.map((m) => this.groupOf(m.id)).join(',') };
  }

  async observe(change: TargetChange, deadline: number): Promise<Observation> {
    const forward = (await this.readActions(deadline)).find((a) => a.Type === 'forward');
    const weights = new Map(
      (forward?.ForwardConfig?.TargetGroups ?? []).map((g) => [g.TargetGroupArn, g.Weight ?? 1] as const),
    );
    if (forward?.ForwardConfig === undefined && forward?.TargetGroupArn)
      weights.set(forward.TargetGroupArn, 1);
    const members = change.members.map((m) => m.id);
    const wrong = this.nodes.filter(
      (n) => (weights.get(n.targetGroupArn) ?? 0) !== (members.includes(n.id) ? 1 : 0),
    );
    if (wrong.length === 0) return { drift: null };
    return {
      drift: `weights differ for ${wrong.map((n) => `${n.id} (weight ${weights.get(n.targetGroupArn) ?? 'absent'})`).join(', ')}`,
    };
  }

  private get arn(): string {
    return (this.options.listenerArn ?? this.options.ruleArn) as string;
  }

  private async readActions(deadline: number): Promise<Action[]> {
    if (this.options.listenerArn) {
      const arn = this.options.listenerArn;
      const out = await withAwsRetry(`elbv2 describe listener ${arn}`, deadline, (abortSignal) =>
        this.client.send(new DescribeListenersCommand({ ListenerArns: [arn] }), { abortSignal }),
      );
      return out.Listeners?.[0]?.DefaultActions ?? [];
    }
    const arn = this.options.ruleArn as string;
    const out = await withAwsRetry(`elbv2 describe rule ${arn}`, deadline, (abortSignal) =>
      this.client.send(new DescribeRulesCommand({ RuleArns: [arn] }), { abortSignal }),
    );
    return out.Rules?.[0]?.Actions ?? [];
  }

  /**
   * The same actions, with the forward action's weights set: 1 for the members' groups
   * (the active's; every serving node's in active-active mode), 0 for the other cluster nodes'. Other target groups in the forward action, and
   * every other action (authentication, fixed responses), are kept as they are.
   */
  private reweigh(actions: Action[], members: string[]): Action[] {
    const forward = actions.find((a) => a.Type === 'forward');
    if (forward === undefined) {
      throw new TargetApplyError(`${this.arn} has no forward action to weigh`);
    }
    const clusterGroups = new Set(this.nodes.map((n) => n.targetGroupArn));
    const existing =
      forward.ForwardConfig?.TargetGroups ??
      (forward.TargetGroupArn ? [{ TargetGroupArn: forward.TargetGroupArn }] : []);
    const kept = existing.filter((g) => !clusterGroups.has(g.TargetGroupArn));
    const groups = [
      ...this.nodes.map((n) => ({
        TargetGroupArn: n.targetGroupArn,
        Weight: members.includes(n.id) ? 1 : 0,
      })),
      ...kept,
    ];
    const { TargetGroupArn: _single, ...rest } = forward;
    const reweighed: Action = { ...rest, ForwardConfig: { ...forward.ForwardConfig, TargetGroups: groups } };
    return actions.map((a) => (a === forward ? reweighed : a));
  }

  private groupOf(nodeId: string): string {
    return this.nodes.find((n) => n.id === nodeId)?.targetGroupArn ?? '';
  }
}
