/**
 * The owner's side of a ThreadLog: serves one worker thread's log operations on `port` with the
 * log this thread owns. Each consumer the worker starts is a member of its group here, on the
 * real log; its batches go to the worker and the member waits for the worker to finish each
 * one, so offsets, ordering, rebalances and back-pressure are the real log's.
 */
import type { MessagePort } from 'node:worker_threads';
import { ERROR_CODES, PlatformError, type ErrorCode } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Consumer, Log, TopicPartition } from '../log.js';
import { Outbox, packBatch, toWireError, unpackAppend, type Call, type Request, type ToOwner, type ToWorker, type WireError, type WireSettled } from './protocol.js';

export interface ServedLog {
  /** Stops the worker's consumers (their batches in flight end first) and closes the port. */
  close(): Promise<void>;
}

export function serveLog(log: Log, port: MessagePort, logger: Logger): ServedLog {
  const consumers = new Map<number, Consumer>();
  const calls = new Map<number, { resolve(): void; reject(err: Error): void }>();
  let nextCall = 1;
  let closed = false;
  const outbox = new Outbox<ToWorker>(port);
  const send = (message: ToWorker, transfer?: ArrayBuffer[]) => {
    if (!closed) outbox.send(message, transfer);
  };
  /** Runs a callback in the worker; resolves when the worker says it is done. */
  const call = (make: (call: number) => Call, transfer?: ArrayBuffer[]): Promise<void> => {
    if (closed) return Promise.reject(new PlatformError('LOG_CLOSED', 'the worker thread is gone'));
    const id = nextCall++;
    return new Promise<void>((resolve, reject) => {
      calls.set(id, { resolve, reject });
      send(make(id), transfer);
    });
  };

  const run = async (req: Request): Promise<unknown> => {
    switch (req.op) {
      case 'ensureTopic':
        return log.ensureTopic(req.spec);
      case 'append':
        return log.append(req.topic, unpackAppend(req.records));
      case 'appendThen': {
        const [first, ...then] = req.batches.map((b) => ({ topic: b.topic, records: unpackAppend(b.records) }));
        const settled = await Promise.allSettled(log.appendThen(first!, then));
        return settled.map((s): WireSettled => (s.status === 'fulfilled' ? { results: s.value } : { error: toWireError(s.reason) }));
      }
      case 'offsets':
        return log.offsets(req.topic);
      case 'consumerStart': {
        const member = req.consumer;
        const forward = (op: 'assigned' | 'revoked') => (partitions: readonly TopicPartition[]) => call((c) => ({ op, call: c, consumer: member, partitions: partitions.map(({ topic, partition }) => ({ topic, partition })) }));
        const consumer = log.consumer({
          ...req.options,
          onAssigned: forward('assigned'),
          onRevoked: forward('revoked'),
          eachBatch: (batch) => {
            const records = packBatch(batch.records);
            return call((c) => ({ op: 'batch', call: c, consumer: member, topic: batch.topic, partition: batch.partition, highWatermark: batch.highWatermark, records }), [records]);
          },
        });
        consumers.set(member, consumer);
        try {
          await consumer.start();
        } catch (err) {
          consumers.delete(member);
          throw err;
        }
        return undefined;
      }
      case 'commit':
        // A member that has stopped owns nothing: its commit is ignored, as the contract says.
        return consumers.get(req.consumer)?.commit(req.offsets);
      case 'seek':
        return consumerOf(req.consumer).seek(req.topic, req.partition, req.position);
      case 'consumerStop': {
        // Removed once stopped: its onRevoked (run in the worker) may still commit through it.
        const consumer = consumers.get(req.consumer);
        await consumer?.stop();
        consumers.delete(req.consumer);
        return undefined;
      }
      case 'close':
        return stopConsumers();
    }
  };
  const consumerOf = (id: number): Consumer => {
    const consumer = consumers.get(id);
    if (!consumer) throw new PlatformError('INTERNAL', `no consumer ${id} in this thread's log`);
    return consumer;
  };
  const stopConsumers = async () => {
    await Promise.all([...consumers.values()].map((c) => c.stop()));
    consumers.clear();
  };

  port.on('message', (messages: ToOwner[]) => {
    for (const message of messages) receive(message);
  });
  const receive = (message: ToOwner) => {
    if (message.op === 'done') {
      const pending = calls.get(message.call);
      calls.delete(message.call);
      if (message.error) pending?.reject(fromWire(message.error));
      else pending?.resolve();
      return;
    }
    run(message).then(
      (value) => send({ op: 'reply', id: message.id, value }),
      (err: unknown) => send({ op: 'reply', id: message.id, error: toWireError(err) }),
    );
  };
  port.on('close', () => {
    if (closed) return;
    // The worker went away (exited or crashed): its members leave their groups, so the
    // partitions they held go to the other members and their uncommitted records come again.
    void stopEverything().catch((err: unknown) => logger.warn({ err }, 'stopping a gone thread’s consumers failed'));
  });

  const stopEverything = async () => {
    closed = true;
    for (const pending of calls.values()) pending.reject(new PlatformError('LOG_CLOSED', 'the worker thread is gone'));
    calls.clear();
    await stopConsumers();
  };

  return {
    async close() {
      await stopEverything();
      outbox.flush();
      port.close();
    },
  };
}

export function fromWire(error: WireError): Error {
  if (error.code && error.code in ERROR_CODES) {
    return new PlatformError(error.code as ErrorCode, error.message, { details: (error.details ?? {}) as Record<string, unknown>, retriable: error.retriable === true });
  }
  return new Error(error.message);
}
