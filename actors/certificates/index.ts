/**
 * certificateManager: the kubelet client certificate's rotation (rotateCertificates), upstream's
 * client certificate manager (pkg/kubelet/certificate/kubelet.go NewKubeletClientCertificateManager
 * over client-go's certificate manager). It runs machine.ts: at the rotation deadline (a jittered
 * 70–90% of the lifetime) the `rotate` port makes a new key and a CSR signed with the current
 * client certificate (csr-<random>, the self-node-client case an approver allows), waits for the
 * certificate, writes it to the cert store (kubelet-client-current.pem now points at it) and
 * switches the API clients to it: new connections use the new pair, the old ones are closed.
 * No actor restarts and no pod is touched; open watches end and resume by themselves.
 *
 * Without a current pair in the cert dir (a kubeconfig with its own certificate or a token)
 * there is nothing to rotate: it says so once and idles.
 *
 * With serverTLSBootstrap a second instance (id servingCertificateManager) keeps the serving pair
 * kubelet-server-current.pem (signer kubernetes.io/kubelet-serving, the node's hostname and IPs as
 * SANs): without one it is requested at once, then rotated the same way; the 10250 listener reads
 * it with adapters/kube/bootstrap.ts currentServingPair.
 */
import { createActor } from 'xstate';
import { channels, defaultPolicy, type ActorSpec } from '../../kernel/actor.ts';
import { errText } from '../../kernel/log.ts';
import { rotationMachine, type RotationEmitted, type Validity } from './machine.ts';

/** Node's timers hold at most ~24.8 days; a longer wait is re-armed in steps of a day. */
const MAX_TIMER_MS = 86_400_000;

export interface RotatedPair extends Validity {
  file: string;
  /** The CSR that got it. */
  csr: string;
}

export interface CertificateManagerDeps {
  /** The current pair's validity and file (the cert store), undefined when there is none. */
  current(): (Validity & { file: string }) | undefined;
  /** One rotation: key, CSR, certificate, cert store, API clients switched. */
  rotate(): Promise<RotatedPair>;
  /** No current pair: request one at once (the serving pair with serverTLSBootstrap) instead of idling. */
  requestWhenMissing?: boolean;
  /** Which pair, for the logs (default 'client'). */
  pair?: 'client' | 'serving';
  random?: () => number;
}

const io = channels({});

export const certificateManager: ActorSpec<CertificateManagerDeps, typeof io> = {
  ...defaultPolicy,
  id: 'certificateManager',
  dependsOn: [],
  channels: io,
  start(ctx) {
    const random = ctx.deps.random ?? Math.random;
    const what = ctx.deps.pair ?? 'client';
    const iso = (ms: number) => new Date(ms).toISOString();
    let current: (Validity & { file: string }) | undefined;
    try {
      current = ctx.deps.current();
    } catch (e) {
      ctx.log.warn(
        `the current ${what} certificate cannot be read: ${ctx.deps.requestWhenMissing ? 'requesting a new one' : 'not rotating'}`,
        { err: errText(e) },
      );
    }
    const stats = {
      rotations: 0,
      failures: 0,
      lastError: '',
      lastCsr: '',
      state: 'idle',
      deadline: '',
      file: current?.file ?? '',
    };
    ctx.setInspect(() => stats);
    if (!current && !ctx.deps.requestWhenMissing) {
      ctx.log.info(
        "rotateCertificates: the kubeconfig does not use the cert dir's kubelet-client-current.pem: nothing to rotate",
      );
      return;
    }
    // no pair yet: a deadline of now requests one at once
    const validity = current ?? { notBeforeMs: ctx.clock.now(), notAfterMs: ctx.clock.now() };
    const actor = createActor(rotationMachine, { input: { ...validity, random: random() } });
    let generation = 0;
    /** Fires the state's timer event once the clock reaches `at` (stale timers do nothing). */
    const arm = (at: number) => {
      const gen = ++generation;
      const tick = () => {
        if (gen !== generation || ctx.stopped) return;
        const left = at - ctx.clock.now();
        if (left > 0) {
          ctx.setTimeout(tick, Math.min(left, MAX_TIMER_MS));
          return;
        }
        const state = actor.getSnapshot().value;
        if (state === 'waiting') actor.send({ type: 'DEADLINE' });
        else if (state === 'backoff') actor.send({ type: 'RETRY' });
      };
      tick();
    };
    const rotate = () => {
      ctx.log.info('Rotating certificates', { pair: what });
      ctx.run(
        ctx.deps.rotate().then(
          (pair) => {
            stats.rotations++;
            stats.lastCsr = pair.csr;
            stats.file = pair.file;
            ctx.log.info(
              what === 'client'
                ? 'client certificate rotated: the API clients use the new pair'
                : 'serving certificate issued',
              {
                csr: pair.csr,
                file: pair.file,
                notAfter: iso(pair.notAfterMs),
              },
            );
            actor.send({
              type: 'ROTATED',
              notBeforeMs: pair.notBeforeMs,
              notAfterMs: pair.notAfterMs,
              random: random(),
            });
          },
          (e: unknown) => {
            stats.failures++;
            stats.lastError = errText(e);
            ctx.log.warn(`${what} certificate rotation failed: the current pair stays in use, retrying`, {
              err: stats.lastError,
              retry: actor.getSnapshot().context.failures + 1,
            });
            actor.send({ type: 'FAILED', now: ctx.clock.now(), error: stats.lastError });
          },
        ),
      );
    };
    actor.on('*', (e: RotationEmitted) => {
      if (e.type === 'rotate') {
        rotate();
        return;
      }
      // the machine has not settled into its next state while it emits: look and arm after
      queueMicrotask(() => {
        if (actor.getSnapshot().value === 'waiting') {
          stats.deadline = iso(e.at);
          ctx.log.info('Certificate rotation deadline', {
            pair: what,
            deadline: iso(e.at),
            waitMs: Math.max(0, e.at - ctx.clock.now()),
          });
        }
        arm(e.at);
      });
    });
    actor.subscribe((s) => {
      stats.state = String(s.value);
    });
    actor.start();
    return {
      stop() {
        generation++;
        actor.send({ type: 'STOP' });
      },
    };
  },
};
