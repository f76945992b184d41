/**
 * The template language as pure logic: what a template may say (one error naming the path of
 * the fault), and what it evaluates to, by example and by property (fast-check).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PlatformError } from '../core/index.js';
import { parseTemplate, planTemplate } from './template.js';

const body = (doc: unknown): string => JSON.stringify(doc);
const thingTemplate = (thingName: unknown, extra: Record<string, unknown> = {}) =>
  parseTemplate(body({ Parameters: { A: { Type: 'String' }, B: { Type: 'String', Default: 'b' } }, ...extra, Resources: { thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: thingName } } } }));
const nameOf = (t: ReturnType<typeof parseTemplate>, params: Record<string, unknown>): string | undefined => planTemplate(t, params).thing?.thingName;

/** The message of the PlatformError `fn` throws (fails the test if it throws anything else or nothing). */
function faultOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PlatformError);
    expect((err as PlatformError).code).toBe('REGISTRY_INVALID');
    return (err as Error).message;
  }
  throw new Error('expected an error, but it succeeded');
}

const FULL = {
  Parameters: {
    ThingName: { Type: 'String', AllowedPattern: '[a-z0-9-]+' },
    SerialNumber: { Type: 'String' },
    Location: { Type: 'String', Default: 'WA', AllowedValues: ['WA', 'OR'] },
    Count: { Type: 'Number', Default: '3' },
    Groups: { Type: 'List<String>', Default: 'g1,g2' },
    CSR: { Type: 'String', Default: '' },
  },
  Mappings: { Sites: { WA: { Tier: 'gold' }, OR: { Tier: 'silver' } } },
  Conditions: {
    InWA: { 'Fn::Equals': [{ Ref: 'Location' }, 'WA'] },
    HasCsr: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'CSR' }, ''] }] },
    Big: { 'Fn::And': [{ Condition: 'InWA' }, { 'Fn::Equals': [{ Ref: 'Count' }, '3'] }] },
  },
  Resources: {
    thing: {
      Type: 'AWS::IoT::Thing',
      Properties: {
        ThingName: { 'Fn::Join': ['-', [{ Ref: 'ThingName' }, { Ref: 'Location' }]] },
        AttributePayload: {
          serial: { Ref: 'SerialNumber' },
          tier: { 'Fn::FindInMap': ['Sites', { Ref: 'Location' }, 'Tier'] },
          first: { 'Fn::Select': [0, { 'Fn::Split': [':', 'x:y:z'] }] },
          label: { 'Fn::Sub': '${ThingName}@${Location} ${!Literal}' },
          region: { 'Fn::If': ['InWA', 'west', { Ref: 'AWS::NoValue' }] },
        },
        ThingGroups: { Ref: 'Groups' },
      },
      OverrideSettings: { AttributePayload: 'MERGE', ThingGroups: 'DO_NOTHING' },
    },
    certificate: { Type: 'AWS::IoT::Certificate', Condition: 'HasCsr', Properties: { CertificateSigningRequest: { Ref: 'CSR' }, Status: 'ACTIVE' } },
    policy: { Type: 'AWS::IoT::Policy', Condition: 'Big', Properties: { PolicyName: 'fleet' } },
  },
};

