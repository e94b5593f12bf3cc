// Tier 4: image garbage collection on real containerd with an in-process kubelet (createKubelet,
// what the daemon runs) at a test-sized threshold: 1% high, 0% low, so this machine's disk is
// always over it and the kubelet removes every unused image old enough; the image a container
// uses and the sandbox image stay. Images are checked in containerd over CRI.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import '../../protocols/messages/channels.ts';
import { nodeImageFsStats } from '../../actors/image-gc/adapters.ts';
import { createKubelet } from '../../bin/kubelet.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { RealClock } from '../../kernel/clock.ts';
import { createLogger } from '../../kernel/log.ts';
import type { EventRecord } from '../../protocols/messages/events.ts';
import { eventually } from '../support/daemon.ts';
import { BUSYBOX_IMAGE, BUSYBOX_IMAGE_2, PAUSE_IMAGE } from '../support/images.ts';
import { useNodeFixture } from '../support/node-fixture.ts';

const NODE = 'node-igc';
const node = useNodeFixture({ node: NODE, prefix: 'kts-igc-' });

describe('image garbage collection on real containerd', () => {
  it('over the threshold: the unused image goes once older than imageMinimumGCAge; the one in use and the sandbox image stay; FreeDiskSpaceFailed when the target cannot be reached', async () => {
    const d = await node.dirs();
    await writeFile(
      join(d.manifests, 'user.yaml'),
      [
        'apiVersion: v1',
        'kind: Pod',
        'metadata: {name: user, namespace: default}',
        'spec:',
        '  terminationGracePeriodSeconds: 1',
        '  containers:',
        `  - {name: app, image: ${BUSYBOX_IMAGE}, imagePullPolicy: Never, command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]}`,
        '',
      ].join('\n'),
    );
    const tagged = async (ref: string) => (await node.cri.listImages()).some((i) => i.repoTags.includes(ref));
    assert.ok(await tagged(BUSYBOX_IMAGE_2), 'the unused image is there to begin with');
    const clock = new RealClock();
    const k = node.track(
      createKubelet({
        flags: {
          ...DEFAULT_FLAGS,
          containerRuntimeEndpoint: node.containerd.endpoint,
          podManifestPath: d.manifests,
          rootDir: d.root,
          podLogsDir: join(d.root, 'logs'),
          fileCheckFrequencyMs: 1000,
          cgroupsPerQos: false,
          enforceNodeAllocatable: [],
          podInfraContainerImage: PAUSE_IMAGE,
          // the pod's container exists well before its image is old enough to go (it never would: it is in use)
          imageGcHighThresholdPercent: 1,
          imageGcLowThresholdPercent: 0,
          imageMinimumGcAgeMs: 15_000,
        },
        clock,
        log: createLogger({ verbosity: 0, now: () => clock.now(), sink: { write: () => {} } }),
        nodeName: NODE,
        imageFs: nodeImageFsStats(),
        periods: { imageGcMs: 1000 },
      }),
    );
    const events: EventRecord[] = [];
    k.bus
      .port('spec')
      .events('events')
      .subscribe((e) => events.push(e as EventRecord));
    await k.start();
    await eventually(
      async () => (await node.cri.listContainers({ state: { state: 'CONTAINER_RUNNING' } })).length === 1,
      30_000,
      'the pod runs',
    );
    await eventually(async () => !(await tagged(BUSYBOX_IMAGE_2)), 40_000, 'the unused image removed');
    assert.ok(await tagged(BUSYBOX_IMAGE), 'the image in use is kept');
    assert.ok(await tagged(PAUSE_IMAGE), 'the sandbox image is kept');
    const failed = await eventually(
      () => events.find((e) => e.reason === 'FreeDiskSpaceFailed'),
      10_000,
      'FreeDiskSpaceFailed',
    );
    assert.equal(failed.involvedObject.kind, 'Node');
    assert.match(
      failed.message,
      /^Failed to garbage collect required amount of images\. Attempted to free \d+ bytes, but only found \d+ bytes eligible to free\.$/,
    );
    assert.equal(
      (await node.cri.listContainers({ state: { state: 'CONTAINER_RUNNING' } })).length,
      1,
      'the pod still runs',
    );
  });
});
