/**
 * podConfig: the static pod directory (`--pod-manifest-path`) as a pod source, its pods as ADD /
 * UPDATE / REMOVE for pod-manager (upstream PodConfig's file source). --manifest-url and the API
 * server are sources of their own (actors/pod-source-http, actors/pod-source-api) on the same channel.
 *
 * Every re-read of the directory is a `config.relist` message on the `config` channel: the
 * actor's own interval sends one every `checkIntervalMs` (20 s, upstream fileCheckFrequency), a
 * debounced fs.watch sends one shortly after a change, and a spec sends one directly. A relist
 * reads every manifest, builds the complete set and emits the difference (logic.ts). One read is
 * in flight at a time; relists that arrive meanwhile collapse into one more read after it.
 *
 * Without a manifest path the file source is off: it sends nothing, and nothing waits for it
 * (bin/kubelet.ts configures the syncLoop's sources: file only with a manifest path).
 * On restart the instance adopts the file pods already in the `desiredPods` view, so it neither
 * re-adds them nor forgets to remove one whose file went away while it was down.
 */
import { Subject, takeUntil } from 'rxjs';
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import type { StaticPodFs } from './adapters.ts';
import { adopt, initialState, relist, type PodConfigState } from './logic.ts';
import { listManifests } from './source-file.ts';
import type {} from '../../protocols/messages/channels.ts';

/** Upstream fileCheckFrequency. */
export const DEFAULT_CHECK_INTERVAL_MS = 20_000;
/** Quiet time after the last fs event before re-reading (editors write in several steps). */
export const DEFAULT_DEBOUNCE_MS = 100;

export interface PodConfigDeps {
  /** The static pod directory (or single manifest file); undefined disables the file source. */
  manifestDir: string | undefined;
  nodeName: string;
  fs: StaticPodFs;
  checkIntervalMs?: number;
  debounceMs?: number;
}

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({ consumes: ['config'], produces: ['config'], reads: ['desiredPods'] });

export const podConfig: ActorSpec<PodConfigDeps, typeof io> = {
  ...defaultPolicy,
  id: 'podConfig',
  // pod-manager must hear the first listing; adoption reads its view
  dependsOn: ['podManager'],
  channels: io,
  start(ctx) {
    const { manifestDir, nodeName, fs } = ctx.deps;
    const checkIntervalMs = ctx.deps.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS;
    const debounceMs = ctx.deps.debounceMs ?? DEFAULT_DEBOUNCE_MS;

    if (manifestDir === undefined) {
      ctx.log.info('no static pod path configured: the file source is off', {}, 1);
      ctx.setInspect(() => ({ manifestDir: null }));
      return;
    }
    const dir: string = manifestDir;

    let state: PodConfigState = initialState();
    const held = ctx.bus.current('desiredPods');
    if (held) {
      state = adopt(state, [...held.values()].filter((d) => d.source === 'file').map((d) => d.pod));
    }

    let reading = false;
    let again = false;
    let relists = 0;
    let lastRelistAt: number | undefined;
    let lastListing = '';
    let watching = false;
    let lastFsEventAt = 0;
    let debounceArmed = false;

    const requestRelist = () => ctx.bus.send('config', { type: 'config.relist' });

    // fs.watch, debounced: the timer fires debounceMs after the *last* event.
    const onDebounce = () => {
      const quiet = ctx.clock.now() - lastFsEventAt;
      if (quiet < debounceMs) {
        ctx.setTimeout(onDebounce, debounceMs - quiet);
        return;
      }
      debounceArmed = false;
      requestRelist();
    };
    // A watch on a directory that was deleted watches nothing, even once the path is back:
    // drop it when a relist finds the path missing, and watch afresh when it is listed again.
    const unwatch = new Subject<void>();
    const dropWatch = () => {
      if (!watching) return;
      unwatch.next();
      watching = false;
    };
    const ensureWatch = () => {
      if (watching || ctx.stopped) return;
      watching = true;
      ctx.on(fs.watch(dir).pipe(takeUntil(unwatch)), (ev) => {
        if (ev.type === 'error') {
          watching = false; // re-established after the next relist that finds the path
          ctx.log.info('static pod path watch stopped; periodic relist continues', { path: dir, reason: ev.message }, 2);
          return;
        }
        lastFsEventAt = ctx.clock.now();
        if (!debounceArmed) {
          debounceArmed = true;
          ctx.setTimeout(onDebounce, debounceMs);
        }
      });
    };

    const read = async () => {
      reading = true;
      try {
        do {
          again = false;
          const listing = await listManifests(fs, dir, { nodeName, now: ctx.clock.now() });
          if (ctx.stopped) return;
          const r = relist(state, listing, dir);
          state = r.state;
          relists++;
          lastRelistAt = ctx.clock.now();
          lastListing = listing.kind;
          for (const l of r.logs) {
            if (l.level === 'info') ctx.log.info(l.msg, l.fields, l.v ?? 0);
            else ctx.log[l.level](l.msg, l.fields);
          }
          for (const msg of r.out) ctx.bus.send('config', msg);
          if (listing.kind === 'listed') ensureWatch();
          else if (listing.kind === 'missing') dropWatch();
        } while (again && !ctx.stopped);
      } finally {
        reading = false;
      }
    };

    ctx.on(ctx.bus.events('config'), (msg) => {
      if (msg.type !== 'config.relist') return;
      if (reading) { again = true; return; }
      ctx.run(read());
    });

    ctx.setInterval(requestRelist, checkIntervalMs);

    ctx.setInspect(() => ({
      manifestDir: dir,
      ready: state.ready,
      watching,
      relists,
      lastRelistAt,
      lastListing,
      reading,
      pods: [...state.emitted].map(([uid, e]) => ({ uid, namespace: e.pod.metadata.namespace, name: e.pod.metadata.name, path: e.path ?? null })),
      errors: Object.fromEntries([...state.reported].map(([k, v]) => [k, v.replace('\0', ' ').trim()])),
    }));

    requestRelist();
  },
};
