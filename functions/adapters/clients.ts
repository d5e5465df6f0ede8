// SDK clients, created once per process. Endpoints come from the standard AWS_ENDPOINT_URL_*
// variables, which is how the local runtime points the same code at its stand-ins.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});
