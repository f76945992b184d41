import { describe, expect, test } from 'vitest';
import { PlatformError } from '../../core/index.js';
import { compilePolicies, parsePolicyDocument, type AuthContext, type RequestKeys } from './engine.js';

const ARN = 'arn:aws:iot:us-east-1:123456789012:';
const OTHER_ACCOUNT_ARN = 'arn:aws:iot:eu-west-1:999999999999:';

type Stmt = Record<string, unknown>;
const policy = (...Statement: Stmt[]): string => JSON.stringify({ Version: '2012-10-17', Statement });
const allow = (Action: string | string[], Resource: string | string[], extra: Stmt = {}): Stmt => ({ Effect: 'Allow', Action, Resource, ...extra });
const deny = (Action: string | string[], Resource: string | string[], extra: Stmt = {}): Stmt => ({ Effect: 'Deny', Action, Resource, ...extra });

const device: AuthContext = {
  clientId: 'sensor-1',
  sourceIp: '10.1.2.3',
  thing: { name: 'sensor-1', typeName: 'thermo', attributes: { site: 'plant7', floor: '2' } },
  isAttached: true,
  certificate: {
    id: 'abc123',
    fields: {
      subject: { CommonName: ['sensor-1.example'], Organization: ['Acme', 'Acme Labs'], Country: ['DE'] },
      issuer: { CommonName: ['Acme Root'], Organization: ['Acme'] },
      subjectAlternativeName: { DNSName: ['a.example', 'b.example'] },
      issuerAlternativeName: {},
      serialNumber: '0a1b',
      notBefore: '2024-01-01T00:00:00.000Z',
      notAfter: '2049-12-31T23:59:59.000Z',
    },
  },
};
const noThing: AuthContext = { clientId: 'sensor-1', isAttached: false };

interface Row {
  readonly rule: string;
  readonly policies: readonly string[];
  readonly action: string;
  readonly resource: string;
  readonly context?: AuthContext;
  readonly keys?: RequestKeys;
  readonly allowed: boolean;
}

