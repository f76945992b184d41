/**
 * CONTINUOUS jobs (API reference, CreateJob `targetSelection`; developer guide, "Jobs
 * concepts"): a job that keeps running on its thing groups. A thing that joins a targeted group,
 * or a group nested under one, gets the job's execution; a thing that leaves them (or is
 * deleted) has its QUEUED execution REMOVED (an IN_PROGRESS one finishes); a thing that comes
 * back after its execution was REMOVED gets a new one. The job never completes by itself.
 *
 * The jobs service reads no registry of its own (jobs/ imports core only): whoever composes the
 * process (`cli/up.ts`) hands it a ThingMembership over the registry's view, and the service
 * follows it. Every process that follows it acts on each change; the per-thing commands are
 * idempotent, so two processes acting on one change queue or remove once.
 */
import type { ExecutionRecord, JobRecord } from './model.js';

/** What the jobs service needs of the thing registry to follow CONTINUOUS jobs. */
export interface ThingMembership {
  /** The things in these groups or in groups nested under them. */
  thingsIn(groupNames: readonly string[]): Iterable<string>;
  /** Whether the thing exists and is in one of these groups or a group nested under them. */
  isIn(thingName: string, groupNames: readonly string[]): boolean;
  /**
   * Calls `listener` with the name of every thing whose groups may have changed (added to or
   * removed from a group, created, deleted), after the registry's view has the change.
   * Returns an unsubscribe function.
   */
  onThingChange(listener: (thingName: string) => void): () => void;
}

/** What a CONTINUOUS job should do to one thing: queue an execution, remove its QUEUED one, or nothing. */
export type MembershipAction = 'queue' | 'remove' | undefined;

const THING_ARN = /^arn:[^:]+:iot:[^:]*:[^:]*:thing\/(.+)$/;

/** The things a job names directly (thing ARNs among its targets). */
export const directThings = (job: JobRecord): string[] => job.targets.flatMap((arn) => THING_ARN.exec(arn)?.[1] ?? []);

/**
 * The things a job targets, each once, as a stream read from the registry while the rollout
 * stores them (rollout-driver.ts), so that no list of every target is held: the groups' things
 * first (each thing is visited once), then the things named directly that no group covers.
 */
export function* targetThings(membership: Pick<ThingMembership, 'thingsIn' | 'isIn'>, thingNames: readonly string[], groupNames: readonly string[]): Generator<string> {
  if (groupNames.length > 0) yield* membership.thingsIn(groupNames);
  for (const name of new Set(thingNames)) if (groupNames.length === 0 || !membership.isIn(name, groupNames)) yield name;
}

/** Whether the job follows membership: CONTINUOUS, IN_PROGRESS, with group targets. */
export const followsMembership = (job: JobRecord): boolean => job.targetSelection === 'CONTINUOUS' && job.status === 'IN_PROGRESS' && job.thingGroupNames.length > 0;

/**
 * The action a CONTINUOUS job takes on a thing, from whether the thing is covered now (named
 * directly, or in a targeted group) and the execution it has, if any.
 */
export function membershipAction(covered: boolean, exec: ExecutionRecord | undefined): MembershipAction {
  if (covered) return !exec || exec.status === 'REMOVED' ? 'queue' : undefined;
  return exec?.status === 'QUEUED' ? 'remove' : undefined;
}
