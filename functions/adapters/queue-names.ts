// The work queues' names: the SQS queues' (see local/stand-ins.ts, infra/) and those of the local
// queues in the SQLite file (local-jobs.ts); each has a `<name>-dlq` dead-letter queue.
export const DELIVERY_QUEUE = 'holdover-delivery';
export const EXPIRED_QUEUE = 'holdover-expired';
