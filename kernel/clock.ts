/**
 * The one Clock. Nothing else in kubelet-ts calls setTimeout, setInterval or Date.now():
 * actors, RxJS timing and xstate delays all go through a Clock, so a VirtualClock can drive
 * unit specs and replay without sleeping.
 *
 * The shape is a superset of xstate v5's `clock` option ({ setTimeout, clearTimeout }), so a
 * Clock can be handed to `createActor(machine, { clock })` as it is.
 */
export type TimerId = number;

export interface Clock {
  /** Milliseconds since the Unix epoch (real) or since the virtual origin (virtual). */
  now(): number;
  setTimeout(fn: (...args: unknown[]) => void, ms: number): TimerId;
  clearTimeout(id: TimerId | undefined): void;
  setInterval(fn: () => void, ms: number): TimerId;
  clearInterval(id: TimerId | undefined): void;
}