describe('evaluating', () => {
  test('every intrinsic function, conditions, mappings, defaults and AWS::NoValue', () => {
    const t = parseTemplate(body(FULL));
    const plan = planTemplate(t, { ThingName: 'lamp-1', SerialNumber: '42' });
    expect(plan.thing).toEqual({
      logicalId: 'thing',
      thingName: 'lamp-1-WA',
      attributes: { serial: '42', tier: 'gold', first: 'x', label: 'lamp-1@WA ${Literal}', region: 'west' },
      thingGroups: ['g1', 'g2'],
      overrides: { AttributePayload: 'MERGE', ThingGroups: 'DO_NOTHING' },
    });
    expect(plan.certificate).toBeUndefined(); // HasCsr is false with the default ''
    expect(plan.policies).toEqual([{ logicalId: 'policy', policyName: 'fleet' }]);
    expect(plan.parameters).toMatchObject({ Location: 'WA', Count: '3' });

    const oregon = planTemplate(t, { ThingName: 'lamp-2', SerialNumber: '43', Location: 'OR', CSR: 'PEM' });
    expect(oregon.thing?.attributes).toEqual({ serial: '43', tier: 'silver', first: 'x', label: 'lamp-2@OR ${Literal}' });
    expect(oregon.certificate).toMatchObject({ source: 'csr', csr: 'PEM', status: 'ACTIVE' });
    expect(oregon.policies).toEqual([]); // Big needs InWA
  });

  test('Fn::Sub with its own variables, and PolicyDocument as an object or a string', () => {
    const t = parseTemplate(
      body({
        Parameters: { Id: { Type: 'String' } },
        Resources: {
          p1: { Type: 'AWS::IoT::Policy', Properties: { PolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: { 'Fn::Sub': ['arn:aws:iot:*:*:client/${Client}', { Client: { Ref: 'Id' } }] } }] } } },
          p2: { Type: 'AWS::IoT::Policy', Properties: { PolicyName: 'named', PolicyDocument: '{"Version":"2012-10-17","Statement":[]}' } },
        },
      }),
    );
    const plan = planTemplate(t, { Id: 'dev-9' });
    expect(JSON.parse(plan.policies[0]!.policyDocument!).Statement[0].Resource).toBe('arn:aws:iot:*:*:client/dev-9');
    expect(plan.policies[1]).toEqual({ logicalId: 'p2', policyName: 'named', policyDocument: '{"Version":"2012-10-17","Statement":[]}' });
  });

  test('bad parameters name the parameter', () => {
    const t = parseTemplate(body(FULL));
    expect(faultOf(() => planTemplate(t, {}))).toBe('parameters.ThingName: required by the template and not given (it has no Default)');
    expect(faultOf(() => planTemplate(t, { ThingName: 'Bad Name', SerialNumber: '1' }))).toContain('parameters.ThingName: "Bad Name" does not match the AllowedPattern');
    expect(faultOf(() => planTemplate(t, { ThingName: 'a', SerialNumber: '1', Location: 'TX' }))).toBe('parameters.Location: expected one of "WA", "OR", received "TX"');
    expect(faultOf(() => planTemplate(t, { ThingName: 'a', SerialNumber: '1', Count: 'three' }))).toBe('parameters.Count: expected a number, received "three"');
    expect(faultOf(() => planTemplate(t, { ThingName: 'a', SerialNumber: { x: 1 } }))).toBe('parameters.SerialNumber: expected a string, received an object');
  });

  test('values that do not evaluate name their path', () => {
    const select = thingTemplate({ 'Fn::Select': [5, { 'Fn::Split': [',', { Ref: 'A' }] }] });
    expect(faultOf(() => planTemplate(select, { A: 'x,y' }))).toBe("templateBody: $.Resources.thing.Properties.ThingName['Fn::Select'][0]: index 5 is out of range for a list of 2");
    const map = thingTemplate({ 'Fn::FindInMap': ['M', { Ref: 'A' }, 'k'] }, { Mappings: { M: { known: { k: 'v' } } } });
    expect(faultOf(() => planTemplate(map, { A: 'unknown' }))).toBe("templateBody: $.Resources.thing.Properties.ThingName['Fn::FindInMap'][1]: mapping M has no key \"unknown\"");
    const list = thingTemplate({ 'Fn::Join': ['', [{ 'Fn::Split': [',', 'a,b'] }]] });
    expect(faultOf(() => planTemplate(list, { A: 'x' }))).toBe("templateBody: $.Resources.thing.Properties.ThingName['Fn::Join'][1][0]: each item Fn::Join joins must be a string, received an array");
  });
});

