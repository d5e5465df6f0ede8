// A Lambda function with Holdover's defaults baked in (Powertools' FunctionWithLogGroup habit):
// nodejs22.x on ARM64, an ESM bundle built by the local esbuild (never Docker), source maps,
// X-Ray tracing (active unless the catalogue says pass-through), and its own log group with a
// retention.
import * as path from 'node:path';
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { METRICS_NAMESPACE, FUNCTIONS_SERVICE as SERVICE_NAME } from '../shared/metric-names.ts';
import {
  aliasCliArgs,
  BUNDLE_TARGET,
  ESM_REQUIRE_BANNER,
  EXTERNAL_MODULES,
  esbuildOptions,
} from './bundling.ts';
import type { FunctionEntry } from './catalogue.ts';

export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_22_X;
export const FUNCTION_ARCHITECTURE = lambda.Architecture.ARM_64;
export const DEFAULT_TIMEOUT_SECONDS = 10;

export interface HoldoverFunctionProps {
  readonly entry: FunctionEntry;
  /** Directory holding package-lock.json; entries are relative to it. */
  readonly projectRoot: string;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** Runs the function in these VPC subnets with this security group (the callers of the edge). */
  readonly network?: {
    readonly vpc: ec2.IVpc;
    readonly subnets: ec2.SubnetSelection;
    readonly securityGroup: ec2.ISecurityGroup;
  };
}

export class HoldoverFunction extends nodejs.NodejsFunction {
  /** The catalogue name, for alarm and dashboard labels. (`logGroup` is the base class's.) */
  readonly entryName: string;

  constructor(scope: Construct, id: string, props: HoldoverFunctionProps) {
    const { entry, projectRoot } = props;
    // Created before the function so the function writes to it (no LogRetention custom resource).
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    super(scope, id, {
      entry: path.join(projectRoot, entry.entry),
      handler: entry.handler,
      projectRoot,
      depsLockFilePath: path.join(projectRoot, 'package-lock.json'),
      runtime: FUNCTION_RUNTIME,
      architecture: FUNCTION_ARCHITECTURE,
      memorySize: entry.memoryMb ?? 256,
      timeout: Duration.seconds(entry.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS),
      tracing: entry.tracing === 'passThrough' ? lambda.Tracing.PASS_THROUGH : lambda.Tracing.ACTIVE,
      logGroup,
      ...(props.network
        ? {
            vpc: props.network.vpc,
            vpcSubnets: props.network.subnets,
            securityGroups: [props.network.securityGroup],
          }
        : {}),
      environment: {
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: 'INFO',
      },
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: BUNDLE_TARGET,
        minify: esbuildOptions.minify,
        sourceMap: esbuildOptions.sourcemap,
        sourcesContent: esbuildOptions.sourcesContent,
        mainFields: [...esbuildOptions.mainFields],
        banner: ESM_REQUIRE_BANNER,
        externalModules: [...EXTERNAL_MODULES],
        esbuildArgs: aliasCliArgs(),
        // The local esbuild package; synth must never need a Docker engine.
        forceDockerBundling: false,
      },
    });
    this.entryName = entry.name;
  }
}
