// The edge⇄API signing secrets, read once per process (cold start) and cached. In AWS they live
// in Secrets Manager (HOLDOVER_SECRET_ARN); locally, and in the edge task, HOLDOVER_SECRET holds
// them. Either may be a comma-separated list (rotation): the first signs, any verifies.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseSecrets } from '../../shared/signature.ts';

/** A warm function re-reads the secret this often, so a rotated list reaches it without a deploy. */
const REFRESH_MS = 5 * 60_000;
let cached: Promise<string[]> | undefined;
let loadedAt = 0;

/** Every secret that verifies, the one that signs first. */
export function signingSecrets(now: number = Date.now()): Promise<string[]> {
  if (cached === undefined || now - loadedAt > REFRESH_MS) {
    loadedAt = now;
    cached = loadSecrets().catch((error: unknown) => {
      cached = undefined; // let the next invocation try again
      throw error;
    });
  }
  return cached;
}

/** The secret that signs (the first of the list). */
export async function signingSecret(): Promise<string> {
  const [first] = await signingSecrets();
  if (first === undefined) throw new Error('the signing secret is empty');
  return first;
}

async function loadSecrets(): Promise<string[]> {
  const direct = process.env.HOLDOVER_SECRET;
  if (direct !== undefined && direct !== '') return parseSecrets(direct);
  const arn = process.env.HOLDOVER_SECRET_ARN;
  if (arn === undefined || arn === '') {
    throw new Error('HOLDOVER_SECRET or HOLDOVER_SECRET_ARN environment variable must be set');
  }
  const { SecretString } = await new SecretsManagerClient({}).send(
    new GetSecretValueCommand({ SecretId: arn }),
  );
  if (SecretString === undefined || SecretString === '') throw new Error(`Secret ${arn} has no string value`);
  return parseSecrets(SecretString);
}
