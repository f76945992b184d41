/**
 * The shapes shared by the function library and the compiler (CONTRACT.md, "functions/").
 */
import type { SqlValue } from '../values.js';

/** What a compiled rule knows about the message it evaluates; context functions read it. */
export interface SqlContext {
  /** The MQTT topic of the message. */
  readonly topic: string;
  /** Undefined when the message did not arrive over MQTT (`clientid()` is then "n/a"). */
  readonly clientId?: string;
  readonly principal?: string;
  readonly sourceIp?: string;
  readonly traceId?: string;
  /** When the message was received, in ms since the epoch (`timestamp()`). */
  readonly timestamp: number;
  readonly messageId?: string;
  /** The raw payload bytes, for functions that need them. */
  readonly payload?: Buffer;
  /** The account id `accountid()` returns; DEFAULT_ACCOUNT_ID ("000000000000") when not configured. */
  readonly accountId?: string;
  /** The rule's SQL version (`sql_version()`); "2016-03-23" when not given. */
  readonly sqlVersion?: string;
  /**
   * MQTT 5 properties of the message (`get_mqtt_property()`, `get_user_properties()`), named as
   * the envelope names them, so that the rules worker hands the decoded envelope over as is.
   */
  readonly mqtt?: {
    readonly userProperties?: readonly { readonly name: string; readonly value: string }[];
    readonly contentType?: string;
    readonly responseTopic?: string;
    readonly correlationData?: Buffer;
    readonly payloadFormatIndicator?: number;
  };
  readonly services: SqlServices;
}

/**
 * The services that `get_thing_shadow`, `get_dynamodb`, `aws_lambda` and `get_secret` call.
 * Later issues connect them (shadow service, DynamoDB endpoint, function action, a secrets
 * file); {@link defaultSqlServices} rejects every call with a clear PlatformError.
 * Implementations reject with a PlatformError; a rejection fails the rule's evaluation for
 * that message, which then goes to the rule's error action.
 */
export interface SqlServices {
  getThingShadow(thingName: string, shadowName: string | undefined, roleArn: string): Promise<SqlValue>;
  getDynamoDb(
    tableName: string,
    partitionKeyName: string,
    partitionKeyValue: SqlValue,
    sortKeyName: string | undefined,
    sortKeyValue: SqlValue,
    roleArn: string,
  ): Promise<SqlValue>;
  invokeLambda(functionArn: string, input: SqlValue): Promise<SqlValue>;
  getSecret(
    secretId: string,
    secretType: 'SecretString' | 'SecretBinary',
    key: string | undefined,
    roleArn: string,
  ): Promise<SqlValue>;
  /**
   * `get_registry_data(registryApi, thingName, roleArn)`: the response of DescribeThing or
   * ListThingGroupsForThing for the thing. Optional until the registry service connects it.
   */
  getRegistryData?(registryApi: 'DescribeThing' | 'ListThingGroupsForThing', thingName: string, roleArn: string): Promise<SqlValue>;
}

/** One function of the IoT SQL library. */
export interface SqlFunction {
  /** Lower-case, as written in SQL (lookup is case-insensitive). */
  readonly name: string;
  readonly minArgs: number;
  /** Infinity when variadic. */
  readonly maxArgs: number;
  /** True when the result depends only on the arguments (the compiler may fold literal calls). */
  readonly pure: boolean;
  /** True when `call` returns a Promise (get_dynamodb, ...): the compiled rule becomes async. */
  readonly async?: boolean;
  /**
   * Argument positions where a bare `*` stands for the message's raw payload bytes (a Buffer)
   * rather than the parsed payload: `encode(*, 'base64')` encodes exactly what the device sent.
   */
  readonly payloadBytesArgs?: readonly number[];
  /** Compile-time check; throws PlatformError('RULES_SQL_SEMANTIC', ...) (machinelearning_predict). */
  validate?(argCount: number): void;
  /** Never throws for bad argument types: it returns undefined (Undefined) instead. */
  call(args: readonly SqlValue[], ctx: SqlContext): SqlValue | Promise<SqlValue>;
  /**
   * Array-free forms of `call`, by argument count: `direct[2](a, b)` returns what
   * `call([a, b], ctx)` returns. Compiled rules call these, so that a call allocates no
   * argument array and no context object. Only for synchronous functions that are pure, or
   * that read nothing of the message but its topic (see `directTakesTopic`).
   */
  readonly direct?: Readonly<Partial<Record<number, (...args: SqlValue[]) => SqlValue>>>;
  /** The direct forms take the message's raw topic (`SqlContext.topic`) before the arguments. */
  readonly directTakesTopic?: boolean;
  /**
   * For a function of no arguments that returns one field of the message's context: with the
   * field not null or undefined, the result is the field itself; otherwise `absent.value`, or
   * for `absent: 'call'` whatever `call` returns (timestamp(): the evaluation time). Compiled
   * rules read the field directly (no argument array, no context object).
   */
  readonly readsField?: ContextFieldRead;
}

/** See `SqlFunction.readsField`. */
export interface ContextFieldRead {
  readonly field: 'clientId' | 'principal' | 'sourceIp' | 'traceId' | 'timestamp';
  readonly absent: { readonly value: SqlValue } | 'call';
}
