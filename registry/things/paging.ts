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

/** One page of `items` ordered by `sortKey` (ties are not expected: keys are resource names). */
export function paginate<T>(items: Iterable<T>, sortKey: (item: T) => string, request: PageRequest, defaultSize = DEFAULT_PAGE_SIZE): Page<T> {
  const size = request.maxResults ?? defaultSize;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) throw invalid(`maxResults must be between 1 and ${MAX_PAGE_SIZE}`, 'maxResults');
  const after = request.nextToken ? decodePageToken(request.nextToken) : undefined;
  const sorted = [...items].filter((i) => after === undefined || sortKey(i) > after).sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
  const page = sorted.slice(0, size);
  const last = page.at(-1);
  return sorted.length > size && last !== undefined ? { items: page, nextToken: encodePageToken(sortKey(last)) } : { items: page };
}
