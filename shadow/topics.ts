/**
 * The Device Shadow service's reserved MQTT topics (AWS IoT developer guide, "Device Shadow
 * MQTT topics"): `$aws/things/<thing>/shadow[/name/<shadow>]/<op>` requests and the topics the
 * service answers on, and the key of each shadow on `iot.shadows`.
 */

export type ShadowOperation = 'get' | 'update' | 'delete';

/** A shadow: the classic one of a thing when `shadowName` is undefined. */
export interface ShadowId {
  readonly thingName: string;
  readonly shadowName?: string;
}

export interface ShadowRequestTopic extends ShadowId {
  readonly op: ShadowOperation;
}

const THINGS_PREFIX = '$aws/things/';
const REQUEST = /^\$aws\/things\/([^/]+)\/shadow(?:\/name\/([^/]+))?\/(get|update|delete)$/;
/** Thing names (CreateThing's pattern). */
const THING_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
/** Named shadow names (the data plane's `name` pattern). */
const SHADOW_NAME = /^[a-zA-Z0-9:_-]{1,64}$/;

/** The request a topic carries, or undefined when it is not a shadow request topic. */
export function parseRequestTopic(topic: string): ShadowRequestTopic | undefined {
  // Every message the gateway takes in is asked (the ingest writer's takers): most are not $aws/things/.
  if (!topic.startsWith(THINGS_PREFIX)) return undefined;
  const m = REQUEST.exec(topic);
  if (!m) return undefined;
  return { thingName: m[1]!, ...(m[2] !== undefined ? { shadowName: m[2] } : {}), op: m[3] as ShadowOperation };
}

/** Why a thing or shadow name is not valid, or undefined when both are. */
export function shadowIdProblem(id: ShadowId): string | undefined {
  if (!THING_NAME.test(id.thingName)) return `thingName: must match [a-zA-Z0-9:_-]{1,128}, received ${JSON.stringify(id.thingName)}`;
  if (id.shadowName !== undefined && !SHADOW_NAME.test(id.shadowName)) return `shadowName: must match [a-zA-Z0-9:_-]{1,64}, received ${JSON.stringify(id.shadowName)}`;
  return undefined;
}

/** `$aws/things/<thing>/shadow` or `$aws/things/<thing>/shadow/name/<shadow>`. */
export function topicPrefix(id: ShadowId): string {
  return id.shadowName === undefined ? `$aws/things/${id.thingName}/shadow` : `$aws/things/${id.thingName}/shadow/name/${id.shadowName}`;
}

/**
 * The shadow's key on `iot.shadows`: its topic prefix without `$aws/things/`, so that keys read
 * like the topics (`thermo-1/shadow`, `thermo-1/shadow/name/fw`) and a thing's keys share a prefix.
 */
export function shadowKey(id: ShadowId): string {
  return id.shadowName === undefined ? `${id.thingName}/shadow` : `${id.thingName}/shadow/name/${id.shadowName}`;
}

/** The prefix of every key of one thing's shadows. */
export function thingKeyPrefix(thingName: string): string {
  return `${thingName}/shadow`;
}

/** The shadow a key names (the inverse of {@link shadowKey}). */
export function shadowIdOfKey(key: string): ShadowId {
  const at = key.indexOf('/shadow');
  const thingName = key.slice(0, at);
  const rest = key.slice(at + '/shadow'.length);
  return rest.startsWith('/name/') ? { thingName, shadowName: rest.slice('/name/'.length) } : { thingName };
}
