/**
 * `/metrics/resource` (upstream pkg/kubelet/metrics/collectors resource_metrics.go): the node's,
 * pods' and containers' CPU and memory working set from the stats provider's Summary, in the
 * Prometheus text format with upstream's names and labels and each sample's own timestamp.
 * `scrape_error` is 1 when there is no Summary yet or its sample had errors.
 */
import type { NodeStatsView } from '../../protocols/messages/stats.ts';

type Labels = Record<string, string>;

const esc = (v: string) => v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
const ms = (t: string | undefined) => (t ? Date.parse(t) : undefined);

export function resourceMetrics(view: NodeStatsView | undefined): string {
  const families: {
    name: string;
    help: string;
    type: 'counter' | 'gauge';
    samples: { labels: Labels; value: number; at?: number }[];
  }[] = [];
  const family = (name: string, type: 'counter' | 'gauge', help: string) => {
    const f = { name, help, type, samples: [] as { labels: Labels; value: number; at?: number }[] };
    families.push(f);
    return f.samples;
  };
  const nodeCpu = family(
    'node_cpu_usage_seconds_total',
    'counter',
    '[STABLE] Cumulative CPU time of the node, in core-seconds',
  );
  const nodeMem = family('node_memory_working_set_bytes', 'gauge', '[STABLE] Working set of the node, in bytes');
  const cCpu = family(
    'container_cpu_usage_seconds_total',
    'counter',
    '[STABLE] Cumulative CPU time of the container, in core-seconds',
  );
  const cMem = family('container_memory_working_set_bytes', 'gauge', '[STABLE] Working set of the container, in bytes');
  const cStart = family(
    'container_start_time_seconds',
    'gauge',
    '[STABLE] When the container started, in seconds since the Unix epoch',
  );
  const pCpu = family(
    'pod_cpu_usage_seconds_total',
    'counter',
    '[STABLE] Cumulative CPU time of the pod, in core-seconds',
  );
  const pMem = family('pod_memory_working_set_bytes', 'gauge', '[STABLE] Working set of the pod, in bytes');
  const scrapeError = family(
    'scrape_error',
    'gauge',
    '[ALPHA] 1 when the last stats sample had errors or there is none yet, else 0',
  );
  scrapeError.push({ labels: {}, value: !view || view.errors.length ? 1 : 0 });
  if (view) {
    const n = view.summary.node;
    if (n.cpu?.usageCoreNanoSeconds !== undefined)
      nodeCpu.push({ labels: {}, value: n.cpu.usageCoreNanoSeconds / 1e9, at: ms(n.cpu.time) });
    if (n.memory?.workingSetBytes !== undefined)
      nodeMem.push({ labels: {}, value: n.memory.workingSetBytes, at: ms(n.memory.time) });
    for (const p of view.summary.pods) {
      const pl = { namespace: p.podRef.namespace, pod: p.podRef.name };
      if (p.cpu?.usageCoreNanoSeconds !== undefined)
        pCpu.push({ labels: pl, value: p.cpu.usageCoreNanoSeconds / 1e9, at: ms(p.cpu.time) });
      if (p.memory?.workingSetBytes !== undefined)
        pMem.push({ labels: pl, value: p.memory.workingSetBytes, at: ms(p.memory.time) });
      for (const c of p.containers) {
        const cl = { container: c.name, namespace: p.podRef.namespace, pod: p.podRef.name };
        if (c.cpu?.usageCoreNanoSeconds !== undefined)
          cCpu.push({ labels: cl, value: c.cpu.usageCoreNanoSeconds / 1e9, at: ms(c.cpu.time) });
        if (c.memory?.workingSetBytes !== undefined)
          cMem.push({ labels: cl, value: c.memory.workingSetBytes, at: ms(c.memory.time) });
        cStart.push({ labels: cl, value: Date.parse(c.startTime) / 1000, at: ms(c.cpu?.time ?? c.memory?.time) });
      }
    }
  }
  const lines: string[] = [];
  for (const f of families) {
    if (!f.samples.length) continue;
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const l = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${esc(v)}"`)
        .join(',');
      lines.push(
        `${f.name}${l ? `{${l}}` : ''} ${s.value}${s.at !== undefined && !Number.isNaN(s.at) ? ` ${s.at}` : ''}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
