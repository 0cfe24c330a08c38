// The local SMS sink: what would go to Africa's Talking is logged (the outbox row keeps it, marked sent
// with a local message id), so `npm start` shows every customer notification without an SMS account.
import { randomUUID } from 'node:crypto';
import type { Logger } from '#shared/logger';
import type { SmsSender } from '#app/notifications/notifications';

export function localSmsSink(logger: Logger): SmsSender {
  return {
    async send(to, body) {
      const messageId = `local-${randomUUID()}`;
      logger.info('SMS (local sink)', { to, body, messageId });
      return { messageId };
    },
  };
}
