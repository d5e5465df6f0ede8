// SIP credentials of people (docs/design.md "Security"): per address-of-record an HA1 hash for each
// digest algorithm (realm = the AOR's domain, username = its user part), an admin flag and when
// they were set. The password itself is never kept: it is hashed here and forgotten.

import { domainOf, normalizeAor } from '../../shared/aor.ts';
import type { Credentials, UserListing } from '../../shared/contract/views.ts';
import { InvalidRequestError } from '../../shared/errors.ts';
import { type DigestAlgorithm, ha1s } from '../../shared/sip-digest.ts';
import * as z from '../../shared/zod.ts';

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

/** `PUT /v1/users/{aor}/credentials` body. */
export const SetCredentialsSchema = z.strictObject({
  password: z
    .string()
    .check(
      z.minLength(PASSWORD_MIN, `password must be at least ${PASSWORD_MIN} characters`),
      z.maxLength(PASSWORD_MAX, `password must be at most ${PASSWORD_MAX} characters`),
    ),
  admin: z.optional(z.boolean()),
});
export type SetCredentials = z.infer<typeof SetCredentialsSchema>;

export interface UserListPage {
  users: UserListing[];
  next?: string;
}

/** Port: where credentials are kept (adapters/dynamodb/credentials.ts; a fake in tests). */
export interface CredentialStore {
  getCredentials(aor: string): Promise<Credentials | undefined>;
  /** Creates or replaces; `createdAt` of an existing entry is kept. Returns what is stored. */
  putCredentials(entry: Omit<Credentials, 'createdAt' | 'updatedAt'>, nowIso: string): Promise<Credentials>;
  /** False if there was nothing to delete. */
  deleteCredentials(aor: string): Promise<boolean>;
  listUsers(page?: { limit?: number; after?: string }): Promise<UserListPage>;
}

/** The digest username and realm of an AOR: `sip:bob@example.com` → bob, example.com. */
export function digestIdentity(aor: string): { username: string; realm: string } {
  const normalized = normalizeAor(aor);
  const username = normalized.slice('sip:'.length, normalized.indexOf('@'));
  return { username, realm: domainOf(normalized) };
}

export async function setCredentials(
  store: CredentialStore,
  aorText: string,
  request: SetCredentials,
  domains: readonly string[],
  now: Date = new Date(),
): Promise<Credentials> {
  const aor = normalizeAor(aorText);
  const { username, realm } = digestIdentity(aor);
  if (!domains.includes(realm)) {
    throw new InvalidRequestError(`${aor} is not in a served domain (${domains.join(', ')})`);
  }
  const ha1: Record<DigestAlgorithm, string> = ha1s(username, realm, request.password);
  return store.putCredentials({ aor, realm, ha1, admin: request.admin ?? false }, now.toISOString());
}
