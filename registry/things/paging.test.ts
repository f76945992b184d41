import { describe, expect, test } from 'vitest';
import { paginate, type Page } from './paging.js';

/** What paginate answered before it kept only a page's worth: every item sorted, then sliced. */
function bySorting<T>(items: T[], sortKey: (item: T) => string, after: string | undefined, size: number): { items: T[]; more: boolean } {
  const sorted = items.filter((i) => after === undefined || sortKey(i) > after).sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
  return { items: sorted.slice(0, size), more: sorted.length > size };
}

describe('paginate', () => {
  test('pages through shuffled names in order, each item once, as sorting everything did', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const [count, size] of [[0, 5], [1, 1], [7, 3], [250, 250], [1000, 17], [1003, 250]] as const) {
      const names = Array.from({ length: count }, (_, i) => ({ name: `thing-${i}` }));
      for (let i = names.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [names[i], names[j]] = [names[j]!, names[i]!];
      }
      const seen: string[] = [];
      let token: string | undefined;
      let after: string | undefined;
      for (;;) {
        const page: Page<{ name: string }> = paginate(names, (n) => n.name, { maxResults: size, nextToken: token });
        const expected = bySorting(names, (n) => n.name, after, size);
        expect(page.items).toEqual(expected.items);
        expect(page.nextToken !== undefined).toBe(expected.more);
        seen.push(...page.items.map((n) => n.name));
        if (!page.nextToken) break;
        token = page.nextToken;
        after = page.items.at(-1)!.name;
      }
      expect(seen).toEqual(names.map((n) => n.name).sort());
    }
  });

  test('equal keys keep their iteration order, as the stable sort did', () => {
    const items = [{ k: 'b', i: 0 }, { k: 'a', i: 1 }, { k: 'b', i: 2 }, { k: 'a', i: 3 }, { k: 'c', i: 4 }];
    expect(paginate(items, (x) => x.k, { maxResults: 3 }).items).toEqual(bySorting(items, (x) => x.k, undefined, 3).items);
    expect(paginate(items, (x) => x.k, { maxResults: 5 }).items).toEqual(bySorting(items, (x) => x.k, undefined, 5).items);
  });

  test('maxResults outside 1..250 is refused', () => {
    expect(() => paginate([], (x: string) => x, { maxResults: 0 })).toThrow(/maxResults/);
    expect(() => paginate([], (x: string) => x, { maxResults: 251 })).toThrow(/maxResults/);
  });
});
