/**
 * What the probes and the lifecycle hooks share of a handler's spec (upstream pkg/probe
 * ResolveContainerPort): pure, no effects.
 */
import type { Container } from './pod.ts';

/** A handler's port: a number, a container port's name, or a number written as a string. */
export function resolveContainerPort(port: number | string, c: Container): { port: number } | { error: string } {
  let n: number;
  if (typeof port === 'number') n = port;
  else {
    const named = (c.ports ?? []).find((p) => p.name === port);
    if (named) n = named.containerPort;
    else if (/^-?\d+$/.test(port)) n = Number(port);
    else return { error: `port ${port} not found` };
  }
  if (n > 0 && n < 65536) return { port: n };
  return { error: `invalid port number: ${n}` };
}
