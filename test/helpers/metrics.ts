/** /metrics as a client on loopback reads it (no API key needed), parsed. */

/** Prometheus text -> metric name with its labels as written (e.g. `confd_state_entries{kind="pipes"}`) -> value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

export async function readMetrics(d: { http: string }): Promise<Map<string, number>> {
  return parseMetrics(await (await fetch(`${d.http}/metrics`)).text());
}

/** confd_state_entries by kind (rooms, peer_ids, hello_buckets, pipes, ...). */
export function stateEntries(metrics: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of metrics) {
    const kind = /^confd_state_entries\{kind="(.+)"\}$/.exec(k)?.[1];
    if (kind !== undefined) out[kind] = v;
  }
  return out;
}
