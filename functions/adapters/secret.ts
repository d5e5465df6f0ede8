// The edge⇄API signing secret, read once per process (cold start) and cached. In AWS it lives in
// Secrets Manager (HOLDOVER_SECRET_ARN); locally, and in the edge task, HOLDOVER_SECRET holds it.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

let cached: Promise<string> | undefined;

export function signingSecret(): Promise<string> {
  cached ??= loadSecret().catch((error: unknown) => {
    cached = undefined; // let the next invocation try again
    throw error;
  });
  return cached;
}

async function loadSecret(): Promise<string> {
  const direct = process.env.HOLDOVER_SECRET;
  if (direct !== undefined && direct !== '') return direct;
  const arn = process.env.HOLDOVER_SECRET_ARN;
  if (arn === undefined || arn === '') {
    throw new Error('HOLDOVER_SECRET or HOLDOVER_SECRET_ARN environment variable must be set');
  }
  const { SecretString } = await new SecretsManagerClient({}).send(
    new GetSecretValueCommand({ SecretId: arn }),
  );
  if (SecretString === undefined || SecretString === '') throw new Error(`Secret ${arn} has no string value`);
  return SecretString;
}
