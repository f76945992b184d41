/**
 * Topic rules: CreateTopicRule, GetTopicRule, ListTopicRules, ReplaceTopicRule,
 * DeleteTopicRule, EnableTopicRule, DisableTopicRule (AWS IoT API reference).
 *
 * Rules from the rules dir (when this process runs the rules role) are listed and answered too,
 * read-only: their description starts with `[read-only: <file:line:column>]`, list items carry
 * `kiotSource`, and any change to one is refused (409) with a message naming the file to edit.
 */
import { PlatformError } from '../../core/index.js';
import { paginate, type Arns } from '../../registry/index.js';
import { ruleTopicMatches } from '../../rules/sql/index.js';
import type { FileTopicRule } from '../../rules/worker/index.js';
import type { AwsOperation } from '../operation.js';
import type { StoredTopicRule, TopicRuleStore } from '../topic-rule-store.js';
import { compact, epochSeconds, pageRequest, queryBoolean, queryString } from './aws-input.js';

export function topicRuleOperations(store: TopicRuleStore, arns: Arns, clock: () => number = Date.now, fileRules: () => readonly FileTopicRule[] = () => []): AwsOperation[] {
  const fileRule = (ruleName: string) => fileRules().find((r) => r.name === ruleName);
  /** The rule's name, once it is sure the rule is not one from a file (those change by editing the file). */
  const name = (params: Readonly<Record<string, string>>): string => {
    const ruleName = params['ruleName']!;
    const file = fileRule(ruleName);
    if (file) {
      throw new PlatformError('REGISTRY_ALREADY_EXISTS', `Rule ${ruleName} comes from the rules file ${file.origin} and is read-only through the API: edit the file`, {
        details: { resourceId: ruleName, awsErrorType: 'ConflictingResourceUpdateException', awsStatus: 409 },
      });
    }
    return ruleName;
  };
  const existing = (ruleName: string): StoredTopicRule => {
    const rule = store.get(ruleName);
    if (!rule) throw new PlatformError('REGISTRY_NOT_FOUND', `Rule ${ruleName} does not exist`, { details: { resourceId: ruleName } });
    return rule;
  };
  return [
    {
      name: 'CreateTopicRule',
      method: 'POST',
      path: '/rules/{ruleName}',
      async handle(request) {
        await store.create(name(request.params), request.body, clock());
        return undefined;
      },
    },
    {
      name: 'GetTopicRule',
      method: 'GET',
      path: '/rules/{ruleName}',
      async handle(request) {
        const file = fileRule(request.params['ruleName']!);
        if (file && !store.get(file.name)) {
          const { payload } = file;
          return {
            ruleArn: arns.rule(file.name),
            rule: compact({ ruleName: file.name, ...payload, description: `[read-only: ${file.origin}]${payload.description ? ` ${payload.description}` : ''}` }),
          };
        }
        const rule = existing(name(request.params));
        const payload = rule.topicRulePayload;
        return {
          ruleArn: arns.rule(rule.name),
          rule: compact({
            ruleName: rule.name,
            sql: payload.sql,
            description: payload.description,
            createdAt: epochSeconds(rule.createdAt),
            actions: payload.actions ?? [],
            ruleDisabled: !rule.enabled,
            awsIotSqlVersion: payload.awsIotSqlVersion ?? rule.sqlVersion,
            errorAction: payload.errorAction,
          }),
        };
      },
    },
    {
      name: 'ListTopicRules',
      method: 'GET',
      path: '/rules',
      async handle(request) {
        const topic = queryString(request, 'topic');
        const disabled = queryBoolean(request, 'ruleDisabled');
        const stored = store.list();
        const fromFiles = fileRules()
          .filter((f) => !stored.some((r) => r.name === f.name))
          .map((f) => ({ name: f.name, topicPattern: f.topicPattern, createdAt: undefined, enabled: !f.payload.ruleDisabled, kiotSource: f.origin }));
        const all: { name: string; topicPattern: string | undefined; createdAt: number | undefined; enabled: boolean; kiotSource?: string }[] = [...stored, ...fromFiles];
        const rules = all.filter((r) => {
          if (disabled !== undefined && disabled === r.enabled) return false;
          if (topic !== undefined && r.topicPattern !== topic && !(r.topicPattern !== undefined && ruleTopicMatches(r.topicPattern, topic))) return false;
          return true;
        });
        const page = paginate(rules, (r) => r.name, pageRequest(request));
        return compact({
          rules: page.items.map((r) =>
            compact({ ruleArn: arns.rule(r.name), ruleName: r.name, topicPattern: r.topicPattern, createdAt: r.createdAt === undefined ? undefined : epochSeconds(r.createdAt), ruleDisabled: !r.enabled, kiotSource: r.kiotSource }),
          ),
          nextToken: page.nextToken,
        });
      },
    },
    {
      name: 'ReplaceTopicRule',
      method: 'PATCH',
      path: '/rules/{ruleName}',
      async handle(request) {
        await store.replace(name(request.params), request.body);
        return undefined;
      },
    },
    {
      name: 'DeleteTopicRule',
      method: 'DELETE',
      path: '/rules/{ruleName}',
      async handle(request) {
        await store.delete(name(request.params));
        return undefined;
      },
    },
    {
      name: 'EnableTopicRule',
      method: 'POST',
      path: '/rules/{ruleName}/enable',
      async handle(request) {
        await store.setEnabled(name(request.params), true);
        return undefined;
      },
    },
    {
      name: 'DisableTopicRule',
      method: 'POST',
      path: '/rules/{ruleName}/disable',
      async handle(request) {
        await store.setEnabled(name(request.params), false);
        return undefined;
      },
    },
  ];
}
