/**
 * Functions that read the message's envelope and the rule (iot-sql-functions): accountid,
 * clientid, principal, sourceip, topic, traceid, sql_version, timestamp, get_mqtt_property
 * and get_user_properties. None is pure: the compiler must not fold them.
 */
import { toInt, type SqlValue } from '../values.js';
import { defineFunction } from './define.js';
import type { SqlContext, SqlFunction } from './types.js';

/**
 * The account id `accountid()` returns when kiot is not configured with one. Twelve zeros is
 * the shape of an AWS account id, so rules that pattern-match ARNs still see a valid one.
 */
export const DEFAULT_ACCOUNT_ID = '000000000000';

/** The SQL version a rule runs when it names none (AWS's default for new rules). */
export const DEFAULT_SQL_VERSION = '2016-03-23';

/**
 * The topic as the rule sees it. Basic Ingest topics (`$aws/rules/<rule>/...`) lose their
 * prefix: "the initial prefix of the topic ($aws/rules/rule-name) is not available to the
 * topic() function" (iot-sql-functions, "topic").
 */
export function ruleTopic(topic: string): string {
  // The `$` test first: startsWith costs a call, and almost no topic starts with `$`.
  if (topic.charCodeAt(0) !== 36 /* $ */ || !topic.startsWith('$aws/rules/')) return topic;
  const afterName = topic.indexOf('/', '$aws/rules/'.length);
  return afterName < 0 ? '' : topic.slice(afterName + 1);
}

/**
 * topic(n): the n-th level (1-based) of the rule's topic, Undefined when out of range or when
 * n is not a number (an Undefined n too: only topic() with no argument is the whole topic).
 * `rawTopic` is the topic as published; it walks the levels without splitting, because compiled
 * rules call this per message (the `direct` form below).
 */
function topicLevel(rawTopic: string, n: SqlValue): SqlValue {
  const index = typeof n === 'number' && Number.isInteger(n) ? n : toInt(n);
  if (index === undefined || index < 1) return undefined;
  const topic = ruleTopic(rawTopic);
  let start = 0;
  for (let i = 1; i < index; i++) {
    const slash = topic.indexOf('/', start);
    if (slash < 0) return undefined;
    start = slash + 1;
  }
  const end = topic.indexOf('/', start);
  return end < 0 ? topic.slice(start) : topic.slice(start, end);
}

/**
 * get_mqtt_property(name): the MQTT 5 properties AWS exposes. `format_indicator` is
 * "UTF8_DATA" or "UNSPECIFIED_BYTES" (the default when a client sends none),
 * `correlation_data` is base64. Undefined for other names and for messages that did not
 * arrive over MQTT.
 */
function mqttProperty(ctx: SqlContext, name: SqlValue): SqlValue {
  const mqtt = ctx.mqtt;
  if (!mqtt || typeof name !== 'string') return undefined;
  switch (name.toLowerCase()) {
    case 'format_indicator':
      return mqtt.payloadFormatIndicator === 1 ? 'UTF8_DATA' : 'UNSPECIFIED_BYTES';
    case 'content_type':
      return mqtt.contentType;
    case 'response_topic':
      return mqtt.responseTopic;
    case 'correlation_data':
      return mqtt.correlationData?.toString('base64');
    default:
      return undefined;
  }
}

/**
 * get_user_properties([key]): with a key, the values of every user property of that name
 * in the order sent (MQTT 5 allows repeats), Undefined when there is none; without one,
 * every user property as a one-member Object, in order.
 */
function userProperties(ctx: SqlContext, args: readonly SqlValue[]): SqlValue {
  const props = ctx.mqtt?.userProperties;
  if (!props) return undefined;
  if (args.length === 0) return props.map(({ name, value }) => ({ [name]: value }));
  const key = args[0];
  if (typeof key !== 'string') return undefined;
  const values = props.filter(({ name }) => name === key).map(({ value }) => value);
  return values.length > 0 ? values : undefined;
}

const contextFunction = (
  name: string,
  call: (ctx: SqlContext, args: readonly SqlValue[]) => SqlValue,
  minArgs = 0,
  maxArgs = minArgs,
): SqlFunction => defineFunction({ name, minArgs, maxArgs, pure: false, call: (args, ctx) => call(ctx, args) });

/**
 * A function that returns one field of the context, or `absent` when the field is null or
 * undefined; compiled rules read the field itself (`SqlFunction.readsField`, issue 12 point 4).
 * `call` says the same thing for callers without a compiler.
 */
const fieldFunction = (name: string, field: NonNullable<SqlFunction['readsField']>['field'], absent: SqlValue): SqlFunction =>
  defineFunction({ name, minArgs: 0, pure: false, call: (_args, ctx) => ctx[field] ?? absent, readsField: { field, absent: { value: absent } } });

export const CONTEXT_FUNCTIONS: readonly SqlFunction[] = [
  contextFunction('accountid', (ctx) => ctx.accountId ?? DEFAULT_ACCOUNT_ID),
  // "n/a if the message wasn't sent over MQTT".
  fieldFunction('clientid', 'clientId', 'n/a'),
  contextFunction('get_mqtt_property', (ctx, [name]) => mqttProperty(ctx, name), 1),
  contextFunction('get_user_properties', (ctx, args) => userProperties(ctx, args), 0, 1),
  fieldFunction('principal', 'principal', undefined),
  fieldFunction('sourceip', 'sourceIp', undefined),
  contextFunction('sql_version', (ctx) => ctx.sqlVersion ?? DEFAULT_SQL_VERSION),
  // The context's timestamp is the received-at time, or the evaluation time when there is none:
  // a compiled rule reads the message's field and asks the context only when it is absent.
  defineFunction({ name: 'timestamp', minArgs: 0, pure: false, call: (_args, ctx) => ctx.timestamp, readsField: { field: 'timestamp', absent: 'call' } }),
  defineFunction({
    name: 'topic',
    minArgs: 0,
    maxArgs: 1,
    pure: false,
    call: (args, ctx) => (args.length === 0 ? ruleTopic(ctx.topic) : topicLevel(ctx.topic, args[0])),
    // topic() reads only the topic: compiled rules pass it and build no context object.
    directTakesTopic: true,
    direct: { 0: (topic) => ruleTopic(topic as string), 1: (topic, n) => topicLevel(topic as string, n) },
  }),
  // "the trace ID (UUID) of the MQTT message, or Undefined if the message wasn't sent over MQTT".
  fieldFunction('traceid', 'traceId', undefined),
];
