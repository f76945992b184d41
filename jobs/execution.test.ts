/** The execution state machine (execution.ts): every transition, and every refused one with AWS's exception. */
import { describe, expect, test } from 'vitest';
import { PlatformError } from '../core/index.js';
import { cancelExecution, cancelForJob, checkDeleteExecution, queuedExecution, removeExecution, startInProgressTimer, timeOutExecution, updateExecution } from './execution.js';
import { EXECUTION_STATUSES, TERMINAL_STATUSES, isTerminal, type ExecutionRecord, type ExecutionStatus } from './model.js';

const id = { thingName: 'pump-1', jobId: 'fw-2' };
const T0 = 1_700_000_000_000;
const queued = queuedExecution('fw-2', 3, T0);
const inState = (status: ExecutionStatus, extra: Partial<ExecutionRecord> = {}): ExecutionRecord => ({ ...queued, status, versionNumber: 2, ...extra });

/** The AWS exception a call throws, and its status. */
function refused(call: () => unknown): { type: unknown; status: unknown; mqtt: unknown; message: string; details: Record<string, unknown> } {
  try {
    call();
  } catch (err) {
    expect(err).toBeInstanceOf(PlatformError);
    const e = err as PlatformError;
    return { type: e.details['awsErrorType'], status: e.details['awsStatus'], mqtt: e.details['jobsErrorCode'], message: e.message, details: e.details };
  }
  throw new Error('expected the call to be refused');
}

test('a queued execution is QUEUED at version 1 with its number and times', () => {
  expect(queued).toEqual({ jobId: 'fw-2', status: 'QUEUED', versionNumber: 1, executionNumber: 3, queuedAt: T0, lastUpdatedAt: T0 });
});

test('the terminal states are the six AWS lists', () => {
  expect([...TERMINAL_STATUSES].sort()).toEqual(['CANCELED', 'FAILED', 'REJECTED', 'REMOVED', 'SUCCEEDED', 'TIMED_OUT']);
  expect(EXECUTION_STATUSES.filter((s) => !isTerminal(s))).toEqual(['QUEUED', 'IN_PROGRESS']);
});

