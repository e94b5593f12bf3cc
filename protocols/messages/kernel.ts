/**
 * kernel.* messages: the supervisor's reports. Reserved for the kernel; actors only read them.
 */

/** An actor instance crashed; `restarting` says whether the supervisor will start it again. */
export interface KernelActorCrashed {
  type: 'kernel.actorCrashed';
  id: string;
  error: string;
  restarts: number;
  restarting: boolean;
}

/** An actor (re)started. */
export interface KernelActorStarted {
  type: 'kernel.actorStarted';
  id: string;
  restarts: number;
}

/** Restart intensity exceeded at the root: the daemon is stopping and will exit non-zero. */
export interface KernelEscalated {
  type: 'kernel.escalated';
  id: string;
  reason: string;
}

export type KernelEvent = KernelActorCrashed | KernelActorStarted | KernelEscalated;
