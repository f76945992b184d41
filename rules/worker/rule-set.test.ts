import { afterEach, expect, test } from 'vitest';
import { z } from 'zod';
import { silentLogger, type Log, type Sink, type SinkDefinition } from '../../core/index.js';
import { createActionDeps, createActionRegistry, DeadLetterWriter, DEFAULT_RETRY_POLICY, paramsSchema, type ActionDeps } from '../../actions/index.js';
import { parseSqlRuleFile } from '../files/index.js';
import { RuleSet, type SourcedRule } from './index.js';

const logger = silentLogger();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A kind whose sinks count their connects by target. */
function countingKind(connects: Map<string, number>): SinkDefinition<{ target: string }, ActionDeps> {
  return {
    type: 'counting',
    awsKey: 'counting',
    summary: 'counts connects',
    config: paramsSchema({ target: z.string() }),
    resourceParams: ['target'],
    create: (config): Sink<{ target: string }> => ({
      connect: async () => void connects.set(config.target, (connects.get(config.target) ?? 0) + 1),
      writeBatch: async () => {},
      close: async () => {},
    }),
  };
}

function ruleSet(connects: Map<string, number>): RuleSet {
  // No rule here writes to the dead-letter topic: the writer never touches its log.
  const log = {} as Log;
  const deadLetter = new DeadLetterWriter(log, logger, DEFAULT_RETRY_POLICY);
  const set = new RuleSet({ registry: createActionRegistry([countingKind(connects)]), sinkDeps: createActionDeps({ logger, log }), retry: DEFAULT_RETRY_POLICY, deadLetter, logger });
  cleanups.push(async () => {
    await set.close();
    await deadLetter.close();
  });
  return set;
}

const rules = (text: string): Map<string, SourcedRule> =>
  new Map(parseSqlRuleFile(text, 'r.sql').map((model) => [model.name, { model, origin: { kind: 'file', file: 'r.sql', line: 1, column: 1 } }]));

test('a rule set connects no action until connect(); then the running rules and every rule started later connect at once', async () => {
  const connects = new Map<string, number>();
  const set = ruleSet(connects);
  set.apply(rules("CREATE RULE a AS SELECT * FROM 'a/#' DO counting(target = 'a') ERROR DO counting(target = 'a-errors');"));
  await new Promise((r) => setImmediate(r));
  expect(connects.size).toBe(0); // a process that only lists rules opens nothing
  await set.connect();
  expect(Object.fromEntries(connects)).toEqual({ a: 1, 'a-errors': 1 });
  set.apply(rules("CREATE RULE a AS SELECT * FROM 'a/#' DO counting(target = 'a') ERROR DO counting(target = 'a-errors'); CREATE RULE b AS SELECT * FROM 'b/#' DO counting(target = 'b');"));
  await new Promise((r) => setImmediate(r));
  // The new rule connected as it started; the unchanged one was not connected again.
  expect(Object.fromEntries(connects)).toEqual({ a: 1, 'a-errors': 1, b: 1 });
});

test('a rule set is idle while no rule runs (none, or only disabled ones), and matches again once one starts', () => {
  const set = ruleSet(new Map());
  expect(set.idle).toBe(true);
  expect(set.match('a/1')).toEqual([]);
  set.apply(rules("CREATE RULE a WITH (enabled = false) AS SELECT * FROM 'a/#' DO counting(target = 'a');"));
  expect(set.idle).toBe(true);
  set.apply(rules("CREATE RULE a AS SELECT * FROM 'a/#' DO counting(target = 'a');"));
  expect(set.idle).toBe(false);
  expect(set.match('a/1').map((r) => r.model.name)).toEqual(['a']);
  set.apply(new Map());
  expect(set.idle).toBe(true);
  expect(set.match('a/1')).toEqual([]);
});
