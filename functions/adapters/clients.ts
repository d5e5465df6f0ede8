// The DynamoDB client, created once per process. Endpoints come from the standard
// AWS_ENDPOINT_URL_* variables, which is how the local runtime points the same code at its
// stand-ins. The SQS client is in ./sqs-client.ts, so that a function that never enqueues does
// not carry (or construct) it.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});
