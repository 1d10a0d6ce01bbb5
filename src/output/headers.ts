/**
 * Headers stream-scorer adds, all under one prefix so they never collide with a producer's
 * own. Values are UTF-8 strings. Documented in docs/dead-letter.md — keep the two in sync.
 */
export const HEADER_PREFIX = 'scorer.';

export const H = {
  modelName: 'scorer.model.name',
  modelVersion: 'scorer.model.version',
  reasonCode: 'scorer.reason.code',
  reasonStage: 'scorer.reason.stage',
  reasonField: 'scorer.reason.field',
  reasonValue: 'scorer.reason.value',
  reasonMessage: 'scorer.reason.message',
  sourceTopic: 'scorer.source.topic',
  sourcePartition: 'scorer.source.partition',
  sourceOffset: 'scorer.source.offset',
  sourceTimestamp: 'scorer.source.timestamp',
  consumerGroup: 'scorer.consumer.group',
  failedAt: 'scorer.failed.at',
  // Only on a dead letter that would not fit the dead-letter topic as received (docs/dead-letter.md).
  valueTruncated: 'scorer.value.truncated',
  valueOriginalSize: 'scorer.value.original.size',
  headersDroppedCount: 'scorer.headers.dropped.count',
  headersDroppedSize: 'scorer.headers.dropped.size',
  keyTruncated: 'scorer.key.truncated',
  keyOriginalSize: 'scorer.key.original.size',
  // On a record `stream-scorer redrive` sent again (docs/model-lifecycle.md#re-drive).
  redriveCount: 'scorer.redrive.count',
  redriveFromTopic: 'scorer.redrive.from.topic',
  redriveFromPartition: 'scorer.redrive.from.partition',
  redriveFromOffset: 'scorer.redrive.from.offset',
  redriveAt: 'scorer.redrive.at',
} as const;

export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';
