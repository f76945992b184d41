/**
 * The AWS IoT policy engine: pure, synchronous, and built for the gateway's hot path.
 *
 * Semantics (AWS IoT developer guide, "AWS IoT Core policies", "policy variables", and IAM's
 * evaluation logic, which IoT policies follow):
 * - default deny; an explicit Deny wins over any Allow;
 * - `*` (any run of characters, `/` included) and `?` (one character) in actions and resources;
 *   actions compare case-insensitively, resources case-sensitively; MQTT's `+` and `#` are plain
 *   characters, so `topicfilter/a/#` in a policy matches only the subscription filter `a/#`;
 * - resources are ARNs: `topic/<name>` for iot:Publish, iot:Receive, iot:RetainPublish;
 *   `topicfilter/<filter>` for iot:Subscribe; `client/<clientId>` for iot:Connect;
 *   `thing/<name>` for shadow and jobs actions. kiot is one account in one region, so the
 *   partition, region and account fields of a policy's ARN are not compared: a policy written
 *   for `arn:aws:iot:us-east-1:123456789012:topic/x` works unchanged;
 * - policy variables `${iot:ClientId}`, `${iot:Connection.Thing.ThingName}`, `.ThingTypeName`,
 *   `.Attributes[name]`, `.IsAttached`, `${iot:Certificate.Subject.CommonName}` and the other
 *   `iot:Certificate.*` fields, `${aws:SourceIp}`, and the escapes `${*}`, `${?}`, `${$}`.
 *   A substituted value is literal (a client id `a*` does not become a wildcard). A variable
 *   that cannot be resolved makes the resource entry (or condition value) that holds it match
 *   nothing, so a statement whose resources all need it never matches. Certificate values
 *   holding `*` or `?` are not substituted (AWS leaves the variable text in place);
 * - Condition blocks with the IAM operators (String*, Numeric*, Date*, Bool, IpAddress,
 *   NotIpAddress, Arn*, Null), the `...IfExists` suffix and the `ForAnyValue:`/`ForAllValues:`
 *   prefixes. Operators, keys in an operator and blocks are ANDed; values of one key are ORed.
 *   A key missing from the request makes a condition false, except for negated operators,
 *   `...IfExists` and `ForAllValues:` (true), as IAM does.
 *
 * Use: `compilePolicies(docs)` once per set of policies (a principal's), then `bind(context)`
 * once per connection, then call the bound function per publish/subscribe.
 */
import { BlockList, isIP } from 'node:net';
import { PlatformError } from '../../core/index.js';
import type { CertificateFields } from '../certificates/x509.js';

/** What is known about the connection whose requests are being decided. */
export interface AuthContext {
  readonly clientId?: string;
  readonly sourceIp?: string;
  /** The thing the connection acts as (see `resolveConnectionThing`). */
  readonly thing?: {
    readonly name: string;
    readonly typeName?: string;
    readonly attributes?: Readonly<Record<string, string>>;
  };
  /** `iot:Connection.Thing.IsAttached`: the thing named by the client id is attached to the principal. */
  readonly isAttached?: boolean;
  readonly certificate?: {
    readonly id: string;
    readonly fields?: CertificateFields;
  };
}

/** Per-request condition keys (`iot:LastWillTopic`, `iot:ConnectAttributes`, `aws:CurrentTime`, ...). */
export type RequestKeys = Readonly<Record<string, string | readonly string[]>>;

/** Decides one request for a bound connection. */
export type BoundAuthorizer = (action: string, resourceArn: string, keys?: RequestKeys) => boolean;

export interface CompiledPolicies {
  /** Decides with a context; prefer `bind` when one context makes many requests. */
  authorize(action: string, resourceArn: string, context: AuthContext, keys?: RequestKeys): boolean;
  /** Resolves the policy variables of a context once and returns the per-request function. */
  bind(context: AuthContext): BoundAuthorizer;
  /** Number of statements compiled (for metrics and tests). */
  readonly statementCount: number;
}

/** A statement after validation, as stored text would describe it. */
interface StatementSpec {
  readonly effect: 'Allow' | 'Deny';
  readonly actions: readonly string[] | undefined;
  readonly notActions: readonly string[] | undefined;
  readonly resources: readonly string[] | undefined;
  readonly notResources: readonly string[] | undefined;
  readonly condition: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> | undefined;
}

