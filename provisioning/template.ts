/**
 * AWS IoT provisioning templates as pure logic (AWS IoT developer guide, "Provisioning
 * templates"): `parseTemplate` checks a template body once, when it is stored, and throws one
 * error naming the JSON path of the first fault; `planTemplate` evaluates a checked template
 * against a device's parameters into a plan (the thing, certificate and policies to make or
 * reuse), which `apply.ts` turns into registry writes, all or nothing. No I/O here.
 *
 * The language is CloudFormation's subset that AWS IoT documents: `Parameters` (Type, Default,
 * AllowedValues, AllowedPattern), `Mappings`, `Conditions`, `Resources` (AWS::IoT::Thing,
 * AWS::IoT::Certificate, AWS::IoT::Policy, each with `Properties`, an optional `Condition` and
 * `OverrideSettings`), and the intrinsic functions Ref, Fn::Join, Fn::Select, Fn::Split,
 * Fn::FindInMap, Fn::Sub, Fn::If, Fn::Equals, Fn::And, Fn::Or, Fn::Not (and `{"Condition": c}`
 * inside the condition functions). `{"Ref": "AWS::NoValue"}` removes the property it stands for.
 */
import { PlatformError } from '../core/index.js';

export const RESOURCE_TYPES = ['AWS::IoT::Thing', 'AWS::IoT::Certificate', 'AWS::IoT::Policy'] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

/** Parameter types: CloudFormation's, of which AWS IoT's examples use String. Lists arrive comma-delimited. */
export const PARAMETER_TYPES = ['String', 'Number', 'List<Number>', 'List<String>', 'CommaDelimitedList'] as const;
export type ParameterType = (typeof PARAMETER_TYPES)[number];

/** OverrideSettings: what to do with a resource that already exists (developer guide, "Resources section"). */
export type OverrideAction = 'DO_NOTHING' | 'REPLACE' | 'FAIL' | 'MERGE';

/** The properties each resource type takes, and the override settings each property allows. */
const RESOURCE_SPECS: Record<ResourceType, { readonly properties: readonly string[]; readonly overrides: Readonly<Record<string, readonly OverrideAction[]>> }> = {
  'AWS::IoT::Thing': {
    properties: ['ThingName', 'AttributePayload', 'ThingTypeName', 'ThingGroups', 'BillingGroup', 'DeviceDefender'],
    overrides: {
      AttributePayload: ['DO_NOTHING', 'REPLACE', 'FAIL', 'MERGE'],
      ThingTypeName: ['DO_NOTHING', 'REPLACE', 'FAIL'],
      ThingGroups: ['DO_NOTHING', 'REPLACE', 'FAIL', 'MERGE'],
    },
  },
  'AWS::IoT::Certificate': {
    properties: ['CertificateSigningRequest', 'CertificateId', 'CertificatePem', 'CACertificatePem', 'Status'],
    overrides: { Status: ['DO_NOTHING', 'REPLACE', 'FAIL'] },
  },
  'AWS::IoT::Policy': { properties: ['PolicyName', 'PolicyDocument'], overrides: {} },
};

const TOP_LEVEL = ['AWSTemplateFormatVersion', 'Description', 'Parameters', 'Mappings', 'Conditions', 'Resources', 'DeviceConfiguration'];
const CERTIFICATE_STATUSES = ['ACTIVE', 'INACTIVE', 'PENDING_ACTIVATION', 'REVOKED'] as const;
const LOGICAL_ID = /^[A-Za-z0-9]{1,255}$/;
/** Pseudo parameters a template may Ref without declaring them. */
const NO_VALUE = 'AWS::NoValue';
/** AWS IoT: at most 10 KB of template body (CreateProvisioningTemplate, templateBody). */
export const MAX_TEMPLATE_BODY_BYTES = 10_240;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ParameterSpec {
  readonly type: ParameterType;
  readonly default?: string;
  readonly allowedValues?: readonly string[];
  readonly allowedPattern?: string;
}

export interface ResourceSpec {
  readonly logicalId: string;
  readonly type: ResourceType;
  readonly properties: Readonly<Record<string, Json>>;
  readonly condition?: string;
  readonly overrides: Readonly<Record<string, OverrideAction>>;
}

/** A checked template. Keep the text (`body`) for Describe; evaluate this. */
export interface Template {
  readonly body: string;
  readonly parameters: ReadonlyMap<string, ParameterSpec>;
  readonly mappings: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, Json>>>>>>;
  readonly conditions: Readonly<Record<string, Json>>;
  readonly resources: readonly ResourceSpec[];
  /** The `DeviceConfiguration` section: what RegisterThing over MQTT answers the device (fleet provisioning). */
  readonly deviceConfiguration: Readonly<Record<string, Json>>;
}