const rows: Row[] = [
  // Default deny and explicit deny.
  { rule: 'no statement for the action: default deny', policies: [policy(allow('iot:Publish', `${ARN}topic/a`))], action: 'iot:Subscribe', resource: `${ARN}topicfilter/a`, allowed: false },
  { rule: 'an exact Allow allows', policies: [policy(allow('iot:Publish', `${ARN}topic/a`))], action: 'iot:Publish', resource: `${ARN}topic/a`, allowed: true },
  { rule: 'a resource the Allow does not name is denied', policies: [policy(allow('iot:Publish', `${ARN}topic/a`))], action: 'iot:Publish', resource: `${ARN}topic/b`, allowed: false },
  { rule: 'explicit Deny wins over Allow in the same policy', policies: [policy(allow('iot:*', '*'), deny('iot:Publish', `${ARN}topic/secret`))], action: 'iot:Publish', resource: `${ARN}topic/secret`, allowed: false },
  { rule: 'explicit Deny wins over Allow in another policy', policies: [policy(allow('iot:Publish', `${ARN}topic/*`)), policy(deny('iot:Publish', `${ARN}topic/secret`))], action: 'iot:Publish', resource: `${ARN}topic/secret`, allowed: false },
  { rule: 'a Deny elsewhere leaves other resources allowed', policies: [policy(allow('iot:Publish', `${ARN}topic/*`), deny('iot:Publish', `${ARN}topic/secret`))], action: 'iot:Publish', resource: `${ARN}topic/open`, allowed: true },
  // Wildcards in actions.
  { rule: '* in an action', policies: [policy(allow('iot:*', `${ARN}topic/a`))], action: 'iot:Receive', resource: `${ARN}topic/a`, allowed: true },
  { rule: '? in an action matches one character', policies: [policy(allow('iot:Pub?ish', `${ARN}topic/a`))], action: 'iot:Publish', resource: `${ARN}topic/a`, allowed: true },
  { rule: '? in an action does not match two characters', policies: [policy(allow('iot:Pub?sh', `${ARN}topic/a`))], action: 'iot:Publish', resource: `${ARN}topic/a`, allowed: false },
  { rule: 'actions compare case-insensitively', policies: [policy(allow('IOT:publish', `${ARN}topic/a`))], action: 'iot:Publish', resource: `${ARN}topic/a`, allowed: true },
  { rule: 'an action list is ORed', policies: [policy(allow(['iot:Connect', 'iot:Publish'], '*'))], action: 'iot:Publish', resource: `${ARN}topic/x`, allowed: true },
  { rule: 'NotAction applies to every other action', policies: [policy({ Effect: 'Allow', NotAction: 'iot:Publish', Resource: '*' })], action: 'iot:Subscribe', resource: `${ARN}topicfilter/a`, allowed: true },
  { rule: 'NotAction does not apply to the named action', policies: [policy({ Effect: 'Allow', NotAction: 'iot:Publish', Resource: '*' })], action: 'iot:Publish', resource: `${ARN}topic/a`, allowed: false },
  // Wildcards in resources.
  { rule: '* in a resource spans levels', policies: [policy(allow('iot:Publish', `${ARN}topic/factory/*`))], action: 'iot:Publish', resource: `${ARN}topic/factory/l1/m2/temp`, allowed: true },
  { rule: '? in a resource matches exactly one character', policies: [policy(allow('iot:Publish', `${ARN}topic/room?`))], action: 'iot:Publish', resource: `${ARN}topic/room1`, allowed: true },
  { rule: '? in a resource does not match two', policies: [policy(allow('iot:Publish', `${ARN}topic/room?`))], action: 'iot:Publish', resource: `${ARN}topic/room12`, allowed: false },
  { rule: 'resources compare case-sensitively', policies: [policy(allow('iot:Publish', `${ARN}topic/Room`))], action: 'iot:Publish', resource: `${ARN}topic/room`, allowed: false },
  { rule: 'Resource "*" matches everything', policies: [policy(allow('iot:Connect', '*'))], action: 'iot:Connect', resource: `${ARN}client/anything`, allowed: true },
  { rule: 'a resource list is ORed', policies: [policy(allow('iot:Publish', [`${ARN}topic/a`, `${ARN}topic/b`]))], action: 'iot:Publish', resource: `${ARN}topic/b`, allowed: true },
  { rule: 'region and account of a policy ARN are not compared (one account)', policies: [policy(allow('iot:Publish', `${OTHER_ACCOUNT_ARN}topic/a`))], action: 'iot:Publish', resource: `${ARN}topic/a`, allowed: true },
  { rule: 'the service of a policy ARN is compared', policies: [policy(allow('iot:Publish', 'arn:aws:s3:us-east-1:123456789012:topic/a'))], action: 'iot:Publish', resource: `${ARN}topic/a`, allowed: false },
  { rule: 'NotResource applies to every other resource', policies: [policy({ Effect: 'Allow', Action: 'iot:Publish', NotResource: `${ARN}topic/secret` })], action: 'iot:Publish', resource: `${ARN}topic/open`, allowed: true },
  { rule: 'NotResource does not apply to the named resource', policies: [policy({ Effect: 'Allow', Action: 'iot:Publish', NotResource: `${ARN}topic/secret` })], action: 'iot:Publish', resource: `${ARN}topic/secret`, allowed: false },
  // topic/ versus topicfilter/, and MQTT wildcards as literal characters.
  { rule: 'a topic/ resource does not allow iot:Subscribe', policies: [policy(allow('iot:Subscribe', `${ARN}topic/a/b`))], action: 'iot:Subscribe', resource: `${ARN}topicfilter/a/b`, allowed: false },
  { rule: 'a topicfilter/ resource allows iot:Subscribe', policies: [policy(allow('iot:Subscribe', `${ARN}topicfilter/a/b`))], action: 'iot:Subscribe', resource: `${ARN}topicfilter/a/b`, allowed: true },
  { rule: 'a topicfilter/ resource does not allow iot:Publish', policies: [policy(allow('iot:Publish', `${ARN}topicfilter/a/b`))], action: 'iot:Publish', resource: `${ARN}topic/a/b`, allowed: false },
  { rule: 'topicfilter/a/# matches the subscription filter a/# literally', policies: [policy(allow('iot:Subscribe', `${ARN}topicfilter/a/#`))], action: 'iot:Subscribe', resource: `${ARN}topicfilter/a/#`, allowed: true },
  { rule: 'topicfilter/a/# does not match the filter a/b (# is literal)', policies: [policy(allow('iot:Subscribe', `${ARN}topicfilter/a/#`))], action: 'iot:Subscribe', resource: `${ARN}topicfilter/a/b`, allowed: false },
  { rule: 'topicfilter/a/+ does not match the filter a/# (+ is literal)', policies: [policy(allow('iot:Subscribe', `${ARN}topicfilter/a/+`))], action: 'iot:Subscribe', resource: `${ARN}topicfilter/a/#`, allowed: false },
  { rule: 'topicfilter/a/* matches the wider filter a/#', policies: [policy(allow('iot:Subscribe', `${ARN}topicfilter/a/*`))], action: 'iot:Subscribe', resource: `${ARN}topicfilter/a/#`, allowed: true },
  { rule: 'topic/a/# does not allow publishing to a/b', policies: [policy(allow('iot:Publish', `${ARN}topic/a/#`))], action: 'iot:Publish', resource: `${ARN}topic/a/b`, allowed: false },
  // client/ for iot:Connect and the basic variables.
  { rule: 'client/${iot:ClientId} allows any client id (it is its own)', policies: [policy(allow('iot:Connect', `${ARN}client/\${iot:ClientId}`))], action: 'iot:Connect', resource: `${ARN}client/sensor-1`, context: device, allowed: true },
  { rule: 'client/${iot:Connection.Thing.ThingName} refuses another client id', policies: [policy(allow('iot:Connect', `${ARN}client/\${iot:Connection.Thing.ThingName}`))], action: 'iot:Connect', resource: `${ARN}client/sensor-2`, context: device, allowed: false },
  { rule: 'client/${iot:Connection.Thing.ThingName} allows the thing name', policies: [policy(allow('iot:Connect', `${ARN}client/\${iot:Connection.Thing.ThingName}`))], action: 'iot:Connect', resource: `${ARN}client/sensor-1`, context: device, allowed: true },
  { rule: 'a substituted value is literal: client id "a*" does not match "ab"', policies: [policy(allow('iot:Publish', `${ARN}topic/\${iot:ClientId}`))], action: 'iot:Publish', resource: `${ARN}topic/ab`, context: { clientId: 'a*' }, allowed: false },
  { rule: '${*} is a literal star', policies: [policy(allow('iot:Publish', `${ARN}topic/a\${*}`))], action: 'iot:Publish', resource: `${ARN}topic/a*`, allowed: true },
  { rule: '${*} does not act as a wildcard', policies: [policy(allow('iot:Publish', `${ARN}topic/a\${*}`))], action: 'iot:Publish', resource: `${ARN}topic/ab`, allowed: false },
  // Thing variables.
  { rule: 'Thing.ThingName in a topic', policies: [policy(allow('iot:Publish', `${ARN}topic/things/\${iot:Connection.Thing.ThingName}/*`))], action: 'iot:Publish', resource: `${ARN}topic/things/sensor-1/temp`, context: device, allowed: true },
  { rule: 'Thing.ThingName unresolved (no thing): the statement does not match', policies: [policy(allow('iot:Publish', `${ARN}topic/things/\${iot:Connection.Thing.ThingName}/*`))], action: 'iot:Publish', resource: `${ARN}topic/things/sensor-1/temp`, context: noThing, allowed: false },
  { rule: 'an unresolved variable disables a Deny too (the Allow stands)', policies: [policy(allow('iot:Publish', '*'), deny('iot:Publish', `${ARN}topic/\${iot:Connection.Thing.ThingName}/*`))], action: 'iot:Publish', resource: `${ARN}topic/sensor-1/x`, context: noThing, allowed: true },
  { rule: 'Thing.ThingTypeName in a topic', policies: [policy(allow('iot:Publish', `${ARN}topic/types/\${iot:Connection.Thing.ThingTypeName}`))], action: 'iot:Publish', resource: `${ARN}topic/types/thermo`, context: device, allowed: true },
  { rule: 'Thing.Attributes[site] in a topic', policies: [policy(allow('iot:Publish', `${ARN}topic/\${iot:Connection.Thing.Attributes[site]}/data`))], action: 'iot:Publish', resource: `${ARN}topic/plant7/data`, context: device, allowed: true },
  { rule: 'a missing attribute is unresolved', policies: [policy(allow('iot:Publish', `${ARN}topic/\${iot:Connection.Thing.Attributes[building]}/data`))], action: 'iot:Publish', resource: `${ARN}topic//data`, context: device, allowed: false },
  { rule: 'IsAttached true allows (guide: thing policy examples)', policies: [policy(allow('iot:Connect', '*', { Condition: { Bool: { 'iot:Connection.Thing.IsAttached': ['true'] } } }))], action: 'iot:Connect', resource: `${ARN}client/sensor-1`, context: device, allowed: true },
  { rule: 'IsAttached false denies', policies: [policy(allow('iot:Connect', '*', { Condition: { Bool: { 'iot:Connection.Thing.IsAttached': ['true'] } } }))], action: 'iot:Connect', resource: `${ARN}client/sensor-1`, context: noThing, allowed: false },
  { rule: 'attribute and type conditions (guide: thing policy examples)', policies: [policy(allow('iot:Publish', `${ARN}topic/device/stats`, { Condition: { StringEquals: { 'iot:Connection.Thing.Attributes[site]': 'plant7', 'iot:Connection.Thing.ThingTypeName': 'thermo' }, Bool: { 'iot:Connection.Thing.IsAttached': 'true' } } }))], action: 'iot:Publish', resource: `${ARN}topic/device/stats`, context: device, allowed: true },
  { rule: 'a wrong type fails the ANDed condition', policies: [policy(allow('iot:Publish', `${ARN}topic/device/stats`, { Condition: { StringEquals: { 'iot:Connection.Thing.Attributes[site]': 'plant7', 'iot:Connection.Thing.ThingTypeName': 'valve' } } }))], action: 'iot:Publish', resource: `${ARN}topic/device/stats`, context: device, allowed: false },
  // Certificate variables.
  { rule: 'Certificate.Subject.CommonName in a topic', policies: [policy(allow('iot:Publish', `${ARN}topic/\${iot:Certificate.Subject.CommonName}`))], action: 'iot:Publish', resource: `${ARN}topic/sensor-1.example`, context: device, allowed: true },
  { rule: 'a multi-value attribute substitutes its first value', policies: [policy(allow('iot:Publish', `${ARN}topic/\${iot:Certificate.Subject.Organization}`))], action: 'iot:Publish', resource: `${ARN}topic/Acme`, context: device, allowed: true },
  { rule: 'ForAnyValue over Subject.Organization.List', policies: [policy(allow('iot:Publish', '*', { Condition: { 'ForAnyValue:StringEquals': { 'iot:Certificate.Subject.Organization.List': ['Acme Labs'] } } }))], action: 'iot:Publish', resource: `${ARN}topic/x`, context: device, allowed: true },
  { rule: 'ForAllValues fails when one value is not listed', policies: [policy(allow('iot:Publish', '*', { Condition: { 'ForAllValues:StringEquals': { 'iot:Certificate.Subject.Organization.List': ['Acme'] } } }))], action: 'iot:Publish', resource: `${ARN}topic/x`, context: device, allowed: false },
  { rule: 'SubjectAlternativeName.DNSName', policies: [policy(allow('iot:Publish', `${ARN}topic/\${iot:Certificate.SubjectAlternativeName.DNSName}`))], action: 'iot:Publish', resource: `${ARN}topic/a.example`, context: device, allowed: true },
  { rule: 'Certificate.Issuer.CommonName condition', policies: [policy(allow('iot:Connect', '*', { Condition: { StringEquals: { 'iot:Certificate.Issuer.CommonName': 'Acme Root' } } }))], action: 'iot:Connect', resource: `${ARN}client/c`, context: device, allowed: true },
  { rule: 'Certificate.SerialNumber', policies: [policy(allow('iot:Publish', `${ARN}topic/serial/\${iot:Certificate.SerialNumber}`))], action: 'iot:Publish', resource: `${ARN}topic/serial/0a1b`, context: device, allowed: true },
  { rule: 'an attribute the certificate lacks is unresolved', policies: [policy(allow('iot:Publish', `${ARN}topic/\${iot:Certificate.Subject.State}`))], action: 'iot:Publish', resource: `${ARN}topic/`, context: device, allowed: false },
  { rule: 'a certificate value with * is not substituted', policies: [policy(allow('iot:Publish', `${ARN}topic/\${iot:Certificate.Subject.CommonName}`))], action: 'iot:Publish', resource: `${ARN}topic/x`, context: { certificate: { id: 'c', fields: { ...device.certificate!.fields!, subject: { CommonName: ['*'] } } } }, allowed: false },
  // Conditions.
  { rule: 'StringLike on iot:ClientId', policies: [policy(allow('iot:Connect', '*', { Condition: { StringLike: { 'iot:ClientId': 'sensor-*' } } }))], action: 'iot:Connect', resource: `${ARN}client/sensor-1`, context: device, allowed: true },
  { rule: 'StringNotEquals on a missing key is true (IAM)', policies: [policy(allow('iot:Connect', '*', { Condition: { StringNotEquals: { 'iot:Connection.Thing.ThingTypeName': 'blocked' } } }))], action: 'iot:Connect', resource: `${ARN}client/c`, context: noThing, allowed: true },
  { rule: 'StringEquals on a missing key is false', policies: [policy(allow('iot:Connect', '*', { Condition: { StringEquals: { 'iot:Connection.Thing.ThingTypeName': 'thermo' } } }))], action: 'iot:Connect', resource: `${ARN}client/c`, context: noThing, allowed: false },
  { rule: 'StringEqualsIfExists on a missing key is true', policies: [policy(allow('iot:Connect', '*', { Condition: { StringEqualsIfExists: { 'iot:Connection.Thing.ThingTypeName': 'thermo' } } }))], action: 'iot:Connect', resource: `${ARN}client/c`, context: noThing, allowed: true },
  { rule: 'Null true when the key is absent', policies: [policy(allow('iot:Connect', '*', { Condition: { Null: { 'iot:Connection.Thing.ThingName': 'true' } } }))], action: 'iot:Connect', resource: `${ARN}client/c`, context: noThing, allowed: true },
  { rule: 'IpAddress on aws:SourceIp', policies: [policy(allow('iot:Connect', '*', { Condition: { IpAddress: { 'aws:SourceIp': '10.1.0.0/16' } } }))], action: 'iot:Connect', resource: `${ARN}client/c`, context: device, allowed: true },
  { rule: 'NotIpAddress denies inside the range', policies: [policy(allow('iot:Connect', '*', { Condition: { NotIpAddress: { 'aws:SourceIp': ['10.1.0.0/16'] } } }))], action: 'iot:Connect', resource: `${ARN}client/c`, context: device, allowed: false },
  { rule: 'a per-request key (iot:LastWillTopic)', policies: [policy(allow('iot:Connect', '*', { Condition: { StringLike: { 'iot:LastWillTopic': 'will/${iot:ClientId}' } } }))], action: 'iot:Connect', resource: `${ARN}client/sensor-1`, context: device, keys: { 'iot:LastWillTopic': 'will/sensor-1' }, allowed: true },
  { rule: 'a per-request key that does not match', policies: [policy(allow('iot:Connect', '*', { Condition: { StringLike: { 'iot:LastWillTopic': 'will/${iot:ClientId}' } } }))], action: 'iot:Connect', resource: `${ARN}client/sensor-1`, context: device, keys: { 'iot:LastWillTopic': 'will/other' }, allowed: false },
  { rule: 'NumericGreaterThan on a per-request key', policies: [policy(allow('iot:Publish', '*', { Condition: { NumericLessThan: { 'aws:EpochTime': '2000000000' } } }))], action: 'iot:Publish', resource: `${ARN}topic/x`, keys: { 'aws:EpochTime': '1700000000' }, allowed: true },
  { rule: 'DateLessThan on a per-request key', policies: [policy(allow('iot:Publish', '*', { Condition: { DateLessThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' } } }))], action: 'iot:Publish', resource: `${ARN}topic/x`, keys: { 'aws:CurrentTime': '2024-05-01T00:00:00Z' }, allowed: false },
  // The guide's example policies.
  ...guideExamples(),
];

function guideExamples(): Row[] {
  // "Publish/Subscribe policy examples": a device uses its own topics and its own shadow.
  const own = policy(
    allow('iot:Connect', `${ARN}client/\${iot:Connection.Thing.ThingName}`),
    allow(['iot:Publish', 'iot:Receive'], [`${ARN}topic/\${iot:Connection.Thing.ThingName}/*`, `${ARN}topic/$aws/things/\${iot:Connection.Thing.ThingName}/shadow/*`]),
    allow('iot:Subscribe', [`${ARN}topicfilter/\${iot:Connection.Thing.ThingName}/*`, `${ARN}topicfilter/$aws/things/\${iot:Connection.Thing.ThingName}/shadow/*`]),
  );
  return [
    { rule: 'guide: own shadow update is allowed', policies: [own], action: 'iot:Publish', resource: `${ARN}topic/$aws/things/sensor-1/shadow/update`, context: device, allowed: true },
    { rule: "guide: another device's shadow is denied", policies: [own], action: 'iot:Publish', resource: `${ARN}topic/$aws/things/sensor-2/shadow/update`, context: device, allowed: false },
    { rule: 'guide: subscribing to own shadow deltas', policies: [own], action: 'iot:Subscribe', resource: `${ARN}topicfilter/$aws/things/sensor-1/shadow/update/delta`, context: device, allowed: true },
    { rule: 'guide: a filter wider than allowed (#) is denied', policies: [own], action: 'iot:Subscribe', resource: `${ARN}topicfilter/#`, context: device, allowed: false },
    { rule: 'guide: receiving on own topics', policies: [own], action: 'iot:Receive', resource: `${ARN}topic/sensor-1/cmd`, context: device, allowed: true },
    {
      rule: 'guide: deny a topic for everyone but allow the rest (iot:Publish with Deny)',
      policies: [policy(allow('iot:Publish', `${ARN}topic/*`), deny('iot:Publish', `${ARN}topic/admin/*`))],
      action: 'iot:Publish',
      resource: `${ARN}topic/admin/reboot`,
      allowed: false,
    },
  ];
}

describe('policy engine: one row per semantic rule', () => {
  test.each(rows)('$rule', (row) => {
    const compiled = compilePolicies(row.policies);
    const context = row.context ?? {};
    expect(compiled.authorize(row.action, row.resource, context, row.keys)).toBe(row.allowed);
    // The bound form decides the same.
    expect(compiled.bind(context)(row.action, row.resource, row.keys)).toBe(row.allowed);
  });
});

describe('policy documents', () => {
  const bad: [string, unknown][] = [
    ['not JSON', '{"Version":'],
    ['no statements', { Version: '2012-10-17', Statement: [] }],
    ['bad Effect', { Version: '2012-10-17', Statement: [{ Effect: 'Maybe', Action: 'iot:*', Resource: '*' }] }],
    ['no Action', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Resource: '*' }] }],
    ['no Resource', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:*' }] }],
    ['unknown condition operator', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: '*', Condition: { StringMaybe: { a: 'b' } } }] }],
    ['bad Version', { Version: '2020-01-01', Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: '*' }] }],
    ['over 2048 characters', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: `${ARN}topic/${'x'.repeat(2100)}` }] })],
  ];
  test.each(bad)('%s is POLICY_MALFORMED', (_name, doc) => {
    expect(() => parsePolicyDocument(doc)).toThrow(PlatformError);
    try {
      parsePolicyDocument(doc);
    } catch (err) {
      expect((err as PlatformError).code).toBe('POLICY_MALFORMED');
    }
  });

  test('a single statement object (not a list) is accepted', () => {
    const compiled = compilePolicies([{ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: 'iot:Publish', Resource: '*' } }]);
    expect(compiled.statementCount).toBe(1);
    expect(compiled.authorize('iot:Publish', `${ARN}topic/a`, {})).toBe(true);
  });

  test('no policies at all deny everything', () => {
    expect(compilePolicies([]).authorize('iot:Connect', `${ARN}client/a`, device)).toBe(false);
  });
});
