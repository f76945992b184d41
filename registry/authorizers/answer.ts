/**
 * The authorizer function's answer, validated as AWS IoT does (developer guide, "Defining your
 * Lambda function"): a JSON object with
 *   isAuthenticated           boolean (required)
 *   principalId               [a-zA-Z0-9]{1,128} (required when authenticated)
 *   policyDocuments           at most 10 AWS IoT policy documents (JSON text or objects), each
 *                             checked by the policy engine (at most 2048 characters)
 *   disconnectAfterInSeconds  300..86400 (default 86400): the connection's longest life
 *   refreshAfterInSeconds     300..86400 (default 86400): when the policies are asked for again
 * Anything else is a malformed answer: the connection is refused.
 */
import { compilePolicies, type CompiledPolicies } from '../policies/engine.js';

export interface AuthorizerAnswer {
  readonly isAuthenticated: boolean;
  readonly principalId: string;
  /** The documents as JSON text, as TestInvokeAuthorizer returns them. */
  readonly policyDocuments: readonly string[];
  readonly disconnectAfterInSeconds: number;
  readonly refreshAfterInSeconds: number;
}

const PRINCIPAL_ID = /^[a-zA-Z0-9]{1,128}$/;
export const MAX_POLICY_DOCUMENTS = 10;
export const MIN_TTL_SECONDS = 300;
export const MAX_TTL_SECONDS = 86_400;

/** A parsed, valid answer and its compiled policies. @throws Error naming the faulty field. */
export function parseAuthorizerAnswer(body: Buffer | string): { answer: AuthorizerAnswer; policies: CompiledPolicies | undefined } {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`the answer is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('the answer must be a JSON object');
  const o = raw as Record<string, unknown>;
  if (typeof o['isAuthenticated'] !== 'boolean') throw new Error(`isAuthenticated: expected true or false, received ${JSON.stringify(o['isAuthenticated']) ?? 'nothing'}`);
  const isAuthenticated = o['isAuthenticated'];
  const principalId = o['principalId'];
  if (isAuthenticated || principalId !== undefined) {
    if (typeof principalId !== 'string' || !PRINCIPAL_ID.test(principalId)) {
      throw new Error(`principalId: expected 1 to 128 letters and digits, received ${JSON.stringify(principalId) ?? 'nothing'}`);
    }
  }
  const disconnectAfterInSeconds = ttl(o, 'disconnectAfterInSeconds');
  const refreshAfterInSeconds = ttl(o, 'refreshAfterInSeconds');
  const docs = o['policyDocuments'] ?? [];
  if (!Array.isArray(docs) || docs.length > MAX_POLICY_DOCUMENTS) throw new Error(`policyDocuments: expected a list of at most ${MAX_POLICY_DOCUMENTS} policy documents`);
  const policyDocuments = docs.map((d, i) => {
    if (typeof d === 'string') return d;
    if (typeof d === 'object' && d !== null && !Array.isArray(d)) return JSON.stringify(d);
    throw new Error(`policyDocuments[${i}]: expected a policy document, received ${JSON.stringify(d)}`);
  });
  let policies: CompiledPolicies | undefined;
  if (isAuthenticated) {
    if (policyDocuments.length === 0) throw new Error('policyDocuments: an authenticated answer needs at least one policy document');
    try {
      policies = compilePolicies(policyDocuments);
    } catch (err) {
      throw new Error(`policyDocuments: ${(err as Error).message}`);
    }
  }
  return { answer: { isAuthenticated, principalId: (principalId as string | undefined) ?? '', policyDocuments, disconnectAfterInSeconds, refreshAfterInSeconds }, policies };
}

function ttl(o: Record<string, unknown>, field: string): number {
  const value = o[field];
  if (value === undefined) return MAX_TTL_SECONDS;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_TTL_SECONDS || value > MAX_TTL_SECONDS) {
    throw new Error(`${field}: expected whole seconds from ${MIN_TTL_SECONDS} to ${MAX_TTL_SECONDS}, received ${JSON.stringify(value)}`);
  }
  return value;
}