describe('UpdateJobExecution', () => {
  test('QUEUED -> IN_PROGRESS sets startedAt, adds 1 to the version, keeps queuedAt', () => {
    const next = updateExecution(queued, { ...id, status: 'IN_PROGRESS' }, T0 + 5);
    expect(next).toEqual({ ...queued, status: 'IN_PROGRESS', versionNumber: 2, startedAt: T0 + 5, lastUpdatedAt: T0 + 5 });
  });

  test('IN_PROGRESS -> IN_PROGRESS is a progress report: version +1, startedAt kept', () => {
    const started = updateExecution(queued, { ...id, status: 'IN_PROGRESS' }, T0 + 5);
    const again = updateExecution(started, { ...id, status: 'IN_PROGRESS', statusDetails: { step: 'download' } }, T0 + 9);
    expect(again).toMatchObject({ status: 'IN_PROGRESS', versionNumber: 3, startedAt: T0 + 5, lastUpdatedAt: T0 + 9, statusDetails: { step: 'download' } });
  });

  for (const to of ['SUCCEEDED', 'FAILED', 'REJECTED'] as const) {
    test(`IN_PROGRESS -> ${to}, and QUEUED -> ${to} directly`, () => {
      const fromProgress = updateExecution(inState('IN_PROGRESS', { startedAt: T0 }), { ...id, status: to }, T0 + 1);
      expect(fromProgress).toMatchObject({ status: to, versionNumber: 3, startedAt: T0 });
      const fromQueued = updateExecution(queued, { ...id, status: to }, T0 + 1);
      expect(fromQueued).toMatchObject({ status: to, versionNumber: 2 });
      expect(fromQueued.startedAt).toBeUndefined();
    });
  }

  test('statusDetails: replaced when given, unchanged when not', () => {
    const a = updateExecution(queued, { ...id, status: 'IN_PROGRESS', statusDetails: { step: '1', progress: '10%' } }, T0);
    const b = updateExecution(a, { ...id, status: 'IN_PROGRESS' }, T0);
    expect(b.statusDetails).toEqual({ step: '1', progress: '10%' });
    const c = updateExecution(b, { ...id, status: 'SUCCEEDED', statusDetails: { result: 'ok' } }, T0);
    expect(c.statusDetails).toEqual({ result: 'ok' });
  });

  test('expectedVersion: matching is accepted, any other is VersionConflictException (409, MQTT VersionMismatch) with the current state', () => {
    expect(updateExecution(queued, { ...id, status: 'IN_PROGRESS', expectedVersion: 1 }, T0).versionNumber).toBe(2);
    const r = refused(() => updateExecution(queued, { ...id, status: 'IN_PROGRESS', expectedVersion: 2 }, T0));
    expect(r).toMatchObject({ type: 'VersionConflictException', status: 409, mqtt: 'VersionMismatch' });
    expect(refused(() => updateExecution(queued, { ...id, status: 'IN_PROGRESS', expectedVersion: 7 }, T0)).details['executionState']).toEqual({ status: 'QUEUED', versionNumber: 1 });
  });

  test('every terminal state refuses every update with InvalidStateTransitionException (409)', () => {
    for (const from of TERMINAL_STATUSES) {
      for (const to of ['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED']) {
        expect(refused(() => updateExecution(inState(from), { ...id, status: to }, T0))).toMatchObject({ type: 'InvalidStateTransitionException', status: 409, mqtt: 'InvalidStateTransition' });
      }
    }
  });

  test('a status a device may not set is InvalidRequestException (400)', () => {
    for (const to of ['QUEUED', 'CANCELED', 'TIMED_OUT', 'REMOVED', 'SUCCESS', '']) {
      expect(refused(() => updateExecution(queued, { ...id, status: to }, T0))).toMatchObject({ type: 'InvalidRequestException', status: 400 });
    }
  });

  test('a missing execution, or another execution number, is ResourceNotFoundException (404)', () => {
    expect(refused(() => updateExecution(undefined, { ...id, status: 'IN_PROGRESS' }, T0))).toMatchObject({ type: 'ResourceNotFoundException', status: 404, mqtt: 'ResourceNotFound' });
    expect(refused(() => updateExecution(queued, { ...id, status: 'IN_PROGRESS', executionNumber: 4 }, T0)).type).toBe('ResourceNotFoundException');
    expect(updateExecution(queued, { ...id, status: 'IN_PROGRESS', executionNumber: 3 }, T0).status).toBe('IN_PROGRESS');
  });

  test('statusDetails that break the key pattern or value length are InvalidRequestException', () => {
    for (const statusDetails of [{ 'bad key': 'x' }, { k: '' }, { k: 'x'.repeat(1025) }, { k: 'a\u0000b' }, { k: 5 }]) {
      expect(refused(() => updateExecution(queued, { ...id, status: 'IN_PROGRESS', statusDetails: statusDetails as never }, T0)).type).toBe('InvalidRequestException');
    }
  });

  test('stepTimeoutInMinutes starts, resets and (-1) stops the step timer; terminal states drop it', () => {
    const started = updateExecution(queued, { ...id, status: 'IN_PROGRESS', stepTimeoutInMinutes: 10 }, T0);
    expect(started.stepTimeoutAt).toBe(T0 + 600_000);
    expect(updateExecution(started, { ...id, status: 'IN_PROGRESS' }, T0 + 1).stepTimeoutAt).toBe(T0 + 600_000);
    expect(updateExecution(started, { ...id, status: 'IN_PROGRESS', stepTimeoutInMinutes: 1 }, T0 + 1).stepTimeoutAt).toBe(T0 + 1 + 60_000);
    expect(updateExecution(started, { ...id, status: 'IN_PROGRESS', stepTimeoutInMinutes: -1 }, T0 + 1).stepTimeoutAt).toBeUndefined();
    expect(updateExecution(started, { ...id, status: 'SUCCEEDED' }, T0 + 1).stepTimeoutAt).toBeUndefined();
    for (const minutes of [0, -2, 10_081, 1.5]) {
      expect(refused(() => updateExecution(queued, { ...id, status: 'IN_PROGRESS', stepTimeoutInMinutes: minutes }, T0)).type).toBe('InvalidRequestException');
    }
  });
});

