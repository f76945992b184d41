/**
 * JSON values to and from DynamoDB AttributeValues. Writing uses `@aws-sdk/util-dynamodb`'s
 * marshall; reading is done here so that numbers come back as JavaScript numbers (IoT SQL's
 * values are doubles) and binary as Buffers, instead of util-dynamodb's NumberValue and
 * Uint8Array.
 */
import { convertToAttr, marshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue, Item } from './dynamodb-client.js';

/** The JSON-like values kiot writes and reads (the same shape as IoT SQL's values). */
export type DocValue = undefined | null | boolean | number | string | Buffer | DocValue[] | { [key: string]: DocValue };

const MARSHALL_OPTIONS = { removeUndefinedValues: true, convertClassInstanceToMap: true } as const;

/** An object as an item, one attribute per top-level field (dynamodbv2). Throws on values DynamoDB cannot hold. */
export function toItem(value: Record<string, unknown>): Item {
  return marshall(value, MARSHALL_OPTIONS) as Item;
}

/** One value as an attribute (a JSON object becomes a Map, a Buffer Binary, ...). */
export function toAttribute(value: unknown): AttributeValue {
  return convertToAttr(value, MARSHALL_OPTIONS) as AttributeValue;
}

/** An item as a plain object; sets become arrays, N becomes a number, B a Buffer. */
export function fromItem(item: Item): { [key: string]: DocValue } {
  const out: { [key: string]: DocValue } = {};
  for (const [name, attr] of Object.entries(item)) out[name] = fromAttribute(attr);
  return out;
}

export function fromAttribute(attr: AttributeValue): DocValue {
  if (attr.S !== undefined) return attr.S;
  if (attr.N !== undefined) return Number(attr.N);
  if (attr.BOOL !== undefined) return attr.BOOL;
  if (attr.NULL !== undefined) return null;
  if (attr.B !== undefined) return Buffer.from(attr.B);
  if (attr.M !== undefined) return fromItem(attr.M);
  if (attr.L !== undefined) return attr.L.map(fromAttribute);
  if (attr.SS !== undefined) return [...attr.SS];
  if (attr.NS !== undefined) return attr.NS.map(Number);
  if (attr.BS !== undefined) return attr.BS.map((b) => Buffer.from(b));
  return undefined;
}
