/**
 * The thing registry's commands on the registry store: each wraps a pure command of
 * `domain.ts`, and turns its registry events into records appended to `iot.ingress` once the
 * writes are durable (AWS IoT's registry events reach rules like device messages).
 */
import { TOPICS, createEnvelope, type AppendRecord, type CommandContext, envelopeRecord } from '../../core/index.js';
import { registryCommand, type RegistryCommand } from '../commands.js';
import * as domain from './domain.js';
import type { Arns, ThingRecord } from './model.js';
import { ThingsView } from './view.js';

/** AWS IoT: a thing type can be deleted 5 minutes after it was deprecated. */
export const DEFAULT_THING_TYPE_DELETE_DELAY_MS = 5 * 60_000;

/** The names the thing registry executes its commands by. */
export const THING_COMMANDS = {
  createThing: 'thing.create',
  updateThing: 'thing.update',
  deleteThing: 'thing.delete',
  createThingType: 'thingType.create',
  deprecateThingType: 'thingType.deprecate',
  deleteThingType: 'thingType.delete',
  createThingGroup: 'thingGroup.create',
  updateThingGroup: 'thingGroup.update',
  deleteThingGroup: 'thingGroup.delete',
  addThingToThingGroup: 'thingGroup.addThing',
  removeThingFromThingGroup: 'thingGroup.removeThing',
} as const;

export interface ThingCommandDeps {
  readonly arns: Arns;
  /** Append registry events to `iot.ingress`. */
  readonly publishEvents: boolean;
  readonly thingTypeDeleteDelayMs: number;
  /**
   * Throws to refuse deleting a thing that exists (the security records keep principals
   * attached to things; AWS IoT refuses DeleteThing while any is).
   */
  readonly assertThingDeletable: (thing: ThingRecord) => void;
}

export function thingCommands(deps: ThingCommandDeps): RegistryCommand<any, any>[] {
  const { arns } = deps;
  const wrap = <I, R>(name: string, command: (state: domain.RegistryState, input: I, ctx: domain.CommandContext) => domain.Change<R>): RegistryCommand<I, R> =>
    registryCommand(name, (view, input, ctx) => {
      const change = command(new ThingsView(view), input, { now: ctx.now, newId: ctx.newId, arns });
      const events = deps.publishEvents ? change.events : [];
      return {
        result: change.result,
        writes: change.writes,
        appends: events.length > 0 ? [{ topic: TOPICS.ingress, records: events.map((e) => eventRecord(e, ctx)) }] : [],
      };
    });
  return [
    wrap(THING_COMMANDS.createThing, domain.createThing),
    wrap(THING_COMMANDS.updateThing, domain.updateThing),
    wrap(THING_COMMANDS.deleteThing, (state, input: { thingName: string; expectedVersion?: number }, ctx) => {
      const change = domain.deleteThing(state, input, ctx);
      if (change.result) deps.assertThingDeletable(change.result);
      return change;
    }),
    wrap(THING_COMMANDS.createThingType, domain.createThingType),
    wrap(THING_COMMANDS.deprecateThingType, domain.deprecateThingType),
    wrap(THING_COMMANDS.deleteThingType, (state, input: { thingTypeName: string }, ctx) => domain.deleteThingType(state, input, ctx, deps.thingTypeDeleteDelayMs)),
    wrap(THING_COMMANDS.createThingGroup, domain.createThingGroup),
    wrap(THING_COMMANDS.updateThingGroup, domain.updateThingGroup),
    wrap(THING_COMMANDS.deleteThingGroup, domain.deleteThingGroup),
    wrap(THING_COMMANDS.addThingToThingGroup, domain.addThingToThingGroup),
    wrap(THING_COMMANDS.removeThingFromThingGroup, domain.removeThingFromThingGroup),
  ];
}

/** A registry event as a device message would arrive: an envelope keyed by the resource. */
function eventRecord(event: domain.RegistryEvent, ctx: CommandContext): AppendRecord {
  const envelope = createEnvelope({ topic: event.topic, payload: Buffer.from(JSON.stringify(event.payload)), qos: 1, receivedAt: ctx.now, messageId: ctx.newId(), traceId: ctx.newId() });
  return envelopeRecord(envelope, event.key);
}