/** AWS IoT documents: Version 2012-10-17 (or the old 2008-10-17), max 2048 characters without whitespace. */
const SUPPORTED_VERSIONS = new Set(['2012-10-17', '2008-10-17']);
/** AWS IoT: "The maximum size of a policy document is 2048 characters (excluding white space)". */
export const MAX_POLICY_CHARS = 2048;

/**
 * Checks a policy document and returns its statements. Throws POLICY_MALFORMED naming what is
 * wrong. Accepts the JSON text (as the API carries it) or the parsed object.
 */
export function parsePolicyDocument(document: unknown): readonly StatementSpec[] {
  let doc: unknown = document;
  if (typeof document === 'string') {
    if (document.replace(/\s+/g, '').length > MAX_POLICY_CHARS) {
      throw malformed(`the document has more than ${MAX_POLICY_CHARS} characters (whitespace excluded)`);
    }
    try {
      doc = JSON.parse(document);
    } catch (err) {
      throw malformed(`the document is not JSON: ${(err as Error).message}`);
    }
  }
  if (!isObject(doc)) throw malformed('the document must be a JSON object');
  const version = doc['Version'];
  if (version !== undefined && (typeof version !== 'string' || !SUPPORTED_VERSIONS.has(version))) {
    throw malformed(`Version: expected "2012-10-17", received ${JSON.stringify(version)}`);
  }
  const raw = doc['Statement'];
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  if (list.length === 0) throw malformed('Statement: expected at least one statement');
  return list.map((s, i) => parseStatement(s, `Statement[${i}]`));
}

function parseStatement(s: unknown, where: string): StatementSpec {
  if (!isObject(s)) throw malformed(`${where}: expected an object`);
  const effect = s['Effect'];
  if (effect !== 'Allow' && effect !== 'Deny') throw malformed(`${where}.Effect: expected "Allow" or "Deny", received ${JSON.stringify(effect)}`);
  const actions = stringList(s['Action'], `${where}.Action`);
  const notActions = stringList(s['NotAction'], `${where}.NotAction`);
  const resources = stringList(s['Resource'], `${where}.Resource`);
  const notResources = stringList(s['NotResource'], `${where}.NotResource`);
  if (!actions === !notActions) throw malformed(`${where}: expected exactly one of Action and NotAction`);
  if (!resources === !notResources) throw malformed(`${where}: expected exactly one of Resource and NotResource`);
  const cond = s['Condition'];
  let condition: Record<string, Record<string, string[]>> | undefined;
  if (cond !== undefined) {
    if (!isObject(cond)) throw malformed(`${where}.Condition: expected an object`);
    condition = {};
    for (const [operator, block] of Object.entries(cond)) {
      if (!parseOperator(operator)) throw malformed(`${where}.Condition: unknown operator "${operator}"`);
      if (!isObject(block)) throw malformed(`${where}.Condition.${operator}: expected an object of keys`);
      const keys: Record<string, string[]> = {};
      for (const [key, values] of Object.entries(block)) {
        const list = Array.isArray(values) ? values : [values];
        if (!list.every((v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) {
          throw malformed(`${where}.Condition.${operator}.${key}: expected strings`);
        }
        keys[key] = list.map(String);
      }
      condition[operator] = keys;
    }
  }
  return { effect, actions, notActions, resources, notResources, condition };
}

function stringList(value: unknown, where: string): string[] | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((v) => typeof v === 'string' && v.length > 0)) {
    throw malformed(`${where}: expected a non-empty string or list of strings`);
  }
  return list as string[];
}

// ---------------------------------------------------------------------------------------------
// Patterns: text with `*`, `?` and `${variable}` compiled once into tokens.

type Token = { readonly lit: string } | { readonly star: true } | { readonly any1: true } | { readonly variable: string };

