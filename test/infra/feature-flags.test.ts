// cdk.json sets every feature flag the pinned aws-cdk-lib recommends (what `cdk init` writes), so
// a new project's defaults apply; a CDK upgrade that recommends more fails here until they are
// added (and the template change is looked at).
import { CURRENTLY_RECOMMENDED_FLAGS } from 'aws-cdk-lib/cx-api';
import { describe, expect, it } from 'vitest';
import { featureFlags } from '../../infra/feature-flags.ts';

describe('CDK feature flags', () => {
  it('sets in cdk.json every flag the pinned aws-cdk-lib recommends, at its recommended value', () => {
    const flags = featureFlags();
    for (const [flag, value] of Object.entries(CURRENTLY_RECOMMENDED_FLAGS)) {
      expect(flags[flag], flag).toEqual(value);
    }
  });
});
