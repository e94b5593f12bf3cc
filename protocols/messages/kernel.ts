/**
 * kernel.* messages: the supervisor's reports on the `kernel` channel. Reserved for the kernel
 * (supervisor → anyone); actors only read them. Facts in the order they happened, never re-sent:
 * a reader that starts later learns the current state from the supervisor (the debug socket's
 * `actors`), not from this channel.
 */

/**
 * supervisor → anyone (logged by the supervisor; specs and `inspect tail kernel` read it): an actor
 * instance crashed and was torn down. `restarting` says whether the supervisor will start it again
 * (after its backoff); false for a temporary actor, or past its restart intensity, when
 * kernel.escalated follows.
 */
export interface KernelActorCrashed {
  type: 'kernel.actorCrashed';
  id: string;
  error: string;
  restarts: number;
  restarting: boolean;
}

/**
 * supervisor → podWorkers, replay: an actor (re)started; sent once its start resolved, `restarts`
 * counting the earlier instances. podWorkers re-sends its commands in flight when the runtime
 * restarted (restarts > 0); `kubelet-ts replay` re-sends a restarted source's recorded listing.
 */
export interface KernelActorStarted {
  type: 'kernel.actorStarted';
  id: string;
  restarts: number;
}

/**
 * supervisor → anyone (after the kernel.actorCrashed of the actor that exceeded it): restart
 * intensity exceeded at the root. Then every actor is stopped in reverse start order and the daemon
 * exits non-zero.
 */
export interface KernelEscalated {
  type: 'kernel.escalated';
  id: string;
  reason: string;
}

export type KernelEvent = KernelActorCrashed | KernelActorStarted | KernelEscalated;
