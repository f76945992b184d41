/**
 * MQTT topic-filter matching for the bridge's egress filters (MQTT 5.0, 4.7). Filters are
 * validated by `loadConfig`, so this only matches.
 */
export function topicMatches(filter: string, topic: string): boolean {
  // MQTT 5.0, 4.7.2: filters starting with a wildcard do not match topics starting with `$`.
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === '#') return true; // also matches the parent level: `a/#` matches `a`
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/** True when `topic` matches any of `filters`. */
export const anyTopicMatches = (filters: readonly string[], topic: string): boolean => filters.some((f) => topicMatches(f, topic));
