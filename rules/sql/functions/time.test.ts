import { describe, expect, test } from 'vitest';
import type { SqlValue } from '../values.js';
import { call } from './test-context.js';

type Case = [name: string, args: SqlValue[], expected: SqlValue];

const CASES: Case[] = [
  // parse_time: the guide's examples
  ['parse_time', ["yyyy.MM.dd G 'at' HH:mm:ss z", 100000000, 'America/Belize'], '1970.01.01 AD at 21:46:40 CST'],
  ['parse_time', ['yyyy', 1481825251155, 'UTC'], '2016'],
  ['parse_time', ['yyyy', 1481825251155], '2016'], // UTC is the default zone
  // more Joda letters
  ['parse_time', ['yyyy-MM-dd HH:mm:ss.SSS', 1700000000123], '2023-11-14 22:13:20.123'],
  ['parse_time', ['EEEE, MMMM d, yyyy h:mm a', 1700000000123], 'Tuesday, November 14, 2023 10:13 PM'],
  ['parse_time', ['EEE MMM yy D k K', 1700000000123], 'Tue Nov 23 318 22 10'],
  ['parse_time', ['Z ZZ ZZZ', 1700000000123, 'Asia/Kolkata'], '+0530 +05:30 Asia/Kolkata'],
  ['parse_time', ['HH:mm ZZ', 0, '+01:00'], '01:00 +01:00'],
  ['parse_time', ["xxxx-'W'ww-e", 1704067200000], '2024-W01-1'], // 2024-01-01 is a Monday
  ['parse_time', ["'it''s' HH", 0], "it's 00"],
  ['parse_time', ['yyyy', '1481825251155'], '2016'], // a numeric String is converted
  // invalid input is Undefined
  ['parse_time', ['yyyy', 0, 'Nope/Zone'], undefined],
  ['parse_time', ['yyyy q', 0], undefined], // unknown letter
  ['parse_time', ["'open", 0], undefined],
  ['parse_time', ['yyyy', 'x'], undefined],
  ['parse_time', [5, 0], undefined],
  // time_to_epoch: the guide's examples
  ['time_to_epoch', ['2020-04-03 09:45:18 UTC+01:00', 'yyyy-MM-dd HH:mm:ss VV'], 1585903518000],
  ['time_to_epoch', ['18 December 2015', 'dd MMMM yyyy'], 1450396800000],
  ['time_to_epoch', ['2007-12-03 10:15:30.592 America/Los_Angeles', 'yyyy-MM-dd HH:mm:ss.SSS z'], 1196705730592],
  // more patterns
  ['time_to_epoch', ['2023-11-14T22:13:20Z', "yyyy-MM-dd'T'HH:mm:ssX"], 1700000000000],
  ['time_to_epoch', ['2023-11-14 10:13:20 PM', 'yyyy-MM-dd hh:mm:ss a'], 1700000000000],
  ['time_to_epoch', ['2023-07-01 12:00 PDT', 'yyyy-MM-dd HH:mm z'], Date.UTC(2023, 6, 1, 19)],
  ['time_to_epoch', ['2023-07-01 12:00 +0530', 'yyyy-MM-dd HH:mm Z'], Date.UTC(2023, 6, 1, 6, 30)],
  ['time_to_epoch', ['2021-02-31', 'yyyy-MM-dd'], Date.UTC(2021, 1, 28)], // SMART resolver: last day
  ['time_to_epoch', ['nope', 'yyyy-MM-dd'], undefined],
  ['time_to_epoch', ['2021-13-01', 'yyyy-MM-dd'], undefined],
  ['time_to_epoch', ['2021-01-01 extra', 'yyyy-MM-dd'], undefined],
  ['time_to_epoch', [null, 'yyyy'], undefined],
];

describe('time functions (guide examples)', () => {
  test.each(CASES)('%s(%o) = %o', (name, args, expected) => {
    expect(call(name, ...args)).toEqual(expected);
  });
  test('parse_time and time_to_epoch round-trip across a DST change', () => {
    const ms = Date.UTC(2023, 2, 26, 1, 30); // 03:30 in Berlin, just after the spring change
    const text = call('parse_time', 'yyyy-MM-dd HH:mm:ss.SSS ZZ', ms, 'Europe/Berlin');
    expect(text).toBe('2023-03-26 03:30:00.000 +02:00');
    expect(call('time_to_epoch', text, 'yyyy-MM-dd HH:mm:ss.SSS xxx')).toBe(ms);
  });
});
