// The SQS client, created once per process, only in the functions that send or take queue
// messages. Endpoints come from AWS_ENDPOINT_URL_SQS under the local runtime.
import { SQSClient } from '@aws-sdk/client-sqs';

// Requests go to the configured endpoint, not to the host inside a queue URL: the local SQS
// stand-in names queues by a host that does not resolve.
export const sqs = new SQSClient({ useQueueUrlAsEndpoint: false });
