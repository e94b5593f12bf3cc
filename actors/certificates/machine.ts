/**
 * The client certificate's rotation, as client-go's certificate manager runs it
 * (util/certificate/certificate_manager.go, Start): sleep until the rotation deadline, rotate,
 * and on failure back off (2 s doubling to 32 s, then every 32 s) until a rotation succeeds.
 *
 *   waiting ──DEADLINE──▶ rotating ──ROTATED (the new pair's validity)──▶ waiting (new deadline)
 *                            │ ▲
 *                      FAILED│ │RETRY
 *                            ▼ │
 *                          backoff
 *   any ──STOP──▶ stopped (final)
 *
 * The deadline is nextRotationDeadline: a jittered 70–90% of the lifetime after notBefore (a
 * pair already past it rotates at once). Pure: the clock time and the jitter come in the events
 * and the input; the effects are emitted (`timer.set` at a clock time, `rotate`) and the actor
 * carries them out.
 */
import { assign, emit, enqueueActions, setup } from 'xstate';
import { nextRotationDeadline } from '../../protocols/kube/certificates.ts';

/** wait.Backoff{Duration: 2s, Factor: 2, Steps: 5}, then PollInfinite every 32 s. */
export function rotationBackoffMs(failures: number): number {
  return Math.min(2000 * 2 ** Math.max(0, failures - 1), 32_000);
}

export interface Validity {
  notBeforeMs: number;
  notAfterMs: number;
}

export interface RotationInput extends Validity {
  /** The jitter of the first deadline, in [0, 1). */
  random: number;
}

export interface RotationContext {
  deadline: number;
  failures: number;
  lastError: string;
}

export type RotationEvent =
  | { type: 'DEADLINE' }
  | ({ type: 'ROTATED'; random: number } & Validity)
  | { type: 'FAILED'; now: number; error: string }
  | { type: 'RETRY' }
  | { type: 'STOP' };

export type RotationEmitted = { type: 'timer.set'; at: number } | { type: 'rotate' };

export const rotationMachine = setup({
  types: {
    context: {} as RotationContext,
    events: {} as RotationEvent,
    input: {} as RotationInput,
    emitted: {} as RotationEmitted,
  },
  actions: {
    armDeadline: emit(({ context }): RotationEmitted => ({ type: 'timer.set', at: context.deadline })),
    rotate: emit((): RotationEmitted => ({ type: 'rotate' })),
    rotated: assign(({ event }) => {
      if (event.type !== 'ROTATED') return {};
      return {
        deadline: nextRotationDeadline(event.notBeforeMs, event.notAfterMs, event.random),
        failures: 0,
        lastError: '',
      };
    }),
    failed: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'FAILED') return;
      const failures = context.failures + 1;
      enqueue.assign({ failures, lastError: event.error });
      enqueue.emit({ type: 'timer.set', at: event.now + rotationBackoffMs(failures) });
    }),
  },
}).createMachine({
  id: 'certificateRotation',
  context: ({ input }) => ({
    deadline: nextRotationDeadline(input.notBeforeMs, input.notAfterMs, input.random),
    failures: 0,
    lastError: '',
  }),
  initial: 'waiting',
  on: { STOP: '.stopped' },
  states: {
    waiting: {
      entry: 'armDeadline',
      on: { DEADLINE: 'rotating' },
    },
    rotating: {
      entry: 'rotate',
      on: {
        ROTATED: { target: 'waiting', actions: 'rotated' },
        FAILED: { target: 'backoff', actions: 'failed' },
      },
    },
    backoff: {
      on: { RETRY: 'rotating' },
    },
    stopped: { type: 'final' },
  },
});
