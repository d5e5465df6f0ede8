// The SIP edge in AWS: a small Fargate service behind an internet-facing Network Load Balancer
// that carries SIP only, on UDP and TCP 5060 (one TCP_UDP listener).
//
// The private delivery path (docs/design.md "Security", docs/deploy.md "The private delivery path"):
// the edge's HTTP port (POST /deliver, GET /health) has no listener on any load balancer. The
// delivery function runs in the VPC's isolated subnets and calls the task directly by its Cloud
// Map name (edge.<namespace>), and the task's security group admits that port from the delivery
// function's security group only (and from the SIP load balancer's, for its health checks: the
// load balancer has no listener that forwards to it). Held messages on their way to the edge
// never leave the VPC; the isolated subnets reach DynamoDB, SQS and Secrets Manager through VPC
// endpoints, with no route to the internet.
import * as path from 'node:path';
import { Duration, IgnoreMode, type RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
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
  /**
   * An existing VPC. Default: a two-AZ VPC with public subnets (the edge) and isolated subnets
   * (the delivery function), no NAT gateway, and the VPC endpoints the delivery function needs.
   * A VPC given here must have PRIVATE_ISOLATED subnets that reach DynamoDB, SQS and Secrets
   * Manager (through endpoints of its own); none are added to it.
   */
  readonly vpc?: ec2.IVpc;
  /** Private DNS namespace in which the edge's tasks are registered; e.g. `holdover.internal`. */
  readonly privateDnsNamespace: string;
}

/** Where the functions that call the edge run: in the VPC, with the one security group it admits. */
export interface EdgeClientNetwork {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;
}

export class HoldoverEdge extends Construct {
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly service: ecs.FargateService;
  /** The SIP target group: its UnHealthyHostCount is the edge's health as the proxies see it. */
  readonly targetGroup: elbv2.NetworkTargetGroup;
  readonly logGroup: logs.LogGroup;
  /** Where functions reach the edge's HTTP port: its Cloud Map name inside the VPC. */
  readonly httpUrl: string;
  /** The network a function must run in to reach `httpUrl`. */
  readonly clientNetwork: EdgeClientNetwork;