describe('DeviceConfiguration', () => {
  test('is evaluated with the parameters (fleet provisioning answers it); Status is read case-insensitively', () => {
    const t = parseTemplate(
      body({
        Parameters: { Serial: { Type: 'String' } },
        Resources: { c: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: 'abc', Status: 'Active' } } },
        DeviceConfiguration: { Fallback: 'plain', Topic: { 'Fn::Join': ['/', ['devices', { Ref: 'Serial' }]] } },
      }),
    );
    const plan = planTemplate(t, { Serial: '7' });
    expect(plan.deviceConfiguration).toEqual({ Fallback: 'plain', Topic: 'devices/7' });
    expect(plan.certificate).toMatchObject({ source: 'id', certificateId: 'abc', status: 'ACTIVE' });
  });
});

describe('checking on create: one error naming the path of the fault', () => {
  const cases: [string, unknown, string][] = [
    ['not JSON', '{', 'templateBody: not valid JSON'],
    ['not an object', [], 'templateBody: $: expected a JSON object, received an array'],
    ['an unknown section', { Resources: {}, Outputs: {} }, 'templateBody: $.Outputs: unknown section'],
    ['no resources', { Resources: {} }, 'templateBody: $.Resources: expected an object with at least one resource'],
    ['an unknown parameter type', { Parameters: { P: { Type: 'Boolean' } }, Resources: {} }, 'templateBody: $.Parameters.P.Type: expected one of String, Number'],
    ['a default outside AllowedValues', { Parameters: { P: { Type: 'String', Default: 'c', AllowedValues: ['a', 'b'] } }, Resources: {} }, 'templateBody: $.Parameters.P.Default: expected one of "a", "b", received "c"'],
    ['a bad AllowedPattern', { Parameters: { P: { Type: 'String', AllowedPattern: '(' } }, Resources: {} }, 'templateBody: $.Parameters.P.AllowedPattern: not a valid regular expression'],
    ['an unknown resource type', { Resources: { x: { Type: 'AWS::S3::Bucket', Properties: {} } } }, 'templateBody: $.Resources.x.Type: expected one of AWS::IoT::Thing, AWS::IoT::Certificate, AWS::IoT::Policy'],
    ['an unknown property', { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'a', Colour: 'red' } } } }, 'templateBody: $.Resources.t.Properties.Colour: unknown property of AWS::IoT::Thing'],
    ['a thing with no name', { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: {} } } }, 'templateBody: $.Resources.t.Properties: ThingName is required'],
    ['two certificate sources', { Resources: { c: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: 'x', CertificateSigningRequest: 'y' } } } }, 'templateBody: $.Resources.c.Properties: expected exactly one of CertificateSigningRequest, CertificateId or CertificatePem, received CertificateSigningRequest and CertificateId'],
    ['a bad certificate status', { Resources: { c: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: 'x', Status: 'ON' } } } }, 'templateBody: $.Resources.c.Properties.Status: expected one of ACTIVE'],
    ['a policy with neither name nor document', { Resources: { p: { Type: 'AWS::IoT::Policy', Properties: {} } } }, 'templateBody: $.Resources.p.Properties: PolicyName or PolicyDocument is required'],
    ['a policy document that is not JSON', { Resources: { p: { Type: 'AWS::IoT::Policy', Properties: { PolicyDocument: '{' } } } }, 'templateBody: $.Resources.p.Properties.PolicyDocument: not a JSON policy document'],
    ['two things', { Resources: { a: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'a' } }, b: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'b' } } } }, 'templateBody: $.Resources.b: a template may declare at most one AWS::IoT::Thing'],
    ['a Ref to nothing', { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { Ref: 'Nope' } } } } }, 'templateBody: $.Resources.t.Properties.ThingName.Ref: Ref names "Nope", which is not a declared parameter'],
    ['a Ref to nothing in DeviceConfiguration', { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'x' } } }, DeviceConfiguration: { Topic: { Ref: 'Nope' } } }, 'templateBody: $.DeviceConfiguration.Topic.Ref: Ref names "Nope", which is not a declared parameter'],
    ['a Join with one argument', { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::Join': ['-'] } } } } }, "templateBody: $.Resources.t.Properties.ThingName['Fn::Join']: Fn::Join takes 2 arguments in an array, received an array"],
    ['an unknown function', { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::Base64': 'x' } } } } }, "templateBody: $.Resources.t.Properties.ThingName['Fn::Base64']: Fn::Base64 is not a function that returns a value here"],
    ['a condition function as a value', { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::Equals': ['a', 'a'] } } } } }, "templateBody: $.Resources.t.Properties.ThingName['Fn::Equals']: Fn::Equals is not a function that returns a value here"],
    ['a FindInMap of an undeclared mapping', { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::FindInMap': ['M', 'a', 'b'] } } } } }, "templateBody: $.Resources.t.Properties.ThingName['Fn::FindInMap'][0]: expected the name of a declared mapping"],
    ['a Sub placeholder that names nothing', { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::Sub': 'x-${Who}' } } } } }, "templateBody: $.Resources.t.Properties.ThingName['Fn::Sub']: ${Who} is neither a variable of Fn::Sub nor a declared parameter"],
    ['an If on an undeclared condition', { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::If': ['C', 'a', 'b'] } } } } }, "templateBody: $.Resources.t.Properties.ThingName['Fn::If'][0]: expected the name of a declared condition"],
    ['a condition that is not one', { Conditions: { C: 'yes' }, Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'a' } } } }, 'templateBody: $.Conditions.C: expected a condition'],
    ['an And with one operand', { Conditions: { C: { 'Fn::And': [{ 'Fn::Equals': ['a', 'a'] }] } }, Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'a' } } } }, "templateBody: $.Conditions.C['Fn::And']: Fn::And takes 2 to 10 arguments"],
    ['conditions in a cycle', { Conditions: { A: { 'Fn::Not': [{ Condition: 'B' }] }, B: { 'Fn::Not': [{ Condition: 'A' }] } }, Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'a' } } } }, 'templateBody: $.Conditions.A: conditions refer to each other in a cycle (A -> B -> A)'],
    ['a resource Condition that is not declared', { Resources: { t: { Type: 'AWS::IoT::Thing', Condition: 'X', Properties: { ThingName: 'a' } } } }, 'templateBody: $.Resources.t.Condition: expected the name of a declared condition'],
    ['an override of a property that has none', { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'a' }, OverrideSettings: { ThingName: 'REPLACE' } } } }, 'templateBody: $.Resources.t.OverrideSettings.ThingName: AWS::IoT::Thing has no override setting ThingName'],
    ['an override value MERGE where it means nothing', { Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'a' }, OverrideSettings: { ThingTypeName: 'MERGE' } } } }, 'templateBody: $.Resources.t.OverrideSettings.ThingTypeName: expected one of DO_NOTHING, REPLACE, FAIL, received string "MERGE"'],
    ['a bad logical id', { Resources: { 'my-thing': { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'a' } } } }, "templateBody: $.Resources['my-thing']: a logical id is 1 to 255 letters and digits"],
  ];
  test.each(cases)('%s', (_name, doc, message) => {
    expect(faultOf(() => parseTemplate(typeof doc === 'string' ? doc : body(doc)))).toContain(message);
  });

  test('a body that is not a string, or too large', () => {
    expect(faultOf(() => parseTemplate(undefined))).toBe('templateBody: expected a JSON template as a string');
    expect(faultOf(() => parseTemplate(body({ Description: 'x'.repeat(11_000), Resources: {} })))).toMatch(/^templateBody: at most 10240 bytes/);
  });
});

