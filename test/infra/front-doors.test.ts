// Both front doors build the same construct offline, from one copy of aws-cdk-lib/constructs:
// the plain CDK app (`npx cdk synth`, no credentials) and SST v2 (`sst build`, its two AWS
// calls answered by a loopback stub). `sst build` exits 0 even when it built nothing, so these
// tests judge the output, never the exit code alone.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStub, STUB_ACCOUNT, startAwsStub } from './support/aws-stub.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const SST_STAGE = 'ci';
const REGION = 'us-east-1';

interface CfnTemplate {
  Resources: Record<string, { Type: string }>;
}

/**
 * An environment with no AWS credentials or configuration of the developer's, no telemetry, and
 * none of vitest's variables: SST skips its bootstrap check when NODE_ENV is `test`.
 */
function offlineEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(AWS_|CDK_|HOLDOVER_|SST_|VITEST|NODE_ENV$|TEST$)/.test(name)) env[name] = value;
  }
  return {
    ...env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    SST_TELEMETRY_DISABLED: '1',
    ...extra,
  };
}

let cdkOut: { template: CfnTemplate; output: string };
let sstOut: { template: CfnTemplate | undefined; output: string };
let stub: AwsStub;
const scratch: string[] = [];

async function cdkSynth(): Promise<typeof cdkOut> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdover-cdk-app-'));
  scratch.push(outdir);
  const { stdout, stderr } = await run('npx', ['cdk', 'synth', '--no-notices', '-q', '-o', outdir], {
    cwd: root,
    env: offlineEnvironment(),
    maxBuffer: 16 * 1024 * 1024,
  });
  const template = JSON.parse(
    fs.readFileSync(path.join(outdir, 'Holdover.template.json'), 'utf8'),
  ) as CfnTemplate;
  return { template, output: stdout + stderr };
}

/**
 * `sst build` in a copy of the project (symlinked node_modules), so its .sst/ and the context it
 * caches never touch the working tree. The copy carries the availability-zone lookup a real
 * `sst deploy` would make and cache in cdk.context.json.
 */
async function sstBuild(): Promise<typeof sstOut> {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'holdover-sst-'));
  scratch.push(copy);
  for (const entry of [
    'sst.config.ts',
    'stacks',
    'infra',
    'functions',
    'edge',
    'shared',
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'cdk.json',
    '.dockerignore',
  ]) {
    fs.cpSync(path.join(root, entry), path.join(copy, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  fs.writeFileSync(
    path.join(copy, 'cdk.context.json'),
    JSON.stringify({
      [`availability-zones:account=${STUB_ACCOUNT}:region=${REGION}`]: [`${REGION}a`, `${REGION}b`],
    }),
  );
  const result = await run('npx', ['sst', 'build', '--stage', SST_STAGE], {
    cwd: copy,
    env: offlineEnvironment({
      AWS_ACCESS_KEY_ID: 'AKIAHOLDOVERSTUB',
      AWS_SECRET_ACCESS_KEY: 'holdover-stub-secret',
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL_STS: stub.url,
      AWS_ENDPOINT_URL_CLOUDFORMATION: stub.url,
    }),
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: { stdout?: string; stderr?: string }) => ({
    stdout: error.stdout ?? '',
    stderr: error.stderr ?? '',
  }));
  const file = path.join(copy, '.sst', 'dist', `${SST_STAGE}-holdover-Holdover.template.json`);
  const template = fs.existsSync(file)
    ? (JSON.parse(fs.readFileSync(file, 'utf8')) as CfnTemplate)
    : undefined;
  return { template, output: result.stdout + result.stderr };
}

beforeAll(async () => {
  stub = await startAwsStub();
  [cdkOut, sstOut] = await Promise.all([cdkSynth(), sstBuild()]);
});

afterAll(async () => {
  await stub?.close();
  for (const directory of scratch) fs.rmSync(directory, { recursive: true, force: true });
});

/** Resource type → count, for the resources under the Holdover construct (logical ids `Holdover…`). */
function holdoverResourceCounts(template: CfnTemplate): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (logicalId.startsWith('Holdover')) counts[resource.Type] = (counts[resource.Type] ?? 0) + 1;
  }
  return counts;
}

describe('one copy of the CDK', () => {
  it('resolves aws-cdk-lib and constructs to a single version each, shared by SST', async () => {
    const { stdout } = await run('npm', ['ls', 'aws-cdk-lib', 'constructs', '--all', '--json'], {
      cwd: root,
    });
    const versions: Record<string, Set<string>> = { 'aws-cdk-lib': new Set(), constructs: new Set() };
    const walk = (dependencies: Record<string, { version?: string; dependencies?: object }> | undefined) => {
      for (const [name, node] of Object.entries(dependencies ?? {})) {
        if (name in versions && node.version) versions[name]?.add(node.version);
        walk(node.dependencies as typeof dependencies);
      }
    };
    walk((JSON.parse(stdout) as { dependencies?: Record<string, never> }).dependencies);
    expect([...(versions['aws-cdk-lib'] ?? [])]).toEqual(['2.224.0']);
    expect([...(versions.constructs ?? [])]).toEqual(['10.3.0']);
  });
});

describe('plain CDK app', () => {
  it('synthesizes offline with no credentials', () => {
    expect(holdoverResourceCounts(cdkOut.template)['AWS::Lambda::Function']).toBeGreaterThan(0);
  });

  it('names every placeholder setting it used, and the missing outbound proxy', () => {
    for (const variable of ['HOLDOVER_DOMAINS', 'HOLDOVER_MAIL_FROM', 'HOLDOVER_SIP_PROXY_CIDRS']) {
      expect(cdkOut.output).toContain(`${variable} (`);
    }
    expect(cdkOut.output).toContain('HOLDOVER_OUTBOUND_PROXY is not set');
  });
});

describe('SST v2', () => {
  it('builds offline against the stub', () => {
    expect(sstOut.output).toMatch(/Built: 1 stack/);
    expect(sstOut.template, sstOut.output).toBeDefined();
    expect(stub.calls).toContain('GetCallerIdentity');
    expect(stub.calls).toContain('DescribeStacks');
  });

  it('produces the same Holdover resources, type for type, as the CDK app', () => {
    const sst = holdoverResourceCounts(sstOut.template ?? { Resources: {} });
    expect(sst).toEqual(holdoverResourceCounts(cdkOut.template));
    // …and the same logical ids: one construct tree, two front doors.
    const ids = (template: CfnTemplate | undefined) =>
      Object.keys(template?.Resources ?? {})
        .filter((id) => id.startsWith('Holdover'))
        .sort();
    expect(ids(sstOut.template)).toEqual(ids(cdkOut.template));
  });
});
