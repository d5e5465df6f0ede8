// SDK clients, created once per process. Endpoints come from the standard AWS_ENDPOINT_URL_*
// variables, which is how the local runtime points the same code at its stand-ins.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});

// Requests go to the configured endpoint, not to the host inside a queue URL: the local SQS
// stand-in names queues by a host that does not resolve.
export const sqs = new SQSClient({ useQueueUrlAsEndpoint: false });