export interface PlannedThing {
  readonly logicalId: string;
  readonly thingName: string;
  readonly attributes?: Readonly<Record<string, string>>;
  readonly thingTypeName?: string;
  readonly thingGroups?: readonly string[];
  readonly overrides: Readonly<Record<string, OverrideAction>>;
}

export type PlannedCertificate = { readonly logicalId: string; readonly status: (typeof CERTIFICATE_STATUSES)[number]; readonly overrides: Readonly<Record<string, OverrideAction>> } & (
  | { readonly source: 'csr'; readonly csr: string }
  | { readonly source: 'id'; readonly certificateId: string }
  | { readonly source: 'pem'; readonly certificatePem: string; readonly caCertificatePem?: string }
);

export interface PlannedPolicy {
  readonly logicalId: string;
  readonly policyName?: string;
  /** JSON text. */
  readonly policyDocument?: string;
}

/** What a template asks for, for one device. */
export interface ProvisioningPlan {
  readonly thing?: PlannedThing;
  readonly certificate?: PlannedCertificate;
  readonly policies: readonly PlannedPolicy[];
  /** The parameters after defaults (what a pre-provisioning hook saw or changed). */
  readonly parameters: Readonly<Record<string, string>>;
  /** `DeviceConfiguration` evaluated (intrinsic functions resolved; values as text). */
  readonly deviceConfiguration: Readonly<Record<string, string>>;
}

// ---------------------------------------------------------------------------------------------
// Errors: one line, the JSON path of the fault first.

/** Path segments as JSONPath: `$.Resources.thing.Properties['Fn::Join'][1]`. */
function pathOf(path: readonly (string | number)[]): string {
  let out = '$';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? `.${p}` : `['${p.replace(/'/g, "\\'")}']`;
  return out;
}

/** A fault in a template body (InvalidRequestException on the API). */
export function templateError(path: readonly (string | number)[], message: string): PlatformError {
  const at = pathOf(path);
  return new PlatformError('REGISTRY_INVALID', `templateBody: ${at}: ${message}`, { details: { path: at } });
}

/** A fault in the parameters a device or a caller passed (InvalidRequestException). */
export function parameterError(name: string, message: string): PlatformError {
  return new PlatformError('REGISTRY_INVALID', `parameters.${name}: ${message}`, { details: { parameter: name } });
}

const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (v: unknown): string => (v === undefined ? 'nothing' : Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`);

// ---------------------------------------------------------------------------------------------
// Parsing and checking

/**
 * Parses and checks a template body: its sections, parameter declarations, resources and
 * every intrinsic function (arity, declared parameters, mappings and conditions, no condition
 * cycles). Values that depend on parameters are checked when the template is applied.
 * @throws PlatformError REGISTRY_INVALID naming the path of the first fault.
 */
export function parseTemplate(body: unknown): Template {
  if (typeof body !== 'string' || body.trim() === '') throw new PlatformError('REGISTRY_INVALID', 'templateBody: expected a JSON template as a string');
  if (Buffer.byteLength(body, 'utf8') > MAX_TEMPLATE_BODY_BYTES) throw new PlatformError('REGISTRY_INVALID', `templateBody: at most ${MAX_TEMPLATE_BODY_BYTES} bytes, received ${Buffer.byteLength(body, 'utf8')}`);
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw new PlatformError('REGISTRY_INVALID', `templateBody: not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(doc)) throw templateError([], `expected a JSON object, received ${describe(doc)}`);
  for (const key of Object.keys(doc)) if (!TOP_LEVEL.includes(key)) throw templateError([key], `unknown section (expected one of ${TOP_LEVEL.join(', ')})`);

  const parameters = parseParameters(doc['Parameters']);
  const mappings = parseMappings(doc['Mappings']);
  const conditionsRaw = doc['Conditions'] ?? {};
  if (!isObject(conditionsRaw)) throw templateError(['Conditions'], `expected an object, received ${describe(conditionsRaw)}`);
  const scope: Scope = { parameters, mappings, conditions: conditionsRaw };
  for (const [name, expr] of Object.entries(conditionsRaw)) checkCondition(expr, ['Conditions', name], scope);
  checkConditionCycles(conditionsRaw);

  const resourcesRaw = doc['Resources'];
  if (!isObject(resourcesRaw) || Object.keys(resourcesRaw).length === 0) throw templateError(['Resources'], `expected an object with at least one resource, received ${describe(resourcesRaw)}`);
  const resources: ResourceSpec[] = [];
  const counts: Record<string, number> = {};
  for (const [logicalId, raw] of Object.entries(resourcesRaw)) {
    const resource = parseResource(logicalId, raw, scope);
    counts[resource.type] = (counts[resource.type] ?? 0) + 1;
    // AWS IoT: a template provisions one thing and one certificate (and any number of policies).
    if (resource.type !== 'AWS::IoT::Policy' && counts[resource.type]! > 1) throw templateError(['Resources', logicalId], `a template may declare at most one ${resource.type}`);
    resources.push(resource);
  }
  const deviceConfiguration = doc['DeviceConfiguration'] ?? {};
  if (!isObject(deviceConfiguration)) throw templateError(['DeviceConfiguration'], `expected an object of names to values, received ${describe(deviceConfiguration)}`);
  for (const [name, value] of Object.entries(deviceConfiguration)) checkValue(value, ['DeviceConfiguration', name], scope);
  return { body, parameters, mappings, conditions: conditionsRaw, resources, deviceConfiguration };
}

