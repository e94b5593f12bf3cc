/** One request on a daemon's debug socket (`<root-dir>/kubelet-ts.sock`), its one-line answer. */
import { createConnection } from 'node:net';
import { join } from 'node:path';

export function debugRequest<T>(root: string, req: object): Promise<T> {
  return new Promise((resolve, reject) => {
    const s = createConnection(join(root, 'kubelet-ts.sock'));
    let buf = '';
    s.on('error', reject);
    s.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      s.destroy();
      const answer = JSON.parse(buf.slice(0, nl)) as { ok: boolean; result?: T; error?: string };
      if (answer.ok) resolve(answer.result as T);
      else reject(new Error(answer.error));
    });
    s.write(`${JSON.stringify(req)}\n`);
  });
}
