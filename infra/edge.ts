// The SIP edge in AWS: a small Fargate service behind a Network Load Balancer that carries SIP
// on UDP and TCP 5060 (one TCP_UDP listener) and the edge's own HTTP port (health, /deliver).
//
// The delivery function reaches /deliver through the load balancer's public name in plain HTTP:
// the calls are signed (HMAC, five-minute window), not encrypted. docs/deploy.md ("The edge's
// HTTP port") says what that means and how to close it.
import * as path from 'node:path';
import { Duration, IgnoreMode, type RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export const SIP_PORT = 5060;
/** The edge's HTTP port (edge/config.ts EDGE_HTTP_PORT): GET /health, POST /deliver. */
export const EDGE_HTTP_PORT = 8080;

export interface HoldoverEdgeProps {
  readonly projectRoot: string;
  /** Base URL of the HTTP API the edge posts captured messages and presence to. */
  readonly apiUrl: string;
  readonly signingSecret: secretsmanager.ISecret;
  /** Source ranges of the SIP proxies; nothing else may send SIP to the edge. */
  readonly sipProxyCidrs: readonly string[];
  readonly maxBodyBytes: number;
  /** SIP domains served: REGISTER/PUBLISH/SUBSCRIBE for any other domain get 404. */
  readonly domains: readonly string[];
  /**
   * The host the edge names in its Via and Contact headers (SIP_ADVERTISED_HOST). Default: the
   * load balancer's DNS name, as the task itself listens on 0.0.0.0.
   */
  readonly sipAdvertisedHost?: string;
  /** SIP URI every request the edge sends goes through (OUTBOUND_PROXY); unset: the UA's contact. */
  readonly outboundProxy?: string;
  /** Timer F of the edge's own requests (DELIVERY_TIMEOUT), e.g. `32s`. */
  readonly deliveryTimeout: string;
  /** How often MWI subscribers' counts are re-read (MWI_POLL_INTERVAL), e.g. `30s`. */
  readonly mwiPollInterval: string;
  readonly desiredCount: number;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** An existing VPC; by default a two-AZ VPC with public subnets only (no NAT gateway to pay for). */
  readonly vpc?: ec2.IVpc;
}

export class HoldoverEdge extends Construct {
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly service: ecs.FargateService;
  readonly logGroup: logs.LogGroup;
  /** Where functions reach the edge's HTTP port. */
  readonly httpUrl: string;

  constructor(scope: Construct, id: string, props: HoldoverEdgeProps) {
    super(scope, id);
    const vpc =
      props.vpc ??
      new ec2.Vpc(this, 'Vpc', {
        maxAzs: 2,
        natGateways: 0,
        subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      });

    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: true,
      crossZoneEnabled: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
    });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    const task = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: 256,
      memoryLimitMiB: 512,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    const container = task.addContainer('edge', {
      // Built by `cdk deploy` / `sst deploy` only; synth stages the (small) context and stops.
      // The context is the project root because the edge imports functions/core; .dockerignore
      // whitelists what the build needs, so node_modules, .git and .holdover never reach cdk.out.
      image: ecs.ContainerImage.fromAsset(props.projectRoot, {
        file: path.join('edge', 'Dockerfile'),
        platform: ecrAssets.Platform.LINUX_ARM64,
        ignoreMode: IgnoreMode.DOCKER,
      }),
      environment: {
        SIP_HOST: '0.0.0.0',
        SIP_PORT: String(SIP_PORT),
        // A wildcard is no address to answer to: Via and Contact name the load balancer. Replies
        // to the edge's own requests over UDP come back to the task's source address anyway
        // (the edge asks for rport, RFC 3581); over TCP, on the connection it opened.
        SIP_ADVERTISED_HOST: props.sipAdvertisedHost ?? this.loadBalancer.loadBalancerDnsName,
        EDGE_HTTP_HOST: '0.0.0.0',
        EDGE_HTTP_PORT: String(EDGE_HTTP_PORT),
        HOLDOVER_API_URL: props.apiUrl,
        HOLDOVER_DOMAINS: props.domains.join(','),
        HOLDOVER_MAX_BODY_BYTES: String(props.maxBodyBytes),
        // The proxies authenticate their users; only they may send SIP here (the security group
        // below), so their REGISTER copies and failure-routed MESSAGEs pass without a challenge.
        HOLDOVER_TRUSTED_PROXIES: props.sipProxyCidrs.join(','),
        DELIVERY_TIMEOUT: props.deliveryTimeout,
        MWI_POLL_INTERVAL: props.mwiPollInterval,
        ...(props.outboundProxy ? { OUTBOUND_PROXY: props.outboundProxy } : {}),
      },
      secrets: { HOLDOVER_SECRET: ecs.Secret.fromSecretsManager(props.signingSecret) },
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'edge', logGroup: this.logGroup }),
      healthCheck: {
        // The image has node but no curl.
        command: [
          'CMD',
          'node',
          '-e',
          `fetch('http://127.0.0.1:${EDGE_HTTP_PORT}/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
        ],
        interval: Duration.seconds(15),
        startPeriod: Duration.seconds(20),
      },
      portMappings: [
        { containerPort: SIP_PORT, protocol: ecs.Protocol.UDP },
        { containerPort: SIP_PORT, protocol: ecs.Protocol.TCP },
        { containerPort: EDGE_HTTP_PORT, protocol: ecs.Protocol.TCP },
      ],
    });

    const taskSecurityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc,
      description: 'Holdover SIP edge: SIP from the proxies, HTTP from the load balancer',
      allowAllOutbound: true,
    });
    // UDP through an NLB always keeps the client's address, so the proxies' ranges are what the
    // task sees and what it must admit.
    for (const cidr of props.sipProxyCidrs) {
      taskSecurityGroup.addIngressRule(
        ec2.Peer.ipv4(cidr),
        ec2.Port.udp(SIP_PORT),
        'SIP over UDP from a proxy',
      );
      taskSecurityGroup.addIngressRule(
        ec2.Peer.ipv4(cidr),
        ec2.Port.tcp(SIP_PORT),
        'SIP over TCP from a proxy',
      );
    }
    // Health checks, and /deliver with client-address preservation off, come from the NLB's
    // addresses inside the VPC.
    taskSecurityGroup.addIngressRule(
      ec2.Peer.ipv4(vpc.vpcCidrBlock),
      ec2.Port.tcp(EDGE_HTTP_PORT),
      'Edge HTTP from the load balancer',
    );

    const cluster = new ecs.Cluster(this, 'Cluster', { vpc });
    this.service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition: task,
      desiredCount: props.desiredCount,
      // No NAT gateway: the task reaches ECR, Secrets Manager and the API through a public address,
      // and its security group admits only the proxies.
      assignPublicIp: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroups: [taskSecurityGroup],
      minHealthyPercent: 100,
      circuitBreaker: { rollback: true },
      healthCheckGracePeriod: Duration.seconds(60),
    });

    const healthCheck: elbv2.HealthCheck = {
      protocol: elbv2.Protocol.HTTP,
      port: String(EDGE_HTTP_PORT),
      path: '/health',
      interval: Duration.seconds(10),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 2,
    };
    // One TCP_UDP listener and target group carry both transports on the same port; the target
    // group's health check goes to the HTTP port, as TCP_UDP groups cannot check UDP.
    this.loadBalancer
      .addListener('Sip', { port: SIP_PORT, protocol: elbv2.Protocol.TCP_UDP })
      .addTargets('Sip', {
        port: SIP_PORT,
        protocol: elbv2.Protocol.TCP_UDP,
        targets: [
          this.service.loadBalancerTarget({
            containerName: container.containerName,
            containerPort: SIP_PORT,
            protocol: ecs.Protocol.UDP,
          }),
        ],
        healthCheck,
        // SIP over TCP keeps connections open; give them a short while to finish on scale-in.
        deregistrationDelay: Duration.seconds(30),
      });
    this.loadBalancer
      .addListener('Http', { port: EDGE_HTTP_PORT, protocol: elbv2.Protocol.TCP })
      .addTargets('Http', {
        port: EDGE_HTTP_PORT,
        protocol: elbv2.Protocol.TCP,
        targets: [
          this.service.loadBalancerTarget({
            containerName: container.containerName,
            containerPort: EDGE_HTTP_PORT,
          }),
        ],
        healthCheck,
        preserveClientIp: false,
        deregistrationDelay: Duration.seconds(30),
      });
    this.httpUrl = `http://${this.loadBalancer.loadBalancerDnsName}:${EDGE_HTTP_PORT}`;
  }
}
