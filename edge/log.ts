// Structured JSON logs for the edge process (the same Powertools Logger the functions use).
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({ serviceName: 'holdover-edge' });
