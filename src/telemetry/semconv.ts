/**
 * Messaging semantic-convention names used by stream-scorer. Copied rather than imported from
 * the incubating entry point of @opentelemetry/semantic-conventions, as its authors advise,
 * because incubating names may change between releases.
 */
export const ATTR_MESSAGING_SYSTEM = 'messaging.system';
export const ATTR_MESSAGING_OPERATION_NAME = 'messaging.operation.name';
export const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
export const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
export const ATTR_MESSAGING_DESTINATION_PARTITION_ID = 'messaging.destination.partition.id';
export const ATTR_MESSAGING_CONSUMER_GROUP_NAME = 'messaging.consumer.group.name';
export const ATTR_MESSAGING_KAFKA_OFFSET = 'messaging.kafka.offset';
export const ATTR_MESSAGING_KAFKA_MESSAGE_KEY = 'messaging.kafka.message.key';
export const ATTR_MESSAGING_BATCH_MESSAGE_COUNT = 'messaging.batch.message_count';
export const ATTR_ERROR_TYPE = 'error.type';

export const MESSAGING_SYSTEM_KAFKA = 'kafka';

/** stream-scorer's own attributes. */
export const ATTR_REJECTION_CODE = 'stream_scorer.rejection.code';
export const ATTR_REJECTION_FIELD = 'stream_scorer.rejection.field';
export const ATTR_REJECTION_STAGE = 'stream_scorer.rejection.stage';
export const ATTR_MODEL_NAME = 'stream_scorer.model.name';
export const ATTR_MODEL_VERSION = 'stream_scorer.model.version';