/** Splits pattern text into tokens. `${*}`, `${?}` and `${$}` are the literal characters. */
function tokenize(text: string, wildcards: boolean): Token[] {
  const tokens: Token[] = [];
  let lit = '';
  const flush = (): void => {
    if (lit) tokens.push({ lit });
    lit = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '$' && text[i + 1] === '{') {
      const end = text.indexOf('}', i + 2);
      if (end > 0) {
        const name = text.slice(i + 2, end);
        i = end;
        if (name === '*' || name === '?' || name === '$') lit += name;
        else {
          flush();
          tokens.push({ variable: name });
        }
        continue;
      }
    }
    if (wildcards && c === '*') {
      flush();
      tokens.push({ star: true });
    } else if (wildcards && c === '?') {
      flush();
      tokens.push({ any1: true });
    } else lit += c;
  }
  flush();
  return tokens;
}

const STAR = -1;
const ANY1 = -2;

/** A glob as code units: characters are their UTF-16 codes, `*` is -1, `?` is -2. */
type Glob = Int32Array;

/** Resolves variables into literal characters; undefined when one cannot be resolved. */
function bindTokens(tokens: readonly Token[], lookup: (name: string) => string | undefined, foldCase: boolean): Glob | undefined {
  const units: number[] = [];
  for (const t of tokens) {
    let text: string | undefined;
    if ('lit' in t) text = t.lit;
    else if ('star' in t) {
      if (units[units.length - 1] !== STAR) units.push(STAR);
      continue;
    } else if ('any1' in t) {
      units.push(ANY1);
      continue;
    } else {
      text = lookup(t.variable);
      if (text === undefined) return undefined;
    }
    if (foldCase) text = text.toLowerCase();
    for (let i = 0; i < text.length; i++) units.push(text.charCodeAt(i));
  }
  return Int32Array.from(units);
}

/** Wildcard match (iterative, backtracking only to the last `*`): linear in practice. */
function globMatch(glob: Glob, text: string, from = 0): boolean {
  let p = 0;
  let t = from;
  let starP = -1;
  let starT = 0;
  const n = glob.length;
  while (t < text.length) {
    const u = p < n ? glob[p]! : 0;
    if (p < n && (u === ANY1 || u === text.charCodeAt(t))) {
      p++;
      t++;
    } else if (p < n && u === STAR) {
      starP = p++;
      starT = t;
    } else if (starP >= 0) {
      p = starP + 1;
      t = ++starT;
    } else return false;
  }
  while (p < n && glob[p] === STAR) p++;
  return p === n;
}

const hasVariables = (tokens: readonly Token[]): boolean => tokens.some((t) => 'variable' in t);
const isMatchAll = (glob: Glob): boolean => glob.length === 1 && glob[0] === STAR;

// ---------------------------------------------------------------------------------------------
// Resources: `arn:<partition>:<service>:<region>:<account>:<resource>`, region/account ignored.

interface ResourcePattern {
  /** Service part (`iot`) as a glob, or undefined for a pattern that is not a full ARN. */
  readonly service: readonly Token[] | undefined;
  /** The resource part, or the whole text when `service` is undefined. */
  readonly rest: readonly Token[];
  readonly dynamic: boolean;
}

function compileResource(text: string): ResourcePattern {
  const parts = splitArn(text);
  if (parts) {
    const service = tokenize(parts.service, true);
    const rest = tokenize(parts.rest, true);
    return { service, rest, dynamic: hasVariables(rest) || hasVariables(service) };
  }
  const rest = tokenize(text, true);
  return { service: undefined, rest, dynamic: hasVariables(rest) };
}

/** Splits at the first five colons; undefined unless it starts with `arn:` and has all six parts. */
function splitArn(arn: string): { service: string; rest: string; restStart: number } | undefined {
  if (!arn.startsWith('arn:')) return undefined;
  let idx = 3;
  const colons: number[] = [idx];
  for (let i = 0; i < 4; i++) {
    idx = arn.indexOf(':', idx + 1);
    if (idx < 0) return undefined;
    colons.push(idx);
  }
  return { service: arn.slice(colons[1]! + 1, colons[2]), rest: arn.slice(colons[4]! + 1), restStart: colons[4]! + 1 };
}

type ResourceMatcher = (arn: string) => boolean;

function bindResource(pattern: ResourcePattern, lookup: (name: string) => string | undefined): ResourceMatcher {
  const rest = bindTokens(pattern.rest, lookup, false);
  if (!rest) return () => false;
  if (!pattern.service) {
    if (isMatchAll(rest)) return () => true;
    return (arn) => globMatch(rest, arn);
  }
  const service = bindTokens(pattern.service, lookup, true);
  if (!service) return () => false;
  return (arn) => {
    const parts = splitArn(arn);
    if (!parts) return false;
    return globMatch(service, parts.service.toLowerCase()) && globMatch(rest, arn, parts.restStart);
  };
}

