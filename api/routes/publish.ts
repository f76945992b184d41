/**
 * AWS IoT data plane `Publish` (`POST /topics/{topic}`), signed with SigV4 like every API
 * operation and held to the caller's key: an administrator key publishes anywhere, a key with a
 * policy document needs `iot:Publish` on `topic/<topic>` and, for `retain=true`, also
 * `iot:RetainPublish` (AWS IoT developer guide, "AWS IoT Core policy actions"). A refusal is
 * 403 ForbiddenException and nothing reaches the log. The publish itself is ingest's.
 */
import { publishForbidden, type Publisher } from '../../ingest/index.js';
import { iotArn, type ArnScope } from '../../registry/index.js';
import type { AwsOperation } from '../operation.js';

export function publishOperations(publisher: Publisher, scope: ArnScope): AwsOperation[] {
  return [
    {
      name: 'Publish',
      method: 'POST',
      path: '/topics/{topic+}',
      bodyFormat: 'raw',
      access: 'self',
      async handle(request) {
        const caller = request.caller;
        await publisher.publish({
          topic: request.params['topic'] ?? '',
          query: request.query,
          headers: request.headers,
          payload: request.rawBody ?? Buffer.alloc(0),
          sourceAddress: request.remoteAddress ?? 'unknown',
          principal: request.accessKeyId,
          authorize: (topic, retain) => {
            const arn = iotArn(scope, 'topic', topic);
            if (!caller?.allows('iot:Publish', arn)) throw publishForbidden('iot:Publish', topic);
            if (retain && !caller.allows('iot:RetainPublish', arn)) throw publishForbidden('iot:RetainPublish', topic);
          },
        });
        return {};
      },
    },
  ];
}
