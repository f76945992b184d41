import { expect, test } from 'vitest';
import { PlatformError } from '../errors.js';
import { silentLogger } from '../logger.js';
import { askUntilAnswered } from './retry.js';

const unavailable = () => new PlatformError('STATE_UNAVAILABLE', 'no owner answered', { retriable: true });
const options = (stopping = false) => ({ logger: silentLogger(), stopping: () => stopping, message: 'asking again' });

test('asks again after retriable errors until the task answers', async () => {
  let calls = 0;
  const answer = await askUntilAnswered(async () => {
    if (++calls < 3) throw unavailable();
    return 'answered';
  }, options());
  expect([answer, calls]).toEqual(['answered', 3]);
});

test('throws what is not retriable at once, and a retriable error once the caller is stopping', async () => {
  let calls = 0;
  const refused = new PlatformError('INPUT_INVALID', 'bad');
  await expect(askUntilAnswered(async () => (calls++, Promise.reject(refused)), options())).rejects.toBe(refused);
  await expect(askUntilAnswered(async () => (calls++, Promise.reject(unavailable())), options(true))).rejects.toMatchObject({ code: 'STATE_UNAVAILABLE' });
  expect(calls).toBe(2);
});
