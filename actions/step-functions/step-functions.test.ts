import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SinkBatchError } from '../../core/index.js';
import { startAwsServices, type AwsServiceServer } from '../../core/testing/aws-service.js';
import { stepFunctionsService } from '../../core/testing/aws-services.js';
import { outcomeOf, problemsOf, serverSettings, signal, testDeps, testRecord } from '../aws/testing/records.js';
import { createStepFunctionsDefinition, type StepFunctionsConfig } from './step-functions.js';

let server: AwsServiceServer;
const sfn = stepFunctionsService();
let machine: string;
beforeAll(async () => {
  server = await startAwsServices([sfn.spec]);
  machine = sfn.createStateMachine('cool-down');
});
afterAll(() => server?.close());

describe('step_functions', () => {
  test('one StartExecution per record, named <prefix><uuid>, with the output as input; the ARN is looked up once', async () => {
    const def = createStepFunctionsDefinition({ settings: serverSettings(server) });
    const p: StepFunctionsConfig = def.config.parse({ state_machine_name: 'cool-down', execution_name_prefix: 'iot-' });
    const sink = def.create(p, testDeps());
    await sink.writeBatch(Array.from({ length: 5 }, (_, i) => testRecord({ machine: 'm7', t: 90 + i }, p, i)), signal());
    const runs = sfn.machines.get(machine)!;
    expect(runs.map((r) => JSON.parse(r.input).t).sort()).toEqual([90, 91, 92, 93, 94]);
    expect(runs.every((r) => /^iot-[0-9a-f-]{36}$/.test(r.name))).toBe(true);
    expect(server.calls.filter((c) => c.operation === 'ListStateMachines')).toHaveLength(1);
    expect(server.refused).toEqual([]);
    await sink.close();
    await sink.close();
  });

  test('an input over 256 KiB gets Step Functions\' error; an unknown state machine fails non-retriable', async () => {
    const def = createStepFunctionsDefinition({ settings: serverSettings(server) });
    const p = (state_machine_name: string): StepFunctionsConfig => ({ state_machine_name });
    const sink = def.create(p('cool-down'), testDeps());
    const err = await outcomeOf(sink.writeBatch([testRecord({ ok: 1 }, p('cool-down'), 0), testRecord({ x: 'x'.repeat(262_144) }, p('cool-down'), 1), testRecord({ ok: 2 }, p('no-such-machine'), 2)], signal()));
    const failures = (err as SinkBatchError).failures;
    expect(failures.map((f) => [f.index, f.retriable])).toEqual([[1, false], [2, false]]);
    expect(failures[0]!.message).toMatch(/ValidationException: .*262144/);
    expect(failures[1]!.message).toBe('step_functions no-such-machine: StateMachineDoesNotExist: no state machine named no-such-machine');
    await sink.close();
  });

  test('the schema', () => {
    expect(problemsOf(createStepFunctionsDefinition().config, { execution_name_prefix: 'x' })).toEqual(['missing parameter state_machine_name']);
  });
});
