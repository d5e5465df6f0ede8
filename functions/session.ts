// People's sessions (docs/design.md "Security"):
//   POST   /v1/session              {aor, password} → {token, expiresAt, aor, role}   (anyone; slowed on failures)
//   DELETE /v1/session              the bearer token is refused from now on           (the token's holder)
//   POST   /v1/users/{aor}/token    a user token for scripts → {token, expiresAt}      (operator, signed)

import { normalizeAor } from '../shared/aor.ts';
import { authorizedRoute } from './adapters/http.ts';
import { logger } from './adapters/observability.ts';
import { signingSecrets } from './adapters/secret.ts';
import { credentialStore, sessionStore } from './adapters/store.ts';
import { mintToken, SignInSchema, signIn, verifyToken } from './core/session.ts';

export const signInHandler = authorizedRoute('signIn', SignInSchema, async ({ body }) => {
  const session = await signIn(
    { credentials: credentialStore, sessions: sessionStore, secrets: await signingSecrets() },
    body,
  );
  const claims = await verifyToken(await signingSecrets(), session.token);
  logger.info('signed in', { aor: claims.aor, role: claims.role });
  return { status: 200, body: { ...session, aor: claims.aor, role: claims.role } };
});

export const signOutHandler = authorizedRoute('signOut', undefined, async ({ caller }) => {
  if (caller.kind !== 'token' || caller.jti === undefined || caller.expiresAtMs === undefined) {
    // An organisation's OIDC token is the issuer's to end, not ours.
    return { status: 200, body: { signedOut: false, reason: 'this token is not a Holdover session' } };
  }
  await sessionStore.revoke(caller.jti, caller.expiresAtMs);
  logger.info('signed out', { aor: caller.aor });
  return { status: 200, body: { signedOut: true } };
});

export const mintHandler = authorizedRoute('mintToken', undefined, async ({ pathParameters }) => {
  const aor = normalizeAor(decodeURIComponent(pathParameters.aor ?? ''));
  const stored = await credentialStore.getCredentials(aor);
  const role = stored?.admin ? 'admin' : 'user';
  const { token, expiresAt } = await mintToken(await signingSecrets(), { aor, role });
  logger.info('token minted', { aor, role });
  return { status: 200, body: { aor, role, token, expiresAt } };
});
