/**
 * Local OCI images for the integration specs and the dev node: no registry is reachable, so the
 * images are built here from the host's static busybox and imported into containerd.
 *
 * One OCI image-layout archive holds all of them:
 *   kubelet-ts.local/busybox:1.0   busybox with every applet linked into /bin; Cmd ["sh"]
 *   kubelet-ts.local/busybox:2.0   the same base layer plus a different marker layer, so a spec
 *                                  can "edit the image" of a pod and get a different image ID
 *   kubelet-ts.local/pause:3.9     the sandbox image: a shell that sleeps until SIGTERM/SIGINT
 *
 * Layers are uncompressed tars written by hand (fixed mtimes, owners and order), so the digests
 * depend only on the busybox binary and this file's BUILD_VERSION. The archive is cached under
 * .tmp/images/<key>/ (or $KTS_IMAGE_CACHE) so repeated runs only pay for hashing busybox.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const BUSYBOX_IMAGE = 'kubelet-ts.local/busybox:1.0';
export const BUSYBOX_IMAGE_2 = 'kubelet-ts.local/busybox:2.0';
export const PAUSE_IMAGE = 'kubelet-ts.local/pause:3.9';
export const LOCAL_IMAGES: readonly string[] = [BUSYBOX_IMAGE, BUSYBOX_IMAGE_2, PAUSE_IMAGE];

/** The static busybox the images are built from (Debian's busybox-static installs it here). */
export const BUSYBOX_BINARY = '/bin/busybox';

/** Bump when the image layout or content changes, so cached archives are rebuilt. */
const BUILD_VERSION = 'kts-images-3';

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The pause entrypoint. A plain `sleep` as PID 1 ignores SIGTERM (no default handler for init),
 * so stopping a sandbox would wait for the kill timeout; this shell exits on TERM/INT at once.
 */
export const PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait; done";

export interface BuiltImage {
  name: string;
  /** sha256:... of the manifest (what `ctr images ls` shows as DIGEST). */
  manifestDigest: string;
  /** sha256:... of the config: the image ID the CRI reports (Image.id, imageRef). */
  configDigest: string;
}

export interface BuiltImages {
  /** The OCI image-layout tar with all images, ready for `ctr images import`. */
  archive: string;
  images: BuiltImage[];
  /** Busybox applets linked into /bin in the images. */
  applets: string[];
}

export interface BuildImagesOptions {
  /** Where archives are cached; default $KTS_IMAGE_CACHE or <repo>/.tmp/images. */
  cacheDir?: string;
}

const repoRoot = resolve(import.meta.dirname, '..', '..');

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function goArch(): string {
  const a = process.arch;
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
}

// ---- a minimal deterministic tar writer (ustar) -----------------------------------------------

interface TarEntry {
  path: string; // relative, no leading slash; directories without trailing slash
  type: 'dir' | 'file' | 'symlink';
  mode: number;
  data?: Buffer;
  target?: string;
}

