// The AWS credential chain of the Lambda bundles. infra/bundling.ts aliases the SDK's
// `@aws-sdk/credential-provider-node` to this module, in the construct and in bench/cold.ts alike;
// the local runtime (tsx) keeps the SDK's full chain for its clients. adapters/s3-object.ts (the
// inbound-email function's one S3 read, in Lambda only) imports it directly.
//
// The SDK's default chain is: environment → SSO → shared ini files → credential_process → web
// identity token file → container endpoint → instance metadata. Lambda hands a function its role's
// credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), so
// the first link answers; the four in the middle read profiles and token files that a Lambda
// sandbox does not have. They are left out because they cost every cold start about 10 ms: some
// 120 KB of code (the STS, SSO and sign-in clients among it) to compile and `node:child_process` to
// load (bench/results/cold.md). The remote links stay, in the SDK's order and with its conditions.
// One difference, outside what the construct deploys: with AWS_PROFILE set the SDK skips the
// environment for the profile links; here there are none, so the environment still answers.

import { fromEnv } from '@aws-sdk/credential-provider-env';
import type { defaultProvider as sdkDefaultProvider } from '@aws-sdk/credential-provider-node';
import { CredentialsProviderError, chain, memoize } from '@smithy/core/config';
import type { AwsCredentialIdentity } from '@smithy/types';

type Init = NonNullable<Parameters<typeof sdkDefaultProvider>[0]>;

/** Same name and signature as the SDK's, which the clients' runtime config calls. */
export const defaultProvider: typeof sdkDefaultProvider = (init: Init = {}) =>
  memoize(
    chain(
      fromEnv(init),
      async () => (await remoteProvider(init))(),
      async () => {
        throw new CredentialsProviderError('Could not load credentials from any providers', {
          tryNextLink: false,
          logger: init.logger,
        });
      },
    ),
    credentialsTreatedAsExpired,
    (credentials: AwsCredentialIdentity) => credentials.expiration !== undefined,
  );

/** The SDK's remoteProvider: a container endpoint when one is named, else instance metadata. */
async function remoteProvider(init: Init) {
  const { ENV_CMDS_FULL_URI, ENV_CMDS_RELATIVE_URI, fromContainerMetadata, fromInstanceMetadata } =
    await import('@smithy/credential-provider-imds');
  if (process.env[ENV_CMDS_RELATIVE_URI] || process.env[ENV_CMDS_FULL_URI]) {
    const { fromHttp } = await import('@aws-sdk/credential-provider-http');
    return chain(fromHttp(init), fromContainerMetadata(init));
  }
  const disabled = process.env.AWS_EC2_METADATA_DISABLED;
  if (disabled && disabled !== 'false') {
    return async (): Promise<AwsCredentialIdentity> => {
      throw new CredentialsProviderError('EC2 Instance Metadata Service access disabled', {
        logger: init.logger,
      });
    };
  }
  return fromInstanceMetadata(init);
}

/** As the SDK: credentials that expire are fetched again five minutes before they do. */
function credentialsTreatedAsExpired(credentials: AwsCredentialIdentity): boolean {
  return credentials.expiration !== undefined && credentials.expiration.getTime() - Date.now() < 300_000;
}
