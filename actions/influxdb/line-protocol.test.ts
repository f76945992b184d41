import fc from 'fast-check';
import { test } from 'vitest';
import { encodeField, encodeFieldText, fieldValue } from './line-protocol.js';

const slow = (text: string): string => encodeField(fieldValue(text));

test('a field that is already in its printed spelling is written as it is; every other text as fieldValue types it', () => {
  const numbers = fc.oneof(
    fc.double().map(String),
    fc.integer({ min: -10_000_000, max: 10_000_000 }).map((n) => String(n / 1000)),
    fc.double({ min: -1e16, max: 1e16, noNaN: true }).map((n) => n.toPrecision(15).replace(/\.?0+$/, '')),
    fc.integer().map(String),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => `${n}i`),
    fc.stringMatching(/^-?\d{1,20}(\.\d{0,20})?i?$/),
    fc.stringMatching(/^-?0\.0{0,9}[1-9]\d{0,16}$/),
    fc.constantFrom('-0', '0', '0.0', '-0i', '007i', '0i', '1.', '.5', '1e3', '21.50', '0.000001', '0.0000001', '123456789012345', '1234567890123456', '0.1000000000000000055', 'true', 'x'),
  );
  fc.assert(fc.property(numbers, (text) => encodeFieldText(text) === slow(text)), { numRuns: 20_000 });
});