interface Scope {
  readonly parameters: ReadonlyMap<string, ParameterSpec>;
  readonly mappings: Template['mappings'];
  readonly conditions: Readonly<Record<string, Json>>;
}

function parseParameters(raw: Json | undefined): Map<string, ParameterSpec> {
  const out = new Map<string, ParameterSpec>();
  if (raw === undefined) return out;
  if (!isObject(raw)) throw templateError(['Parameters'], `expected an object, received ${describe(raw)}`);
  for (const [name, decl] of Object.entries(raw)) {
    const path = ['Parameters', name];
    if (!isObject(decl)) throw templateError(path, `expected an object with a Type, received ${describe(decl)}`);
    for (const key of Object.keys(decl)) {
      if (!['Type', 'Default', 'AllowedValues', 'AllowedPattern', 'Description'].includes(key)) throw templateError([...path, key], 'unknown parameter attribute (expected Type, Default, AllowedValues, AllowedPattern or Description)');
    }
    const type = decl['Type'];
    if (typeof type !== 'string' || !(PARAMETER_TYPES as readonly string[]).includes(type)) throw templateError([...path, 'Type'], `expected one of ${PARAMETER_TYPES.join(', ')}, received ${describe(type)}`);
    let allowedValues: string[] | undefined;
    if (decl['AllowedValues'] !== undefined) {
      const av = decl['AllowedValues'];
      if (!Array.isArray(av) || av.length === 0 || !av.every((v) => typeof v === 'string' || typeof v === 'number')) throw templateError([...path, 'AllowedValues'], `expected a non-empty array of strings, received ${describe(av)}`);
      allowedValues = av.map(String);
    }
    let allowedPattern: string | undefined;
    if (decl['AllowedPattern'] !== undefined) {
      const ap = decl['AllowedPattern'];
      if (typeof ap !== 'string') throw templateError([...path, 'AllowedPattern'], `expected a regular expression as a string, received ${describe(ap)}`);
      try {
        new RegExp(`^(?:${ap})$`);
      } catch (err) {
        throw templateError([...path, 'AllowedPattern'], `not a valid regular expression (${(err as Error).message})`);
      }
      allowedPattern = ap;
    }
    const spec: ParameterSpec = { type: type as ParameterType, ...(allowedValues ? { allowedValues } : {}), ...(allowedPattern !== undefined ? { allowedPattern } : {}) };
    if (decl['Default'] !== undefined) {
      const d = decl['Default'];
      const text = typeof d === 'string' || typeof d === 'number' ? String(d) : Array.isArray(d) && d.every((x) => typeof x === 'string' || typeof x === 'number') ? d.join(',') : undefined;
      if (text === undefined) throw templateError([...path, 'Default'], `expected a string, received ${describe(d)}`);
      const problem = parameterProblem(spec, text);
      if (problem) throw templateError([...path, 'Default'], problem);
      out.set(name, { ...spec, default: text });
    } else out.set(name, spec);
  }
  return out;
}

/** Why a value does not fit its parameter's declaration, or undefined. */
function parameterProblem(spec: ParameterSpec, value: string): string | undefined {
  const items = spec.type === 'String' || spec.type === 'Number' ? [value] : value.split(',').map((s) => s.trim());
  for (const item of items) {
    if ((spec.type === 'Number' || spec.type === 'List<Number>') && (item.trim() === '' || !Number.isFinite(Number(item)))) return `expected a number, received ${JSON.stringify(item)}`;
    if (spec.allowedValues && !spec.allowedValues.includes(item)) return `expected one of ${spec.allowedValues.map((v) => JSON.stringify(v)).join(', ')}, received ${JSON.stringify(item)}`;
    if (spec.allowedPattern !== undefined && !new RegExp(`^(?:${spec.allowedPattern})$`).test(item)) return `${JSON.stringify(item)} does not match the AllowedPattern ${spec.allowedPattern}`;
  }
  return undefined;
}