// ---------------------------------------------------------------------------------------------
// Variables and condition keys.

type KeyValue = string | readonly string[] | undefined;

/** Normalises a key for lookup: case-insensitive except an attribute name in brackets. */
function normaliseKey(name: string): string {
  const bracket = name.indexOf('[');
  return bracket < 0 ? name.toLowerCase() : name.slice(0, bracket).toLowerCase() + name.slice(bracket);
}

const THING_ATTRIBUTE_PREFIX = 'iot:connection.thing.attributes[';
const CERT_PREFIX = 'iot:certificate.';

/** Resolves a context key (variable or condition key) to its value(s); undefined when unknown. */
function contextValue(context: AuthContext, key: string): KeyValue {
  const k = normaliseKey(key);
  switch (k) {
    case 'iot:clientid':
      return context.clientId;
    case 'aws:sourceip':
      return context.sourceIp;
    case 'iot:connection.thing.thingname':
      return context.thing?.name;
    case 'iot:connection.thing.thingtypename':
      return context.thing?.typeName;
    case 'iot:connection.thing.isattached':
      return context.isAttached === undefined ? undefined : String(context.isAttached);
    case 'iot:certificateid':
      return context.certificate?.id;
  }
  if (k.startsWith(THING_ATTRIBUTE_PREFIX) && k.endsWith(']')) {
    const attribute = k.slice(THING_ATTRIBUTE_PREFIX.length, -1);
    return context.thing?.attributes?.[attribute];
  }
  if (k.startsWith(CERT_PREFIX)) return certificateValue(context.certificate?.fields, key.slice(CERT_PREFIX.length));
  return undefined;
}

/** `Subject.CommonName`, `Issuer.Organization.List`, `SubjectAlternativeName.DNSName`, `Issuer.AlternativeName.IPAddress`, `SerialNumber`. */
function certificateValue(fields: CertificateFields | undefined, path: string): KeyValue {
  if (!fields) return undefined;
  const segments = path.split('.');
  const list = segments[segments.length - 1]?.toLowerCase() === 'list';
  if (list) segments.pop();
  const [group, a, b] = segments.map((s) => s.toLowerCase());
  let source: Readonly<Record<string, readonly string[]>> | undefined;
  let attr: string | undefined;
  if (group === 'serialnumber' && a === undefined) return list ? undefined : fields.serialNumber;
  if (group === 'subject') [source, attr] = [fields.subject, a];
  else if (group === 'subjectalternativename') [source, attr] = [fields.subjectAlternativeName, a];
  else if (group === 'issuer' && a === 'alternativename') [source, attr] = [fields.issuerAlternativeName, b];
  else if (group === 'issuer') [source, attr] = [fields.issuer, a];
  if (!source || attr === undefined) return undefined;
  const entry = Object.entries(source).find(([name]) => name.toLowerCase() === attr);
  const values = entry?.[1];
  if (!values || values.length === 0) return undefined;
  // AWS: multi-value attributes return the first value unless `.List` is asked for; lists hold at most 5.
  return list ? values.slice(0, 5) : values[0];
}

/** A variable as a policy substitutes it: single-valued; certificate values with wildcards stay unresolved. */
function variableValue(context: AuthContext, name: string): string | undefined {
  const value = contextValue(context, name);
  if (typeof value !== 'string') return undefined;
  if (normaliseKey(name).startsWith(CERT_PREFIX) && /[*?]/.test(value)) return undefined;
  return value;
}

// ---------------------------------------------------------------------------------------------
// Conditions.

type BaseOperator =
  | 'StringEquals' | 'StringNotEquals' | 'StringEqualsIgnoreCase' | 'StringNotEqualsIgnoreCase' | 'StringLike' | 'StringNotLike'
  | 'NumericEquals' | 'NumericNotEquals' | 'NumericLessThan' | 'NumericLessThanEquals' | 'NumericGreaterThan' | 'NumericGreaterThanEquals'
  | 'DateEquals' | 'DateNotEquals' | 'DateLessThan' | 'DateLessThanEquals' | 'DateGreaterThan' | 'DateGreaterThanEquals'
  | 'Bool' | 'IpAddress' | 'NotIpAddress' | 'ArnEquals' | 'ArnNotEquals' | 'ArnLike' | 'ArnNotLike' | 'Null';

