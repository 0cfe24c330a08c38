// Structured JSON logs through Powertools Logger, in the cloud and locally alike.
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({ serviceName: 'quantify' });
export type { Logger };
