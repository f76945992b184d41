import { expect, test } from 'vitest';
import { failedResourceOf } from './error-message.js';

test('the failed resource is found at the top level or one object down (putItem.tableName)', () => {
  expect(failedResourceOf({ table_name: 'alerts' })).toBe('alerts');
  expect(failedResourceOf({ put_item: { table_name: 'alerts' }, role_arn: 'arn:aws:iam::1:role/r' })).toBe('alerts');
  expect(failedResourceOf({ qos: 1 })).toBe('');
});