const BASE_OPERATORS: ReadonlySet<string> = new Set<BaseOperator>([
  'StringEquals', 'StringNotEquals', 'StringEqualsIgnoreCase', 'StringNotEqualsIgnoreCase', 'StringLike', 'StringNotLike',
  'NumericEquals', 'NumericNotEquals', 'NumericLessThan', 'NumericLessThanEquals', 'NumericGreaterThan', 'NumericGreaterThanEquals',
  'DateEquals', 'DateNotEquals', 'DateLessThan', 'DateLessThanEquals', 'DateGreaterThan', 'DateGreaterThanEquals',
  'Bool', 'IpAddress', 'NotIpAddress', 'ArnEquals', 'ArnNotEquals', 'ArnLike', 'ArnNotLike', 'Null',
]);

const NEGATED: ReadonlySet<string> = new Set([
  'StringNotEquals', 'StringNotEqualsIgnoreCase', 'StringNotLike', 'NumericNotEquals', 'DateNotEquals', 'NotIpAddress', 'ArnNotEquals', 'ArnNotLike',
]);

interface Operator {
  readonly base: BaseOperator;
  readonly set: 'any' | 'all' | undefined;
  readonly ifExists: boolean;
}

function parseOperator(text: string): Operator | undefined {
  let rest = text;
  let set: Operator['set'];
  if (rest.startsWith('ForAnyValue:')) [set, rest] = ['any', rest.slice(12)];
  else if (rest.startsWith('ForAllValues:')) [set, rest] = ['all', rest.slice(13)];
  const ifExists = rest.endsWith('IfExists') && rest !== 'IfExists';
  if (ifExists) rest = rest.slice(0, -8);
  if (!BASE_OPERATORS.has(rest) || (ifExists && rest === 'Null')) return undefined;
  return { base: rest as BaseOperator, set, ifExists };
}

/** Operators whose policy values are globs (IAM: ArnEquals and ArnLike both take wildcards). */
const isGlobOperator = (base: BaseOperator): boolean => base.endsWith('Like') || base.startsWith('Arn');

/** The non-negated comparison of one request value against one policy value. */
function compareOne(base: BaseOperator, actual: string, expected: string | Glob): boolean {
  if (typeof expected !== 'string') return globMatch(expected, actual); // the *Like operators
  switch (base) {
    case 'StringEquals':
    case 'StringNotEquals':
    case 'ArnEquals':
    case 'ArnNotEquals':
      return actual === expected;
    case 'StringEqualsIgnoreCase':
    case 'StringNotEqualsIgnoreCase':
      return actual.toLowerCase() === expected.toLowerCase();
    case 'Bool':
      return actual.toLowerCase() === expected.toLowerCase();
    case 'NumericEquals':
    case 'NumericNotEquals':
      return numeric(actual) === numeric(expected);
    case 'NumericLessThan':
      return numeric(actual) < numeric(expected);
    case 'NumericLessThanEquals':
      return numeric(actual) <= numeric(expected);
    case 'NumericGreaterThan':
      return numeric(actual) > numeric(expected);
    case 'NumericGreaterThanEquals':
      return numeric(actual) >= numeric(expected);
    case 'DateEquals':
    case 'DateNotEquals':
      return date(actual) === date(expected);
    case 'DateLessThan':
      return date(actual) < date(expected);
    case 'DateLessThanEquals':
      return date(actual) <= date(expected);
    case 'DateGreaterThan':
      return date(actual) > date(expected);
    case 'DateGreaterThanEquals':
      return date(actual) >= date(expected);
    case 'IpAddress':
    case 'NotIpAddress':
      return ipInRange(actual, expected);
    default:
      return false;
  }
}

const numeric = (s: string): number => (s.trim() === '' ? Number.NaN : Number(s));
/** ISO 8601 or epoch seconds, as IAM accepts. */
const date = (s: string): number => (/^\d+(\.\d+)?$/.test(s) ? Number(s) * 1000 : Date.parse(s));

