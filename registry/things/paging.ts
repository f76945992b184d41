/**
 * `nextToken`/`maxResults` pagination as AWS list operations do it. The token is opaque to
 * callers: it holds the sort key of the last item returned, so pages stay correct while
 * items are added or removed between calls (an item is never returned twice).
 */
import { invalid } from './model.js';

export interface PageRequest {
  readonly nextToken?: string | undefined;
  readonly maxResults?: number | undefined;
}

export interface Page<T> {
  readonly items: T[];
  /** Absent on the last page. */
  readonly nextToken?: string;
}

/** AWS IoT list operations accept maxResults 1..250. */
export const MAX_PAGE_SIZE = 250;
export const DEFAULT_PAGE_SIZE = 50;

const TOKEN_VERSION = 'k1:';

export const encodePageToken = (sortKey: string): string => Buffer.from(TOKEN_VERSION + sortKey, 'utf8').toString('base64url');

export function decodePageToken(token: string): string {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith(TOKEN_VERSION)) throw invalid('The nextToken is not valid', 'nextToken');
  return text.slice(TOKEN_VERSION.length);
}

/**
 * One page of `items` ordered by `sortKey` (ties are not expected: keys are resource names;
 * equal keys keep their iteration order). One pass that keeps only the `size + 1` smallest
 * keys after the token, rather than sorting every item for every page: listing n items page
 * by page was O(n^2 / size log n), 100,000 job executions took ~50 ms a page (benchmarks/jobs.ts).
 */
export function paginate<T>(items: Iterable<T>, sortKey: (item: T) => string, request: PageRequest, defaultSize = DEFAULT_PAGE_SIZE): Page<T> {
  const size = request.maxResults ?? defaultSize;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) throw invalid(`maxResults must be between 1 and ${MAX_PAGE_SIZE}`, 'maxResults');
  const after = request.nextToken ? decodePageToken(request.nextToken) : undefined;
  // The smallest keys seen so far, ascending; one more than the page, to know whether another page follows.
  const keep = size + 1;
  const keys: string[] = [];
  const kept: T[] = [];
  for (const item of items) {
    const key = sortKey(item);
    if (after !== undefined && !(key > after)) continue;
    if (keys.length === keep && !(key < keys[keep - 1]!)) continue;
    // After every equal key (a stable order), as the sort this replaces had it.
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! <= key) lo = mid + 1;
      else hi = mid;
    }
    keys.splice(lo, 0, key);
    kept.splice(lo, 0, item);
    if (keys.length > keep) {
      keys.pop();
      kept.pop();
    }
  }
  const page = kept.slice(0, size);
  return kept.length > size ? { items: page, nextToken: encodePageToken(keys[size - 1]!) } : { items: page };
}
