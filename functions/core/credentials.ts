// SIP credentials of people (docs/design.md "Security"): per address-of-record an HA1 hash for each
// digest algorithm (realm = the AOR's domain, username = its user part), an admin flag and when
// they were set. The password itself is never kept: it is hashed here and forgotten.
import * as z from 'zod';
import { domainOf, normalizeAor } from '../../shared/aor.ts';
import { InvalidRequestError } from '../../shared/errors.ts';
import { type DigestAlgorithm, ha1s } from '../../shared/sip-digest.ts';

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

/** `PUT /v1/users/{aor}/credentials` body. */
export const SetCredentialsSchema = z.strictObject({
  password: z
    .string()
    .min(PASSWORD_MIN, `password must be at least ${PASSWORD_MIN} characters`)
    .max(PASSWORD_MAX, `password must be at most ${PASSWORD_MAX} characters`),
  admin: z.boolean().optional(),
});
export type SetCredentials = z.infer<typeof SetCredentialsSchema>;

const Hex = (length: number) => z.string().regex(new RegExp(`^[0-9a-f]{${length}}$`));

/** What is stored per AOR, and what the edge gets from `GET /v1/credentials/{aor}`. */
export const CredentialsSchema = z.object({
  aor: z.string(),
  realm: z.string(),
  ha1: z.object({ 'SHA-256': Hex(64), MD5: Hex(32) }),
  admin: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Credentials = z.infer<typeof CredentialsSchema>;

/** One line of `GET /v1/users`: never a hash. */
export interface UserListing {
  aor: string;
  admin: boolean;
  createdAt: string;
  updatedAt: string;
}

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
