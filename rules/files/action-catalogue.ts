/**
 * The action kinds a rule may name, from the action registry (actions/index.ts): each kind's
 * parameters and required ones come from its config schema, and `validateActionParams` runs
 * that schema, so `kiot rules check` accepts exactly what the rules worker will run. The AWS
 * TopicRulePayload key of each kind (`dynamoDBv2`, for `*.rule.json` files) is the definition's
 * `awsKey`; AWS kinds whose service AWS has retired come from RETIRED_AWS_ACTIONS.
 */
import { ACTION_DEFINITIONS, RETIRED_AWS_ACTIONS, createActionRegistry, paramProblems, type ParamProblem } from '../../actions/index.js';

export interface ActionKind {
  /** As rule files write it: `dynamodbv2(...)`. */
  readonly type: string;
  /** The key of the AWS `Action` object (`dynamoDBv2`). */
  readonly awsKey: string;
  readonly params: readonly string[];
  readonly required: readonly string[];
  /** False for an AWS kind kiot does not run: rules naming it are refused. */
  readonly supported: boolean;
  /** Why an unsupported kind is refused: the AWS feature it needs has been retired. */
  readonly retired?: string;
}

const registry = createActionRegistry();

const registered: ActionKind[] = ACTION_DEFINITIONS.map((def) => ({ type: def.type, awsKey: def.awsKey, params: def.config.params, required: def.config.required, supported: true }));
const unsupported: ActionKind[] = RETIRED_AWS_ACTIONS.map(({ type, awsKey, retired }) => ({ type, awsKey, params: [], required: [], supported: false, retired }));

/** Every kind kiot runs, in the registry's order. */
export const ACTION_KINDS: readonly ActionKind[] = registered;

const BY_TYPE = new Map([...ACTION_KINDS, ...unsupported].map((k) => [k.type, k]));
const BY_AWS_KEY = new Map([...ACTION_KINDS, ...unsupported].map((k) => [k.awsKey.toLowerCase(), k]));

/** The kind a rule file names (case-insensitive), or undefined (also for AWS kinds kiot does not run). */
export const actionKind = (type: string): ActionKind | undefined => {
  const k = BY_TYPE.get(type.toLowerCase());
  return k?.supported ? k : undefined;
};

/** Why a rule may not name `type` although AWS IoT once had it (a retired AWS feature), or undefined. */
export const retiredAction = (type: string): string | undefined => BY_TYPE.get(type.toLowerCase())?.retired;

/** The kind an AWS `Action` key names (`dynamoDBv2`, `cloudwatchMetric`), supported or not, or undefined. */
export const actionKindForAwsKey = (key: string): ActionKind | undefined => BY_AWS_KEY.get(key.toLowerCase());

/**
 * Runs the kind's config schema over `params` (templates unrendered). Returns the problems,
 * each naming its parameter when it has one; [] when valid.
 */
export function validateActionParams(type: string, params: Readonly<Record<string, unknown>>): ParamProblem[] {
  const kind = actionKind(type);
  if (!kind) return [{ param: undefined, message: `unknown action ${type}` }];
  try {
    registry.validate(kind.type, params);
    return [];
  } catch (err) {
    return paramProblems(err);
  }
}

/** `roleArn` -> `role_arn`, `putAssetPropertyValueEntries` -> `put_asset_property_value_entries`. */
export function snakeCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}
