/**
 * Functions that call services (iot-sql-functions): aws_lambda, get_dynamodb, get_secret,
 * get_thing_shadow and get_registry_data call `ctx.services`, which later issues connect to
 * the function action, the DynamoDB endpoint, a secrets file, the shadow service and the
 * registry. machinelearning_predict has no local meaning and is refused at compile time.
 *
 * Arguments of the wrong type give Undefined without calling the service. A service that
 * fails rejects with a PlatformError; the rule's evaluation fails for that message and goes
 * to the rule's error action, as AWS does when such a call fails.
 */
import { PlatformError } from '../../../core/errors.js';
import type { SqlValue } from '../values.js';
import { defineFunction, semanticError } from './define.js';
import type { SqlFunction, SqlServices } from './types.js';

const notConnected = (what: string): Promise<never> =>
  Promise.reject(
    new PlatformError('RULES_SQL_RUNTIME', `${what} is not connected: kiot has no service configured for it`, {
      details: { service: what },
    }),
  );

/** Services that reject every call with a clear PlatformError (RULES_SQL_RUNTIME). */
export function defaultSqlServices(): SqlServices {
  return {
    getThingShadow: () => notConnected('get_thing_shadow (the shadow service)'),
    getDynamoDb: () => notConnected('get_dynamodb (a DynamoDB endpoint)'),
    invokeLambda: () => notConnected('aws_lambda (the function action)'),
    getSecret: () => notConnected('get_secret (a secrets store)'),
    getRegistryData: () => notConnected('get_registry_data (the registry service)'),
  };
}

const str = (v: SqlValue): v is string => typeof v === 'string';

export const SERVICE_FUNCTIONS: readonly SqlFunction[] = [
  defineFunction({
    name: 'aws_lambda',
    minArgs: 2,
    pure: false,
    async: true,
    call: async ([arn, input], ctx) => (str(arn) ? ctx.services.invokeLambda(arn, input) : undefined),
  }),
  defineFunction({
    // get_dynamodb(table, pkName, pkValue, [skName, skValue,] roleArn): 4 or 6 arguments.
    name: 'get_dynamodb',
    minArgs: 4,
    maxArgs: 6,
    pure: false,
    async: true,
    call: async (args, ctx) => {
      // 5 arguments is a wrong argument count, which gives Undefined (iot-sql-data-types).
      if (args.length === 5) return undefined;
      const [table, pkName, pkValue] = args;
      const withSort = args.length === 6;
      const skName = withSort ? args[3] : undefined;
      const skValue = withSort ? args[4] : undefined;
      const role = args[args.length - 1];
      if (!str(table) || !str(pkName) || !str(role) || (withSort && !str(skName))) return undefined;
      if (pkValue === undefined || pkValue === null) return undefined;
      return ctx.services.getDynamoDb(table, pkName, pkValue, str(skName) ? skName : undefined, skValue, role);
    },
  }),
  defineFunction({
    name: 'get_registry_data',
    minArgs: 3,
    pure: false,
    async: true,
    call: async ([api, thing, role], ctx) => {
      if ((api !== 'DescribeThing' && api !== 'ListThingGroupsForThing') || !str(thing) || !str(role)) return undefined;
      const get = ctx.services.getRegistryData;
      return get ? get.call(ctx.services, api, thing, role) : notConnected('get_registry_data (the registry service)');
    },
  }),
  defineFunction({
    // get_secret(secretId, secretType, [key,] roleArn): 3 or 4 arguments.
    name: 'get_secret',
    minArgs: 3,
    maxArgs: 4,
    pure: false,
    async: true,
    call: async (args, ctx) => {
      const [id, type] = args;
      const key = args.length === 4 ? args[2] : undefined;
      const role = args[args.length - 1];
      if (!str(id) || !str(role) || (type !== 'SecretString' && type !== 'SecretBinary')) return undefined;
      if (args.length === 4 && !str(key)) return undefined;
      return ctx.services.getSecret(id, type, str(key) ? key : undefined, role);
    },
  }),
  defineFunction({
    // get_thing_shadow(thingName, [shadowName,] roleArn): the classic shadow without a name.
    name: 'get_thing_shadow',
    minArgs: 2,
    maxArgs: 3,
    pure: false,
    async: true,
    call: async (args, ctx) => {
      const thing = args[0];
      const shadow = args.length === 3 ? args[1] : undefined;
      const role = args[args.length - 1];
      if (!str(thing) || !str(role) || (args.length === 3 && !str(shadow))) return undefined;
      return ctx.services.getThingShadow(thing, str(shadow) ? shadow : undefined, role);
    },
  }),
  defineFunction({
    name: 'machinelearning_predict',
    minArgs: 3,
    pure: false,
    validate: () => {
      throw semanticError(
        'machinelearning_predict',
        'machinelearning_predict has no local meaning in kiot (Amazon Machine Learning has no self-hosted equivalent)',
      );
    },
    call: () => undefined,
  }),
];
