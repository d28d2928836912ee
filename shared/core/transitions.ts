/**
 * What each committed transition writes, as data (`Update`) with the condition it is
 * written under (`Condition`). The store renders both into one conditional UpdateItem; the
 * core applies the same Update in memory (`promote`), so a transition is written once.
 */
import { and, applyUpdate, type Condition, compare, missing, not, or, type Update } from './condition.js';
import type { HoldDecision } from './decide.js';
import { eventId, holdEvent, promotionEvent } from './events.js';
import { guardsCondition } from './guards.js';
import type { HandoverChange } from './handover.js';
import type { Promotion } from './promotion.js';
import { type ClusterEvent, type ClusterState, withDefaults } from './state.js';

export interface Transition {
  update: Update;
  condition: Condition;
  event: ClusterEvent;
}

/**
 * A promotion: the new epoch, active and transition, the flap guard's memory, the event
 * in the outbox, and the hold and any handover cleared; written only while every guard of the decision
 * still holds on the clock of the write (`now`).
 */
export function promotion(decision: Promotion, clusterId: string, now: number): Transition {
  const event = promotionEvent(clusterId, decision, now);
  return {
    event,
    update: {
      set: [
        [['epoch'], event.epoch],
        [['active'], decision.to],
        [['activeSince'], now],
        [['lastTransition'], event],
        [['recentAutomatic'], decision.recentAutomatic],
        [['outbox', eventId(event)], event],
      ],
      remove: [['hold'], ['handover']],
    },
    condition: guardsCondition(decision.guards, now),
  };
}

/** A hold (with its event), unless the same hold is already recorded or the epoch moved on. */
export function hold(decision: HoldDecision, clusterId: string): Transition {
  const event = holdEvent(clusterId, decision);
  return {
    event,
    update: {
      set: [
        [['hold'], decision.hold],
        [['outbox', eventId(event)], event],
      ],
      remove: [],
    },
    condition: and(
      compare(['epoch'], '=', decision.expectedEpoch),
      or(missing(['hold']), not(compare(['hold', 'code'], '=', decision.hold.code))),
    ),
  };
}

/**
 * A demote-first handover recorded (under its guards, on the write's clock) or abandoned
 * (only the one recorded at `since`), with its event.
 */
export function handover(change: HandoverChange, now: number): Transition {
  const outbox = [['outbox', eventId(change.event)], change.event] as const;
  if (change.type === 'handover') {
    return {
      event: change.event,
      update: { set: [[['handover'], change.handover], outbox], remove: [] },
      condition: guardsCondition(change.guards, now),
    };
  }
  return {
    event: change.event,
    update: { set: [outbox], remove: [['handover']] },
    condition: compare(['handover', 'since'], '=', change.since),
  };
}

/** The state a committed promotion leads to: exactly what the conditional write sets. */
export function promote(state: ClusterState, decision: Promotion, now: number): ClusterState {
  return withDefaults(state.cluster, applyUpdate(state, promotion(decision, state.cluster, now).update));
}