  constructor(scope: Construct, id: string, props: HoldoverEdgeProps) {
    super(scope, id);
    const privateSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
    let vpc: ec2.IVpc;
    let ownVpc: ec2.Vpc | undefined;
    if (props.vpc) {
      vpc = props.vpc;
    } else {
      ownVpc = new ec2.Vpc(this, 'Vpc', {
        maxAzs: 2,
        natGateways: 0,
        subnetConfiguration: [
          { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
          { name: 'private', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
        ],
      });
      vpc = ownVpc;
    }

    // The functions that call /deliver (the delivery function): the only source the edge's HTTP
    // port admits.
    const clientSecurityGroup = new ec2.SecurityGroup(this, 'DeliveryClientSecurityGroup', {
      vpc,
      description: "Holdover delivery function: the only caller of the edge's HTTP port",
      allowAllOutbound: true,
    });
    this.clientNetwork = { vpc, subnets: privateSubnets, securityGroup: clientSecurityGroup };
    if (ownVpc) this.addEndpoints(ownVpc, privateSubnets, clientSecurityGroup);

    // Created with a security group: one cannot be added to a load balancer later.
    const loadBalancerSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc,
      description: 'Holdover SIP load balancer: SIP from the proxies',
      allowAllOutbound: false,
    });
    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: true,
      crossZoneEnabled: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroups: [loadBalancerSecurityGroup],
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
      // The context is the project root because the edge imports shared/; .dockerignore
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
      description: 'Holdover SIP edge: SIP from the proxies, HTTP from the delivery function only',
      allowAllOutbound: true,
    });
    // UDP through an NLB always keeps the client's address, so the proxies' ranges are what the
    // task sees and what it must admit; the load balancer's own group admits them first.
    for (const cidr of props.sipProxyCidrs) {
      for (const group of [loadBalancerSecurityGroup, taskSecurityGroup]) {
        group.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.udp(SIP_PORT), 'SIP over UDP from a proxy');
        group.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(SIP_PORT), 'SIP over TCP from a proxy');
      }
    }
    betweenGroups(
      this,
      'LoadBalancerToTaskSipUdp',
      'egress',
      loadBalancerSecurityGroup,
      taskSecurityGroup,
      'udp',
      SIP_PORT,
      'SIP over UDP to the edge',
    );
    betweenGroups(
      this,
      'LoadBalancerToTaskSipTcp',
      'egress',
      loadBalancerSecurityGroup,
      taskSecurityGroup,
      'tcp',
      SIP_PORT,
      'SIP over TCP to the edge',
    );
    betweenGroups(
      this,
      'LoadBalancerToTaskHealth',
      'egress',
      loadBalancerSecurityGroup,
      taskSecurityGroup,
      'tcp',
      EDGE_HTTP_PORT,
      'Health checks of the edge (GET /health)',
    );
    // The HTTP port: POST /deliver from the delivery function, and the SIP load balancer's health
    // checks (it has no listener on this port, so nothing from outside is forwarded to it).
    betweenGroups(
      this,
      'TaskHttpFromDelivery',
      'ingress',
      taskSecurityGroup,
      clientSecurityGroup,
      'tcp',
      EDGE_HTTP_PORT,
      'POST /deliver from the delivery function',
    );
    betweenGroups(
      this,
      'TaskHttpFromLoadBalancer',
      'ingress',
      taskSecurityGroup,
      loadBalancerSecurityGroup,
      'tcp',
      EDGE_HTTP_PORT,
      'Health checks from the SIP load balancer',
    );

    const namespace = new servicediscovery.PrivateDnsNamespace(this, 'Namespace', {
      name: props.privateDnsNamespace,
      vpc,
      description: 'Holdover: the SIP edge for the delivery function, inside the VPC',
    });

    // Container Insights: RunningTaskCount and DesiredTaskCount, for the tasks-below-desired alarm.
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
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
      // edge.<namespace>: one A record per running task, for the delivery function
      cloudMapOptions: {
        cloudMapNamespace: namespace,
        name: 'edge',
        dnsRecordType: servicediscovery.DnsRecordType.A,
        dnsTtl: Duration.seconds(10),
      },
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
    this.targetGroup = this.loadBalancer
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
    // Plain HTTP, inside the VPC only: from the delivery function's subnets to the task.
    this.httpUrl = `http://edge.${props.privateDnsNamespace}:${EDGE_HTTP_PORT}`;
  }

  /**
   * What the isolated subnets need instead of a route to the internet: DynamoDB (gateway endpoint,
   * free), SQS and Secrets Manager (interface endpoints, reachable from the delivery function only).
   */
  private addEndpoints(vpc: ec2.Vpc, subnets: ec2.SubnetSelection, clients: ec2.ISecurityGroup): void {
    vpc.addGatewayEndpoint('DynamoDbEndpoint', {
      service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
      subnets: [subnets],
    });
    const endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc,
      description: 'Holdover VPC endpoints: HTTPS from the delivery function',
      allowAllOutbound: false,
    });
    betweenGroups(
      this,
      'EndpointHttpsFromDelivery',
      'ingress',
      endpointSecurityGroup,
      clients,
      'tcp',
      443,
      'HTTPS from the delivery function',
    );
    for (const [id, service] of [
      ['SqsEndpoint', ec2.InterfaceVpcEndpointAwsService.SQS],
      ['SecretsManagerEndpoint', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
    ] as const) {
      vpc.addInterfaceEndpoint(id, {
        service,
        subnets,
        privateDnsEnabled: true,
        open: false,
        securityGroups: [endpointSecurityGroup],
      });
    }
  }
}

/**
 * A rule between two security groups, as its own resource with an id of ours: the rules CDK makes
 * for a group peer are named after the peer's path including the stack, which differs between the
 * CDK app and SST (test/infra/front-doors.test.ts wants the same logical ids from both).
 */
function betweenGroups(
  scope: Construct,
  id: string,
  direction: 'ingress' | 'egress',
  group: ec2.ISecurityGroup,
  other: ec2.ISecurityGroup,
  protocol: 'tcp' | 'udp',
  port: number,
  description: string,
): void {
  const rule = {
    groupId: group.securityGroupId,
    ipProtocol: protocol,
    fromPort: port,
    toPort: port,
    description,
  };
  if (direction === 'ingress') {
    new ec2.CfnSecurityGroupIngress(scope, id, { ...rule, sourceSecurityGroupId: other.securityGroupId });
  } else {
    new ec2.CfnSecurityGroupEgress(scope, id, { ...rule, destinationSecurityGroupId: other.securityGroupId });
  }
}