function parseMappings(raw: Json | undefined): Template['mappings'] {
  if (raw === undefined) return {};
  if (!isObject(raw)) throw templateError(['Mappings'], `expected an object, received ${describe(raw)}`);
  for (const [name, map] of Object.entries(raw)) {
    if (!isObject(map)) throw templateError(['Mappings', name], `expected an object of top-level keys, received ${describe(map)}`);
    for (const [top, second] of Object.entries(map)) {
      if (!isObject(second)) throw templateError(['Mappings', name, top], `expected an object of second-level keys, received ${describe(second)}`);
    }
  }
  return raw as Template['mappings'];
}

function parseResource(logicalId: string, raw: Json, scope: Scope): ResourceSpec {
  const path = ['Resources', logicalId];
  if (!LOGICAL_ID.test(logicalId)) throw templateError(path, 'a logical id is 1 to 255 letters and digits');
  if (!isObject(raw)) throw templateError(path, `expected an object with Type and Properties, received ${describe(raw)}`);
  for (const key of Object.keys(raw)) if (!['Type', 'Properties', 'Condition', 'OverrideSettings'].includes(key)) throw templateError([...path, key], 'unknown resource attribute (expected Type, Properties, Condition or OverrideSettings)');
  const type = raw['Type'];
  if (typeof type !== 'string' || !(RESOURCE_TYPES as readonly string[]).includes(type)) throw templateError([...path, 'Type'], `expected one of ${RESOURCE_TYPES.join(', ')}, received ${describe(type)}`);
  const spec = RESOURCE_SPECS[type as ResourceType];
  const props = raw['Properties'];
  if (!isObject(props)) throw templateError([...path, 'Properties'], `expected an object, received ${describe(props)}`);
  for (const [name, value] of Object.entries(props)) {
    if (!spec.properties.includes(name)) throw templateError([...path, 'Properties', name], `unknown property of ${type} (expected one of ${spec.properties.join(', ')})`);
    checkValue(value, [...path, 'Properties', name], scope);
  }
  const has = (name: string) => props[name] !== undefined;
  if (type === 'AWS::IoT::Thing' && !has('ThingName')) throw templateError([...path, 'Properties'], 'ThingName is required');
  if (type === 'AWS::IoT::Certificate') {
    const sources = ['CertificateSigningRequest', 'CertificateId', 'CertificatePem'].filter(has);
    if (sources.length !== 1) throw templateError([...path, 'Properties'], `expected exactly one of CertificateSigningRequest, CertificateId or CertificatePem, received ${sources.length === 0 ? 'none' : sources.join(' and ')}`);
    if (has('CACertificatePem') && !has('CertificatePem')) throw templateError([...path, 'Properties', 'CACertificatePem'], 'only with CertificatePem');
    const status = props['Status'];
    if (typeof status === 'string' && !(CERTIFICATE_STATUSES as readonly string[]).includes(status.toUpperCase())) throw templateError([...path, 'Properties', 'Status'], `expected one of ${CERTIFICATE_STATUSES.join(', ')}, received ${JSON.stringify(status)}`);
  }
  if (type === 'AWS::IoT::Policy' && !has('PolicyName') && !has('PolicyDocument')) throw templateError([...path, 'Properties'], 'PolicyName or PolicyDocument is required');
  if (type === 'AWS::IoT::Policy' && typeof props['PolicyDocument'] === 'string') {
    try {
      JSON.parse(props['PolicyDocument']);
    } catch {
      throw templateError([...path, 'Properties', 'PolicyDocument'], 'not a JSON policy document');
    }
  }
  const condition = raw['Condition'];
  if (condition !== undefined && (typeof condition !== 'string' || !(condition in scope.conditions))) throw templateError([...path, 'Condition'], `expected the name of a declared condition, received ${describe(condition)}`);
  const overridesRaw = raw['OverrideSettings'] ?? {};
  if (!isObject(overridesRaw)) throw templateError([...path, 'OverrideSettings'], `expected an object, received ${describe(overridesRaw)}`);
  const overrides: Record<string, OverrideAction> = {};
  for (const [name, action] of Object.entries(overridesRaw)) {
    const allowed = spec.overrides[name];
    if (!allowed) throw templateError([...path, 'OverrideSettings', name], `${type} has no override setting ${name} (expected one of ${Object.keys(spec.overrides).join(', ') || 'none'})`);
    if (typeof action !== 'string' || !(allowed as readonly string[]).includes(action)) throw templateError([...path, 'OverrideSettings', name], `expected one of ${allowed.join(', ')}, received ${describe(action)}`);
    overrides[name] = action as OverrideAction;
  }
  return { logicalId, type: type as ResourceType, properties: props, ...(typeof condition === 'string' ? { condition } : {}), overrides };
}

