/**
 * Per-address state that a stranger can make grow (rate buckets, counters, pauses) is kept in
 * insertion-ordered maps of bounded size: a spray of addresses evicts the oldest entries rather than
 * growing memory without bound.
 */

/** Sets `key` as the newest entry of `map`, first dropping the oldest entry when `max` are held. */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  if (map.size >= max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}
