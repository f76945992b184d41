/**
 * `step_functions`: starts an execution of a state machine with the rule output as its input
 * (AWS IoT developer guide, stepfunctions-rule-action; API reference, StepFunctionsAction):
 * `state_machine_name` (template; a full state machine ARN is taken as is), and
 * `execution_name_prefix`: the execution is named `<prefix><uuid>` (without one, Step Functions
 * names it). StartExecution takes one execution per call (`maxEntries` 1, 8 in flight); the
 * state machine's ARN is looked up by name once (ListStateMachines), as kiot knows neither the
 * account nor the partition AWS IoT fills in. This is the one place that imports `@aws-sdk/client-sfn`.
 */
import { randomUUID } from 'node:crypto';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { awsAction } from '../aws/index.js';
import { outputBytes } from '../runtime/deps.js';
import { paramsSchema } from '../runtime/params.js';

const schema = paramsSchema({
  state_machine_name: z.string().min(1),
  execution_name_prefix: z.string().optional(),
  role_arn: z.string().optional(),
});

export type StepFunctionsConfig = ReturnType<typeof schema.parse>;

/** Execution names: 1-80 characters (Step Functions API reference, StartExecution.name). */
const MAX_NAME = 80;

type SfnSdk = typeof import('@aws-sdk/client-sfn');

export const createStepFunctionsDefinition = awsAction<StepFunctionsConfig, { name: string | undefined; input: string }, SfnSdk, SFNClient>({
  type: 'step_functions',
  awsKey: 'stepFunctions',
  summary: 'start a Step Functions execution with the output as its input',
  config: schema,
  resourceParams: ['state_machine_name'],
  load: () => import('@aws-sdk/client-sfn'),
  client: (m, options) => new m.SFNClient(options) as SFNClient,
  request: () => {
    const arns = new Map<string, Promise<string | undefined>>();
    const lookUp = async (m: SfnSdk, client: SFNClient, name: string, signal: AbortSignal): Promise<string | undefined> => {
      let nextToken: string | undefined;
      do {
        const page = await client.send(new m.ListStateMachinesCommand({ ...(nextToken ? { nextToken } : {}) }), { abortSignal: signal });
        const found = page.stateMachines?.find((s) => s.name === name);
        if (found) return found.stateMachineArn;
        nextToken = page.nextToken;
      } while (nextToken);
      return undefined;
    };
    return {
      target: 'Step Functions',
      maxEntries: 1,
      group: (r) => r.params.state_machine_name,
      entries(record) {
        const prefix = record.params.execution_name_prefix;
        const name = prefix === undefined ? undefined : `${prefix}${randomUUID()}`;
        if (name !== undefined && name.length > MAX_NAME) return `execution_name_prefix is too long: ${prefix!.length} characters, at most ${MAX_NAME - 36} leave room for the uuid`;
        return [{ name, input: outputBytes(record.output === undefined ? {} : record.output).toString('utf8') }];
      },
      async send({ sdk: m, client }, { params }, [execution], signal) {
        const machine = params.state_machine_name;
        let arn: string | undefined = machine;
        if (!machine.startsWith('arn:')) {
          let pending = arns.get(machine);
          if (!pending) arns.set(machine, (pending = lookUp(m, client, machine, signal)));
          arn = await pending.catch((err: unknown) => {
            arns.delete(machine);
            throw err;
          });
          if (arn === undefined) {
            arns.delete(machine);
            return [{ code: 'StateMachineDoesNotExist', message: `no state machine named ${machine}`, retriable: false }];
          }
        }
        await client.send(new m.StartExecutionCommand({ stateMachineArn: arn, input: execution!.input, ...(execution!.name ? { name: execution!.name } : {}) }), { abortSignal: signal });
        return [undefined];
      },
    };
  },
});

export const stepFunctionsAction = createStepFunctionsDefinition();