function octal(value: number, width: number): string {
  // width includes the terminating NUL
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function tarHeader(e: TarEntry): Buffer {
  const h = Buffer.alloc(512, 0);
  let name = e.type === 'dir' ? `${e.path}/` : e.path;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 2);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155)
      throw new Error(`tar: path too long: ${e.path}`);
  }
  const size = e.type === 'file' ? (e.data?.length ?? 0) : 0;
  h.write(name, 0, 100, 'utf8');
  h.write(octal(e.mode & 0o7777, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii'); // uid
  h.write(octal(0, 8), 116, 8, 'ascii'); // gid
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(0, 12), 136, 12, 'ascii'); // mtime: the epoch, for reproducible digests
  h.write('        ', 148, 8, 'ascii'); // checksum placeholder
  h.write(e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0', 156, 1, 'ascii');
  if (e.type === 'symlink') h.write(e.target ?? '', 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    parts.push(tarHeader(e));
    if (e.type === 'file' && e.data && e.data.length > 0) {
      parts.push(e.data);
      const pad = (512 - (e.data.length % 512)) % 512;
      if (pad) parts.push(Buffer.alloc(pad, 0));
    }
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

// ---- image content ---------------------------------------------------------------------------

function listApplets(): string[] {
  const out = execFileSync(BUSYBOX_BINARY, ['--list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'busybox' && !s.includes('/'))
    .sort();
}

function baseLayer(busybox: Buffer, applets: string[]): Buffer {
  const dir = (path: string, mode = 0o755): TarEntry => ({ path, type: 'dir', mode });
  const file = (path: string, data: string | Buffer, mode = 0o644): TarEntry => ({
    path,
    type: 'file',
    mode,
    data: typeof data === 'string' ? Buffer.from(data) : data,
  });
  const entries: TarEntry[] = [
    dir('bin'),
    file('bin/busybox', busybox, 0o755),
    dir('dev'),
    dir('etc'),
    file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n'),
    file('etc/group', 'root:x:0:\nnobody:x:65534:\n'),
    file('etc/nsswitch.conf', 'hosts: files dns\n'),
    dir('home'),
    dir('proc'),
    dir('root', 0o700),
    dir('sys'),
    dir('tmp', 0o1777),
    dir('usr'),
    dir('usr/bin'),
    dir('usr/sbin'),
    dir('sbin'),
    dir('var'),
    dir('var/run'),
    dir('var/www'),
  ];
  for (const a of applets) entries.push({ path: `bin/${a}`, type: 'symlink', mode: 0o777, target: 'busybox' });
  return tar(entries);
}

function markerLayer(text: string): Buffer {
  return tar([
    { path: 'etc', type: 'dir', mode: 0o755 },
    { path: 'etc/kubelet-ts-image', type: 'file', mode: 0o644, data: Buffer.from(text) },
  ]);
}

interface Blob {
  digest: string;
  size: number;
  data: Buffer;
}

function blob(data: Buffer | string): Blob {
  const b = typeof data === 'string' ? Buffer.from(data) : data;
  return { digest: `sha256:${sha256(b)}`, size: b.length, data: b };
}

interface ImageDef {
  name: string;
  layers: Blob[];
  entrypoint: string[] | null;
  cmd: string[] | null;
}

function ociArchive(defs: ImageDef[]): { tarball: Buffer; images: BuiltImage[] } {
  const blobs = new Map<string, Blob>();
  const add = (b: Blob) => {
    blobs.set(b.digest, b);
    return b;
  };
  const manifests: object[] = [];
  const images: BuiltImage[] = [];
  const arch = goArch();
  for (const d of defs) {
    for (const l of d.layers) add(l);
    const config = add(
      blob(
        JSON.stringify({
          created: '1970-01-01T00:00:00Z',
          architecture: arch,
          os: 'linux',
          config: {
            Env: [PATH_ENV],
            Entrypoint: d.entrypoint,
            Cmd: d.cmd,
            WorkingDir: '/',
            Labels: { 'io.kubelet-ts.image': d.name },
          },
          rootfs: { type: 'layers', diff_ids: d.layers.map((l) => l.digest) },
          history: d.layers.map((_, i) => ({
            created: '1970-01-01T00:00:00Z',
            created_by: `kubelet-ts specs/support/images.ts layer ${i}`,
          })),
        }),
      ),
    );
    const manifest = add(
      blob(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
          layers: d.layers.map((l) => ({
            mediaType: 'application/vnd.oci.image.layer.v1.tar',
            digest: l.digest,
            size: l.size,
          })),
        }),
      ),
    );
    manifests.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: manifest.digest,
      size: manifest.size,
      platform: { architecture: arch, os: 'linux' },
      annotations: {
        'io.containerd.image.name': d.name,
        'org.opencontainers.image.ref.name': d.name.slice(d.name.lastIndexOf(':') + 1),
      },
    });
    images.push({ name: d.name, manifestDigest: manifest.digest, configDigest: config.digest });
  }
  const entries: TarEntry[] = [
    {
      path: 'oci-layout',
      type: 'file',
      mode: 0o644,
      data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })),
    },
    {
      path: 'index.json',
      type: 'file',
      mode: 0o644,
      data: Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
      ),
    },
    { path: 'blobs', type: 'dir', mode: 0o755 },
    { path: 'blobs/sha256', type: 'dir', mode: 0o755 },
  ];
  for (const b of blobs.values())
    entries.push({ path: `blobs/sha256/${b.digest.slice(7)}`, type: 'file', mode: 0o644, data: b.data });
  return { tarball: tar(entries), images };
}

/**
 * Builds (or finds in the cache) the OCI archive with LOCAL_IMAGES. Safe to call concurrently
 * from several processes: each writes to a private temp name and renames into place.
 */
export async function buildImages(opts: BuildImagesOptions = {}): Promise<BuiltImages> {
  if (!existsSync(BUSYBOX_BINARY)) {
    throw new Error(`images: ${BUSYBOX_BINARY} is missing; install busybox-static (scripts/setup.sh does)`);
  }
  const busybox = await readFile(BUSYBOX_BINARY);
  const applets = listApplets();
  const key = sha256(`${BUILD_VERSION}\n${goArch()}\n${sha256(busybox)}\n${applets.join(',')}`).slice(0, 16);
  const cacheRoot = opts.cacheDir ?? process.env.KTS_IMAGE_CACHE ?? join(repoRoot, '.tmp', 'images');
  const dir = join(cacheRoot, key);
  const archive = join(dir, 'images.tar');
  const metaPath = join(dir, 'images.json');
  if (existsSync(archive) && existsSync(metaPath)) {
    try {
      const meta = JSON.parse(await readFile(metaPath, 'utf8')) as { images: BuiltImage[] };
      if (meta.images.length === LOCAL_IMAGES.length) return { archive, images: meta.images, applets };
    } catch {
      // a torn or foreign cache entry: rebuild it below
    }
  }

  const base = blob(baseLayer(busybox, applets));
  const { tarball, images } = ociArchive([
    { name: BUSYBOX_IMAGE, layers: [base, blob(markerLayer('busybox 1.0\n'))], entrypoint: null, cmd: ['sh'] },
    { name: BUSYBOX_IMAGE_2, layers: [base, blob(markerLayer('busybox 2.0\n'))], entrypoint: null, cmd: ['sh'] },
    { name: PAUSE_IMAGE, layers: [base], entrypoint: ['/bin/sh', '-c', PAUSE_SCRIPT], cmd: null },
  ]);
  await mkdir(dir, { recursive: true });
  const suffix = `.${process.pid}.${Math.random().toString(16).slice(2)}`;
  try {
    await writeFile(archive + suffix, tarball);
    await writeFile(metaPath + suffix, JSON.stringify({ key, images }, null, 2));
    await rename(archive + suffix, archive);
    await rename(metaPath + suffix, metaPath);
  } finally {
    await rm(archive + suffix, { force: true });
    await rm(metaPath + suffix, { force: true });
  }
  return { archive, images, applets };
}

/** The image record for `name` from a build, or an error naming what was built. */
export function builtImage(built: BuiltImages, name: string): BuiltImage {
  const found = built.images.find((i) => i.name === name);
  if (!found)
    throw new Error(`images: ${name} is not one of the local images (${built.images.map((i) => i.name).join(', ')})`);
  return found;
}