/** The intrinsic function an object calls, if it is one: an object of exactly one `Ref` or `Fn::*` key. */
function intrinsic(value: Json): [string, Json] | undefined {
  if (!isObject(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  const key = keys[0]!;
  return key === 'Ref' || key.startsWith('Fn::') ? [key, value[key]!] : undefined;
}

const VALUE_FUNCTIONS = ['Ref', 'Fn::Join', 'Fn::Select', 'Fn::Split', 'Fn::FindInMap', 'Fn::Sub', 'Fn::If'];
const CONDITION_FUNCTIONS = ['Fn::Equals', 'Fn::And', 'Fn::Or', 'Fn::Not'];

/** Checks a property value: literals, and every intrinsic function inside it. */
function checkValue(value: Json, path: (string | number)[], scope: Scope): void {
  const fn = intrinsic(value);
  if (fn) return checkFunction(fn[0], fn[1], [...path, fn[0]], scope, 'value');
  if (Array.isArray(value)) value.forEach((v, i) => checkValue(v, [...path, i], scope));
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) checkValue(v, [...path, k], scope);
}

/** Checks a condition expression: a condition function or `{"Condition": name}`. */
function checkCondition(value: Json, path: (string | number)[], scope: Scope): void {
  if (isObject(value) && Object.keys(value).length === 1 && typeof value['Condition'] === 'string') {
    if (!(value['Condition'] in scope.conditions)) throw templateError([...path, 'Condition'], `no condition named ${JSON.stringify(value['Condition'])} is declared`);
    return;
  }
  const fn = intrinsic(value);
  if (!fn || !CONDITION_FUNCTIONS.includes(fn[0])) throw templateError(path, `expected a condition (Fn::Equals, Fn::And, Fn::Or, Fn::Not or {"Condition": name}), received ${describe(value)}`);
  checkFunction(fn[0], fn[1], [...path, fn[0]], scope, 'condition');
}

function arrayArgs(fn: string, args: Json, path: (string | number)[], min: number, max: number): Json[] {
  if (!Array.isArray(args) || args.length < min || args.length > max) {
    throw templateError(path, `${fn} takes ${min === max ? min : `${min} to ${max}`} arguments in an array, received ${describe(args)}`);
  }
  return args;
}

function checkFunction(fn: string, args: Json, path: (string | number)[], scope: Scope, position: 'value' | 'condition'): void {
  if (position === 'value' && !VALUE_FUNCTIONS.includes(fn)) throw templateError(path, `${fn} is not a function that returns a value here (expected one of ${VALUE_FUNCTIONS.join(', ')})`);
  switch (fn) {
    case 'Ref':
      if (typeof args !== 'string') throw templateError(path, `Ref takes a parameter name, received ${describe(args)}`);
      if (args !== NO_VALUE && !scope.parameters.has(args)) throw templateError(path, `Ref names ${JSON.stringify(args)}, which is not a declared parameter`);
      return;
    case 'Fn::Join': {
      const [delimiter, list] = arrayArgs(fn, args, path, 2, 2);
      if (typeof delimiter !== 'string') throw templateError([...path, 0], `the delimiter must be a string, received ${describe(delimiter)}`);
      return checkValue(list!, [...path, 1], scope);
    }
    case 'Fn::Select': {
      const [index, list] = arrayArgs(fn, args, path, 2, 2);
      if (!(typeof index === 'number' && Number.isInteger(index) && index >= 0) && !(typeof index === 'string' && /^\d+$/.test(index)) && !intrinsic(index!)) {
        throw templateError([...path, 0], `the index must be a non-negative integer, received ${describe(index)}`);
      }
      checkValue(index!, [...path, 0], scope);
      return checkValue(list!, [...path, 1], scope);
    }
    case 'Fn::Split': {
      const [delimiter, source] = arrayArgs(fn, args, path, 2, 2);
      if (typeof delimiter !== 'string' || delimiter === '') throw templateError([...path, 0], `the delimiter must be a non-empty string, received ${describe(delimiter)}`);
      return checkValue(source!, [...path, 1], scope);
    }
    case 'Fn::FindInMap': {
      const [map, top, second] = arrayArgs(fn, args, path, 3, 3);
      if (typeof map !== 'string' || !(map in scope.mappings)) throw templateError([...path, 0], `expected the name of a declared mapping, received ${describe(map)}`);
      checkValue(top!, [...path, 1], scope);
      return checkValue(second!, [...path, 2], scope);
    }
    case 'Fn::Sub': {
      const [text, vars] = typeof args === 'string' ? [args, {}] : arrayArgs(fn, args, path, 2, 2);
      if (typeof text !== 'string') throw templateError([...path, 0], `expected a string with \${...} placeholders, received ${describe(text)}`);
      if (!isObject(vars!)) throw templateError([...path, 1], `expected an object of variables, received ${describe(vars)}`);
      for (const [k, v] of Object.entries(vars)) checkValue(v, [...path, 1, k], scope);
      for (const name of placeholders(text)) {
        if (!(name in vars) && !scope.parameters.has(name)) throw templateError(typeof args === 'string' ? path : [...path, 0], `\${${name}} is neither a variable of Fn::Sub nor a declared parameter`);
      }
      return;
    }
    case 'Fn::If': {
      const [condition, whenTrue, whenFalse] = arrayArgs(fn, args, path, 3, 3);
      if (typeof condition !== 'string' || !(condition in scope.conditions)) throw templateError([...path, 0], `expected the name of a declared condition, received ${describe(condition)}`);
      checkValue(whenTrue!, [...path, 1], scope);
      return checkValue(whenFalse!, [...path, 2], scope);
    }
    case 'Fn::Equals': {
      const [a, b] = arrayArgs(fn, args, path, 2, 2);
      checkValue(a!, [...path, 0], scope);
      return checkValue(b!, [...path, 1], scope);
    }
    case 'Fn::And':
    case 'Fn::Or':
      return arrayArgs(fn, args, path, 2, 10).forEach((c, i) => checkCondition(c, [...path, i], scope));
    case 'Fn::Not':
      return checkCondition(arrayArgs(fn, args, path, 1, 1)[0]!, [...path, 0], scope);
    default:
      throw templateError(path, `unknown function ${fn} (expected one of ${[...VALUE_FUNCTIONS, ...CONDITION_FUNCTIONS].join(', ')})`);
  }
}

/** `${Name}` placeholders of Fn::Sub text; `${!Literal}` is written as `${Literal}` and names nothing. */
function placeholders(text: string): string[] {
  return [...text.matchAll(/\$\{([^}!][^}]*)\}/g)].map((m) => m[1]!.trim());
}

