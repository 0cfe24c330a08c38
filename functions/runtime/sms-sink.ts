// The local SMS sink: what would go to Africa's Talking is logged (the outbox row keeps it, marked sent
// with a local message id), so `npm start` shows every customer notification without an SMS account.
// With AT_USERNAME and AT_API_KEY set, localSmsSender sends through Africa's Talking instead.
import { randomUUID } from 'node:crypto';
import type { Logger } from '#shared/logger';
import type { SmsSender } from '#app/notifications/notifications';
import { africasTalkingSms } from '#adapters/africastalking-sms';
import type { LocalConfig } from '#shared/config';

export function localSmsSink(logger: Logger): SmsSender {
  return {
    async send(to, body) {
      const messageId = `local-${randomUUID()}`;
      logger.info('SMS (local sink)', { to, body, messageId });
      return { messageId };
    },
  };
}

/** Africa's Talking when AT_USERNAME and AT_API_KEY are set, else the local sink. */
export function localSmsSender(config: Pick<LocalConfig, 'AT_USERNAME' | 'AT_API_KEY' | 'AT_SENDER_ID' | 'AT_BASE_URL'>, logger: Logger): SmsSender {
  if (!config.AT_USERNAME || !config.AT_API_KEY) return localSmsSink(logger);
  return africasTalkingSms({ username: config.AT_USERNAME, apiKey: config.AT_API_KEY, from: config.AT_SENDER_ID, baseUrl: config.AT_BASE_URL });
}
