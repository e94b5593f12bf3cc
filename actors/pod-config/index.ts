/**
 * podConfig: the static pod directory (`--pod-manifest-path`) as a pod source, its pods as ADD /
 * UPDATE / REMOVE for pod-manager (upstream PodConfig's file source). --manifest-url and the API
 * server are sources of their own (actors/pod-source-http, actors/pod-source-api) on the same channel.
 *
 * Every re-read of the directory is a `config.relist` message on the `config` channel: the
 * actor's own interval sends one every `checkIntervalMs` (20 s, upstream fileCheckFrequency), the
 * fs.watch sends them as below, and a spec sends one directly. A relist stats every entry, reads
 * and parses only the files whose stat changed (source-file.ts ManifestCache), builds the complete
 * set and emits the difference (logic.ts). One read is in flight at a time; relists that arrive
 * meanwhile collapse into one more read after it.
 *
 * fs events: the first one after `debounceMs` without any is acted on at once, by a provisional
 * relist (a file it refuses may be half-written: its error is held back). The events that follow
 * are coalesced: one full relist once `debounceMs` pass without another, which also runs when the
 * provisional read held something back. A lone event costs no wait; a burst (an editor's tmp file,
 * write and rename, or 100 manifests copied in) costs two reads.
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
import { listManifests, ManifestCache } from './source-file.ts';
import type {} from '../../protocols/messages/channels.ts';

/** Upstream fileCheckFrequency. */
export const DEFAULT_CHECK_INTERVAL_MS = 20_000;
/** Quiet time after the last fs event of a burst before the full re-read (editors write in several steps). */
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
      state = adopt(
        state,
        [...held.values()].filter((d) => d.source === 'file').map((d) => d.pod),
      );
    }

    const cache = new ManifestCache();
    let reading = false;
    /** What the relists that arrived during a read ask for next. */
    let again: 'none' | 'provisional' | 'full' = 'none';
    let relists = 0;
    let lastRelistAt: number | undefined;
    let lastListing = '';
    let watching = false;
    let lastFsEventAt = 0;
    let debounceArmed = false;
    /** fs events since the burst's provisional relist. */
    let eventsSinceLead = 0;
    /** The provisional relist has not yet read everything cleanly. */
    let leadUnsettled = false;

    const requestRelist = () => ctx.bus.send('config', { type: 'config.relist' });

    // The burst's trailing edge: debounceMs after the *last* event.
    const onDebounce = () => {
      const quiet = ctx.clock.now() - lastFsEventAt;
      if (quiet < debounceMs) {
        ctx.setTimeout(onDebounce, debounceMs - quiet);
        return;
      }
      debounceArmed = false;
      if (eventsSinceLead > 0 || leadUnsettled) requestRelist();
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
          ctx.log.info(
            'static pod path watch stopped; periodic relist continues',
            { path: dir, reason: ev.message },
            2,
          );
          return;
        }
        lastFsEventAt = ctx.clock.now();
        if (debounceArmed) {
          eventsSinceLead++;
          return;
        }
        // Leading edge: nothing happened for debounceMs, act now.
        debounceArmed = true;
        eventsSinceLead = 0;
        leadUnsettled = true;
        ctx.bus.send('config', { type: 'config.relist', provisional: true });
        ctx.setTimeout(onDebounce, debounceMs);
      });
    };

    const read = async (first: 'provisional' | 'full') => {
      reading = true;
      let mode: typeof again = first;
      try {
        do {
          again = 'none';
          const provisional = mode === 'provisional';
          const listing = await listManifests(fs, dir, { nodeName, now: ctx.clock.now(), cache, provisional });
          if (ctx.stopped) return;
          leadUnsettled = provisional && listing.kind === 'listed' && listing.results.some((r) => r.kind === 'pending');
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
          mode = again;
        } while (mode !== 'none' && !ctx.stopped);
      } finally {
        reading = false;
      }
    };

    ctx.on(ctx.bus.events('config'), (msg) => {
      if (msg.type !== 'config.relist') return;
      const mode = msg.provisional ? 'provisional' : 'full';
      if (reading) {
        again = again === 'full' || mode === 'full' ? 'full' : 'provisional';
        return;
      }
      ctx.run(read(mode));
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
      cachedManifests: cache.size,
      pods: [...state.emitted].map(([uid, e]) => ({
        uid,
        namespace: e.pod.metadata.namespace,
        name: e.pod.metadata.name,
        path: e.path ?? null,
      })),
      errors: Object.fromEntries([...state.reported].map(([k, v]) => [k, v.replace('\0', ' ').trim()])),
    }));

    requestRelist();
  },
};