function conditionRefs(value: Json, out: Set<string>): Set<string> {
  if (Array.isArray(value)) value.forEach((v) => conditionRefs(v, out));
  else if (isObject(value)) {
    if (Object.keys(value).length === 1 && typeof value['Condition'] === 'string') out.add(value['Condition']);
    else for (const v of Object.values(value)) conditionRefs(v, out);
  }
  return out;
}

function checkConditionCycles(conditions: Readonly<Record<string, Json>>): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw templateError(['Conditions', trail[0]!], `conditions refer to each other in a cycle (${[...trail, name].join(' -> ')})`);
    state.set(name, 'visiting');
    for (const ref of conditionRefs(conditions[name]!, new Set())) visit(ref, [...trail, name]);
    state.set(name, 'done');
  };
  for (const name of Object.keys(conditions)) visit(name, []);
}

// ---------------------------------------------------------------------------------------------
// Evaluating

const REMOVED = Symbol('AWS::NoValue');
type Value = string | number | boolean | null | Value[] | { [key: string]: Value } | typeof REMOVED;

/**
 * The parameters after defaults and type checks. Values arrive as strings (RegisterThing's
 * `parameters`, a bulk line); numbers are accepted and written as text.
 * @throws PlatformError REGISTRY_INVALID naming the parameter.
 */
export function resolveParameters(template: Template, given: Readonly<Record<string, unknown>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, spec] of template.parameters) {
    const raw = Object.prototype.hasOwnProperty.call(given, name) ? given[name] : undefined;
    let value: string;
    if (raw === undefined || raw === null) {
      if (spec.default === undefined) throw parameterError(name, 'required by the template and not given (it has no Default)');
      value = spec.default;
    } else if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') value = String(raw);
    else if (Array.isArray(raw) && raw.every((x) => typeof x === 'string' || typeof x === 'number')) value = raw.join(',');
    else throw parameterError(name, `expected a string, received ${describe(raw)}`);
    const problem = parameterProblem(spec, value);
    if (problem) throw parameterError(name, problem);
    out[name] = value;
  }
  return out;
}

interface Env {
  readonly template: Template;
  readonly params: Readonly<Record<string, string>>;
  readonly conditionCache: Map<string, boolean>;
}

function refValue(env: Env, name: string, path: (string | number)[]): Value {
  if (name === NO_VALUE) return REMOVED;
  const spec = env.template.parameters.get(name);
  const value = env.params[name];
  if (!spec || value === undefined) throw templateError(path, `Ref names ${JSON.stringify(name)}, which has no value`);
  if (spec.type === 'Number') return Number(value);
  if (spec.type === 'String') return value;
  const items = value.split(',').map((s) => s.trim());
  return spec.type === 'List<Number>' ? items.map(Number) : items;
}

function evaluate(value: Json, path: (string | number)[], env: Env): Value {
  const fn = intrinsic(value);
  if (fn) return call(fn[0], fn[1], [...path, fn[0]], env);
  if (Array.isArray(value)) return value.map((v, i) => evaluate(v, [...path, i], env)).filter((v) => v !== REMOVED);
  if (isObject(value)) {
    const out: Record<string, Value> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = evaluate(v, [...path, k], env);
      if (r !== REMOVED) out[k] = r;
    }
    return out;
  }
  return value;
}

