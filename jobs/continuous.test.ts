/** CreateJob's targets as a stream (targetThings): each thing once, read as the rollout stores them. */
import { expect, test } from 'vitest';
import { targetThings, type ThingMembership } from './continuous.js';

function fleet(groups: Record<string, string[]>) {
  let read = 0;
  const membership: Pick<ThingMembership, 'thingsIn' | 'isIn'> = {
    *thingsIn(groupNames) {
      for (const [thing, of] of Object.entries(groups)) {
        read++;
        if (of.some((g) => groupNames.includes(g))) yield thing;
      }
    },
    isIn: (thing, groupNames) => (groups[thing] ?? []).some((g) => groupNames.includes(g)),
  };
  return { membership, read: () => read };
}

test("each thing once: the groups' things, then those named directly that no group covers", () => {
  const { membership } = fleet({ a: ['g'], b: ['g', 'h'], c: ['h'], d: [], e: [] });
  expect([...targetThings(membership, ['d', 'a', 'd', 'e'], ['g', 'h'])]).toEqual(['a', 'b', 'c', 'd', 'e']);
  expect([...targetThings(membership, ['c', 'c'], [])]).toEqual(['c']);
});

test('a stream: the registry is read as far as the things taken, with no list of every target', () => {
  const things = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`dev-${i}`, ['fleet']]));
  const { membership, read } = fleet(things);
  const stream = targetThings(membership, [], ['fleet']);
  const first = Array.from({ length: 1000 }, () => stream.next().value as string);
  expect(first.at(-1)).toBe('dev-999');
  expect(read()).toBe(1000);
});