function ipInRange(ip: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const family = isIP(net ?? '');
  const ipFamily = isIP(ip);
  if (family === 0 || ipFamily !== family) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const bits = bitsText === undefined ? (family === 4 ? 32 : 128) : Number(bitsText);
  if (!Number.isInteger(bits)) return false;
  const list = new BlockList();
  list.addSubnet(net!, bits, type);
  return list.check(ip, type);
}

/** One `operator: { key: values }` entry, compiled. */
interface ConditionTerm {
  readonly operator: Operator;
  readonly key: string;
  /** Policy values as tokens (variables allowed; wildcards only for *Like operators). */
  readonly values: readonly (readonly Token[])[];
  readonly usesRequestKeys: boolean;
}

/** Condition keys that come with each request rather than with the connection. */
const REQUEST_SCOPED = (key: string): boolean => {
  const k = normaliseKey(key);
  return !(k === 'iot:clientid' || k === 'aws:sourceip' || k === 'iot:certificateid' || k.startsWith('iot:connection.') || k.startsWith(CERT_PREFIX));
};

function compileConditions(condition: StatementSpec['condition']): ConditionTerm[] {
  const terms: ConditionTerm[] = [];
  for (const [opText, block] of Object.entries(condition ?? {})) {
    const operator = parseOperator(opText)!;
    const like = isGlobOperator(operator.base);
    for (const [key, values] of Object.entries(block)) {
      const tokens = values.map((v) => tokenize(v, like));
      const usesRequestKeys = REQUEST_SCOPED(key) || tokens.some((t) => t.some((x) => 'variable' in x && REQUEST_SCOPED(x.variable)));
      terms.push({ operator, key, values: tokens, usesRequestKeys });
    }
  }
  return terms;
}

function evaluateTerm(term: ConditionTerm, context: AuthContext, keys: RequestKeys | undefined): boolean {
  const { operator } = term;
  const raw = lookupKey(term.key, context, keys);
  const actual = raw === undefined ? [] : typeof raw === 'string' ? [raw] : raw;
  if (operator.base === 'Null') {
    const isNull = actual.length === 0;
    return term.values.some((v) => literalOf(v)?.toLowerCase() === String(isNull));
  }
  if (actual.length === 0) {
    if (operator.ifExists) return true;
    if (operator.set === 'all') return true;
    if (operator.set === 'any') return false;
    return NEGATED.has(operator.base);
  }
  const like = isGlobOperator(operator.base);
  const expected: (string | Glob)[] = [];
  const lookup = (name: string): string | undefined => variableOrRequest(name, context, keys);
  for (const tokens of term.values) {
    if (like) {
      const glob = bindTokens(tokens, lookup, false);
      if (glob) expected.push(glob);
    } else {
      const glob = bindTokens(tokens, lookup, false);
      if (glob) expected.push(String.fromCharCode(...glob));
    }
  }
  const negated = NEGATED.has(operator.base);
  const matchesAny = (value: string): boolean => expected.some((e) => compareOne(operator.base, value, e));
  // Negated operators hold when the value matches none of the policy values.
  const holds = (value: string): boolean => (negated ? !matchesAny(value) : matchesAny(value));
  if (operator.set === 'all') return actual.every(holds);
  if (operator.set === 'any') return actual.some(holds);
  return negated ? actual.every(holds) : actual.some(holds);
}

function literalOf(tokens: readonly Token[]): string | undefined {
  return tokens.length === 1 && 'lit' in tokens[0]! ? tokens[0].lit : tokens.length === 0 ? '' : undefined;
}

function lookupKey(key: string, context: AuthContext, keys: RequestKeys | undefined): KeyValue {
  const fromContext = contextValue(context, key);
  if (fromContext !== undefined) return fromContext;
  if (!keys) return undefined;
  if (key in keys) return keys[key];
  const k = normaliseKey(key);
  for (const [name, value] of Object.entries(keys)) if (normaliseKey(name) === k) return value;
  return undefined;
}

function variableOrRequest(name: string, context: AuthContext, keys: RequestKeys | undefined): string | undefined {
  const v = variableValue(context, name);
  if (v !== undefined) return v;
  const r = keys ? lookupKey(name, {}, keys) : undefined;
  return typeof r === 'string' ? r : undefined;
}