const asText = (v: Value, path: (string | number)[], what: string): string => {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw templateError(path, `${what} must be a string, received ${describe(v === REMOVED ? undefined : v)}`);
};
const asList = (v: Value, path: (string | number)[], what: string): Value[] => {
  if (Array.isArray(v)) return v;
  throw templateError(path, `${what} must be a list, received ${describe(v === REMOVED ? undefined : v)}`);
};

function call(fn: string, args: Json, path: (string | number)[], env: Env): Value {
  const a = args as Json[];
  switch (fn) {
    case 'Ref':
      return refValue(env, args as string, path);
    case 'Fn::Join':
      return asList(evaluate(a[1]!, [...path, 1], env), [...path, 1], 'Fn::Join\'s second argument')
        .map((v, i) => asText(v, [...path, 1, i], 'each item Fn::Join joins'))
        .join(a[0] as string);
    case 'Fn::Select': {
      const index = Number(asText(evaluate(a[0]!, [...path, 0], env), [...path, 0], 'the index'));
      const list = asList(evaluate(a[1]!, [...path, 1], env), [...path, 1], 'Fn::Select\'s second argument');
      if (!Number.isInteger(index) || index < 0 || index >= list.length) throw templateError([...path, 0], `index ${index} is out of range for a list of ${list.length}`);
      return list[index]!;
    }
    case 'Fn::Split':
      return asText(evaluate(a[1]!, [...path, 1], env), [...path, 1], 'the string Fn::Split splits').split(a[0] as string);
    case 'Fn::FindInMap': {
      const map = env.template.mappings[a[0] as string]!;
      const top = asText(evaluate(a[1]!, [...path, 1], env), [...path, 1], 'the top-level key');
      const second = asText(evaluate(a[2]!, [...path, 2], env), [...path, 2], 'the second-level key');
      const level = Object.prototype.hasOwnProperty.call(map, top) ? map[top]! : undefined;
      if (!level) throw templateError([...path, 1], `mapping ${a[0] as string} has no key ${JSON.stringify(top)}`);
      if (!Object.prototype.hasOwnProperty.call(level, second)) throw templateError([...path, 2], `mapping ${a[0] as string}.${top} has no key ${JSON.stringify(second)}`);
      return evaluate(level[second]!, [...path, 2], env);
    }
    case 'Fn::Sub': {
      const [text, vars] = typeof args === 'string' ? [args, {} as Record<string, Json>] : [a[0] as string, a[1] as Record<string, Json>];
      return text.replace(/\$\{([^}]*)\}/g, (whole, inner: string) => {
        if (inner.startsWith('!')) return `\${${inner.slice(1)}}`;
        const name = inner.trim();
        if (Object.prototype.hasOwnProperty.call(vars, name)) return asText(evaluate(vars[name]!, [...path, 1, name], env), [...path, 1, name], `variable ${name}`);
        const v = refValue(env, name, path);
        return Array.isArray(v) ? v.join(',') : asText(v, path, `\${${name}}`);
      });
    }
    case 'Fn::If':
      return conditionValue(env, a[0] as string) ? evaluate(a[1]!, [...path, 1], env) : evaluate(a[2]!, [...path, 2], env);
    default:
      return evaluateCondition(fn === 'Condition' ? args : ({ [fn]: args } as Json), path, env);
  }
}

function conditionValue(env: Env, name: string): boolean {
  let v = env.conditionCache.get(name);
  if (v === undefined) {
    v = evaluateCondition(env.template.conditions[name]!, ['Conditions', name], env);
    env.conditionCache.set(name, v);
  }
  return v;
}

function evaluateCondition(expr: Json, path: (string | number)[], env: Env): boolean {
  if (isObject(expr) && typeof expr['Condition'] === 'string' && Object.keys(expr).length === 1) return conditionValue(env, expr['Condition']);
  const [fn, args] = intrinsic(expr)!;
  const a = args as Json[];
  switch (fn) {
    case 'Fn::Equals': {
      const [x, y] = [evaluate(a[0]!, [...path, fn, 0], env), evaluate(a[1]!, [...path, fn, 1], env)];
      // CloudFormation compares as strings: {"Ref": "Count"} (Number 3) equals "3".
      return JSON.stringify(typeof x === 'number' ? String(x) : x) === JSON.stringify(typeof y === 'number' ? String(y) : y);
    }
    case 'Fn::And':
      return a.every((c, i) => evaluateCondition(c, [...path, fn, i], env));
    case 'Fn::Or':
      return a.some((c, i) => evaluateCondition(c, [...path, fn, i], env));
    case 'Fn::Not':
      return !evaluateCondition(a[0]!, [...path, fn, 0], env);
    default:
      throw templateError(path, `${fn} is not a condition`);
  }
}

