// The delivery queue on SQS. Jobs are JSON of core/jobs.ts; the consumer parses them with the
// same schema.
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DeliveryJob } from '../core/jobs.ts';
import type { DeliveryQueue } from '../core/ports.ts';

export class SqsDeliveryQueue implements DeliveryQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async enqueue(job: DeliveryJob): Promise<void> {
    await this.client.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(job) }),
    );
  }
}
