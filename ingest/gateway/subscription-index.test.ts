import { expect, test } from 'vitest';
import { SubscriptionIndex, type IndexedSubscription } from './subscription-index.js';

const sub = (clientId: string, filter: string, group?: string): IndexedSubscription => ({
  clientId,
  filter,
  ...(group === undefined ? {} : { group }),
  qos: 1,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
});

/** Who a topic reaches, as `clientId filter` sorted. */
const who = (index: SubscriptionIndex, topic: string): string[] => index.match(topic).map((s) => `${s.clientId} ${s.filter}${s.group ? ` (${s.group})` : ''}`).sort();

test('a topic reaches the exact filter, + for one level, # for the level it stands at and everything below', () => {
  const index = new SubscriptionIndex();
  for (const [client, filter] of [
    ['a', 'factory/1/telemetry'],
    ['b', 'factory/+/telemetry'],
    ['c', 'factory/#'],
    ['d', '+/+/+'],
    ['e', '#'],
    ['f', 'factory/+'],
    ['g', 'factory/1/telemetry/#'],
  ] as const) {
    index.add(sub(client, filter));
  }
  expect(who(index, 'factory/1/telemetry')).toEqual(['a factory/1/telemetry', 'b factory/+/telemetry', 'c factory/#', 'd +/+/+', 'e #', 'g factory/1/telemetry/#']);
  expect(who(index, 'factory/2')).toEqual(['c factory/#', 'e #', 'f factory/+']);
  expect(who(index, 'factory')).toEqual(['c factory/#', 'e #']);
  expect(who(index, 'factory/1/telemetry/x/y')).toEqual(['c factory/#', 'e #', 'g factory/1/telemetry/#']);
  // An empty level is a level.
  expect(who(index, 'factory//telemetry')).toEqual(['b factory/+/telemetry', 'c factory/#', 'd +/+/+', 'e #']);
  expect(index.size).toBe(7);
});

test('filters that start with a wildcard do not reach $-topics; filters that name $aws do', () => {
  const index = new SubscriptionIndex();
  index.add(sub('all', '#'));
  index.add(sub('plus', '+/things/t1/shadow/update/accepted'));
  index.add(sub('device', '$aws/things/t1/shadow/update/accepted'));
  index.add(sub('fleet', '$aws/things/+/shadow/#'));
  expect(who(index, '$aws/things/t1/shadow/update/accepted')).toEqual(['device $aws/things/t1/shadow/update/accepted', 'fleet $aws/things/+/shadow/#']);
  expect(who(index, '$aws/things/t2/shadow/update/documents')).toEqual(['fleet $aws/things/+/shadow/#']);
  expect(who(index, 'plain/things/t1/shadow/update/accepted')).toEqual(['all #', 'plus +/things/t1/shadow/update/accepted']);
});

test('a client holds a filter once unshared and once per share group; adding it again replaces it', () => {
  const index = new SubscriptionIndex();
  expect(index.add(sub('a', 'x/+'))).toBe(false);
  expect(index.add(sub('a', 'x/+', 'g1'))).toBe(false);
  expect(index.add(sub('a', 'x/+', 'g2'))).toBe(false);
  expect(index.add({ ...sub('a', 'x/+'), qos: 0 })).toBe(true);
  expect(index.size).toBe(3);
  expect(who(index, 'x/y')).toEqual(['a x/+', 'a x/+ (g1)', 'a x/+ (g2)']);
  expect(index.match('x/y').find((s) => s.group === undefined)?.qos).toBe(0);
});

test('removing a subscription forgets it at once, prunes its branch, and leaves the others matching', () => {
  const index = new SubscriptionIndex();
  index.add(sub('a', 'x/+/z'));
  index.add(sub('b', 'x/#'));
  index.add(sub('c', 'x/y/z'));
  // Asked twice, so that the answer is cached before the removals.
  expect(who(index, 'x/y/z')).toEqual(['a x/+/z', 'b x/#', 'c x/y/z']);
  expect(who(index, 'x/y/z')).toEqual(['a x/+/z', 'b x/#', 'c x/y/z']);
  expect(index.remove('a', 'x/+/z')).toBe(true);
  expect(index.remove('a', 'x/+/z')).toBe(false);
  expect(index.remove('b', 'x/#', 'nogroup')).toBe(false);
  expect(who(index, 'x/y/z')).toEqual(['b x/#', 'c x/y/z']);
  expect(index.remove('b', 'x/#')).toBe(true);
  expect(index.remove('c', 'x/y/z')).toBe(true);
  expect(index.size).toBe(0);
  expect(index.match('x/y/z')).toEqual([]);
  // The pruned branches take new filters as before.
  index.add(sub('d', 'x/+/z'));
  expect(who(index, 'x/q/z')).toEqual(['d x/+/z']);
});