describe('CancelJobExecution', () => {
  test('QUEUED -> CANCELED, version +1, statusDetails as given', () => {
    expect(cancelExecution(queued, { ...id, statusDetails: { why: 'replaced' } }, T0 + 1)).toEqual({ ...queued, status: 'CANCELED', versionNumber: 2, lastUpdatedAt: T0 + 1, statusDetails: { why: 'replaced' } });
  });

  test('IN_PROGRESS needs force (InvalidStateTransitionException without), and is then forceCanceled', () => {
    const running = inState('IN_PROGRESS', { startedAt: T0 });
    expect(refused(() => cancelExecution(running, id, T0)).type).toBe('InvalidStateTransitionException');
    expect(cancelExecution(running, { ...id, force: true }, T0 + 1)).toMatchObject({ status: 'CANCELED', forceCanceled: true, versionNumber: 3 });
  });

  test('terminal states cannot be canceled, with or without force', () => {
    for (const from of TERMINAL_STATUSES) {
      expect(refused(() => cancelExecution(inState(from), { ...id, force: true }, T0)).type).toBe('InvalidStateTransitionException');
    }
  });

  test('expectedVersion and a missing execution', () => {
    expect(refused(() => cancelExecution(queued, { ...id, expectedVersion: 5 }, T0)).type).toBe('VersionConflictException');
    expect(refused(() => cancelExecution(undefined, id, T0)).type).toBe('ResourceNotFoundException');
  });

  test("CancelJob's effect: QUEUED canceled, IN_PROGRESS only with force, terminal untouched", () => {
    expect(cancelForJob(queued, false, T0)?.status).toBe('CANCELED');
    expect(cancelForJob(inState('IN_PROGRESS'), false, T0)).toBeUndefined();
    expect(cancelForJob(inState('IN_PROGRESS'), true, T0)).toMatchObject({ status: 'CANCELED', forceCanceled: true });
    for (const from of TERMINAL_STATUSES) expect(cancelForJob(inState(from), true, T0)).toBeUndefined();
  });
});

describe('DeleteJobExecution', () => {
  test('terminal executions may be deleted; QUEUED and IN_PROGRESS only with force', () => {
    for (const from of TERMINAL_STATUSES) expect(checkDeleteExecution(inState(from), id).status).toBe(from);
    for (const from of ['QUEUED', 'IN_PROGRESS'] as const) {
      expect(refused(() => checkDeleteExecution(inState(from), id))).toMatchObject({ type: 'InvalidStateTransitionException', status: 409 });
      expect(checkDeleteExecution(inState(from), { ...id, force: true }).status).toBe(from);
    }
  });

  test('the execution number must be the execution’s', () => {
    expect(refused(() => checkDeleteExecution(inState('SUCCEEDED'), { ...id, executionNumber: 9 })).type).toBe('ResourceNotFoundException');
    expect(refused(() => checkDeleteExecution(undefined, id)).type).toBe('ResourceNotFoundException');
  });
});

test('the timers: IN_PROGRESS -> TIMED_OUT (terminal) once the earlier timer is due; not before, never from another state', () => {
  const timedOut = timeOutExecution(inState('IN_PROGRESS', { stepTimeoutAt: T0 }), T0 + 1);
  expect(timedOut).toMatchObject({ status: 'TIMED_OUT', versionNumber: 3 });
  expect(timedOut?.stepTimeoutAt).toBeUndefined();
  expect(timeOutExecution(inState('IN_PROGRESS', { stepTimeoutAt: T0 + 10 }), T0 + 9)).toBeUndefined();
  expect(timeOutExecution(inState('IN_PROGRESS', { stepTimeoutAt: T0 + 10, inProgressTimeoutAt: T0 + 5 }), T0 + 5)?.status).toBe('TIMED_OUT');
  expect(timeOutExecution(inState('IN_PROGRESS'), T0 + 1e9)).toBeUndefined();
  expect(timeOutExecution(queued, T0)).toBeUndefined();
  expect(timeOutExecution(inState('SUCCEEDED', { stepTimeoutAt: T0 }), T0 + 1)).toBeUndefined();
  expect(refused(() => updateExecution(timedOut, { ...id, status: 'SUCCEEDED' }, T0)).type).toBe('InvalidStateTransitionException');
});

test("the job's in-progress timer starts when QUEUED becomes IN_PROGRESS, and is not reset by later reports", () => {
  const started = updateExecution(queued, { ...id, status: 'IN_PROGRESS' }, T0);
  const timed = startInProgressTimer(queued, started, 30, T0);
  expect(timed.inProgressTimeoutAt).toBe(T0 + 30 * 60_000);
  const later = updateExecution(timed, { ...id, status: 'IN_PROGRESS' }, T0 + 1000);
  expect(startInProgressTimer(timed, later, 30, T0 + 1000).inProgressTimeoutAt).toBe(T0 + 30 * 60_000);
  expect(startInProgressTimer(queued, started, undefined, T0).inProgressTimeoutAt).toBeUndefined();
  expect(updateExecution(later, { ...id, status: 'FAILED' }, T0 + 2000).inProgressTimeoutAt).toBeUndefined();
});

test('REMOVED: a non-terminal execution is removed, a terminal one kept', () => {
  expect(removeExecution(queued, T0)?.status).toBe('REMOVED');
  expect(removeExecution(inState('IN_PROGRESS'), T0)?.status).toBe('REMOVED');
  expect(removeExecution(inState('SUCCEEDED'), T0)).toBeUndefined();
});
