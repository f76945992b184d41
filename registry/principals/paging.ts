import { PlatformError } from '../../core/index.js';

/** AWS IoT's list operations take pageSize/maxResults 1..250. */
export const MAX_PAGE_SIZE = 250;
/** What kiot returns when no page size is given (AWS does not document its own default). */
export const DEFAULT_PAGE_SIZE = 25;

export interface PageRequest {
  readonly pageSize?: number | undefined;
  /** The opaque marker (or nextToken) a previous page returned. */
  readonly marker?: string | undefined;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Undefined on the last page. */
  readonly next: string | undefined;
}

/**
 * Cuts one page from items already in their listing order. The marker is the sort key of the
 * last item returned, so a page stays correct when items before it are added or removed.
 * `descending` says which way `items` are sorted by `sortKey`.
 */
export function paginate<T>(items: readonly T[], request: PageRequest, sortKey: (item: T) => string, descending = false): Page<T> {
  const size = request.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new PlatformError('REGISTRY_INVALID', `pageSize: expected an integer from 1 to ${MAX_PAGE_SIZE}, received ${String(request.pageSize)}`);
  }
  let start = 0;
  if (request.marker) {
    let after: string;
    try {
      after = Buffer.from(request.marker, 'base64url').toString('utf8');
    } catch {
      throw new PlatformError('REGISTRY_INVALID', 'marker: not a marker this API returned');
    }
    const index = items.findIndex((item) => sortKey(item) === after);
    // An item removed since the last page: start at the first item that sorts after it.
    start = index >= 0 ? index + 1 : items.findIndex((item) => (descending ? sortKey(item) < after : sortKey(item) > after));
    if (start < 0) start = items.length;
  }
  const slice = items.slice(start, start + size);
  const more = start + size < items.length;
  const last = slice[slice.length - 1];
  return { items: slice, next: more && last !== undefined ? Buffer.from(sortKey(last), 'utf8').toString('base64url') : undefined };
}
