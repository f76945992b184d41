/**
 * Reading AWS request members (JSON body fields, query parameters) with AWS's validation
 * errors: a wrong type is InvalidRequestException naming the member.
 */
import { PlatformError } from '../../core/index.js';
import type { AwsRequest } from '../operation.js';

const wrong = (field: string, expected: string): PlatformError =>
  new PlatformError('INPUT_INVALID', `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must be ${expected}`, { details: { field } });

/** The JSON body as an object (an absent body is `{}`). */
export function bodyObject(request: AwsRequest): Record<string, unknown> {
  const body = request.body;
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw wrong('body', 'a JSON object');
  return body as Record<string, unknown>;
}

export function optionalObject(source: Record<string, unknown>, field: string, path = field): Record<string, unknown> | undefined {
  const value = source[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw wrong(path, 'an object');
  return value as Record<string, unknown>;
}

export function optionalString(source: Record<string, unknown>, field: string, path = field): string | undefined {
  const value = source[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw wrong(path, 'a string');
  return value;
}

export function optionalBoolean(source: Record<string, unknown>, field: string, path = field): boolean | undefined {
  const value = source[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw wrong(path, 'a boolean');
  return value;
}

export function optionalInteger(source: Record<string, unknown>, field: string, path = field): number | undefined {
  const value = source[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw wrong(path, 'an integer');
  return value;
}

export function optionalStringList(source: Record<string, unknown>, field: string, path = field): string[] | undefined {
  const value = source[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw wrong(path, 'a list of strings');
  return value as string[];
}

/** AttributePayload `{attributes, merge}`. */
export function attributePayload(source: Record<string, unknown>, field: string): { attributes?: Record<string, string>; merge?: boolean } | undefined {
  const payload = optionalObject(source, field);
  if (!payload) return undefined;
  const attributes = optionalObject(payload, 'attributes', `${field}.attributes`) as Record<string, string> | undefined;
  const merge = optionalBoolean(payload, 'merge', `${field}.merge`);
  return { ...(attributes !== undefined ? { attributes } : {}), ...(merge !== undefined ? { merge } : {}) };
}

export function queryString(request: AwsRequest, name: string): string | undefined {
  return request.query.get(name) ?? undefined;
}

export function queryInteger(request: AwsRequest, name: string): number | undefined {
  const text = request.query.get(name);
  if (text === null) return undefined;
  if (!/^-?\d+$/.test(text)) throw wrong(name, 'an integer');
  return Number(text);
}

export function queryBoolean(request: AwsRequest, name: string): boolean | undefined {
  const text = request.query.get(name);
  if (text === null) return undefined;
  if (text !== 'true' && text !== 'false') throw wrong(name, 'true or false');
  return text === 'true';
}

/** Paging members of a list operation. */
export const pageRequest = (request: AwsRequest): { nextToken?: string; maxResults?: number } => {
  const nextToken = queryString(request, 'nextToken');
  const maxResults = queryInteger(request, 'maxResults');
  return { ...(nextToken ? { nextToken } : {}), ...(maxResults !== undefined ? { maxResults } : {}) };
};

/** AWS JSON timestamps are epoch seconds. */
export const epochSeconds = (ms: number): number => ms / 1000;

/** Drops undefined members so that JSON output omits them. */
export function compact<T extends Record<string, unknown>>(value: T): T {
  for (const key of Object.keys(value)) if (value[key] === undefined) delete value[key];
  return value;
}
