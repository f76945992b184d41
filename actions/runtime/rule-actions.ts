/**
 * The actions of one rule: hands one message's records to the rule's action runners, waits for
 * every one of them, and when any failed for good builds the AWS error message (one per rule and
 * message) for the rule's error action, or for the dead-letter topic when the rule has none or
 * its error action failed too. A message is "handled" once every record succeeded or its
 * failure is durable in the error action or the dead-letter topic; only then may its offset be
 * committed.
 */
import { TOPICS, type ActionRecord, type Log, type Logger, type SinkDefinition } from '../../core/index.js';
import { LogAppendSink } from '../log-append/log-append-sink.js';
import { ABORTED, ActionRunner, type RecordOutcome, type RecordOwner } from './action-runner.js';
import { awsActionName, failedResourceOf, type ActionFailure, type ErrorActionMessage } from './error-message.js';
import type { RetryPolicy } from './retry.js';

/** What the runtime knows of the message a rule fired on. */
export interface MessageInfo {
  readonly ruleName: string;
  readonly topic: string;
  readonly clientId: string | undefined;
  readonly traceId: string;
  readonly messageId: string;
  readonly payload: Buffer;
  readonly receivedAt: number;
}

/** How a message ended for one rule. */
export type DeliveryOutcome = 'ok' | 'error-action' | 'dead-letter' | typeof ABORTED;

/** Told once how a message ended for one rule (an object, for the reason RecordOwner is one). */
export interface DeliveryDone {
  delivered(outcome: DeliveryOutcome): void;
}

export interface RuleCounters {
  /** Messages the rule fired on. */
  matched: number;
  /** Records that reached their target. */
  actionsOk: number;
  /** Records that failed for good (after retries). */
  actionsFailed: number;
  /** Messages for which the SQL failed to evaluate or a parameter failed to render. */
  errors: number;
  /** Error messages written by the rule's error action. */
  errorActions: number;
  /** Error messages written to the dead-letter topic. */
  deadLetters: number;
}

export const newCounters = (): RuleCounters => ({ matched: 0, actionsOk: 0, actionsFailed: 0, errors: 0, errorActions: 0, deadLetters: 0 });

export interface BoundAction {
  /** The action's kind: names it in error messages (`failedAction`, `failedResource`). */
  readonly kind: Pick<SinkDefinition<unknown>, 'type' | 'awsKey' | 'resourceParams'>;
  readonly runner: ActionRunner;
}

/** Builds the error action's record for an error message (its parameters rendered for the message). */
export type ErrorRecordFactory = (message: ErrorActionMessage) => ActionRecord | Promise<ActionRecord>;

export class RuleActions {
  constructor(
    readonly ruleName: string,
    readonly actions: readonly BoundAction[],
    readonly errorAction: BoundAction | undefined,
    private readonly deadLetter: DeadLetterWriter,
    /** Counted into; the caller may keep one object across recompilations of the rule. */
    readonly counters: RuleCounters = newCounters(),
  ) {}

  /**
   * Sends `records[i]` to `actions[i]` and tells `done` once the message is handled (or
   * ABORTED when the runtime stopped first). `errorRecord` is called only when something failed.
   */
  deliver(info: MessageInfo, records: readonly ActionRecord[], errorRecord: ErrorRecordFactory | undefined, done: DeliveryDone): void {
    if (records.length === 0) {
      queueMicrotask(() => done.delivered('ok'));
      return;
    }
    const delivery = new Delivery(this, info, records.length, errorRecord, done);
    for (let i = 0; i < records.length; i++) this.actions[i]!.runner.submitTo(records[i]!, delivery, i);
  }

  /** True when an action has a whole batch queued behind the one it is writing (ActionRunner.batchWaiting). */
  batchWaiting(): boolean {
    for (const a of this.actions) if (a.runner.batchWaiting()) return true;
    return false;
  }

  /** Undefined when every action has room for more records; else resolves when the first full one has (ActionRunner.room). */
  room(): Promise<void> | undefined {
    for (const a of this.actions) {
      const wait = a.runner.room();
      if (wait) return wait;
    }
    return undefined;
  }