// ---------------------------------------------------------------------------------------------
// Compilation.

interface CompiledStatement {
  readonly deny: boolean;
  /** Action globs, lowercased; `not` for NotAction. */
  readonly actions: readonly Glob[];
  readonly notAction: boolean;
  readonly resources: readonly ResourcePattern[];
  readonly notResource: boolean;
  /** Matchers for resources without variables, shared by every binding. */
  readonly staticResources: readonly (ResourceMatcher | undefined)[];
  readonly conditions: readonly ConditionTerm[];
}

/** Compiles the documents of one principal's policies into a decision function. Throws POLICY_MALFORMED. */
export function compilePolicies(documents: readonly unknown[]): CompiledPolicies {
  const statements: CompiledStatement[] = [];
  for (const doc of documents) {
    for (const spec of parsePolicyDocument(doc)) {
      const actionTexts = spec.actions ?? spec.notActions ?? [];
      const resourceTexts = spec.resources ?? spec.notResources ?? [];
      const resources = resourceTexts.map(compileResource);
      statements.push({
        deny: spec.effect === 'Deny',
        actions: actionTexts.map((a) => bindTokens(tokenize(a, true), () => undefined, true) ?? Int32Array.of()),
        notAction: spec.notActions !== undefined,
        resources,
        notResource: spec.notResources !== undefined,
        staticResources: resources.map((r) => (r.dynamic ? undefined : bindResource(r, () => undefined))),
        conditions: compileConditions(spec.condition),
      });
    }
  }

  // Statements whose Action covers an action name, computed once per name.
  const byAction = new Map<string, readonly number[]>();
  const statementsFor = (action: string): readonly number[] => {
    const key = action.toLowerCase();
    let found = byAction.get(key);
    if (!found) {
      found = [];
      statements.forEach((s, i) => {
        const hit = s.actions.some((g) => globMatch(g, key));
        if (hit !== s.notAction) (found as number[]).push(i);
      });
      // Deny statements first, so that the first matching Deny ends the decision.
      found = [...found].sort((a, b) => Number(statements[b]!.deny) - Number(statements[a]!.deny));
      if (byAction.size < 256) byAction.set(key, found);
    }
    return found;
  };

  const bind = (context: AuthContext): BoundAuthorizer => {
    const lookup = (name: string): string | undefined => variableValue(context, name);
    // Per statement: resource matchers and the connection-scoped part of its conditions, resolved now.
    const bound = statements.map((s) => {
      const matchers = s.resources.map((r, i) => s.staticResources[i] ?? bindResource(r, lookup));
      const staticOk = s.conditions.every((t) => t.usesRequestKeys || evaluateTerm(t, context, undefined));
      const dynamic = s.conditions.filter((t) => t.usesRequestKeys);
      return { s, matchers, staticOk, dynamic };
    });
    return (action, resourceArn, keys) => {
      // Denies are sorted first, so the first statement that applies decides.
      for (const i of statementsFor(action)) {
        const b = bound[i]!;
        if (!b.staticOk) continue;
        const hit = b.matchers.some((m) => m(resourceArn));
        if (hit === b.s.notResource) continue;
        if (b.dynamic.length > 0 && !b.dynamic.every((t) => evaluateTerm(t, context, keys))) continue;
        return !b.s.deny;
      }
      return false;
    };
  };

  const bindings = new WeakMap<AuthContext, BoundAuthorizer>();
  return {
    statementCount: statements.length,
    bind,
    authorize(action, resourceArn, context, keys) {
      let fn = bindings.get(context);
      if (!fn) bindings.set(context, (fn = bind(context)));
      return fn(action, resourceArn, keys);
    },
  };
}

/** ARNs of the resources the gateway asks about. */
export interface ArnScope {
  readonly partition?: string;
  readonly region: string;
  readonly accountId: string;
}

/** `arn:aws:iot:<region>:<account>:<type>/<name>` for `topic`, `topicfilter`, `client`, `thing`, ... */
export function iotArn(scope: ArnScope, type: string, name: string): string {
  return `arn:${scope.partition ?? 'aws'}:iot:${scope.region}:${scope.accountId}:${type}/${name}`;
}

const malformed = (message: string): PlatformError => new PlatformError('POLICY_MALFORMED', `policyDocument: ${message}`);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
