/** The authorizer commands and the function-answer validation, pure: no log, no server. */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PlatformError, type Change, type StateChange, type StateView } from '../../core/index.js';
import type { RegistryValue } from '../store.js';
import { parseAuthorizerAnswer } from './answer.js';
import { checkRecord } from './authorizer-service.js';
import { AUTHORIZER_COMMANDS, authorizerCommands, type AuthorizerFields } from './commands.js';
import { AUTHORIZER_KEYS, type AuthorizerRecord } from './model.js';

/** A map-backed view that applies each command's writes, so the commands run as the store runs them. */
function memoryStore() {
  const records = new Map<string, RegistryValue>();
  const view: StateView<RegistryValue> = {
    get: (k) => records.get(k),
    revision: (k) => (records.has(k) ? 1 : 0),
    has: (k) => records.has(k),
    keys: () => records.keys(),
    entries: () => records.entries(),
    get size() {
      return records.size;
    },
    onChange: (_listener: (c: StateChange<RegistryValue>) => void) => () => undefined,
  };
  const commands = new Map(authorizerCommands(checkRecord).map((c) => [c.name, c]));
  let id = 0;
  const run = <R>(name: string, input: unknown): R => {
    // Registry commands are synchronous (`registryCommand`); the cast drops the Promise the general type allows.
    const change = commands.get(name)!.run(view, input, { now: 1_000 + id, newId: () => `gen-${++id}` }) as Change<RegistryValue, unknown>;
    for (const w of change.writes) {
      if (w.value === null) records.delete(w.key);
      else records.set(w.key, w.value);
    }
    return change.result as R;
  };
  return { records, run };
}

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof PlatformError ? err.code : 'other';
  }
  return undefined;
};

const fields: AuthorizerFields = { authorizerFunctionArn: 'fn', status: 'ACTIVE', signingDisabled: true, enableCachingForHttp: false };

describe('authorizer commands', () => {
  test('create, update (a new generation each time), set default, delete rules', () => {
    const { records, run } = memoryStore();
    const created = run<AuthorizerRecord>(AUTHORIZER_COMMANDS.create, { name: 'a', arn: 'arn:a', fields });
    expect(created).toMatchObject({ authorizerName: 'a', status: 'ACTIVE', createdAt: created.updatedAt });
    expect(codeOf(() => run(AUTHORIZER_COMMANDS.create, { name: 'a', arn: 'arn:a', fields }))).toBe('REGISTRY_ALREADY_EXISTS');
    const updated = run<AuthorizerRecord>(AUTHORIZER_COMMANDS.update, { name: 'a', update: { enableCachingForHttp: true, tokenKeyName: undefined } });
    expect(updated.enableCachingForHttp).toBe(true);
    expect(updated.generationId).not.toBe(created.generationId);
    expect(codeOf(() => run(AUTHORIZER_COMMANDS.update, { name: 'missing', update: {} }))).toBe('REGISTRY_NOT_FOUND');

    run(AUTHORIZER_COMMANDS.create, { name: 'b', arn: 'arn:b', fields });
    run(AUTHORIZER_COMMANDS.setDefault, { name: 'a' });
    run(AUTHORIZER_COMMANDS.setDefault, { name: 'a' }); // the same again: no-op
    expect(codeOf(() => run(AUTHORIZER_COMMANDS.setDefault, { name: 'b' }))).toBe('REGISTRY_ALREADY_EXISTS');
    expect(codeOf(() => run(AUTHORIZER_COMMANDS.delete, { name: 'a' }))).toBe('REGISTRY_DELETE_CONFLICT'); // ACTIVE
    run(AUTHORIZER_COMMANDS.update, { name: 'a', update: { status: 'INACTIVE' } });
    expect(codeOf(() => run(AUTHORIZER_COMMANDS.delete, { name: 'a' }))).toBe('REGISTRY_DELETE_CONFLICT'); // the default
    run(AUTHORIZER_COMMANDS.clearDefault, {});
    run(AUTHORIZER_COMMANDS.delete, { name: 'a' });
    expect([...records.keys()]).toEqual([AUTHORIZER_KEYS.authorizer('b')]);
  });

  test('an update that would leave a signing authorizer without keys is refused and writes nothing', () => {
    const { records, run } = memoryStore();
    run(AUTHORIZER_COMMANDS.create, { name: 's', arn: 'arn:s', fields: { ...fields, signingDisabled: false, tokenKeyName: 'tok', tokenSigningPublicKeys: { k: 'pem' } } });
    const before = records.get(AUTHORIZER_KEYS.authorizer('s'));
    expect(codeOf(() => run(AUTHORIZER_COMMANDS.update, { name: 's', update: { tokenSigningPublicKeys: {} } }))).toBe('REGISTRY_INVALID');
    expect(records.get(AUTHORIZER_KEYS.authorizer('s'))).toBe(before);
  });
});

describe('authorizer answers', () => {
  const policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}';

  test('valid answers parse, with defaults; the policies compile', () => {
    const { answer, policies } = parseAuthorizerAnswer(JSON.stringify({ isAuthenticated: true, principalId: 'abc123', policyDocuments: [policy, JSON.parse(policy)] }));
    expect(answer).toEqual({ isAuthenticated: true, principalId: 'abc123', policyDocuments: [policy, policy], disconnectAfterInSeconds: 86_400, refreshAfterInSeconds: 86_400 });
    expect(policies!.authorize('iot:Connect', 'arn:aws:iot:us-east-1:1:client/x', {})).toBe(true);
    expect(parseAuthorizerAnswer('{"isAuthenticated":false}').answer.isAuthenticated).toBe(false);
  });

  test('any JSON either parses to a well-formed answer or is refused with a message naming what is wrong', () => {
    const answerLike = fc.record(
      {
        isAuthenticated: fc.oneof(fc.boolean(), fc.string(), fc.constant(null)),
        principalId: fc.oneof(fc.stringMatching(/^[a-zA-Z0-9]{1,130}$/), fc.string()),
        policyDocuments: fc.oneof(fc.constant([policy]), fc.array(fc.oneof(fc.constant(policy), fc.string(), fc.integer()), { maxLength: 12 }), fc.string()),
        disconnectAfterInSeconds: fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.double(), fc.string()),
        refreshAfterInSeconds: fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.string()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(answerLike, fc.jsonValue()), (value) => {
        let parsed;
        try {
          parsed = parseAuthorizerAnswer(JSON.stringify(value) ?? 'undefined');
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
          expect((err as Error).message.length).toBeGreaterThan(0);
          return;
        }
        const { answer, policies } = parsed;
        expect(typeof answer.isAuthenticated).toBe('boolean');
        if (answer.isAuthenticated) {
          expect(answer.principalId).toMatch(/^[a-zA-Z0-9]{1,128}$/);
          expect(policies).toBeDefined();
          expect(answer.policyDocuments.length).toBeGreaterThan(0);
          expect(answer.policyDocuments.length).toBeLessThanOrEqual(10);
        }
        for (const ttl of [answer.disconnectAfterInSeconds, answer.refreshAfterInSeconds]) {
          expect(Number.isInteger(ttl) && ttl >= 300 && ttl <= 86_400).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});