/**
 * Evaluates a checked template for one device: defaults and parameter checks, conditions,
 * every intrinsic function, then each resource's properties into the plan.
 * @throws PlatformError REGISTRY_INVALID naming the parameter, or the path of the value that
 *   did not evaluate (an index out of range, a missing mapping key, a property of the wrong type).
 */
export function planTemplate(template: Template, given: Readonly<Record<string, unknown>>): ProvisioningPlan {
  const params = resolveParameters(template, given);
  const env: Env = { template, params, conditionCache: new Map() };
  let thing: PlannedThing | undefined;
  let certificate: PlannedCertificate | undefined;
  const policies: PlannedPolicy[] = [];
  for (const resource of template.resources) {
    if (resource.condition !== undefined && !conditionValue(env, resource.condition)) continue;
    const base = ['Resources', resource.logicalId, 'Properties'];
    const props: Record<string, Value> = {};
    for (const [name, raw] of Object.entries(resource.properties)) {
      const v = evaluate(raw, [...base, name], env);
      if (v !== REMOVED) props[name] = v;
    }
    const text = (name: string): string | undefined => (props[name] === undefined ? undefined : asText(props[name]!, [...base, name], name));
    switch (resource.type) {
      case 'AWS::IoT::Thing': {
        const thingName = text('ThingName');
        if (!thingName) throw templateError([...base, 'ThingName'], 'evaluated to nothing');
        const attributes = props['AttributePayload'];
        let attrs: Record<string, string> | undefined;
        if (attributes !== undefined) {
          if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) throw templateError([...base, 'AttributePayload'], `must be an object of names to values, received ${describe(attributes)}`);
          attrs = {};
          for (const [k, v] of Object.entries(attributes)) attrs[k] = asText(v, [...base, 'AttributePayload', k], `attribute ${k}`);
        }
        const groups = props['ThingGroups'] === undefined ? undefined : asList(props['ThingGroups']!, [...base, 'ThingGroups'], 'ThingGroups').map((g, i) => asText(g, [...base, 'ThingGroups', i], 'a thing group name'));
        const thingTypeName = text('ThingTypeName');
        thing = { logicalId: resource.logicalId, thingName, ...(attrs ? { attributes: attrs } : {}), ...(thingTypeName ? { thingTypeName } : {}), ...(groups ? { thingGroups: groups } : {}), overrides: resource.overrides };
        break;
      }
      case 'AWS::IoT::Certificate': {
        // AWS's own fleet provisioning examples write "Active": statuses are read case-insensitively.
        const status = text('Status')?.toUpperCase() ?? 'ACTIVE';
        if (!(CERTIFICATE_STATUSES as readonly string[]).includes(status)) throw templateError([...base, 'Status'], `expected one of ${CERTIFICATE_STATUSES.join(', ')}, received ${JSON.stringify(status)}`);
        const common = { logicalId: resource.logicalId, status: status as PlannedCertificate['status'], overrides: resource.overrides };
        const csr = text('CertificateSigningRequest');
        const id = text('CertificateId');
        const pem = text('CertificatePem');
        const caPem = text('CACertificatePem');
        if (csr) certificate = { ...common, source: 'csr', csr };
        else if (id) certificate = { ...common, source: 'id', certificateId: id };
        else if (pem) certificate = { ...common, source: 'pem', certificatePem: pem, ...(caPem ? { caCertificatePem: caPem } : {}) };
        else throw templateError(base, 'the certificate source evaluated to nothing');
        break;
      }
      case 'AWS::IoT::Policy': {
        const policyName = text('PolicyName');
        const doc = props['PolicyDocument'];
        const policyDocument = doc === undefined ? undefined : typeof doc === 'string' ? doc : JSON.stringify(doc);
        if (policyName === undefined && policyDocument === undefined) throw templateError(base, 'PolicyName and PolicyDocument evaluated to nothing');
        policies.push({ logicalId: resource.logicalId, ...(policyName !== undefined ? { policyName } : {}), ...(policyDocument !== undefined ? { policyDocument } : {}) });
        break;
      }
    }
  }
  const deviceConfiguration: Record<string, string> = {};
  for (const [name, raw] of Object.entries(template.deviceConfiguration)) {
    const v = evaluate(raw, ['DeviceConfiguration', name], env);
    if (v === REMOVED) continue;
    deviceConfiguration[name] = typeof v === 'string' ? v : Array.isArray(v) ? v.join(',') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
  }
  return { ...(thing ? { thing } : {}), ...(certificate ? { certificate } : {}), policies, parameters: params, deviceConfiguration };
}