test('a literal level spelled like a wildcard in a filter is the wildcard, never an exact level', () => {
  const index = new SubscriptionIndex();
  index.add(sub('a', 'x/+'));
  // Removing an exact filter that does not exist leaves the wildcard alone.
  expect(index.remove('a', 'x/y')).toBe(false);
  expect(who(index, 'x/anything')).toEqual(['a x/+']);
});

test('filters without wildcards: each change gives the topic a new answer, and an answer already given stays as it was', () => {
  const index = new SubscriptionIndex();
  index.add(sub('a', 'things/t1/cmd'));
  const first = index.match('things/t1/cmd');
  expect(first.map((s) => s.clientId)).toEqual(['a']);
  index.add(sub('b', 'things/t1/cmd'));
  expect(who(index, 'things/t1/cmd')).toEqual(['a things/t1/cmd', 'b things/t1/cmd']);
  expect(first.map((s) => s.clientId)).toEqual(['a']);
  // A wildcard filter joins the exact ones, and leaving takes only itself away.
  index.add(sub('fleet', 'things/+/cmd'));
  expect(who(index, 'things/t1/cmd')).toEqual(['a things/t1/cmd', 'b things/t1/cmd', 'fleet things/+/cmd']);
  expect(who(index, 'things/t2/cmd')).toEqual(['fleet things/+/cmd']);
  expect(index.remove('fleet', 'things/+/cmd')).toBe(true);
  expect(who(index, 'things/t1/cmd')).toEqual(['a things/t1/cmd', 'b things/t1/cmd']);
  expect(index.match('things/t2/cmd')).toEqual([]);
  expect(index.remove('a', 'things/t1/cmd')).toBe(true);
  expect(index.remove('a', 'things/t1/cmd')).toBe(false);
  expect(who(index, 'things/t1/cmd')).toEqual(['b things/t1/cmd']);
  expect(index.remove('b', 'things/t1/cmd')).toBe(true);
  expect(index.match('things/t1/cmd')).toEqual([]);
  expect(index.size).toBe(0);
});

test('10,000 things with a subscription each: every thing reaches its own client alone', () => {
  const index = new SubscriptionIndex();
  for (let i = 0; i < 10_000; i++) index.add(sub(`c${i % 8}`, `$aws/things/t${i}/shadow/update/accepted`));
  for (let i = 0; i < 10_000; i += 997) expect(who(index, `$aws/things/t${i}/shadow/update/accepted`)).toEqual([`c${i % 8} $aws/things/t${i}/shadow/update/accepted`]);
  expect(index.match('$aws/things/t1/shadow/update/documents')).toEqual([]);
  expect(index.size).toBe(10_000);
});

test('exact filters that share a last level: removing one leaves the others matching; a topic with no such last level, or no level at all, matches nothing', () => {
  const index = new SubscriptionIndex();
  index.add(sub('a', 'things/t1/cmd'));
  index.add(sub('b', 'things/t2/cmd'));
  index.add(sub('c', 'cmd'));
  index.add(sub('d', 'things/t3/'));
  expect(who(index, 'things/t2/cmd')).toEqual(['b things/t2/cmd']);
  expect(who(index, 'cmd')).toEqual(['c cmd']);
  expect(who(index, 'things/t3/')).toEqual(['d things/t3/']);
  expect(index.match('things/t1/telemetry')).toEqual([]);
  expect(index.match('things/t3')).toEqual([]);
  expect(index.remove('a', 'things/t1/cmd')).toBe(true);
  expect(who(index, 'things/t2/cmd')).toEqual(['b things/t2/cmd']);
  expect(index.remove('c', 'cmd')).toBe(true);
  expect(who(index, 'things/t2/cmd')).toEqual(['b things/t2/cmd']);
  expect(index.remove('b', 'things/t2/cmd')).toBe(true);
  expect(index.match('things/t2/cmd')).toEqual([]);
  // Subscribed again after the last one of its last level left.
  index.add(sub('e', 'things/t2/cmd'));
  expect(who(index, 'things/t2/cmd')).toEqual(['e things/t2/cmd']);
});