describe('properties', () => {
  const text = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.includes(','));

  test('Fn::Join of Refs is the parameters joined', () => {
    const t = thingTemplate({ 'Fn::Join': ['::', [{ Ref: 'A' }, { Ref: 'B' }, 'z']] });
    fc.assert(fc.property(text, fc.option(text, { nil: undefined }), (a, b) => nameOf(t, b === undefined ? { A: a } : { A: a, B: b }) === `${a}::${b ?? 'b'}::z`));
  });

  test('Fn::Select of Fn::Split is String.split', () => {
    const t = parseTemplate(body({ Parameters: { S: { Type: 'String' }, I: { Type: 'Number' } }, Resources: { t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::Select': [{ Ref: 'I' }, { 'Fn::Split': ['/', { Ref: 'S' }] }] } } } } }));
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9]{1,6}$/), { minLength: 1, maxLength: 6 }), fc.nat(5), (parts, i) => {
        const s = parts.join('/');
        const call = () => nameOf(t, { S: s, I: String(i) });
        if (i < parts.length) return call() === parts[i];
        return faultOf(call).includes('out of range');
      }),
    );
  });

  test('Fn::Sub replaces each placeholder and keeps ${!Literal}', () => {
    const t = thingTemplate({ 'Fn::Sub': ['${A}-${B}-${V}-${!A}', { V: { Ref: 'A' } }] });
    fc.assert(fc.property(text, text, (a, b) => nameOf(t, { A: a, B: b }) === `${a}-${b}-${a}-\${A}`));
  });

  type Cond = { kind: 'eq'; value: boolean } | { kind: 'not'; c: Cond } | { kind: 'and' | 'or'; cs: Cond[] };
  const cond: fc.Arbitrary<Cond> = fc.letrec<{ c: Cond }>((tie) => ({
    c: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.boolean().map((value) => ({ kind: 'eq' as const, value })),
      tie('c').map((c) => ({ kind: 'not' as const, c })),
      fc.record({ kind: fc.constantFrom('and' as const, 'or' as const), cs: fc.array(tie('c'), { minLength: 2, maxLength: 4 }) }),
    ),
  })).c;
  const toTemplate = (c: Cond): unknown =>
    c.kind === 'eq' ? { 'Fn::Equals': [{ Ref: 'A' }, c.value ? 'yes' : 'no'] } : c.kind === 'not' ? { 'Fn::Not': [toTemplate(c.c)] } : { [c.kind === 'and' ? 'Fn::And' : 'Fn::Or']: c.cs.map(toTemplate) };
  const truth = (c: Cond): boolean => (c.kind === 'eq' ? c.value : c.kind === 'not' ? !truth(c.c) : c.kind === 'and' ? c.cs.every(truth) : c.cs.some(truth));

  test('conditions are boolean algebra over Fn::Equals, and Fn::If and resource Conditions follow them', () => {
    fc.assert(
      fc.property(cond, (c) => {
        const t = parseTemplate(
          body({
            Parameters: { A: { Type: 'String', Default: 'yes' } },
            Conditions: { C: toTemplate(c) },
            Resources: {
              t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::If': ['C', 'on', 'off'] } } },
              p: { Type: 'AWS::IoT::Policy', Condition: 'C', Properties: { PolicyName: 'p' } },
            },
          }),
        );
        const plan = planTemplate(t, {});
        return plan.thing?.thingName === (truth(c) ? 'on' : 'off') && plan.policies.length === (truth(c) ? 1 : 0);
      }),
    );
  });

  const json: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4 });
  test('any JSON is a template or one REGISTRY_INVALID naming a path, never another error', () => {
    fc.assert(
      fc.property(json, (doc) => {
        try {
          parseTemplate(body(doc));
          return true;
        } catch (err) {
          return err instanceof PlatformError && err.code === 'REGISTRY_INVALID' && /^templateBody: (\$|not valid JSON)/.test(err.message);
        }
      }),
    );
  });

  test('a valid template mutated anywhere still fails only with REGISTRY_INVALID, and any parameters too', () => {
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, p: (string | number)[]) => {
      paths.push(p);
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
    };
    walk(FULL, []);
    const setAt = (doc: unknown, p: (string | number)[], value: unknown): unknown => {
      if (p.length === 0) return value;
      const copy: any = Array.isArray(doc) ? [...doc] : { ...(doc as object) };
      copy[p[0]!] = setAt(copy[p[0]!], p.slice(1), value);
      return copy;
    };
    fc.assert(
      fc.property(fc.constantFrom(...paths), json, fc.dictionary(fc.constantFrom('ThingName', 'SerialNumber', 'Location', 'Count', 'Groups', 'CSR', 'X'), json), (p, value, params) => {
        try {
          const t = parseTemplate(body(setAt(FULL, p, value)));
          planTemplate(t, params);
          return true;
        } catch (err) {
          return err instanceof PlatformError && err.code === 'REGISTRY_INVALID';
        }
      }),
      { numRuns: 500 },
    );
  });
});