  /** Sends an error message for `failures` to the error action, else to the dead-letter topic. */
  fail(info: MessageInfo, failures: readonly ActionFailure[], errorRecord: ErrorRecordFactory | undefined, done: DeliveryDone): void {
    const message: ErrorActionMessage = {
      ruleName: info.ruleName,
      topic: info.topic,
      cloudwatchTraceId: info.traceId,
      clientId: info.clientId ?? 'n/a',
      base64OriginalPayload: info.payload.toString('base64'),
      failures,
    };
    const toDeadLetter = (extra: ActionFailure | undefined): void => {
      const dead = extra ? { ...message, failures: [...failures, extra] } : message;
      this.deadLetter.write(info, dead, (outcome) => {
        if (outcome === ABORTED) return done.delivered(ABORTED);
        this.counters.deadLetters++;
        done.delivered('dead-letter');
      });
    };
    const errorAction = this.errorAction;
    if (!errorAction || !errorRecord) return toDeadLetter(undefined);
    Promise.resolve()
      .then(() => errorRecord(message))
      .then(
        (record) =>
          errorAction.runner.submit(record, (outcome) => {
            if (outcome === ABORTED) return done.delivered(ABORTED);
            if (outcome === undefined) {
              this.counters.errorActions++;
              return done.delivered('error-action');
            }
            toDeadLetter({ failedAction: awsActionName(errorAction.kind), failedResource: failedResourceOf(errorAction.kind, record.params), errorMessage: `error action failed: ${outcome.message}` });
          }),
        (err: unknown) => toDeadLetter({ failedAction: awsActionName(errorAction.kind), failedResource: '', errorMessage: `error action failed: ${err instanceof Error ? err.message : String(err)}` }),
      );
  }

  /** Connects every action's sink now (ActionRunner.connect); resolves once each has tried. */
  async connect(): Promise<void> {
    await Promise.all([...this.actions, ...(this.errorAction ? [this.errorAction] : [])].map((a) => a.runner.connect()));
  }

  /** Closes every runner (in-flight records end as ABORTED). */
  async close(): Promise<void> {
    await Promise.all([...this.actions, ...(this.errorAction ? [this.errorAction] : [])].map((a) => a.runner.close()));
  }

  /** Waits until no record of this rule is queued or in flight. */
  async idle(): Promise<void> {
    await Promise.all([...this.actions, ...(this.errorAction ? [this.errorAction] : [])].map((a) => a.runner.idle()));
  }
}

/** One message's records on their way to one rule's actions: counts their outcomes, then tells `done`. */
class Delivery implements RecordOwner {
  #left: number;
  #failures: ActionFailure[] | undefined;
  #aborted = false;

  constructor(
    readonly runtime: RuleActions,
    readonly info: MessageInfo,
    records: number,
    readonly errorRecord: ErrorRecordFactory | undefined,
    readonly done: DeliveryDone,
  ) {
    this.#left = records;
  }

  recordDone(index: number, outcome: RecordOutcome, record: ActionRecord): void {
    const runtime = this.runtime;
    if (outcome === ABORTED) this.#aborted = true;
    else if (outcome === undefined) runtime.counters.actionsOk++;
    else {
      runtime.counters.actionsFailed++;
      const kind = runtime.actions[index]!.kind;
      (this.#failures ??= []).push({ failedAction: awsActionName(kind), failedResource: failedResourceOf(kind, record.params), errorMessage: outcome.message });
    }
    if (--this.#left > 0) return;
    if (this.#aborted) this.done.delivered(ABORTED);
    else if (!this.#failures) this.done.delivered('ok');
    else runtime.fail(this.info, this.#failures, this.errorRecord, this.done);
  }
}

/**
 * Writes error messages to the dead-letter topic (`iot.dead-letter` by default). It retries
 * without a bound: the message must not be lost, and the log is what commits depend on anyway.
 */
export class DeadLetterWriter {
  readonly #runner: ActionRunner;

  constructor(log: Log, logger: Logger, retry: RetryPolicy, topic: string = TOPICS.deadLetter) {
    // Dead-letter record: key = rule name, value = the error message as JSON, headers `kiot-rule`, `kiot-message-id`.
    const sink = new LogAppendSink<unknown>({
      name: 'dead-letter',
      encode: (r) => ({ topic, record: { key: r.ruleName, value: JSON.stringify(r.output), headers: { 'kiot-rule': r.ruleName, 'kiot-message-id': r.messageId } } }),
      append: (t, records) => log.append(t, records),
      // Nowhere else to put it: keep trying until the log takes it or the worker stops.
      retriable: () => true,
    });
    this.#runner = new ActionRunner({ sink, name: `dead-letter:${topic}`, retry: { ...retry, retries: Number.POSITIVE_INFINITY }, logger });
  }

  write(info: MessageInfo, message: ErrorActionMessage, done: (outcome: RecordOutcome) => void): void {
    this.#runner.submit(
      { output: message, params: {}, ruleName: info.ruleName, topic: info.topic, clientId: info.clientId, messageId: info.messageId, payload: info.payload, receivedAt: info.receivedAt },
      done,
    );
  }

  close(): Promise<void> {
    return this.#runner.close();
  }
}
