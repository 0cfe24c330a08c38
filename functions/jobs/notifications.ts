// Lambda entry: the notification drain (EventBridge Scheduler every minute, see scheduledJobs): sends the
// outbox's due notifications through Africa's Talking, whose API key is read from Secrets Manager (cached
// five minutes, so a rotated key takes effect without a deploy). Without AT_USERNAME nothing is sent and
// the notifications wait in the outbox.
import { africasTalkingSms } from '#adapters/africastalking-sms';
import { cloudDb } from '#adapters/cloud';
import { secretText } from '#adapters/secrets';
import { drainNotifications } from '#app/notifications/notifications';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);
const sms = config.AT_USERNAME
  ? africasTalkingSms({ username: config.AT_USERNAME, from: config.AT_SENDER_ID, baseUrl: config.AT_BASE_URL, apiKey: () => secretText(config.AT_API_KEY_SECRET_ARN) })
  : undefined;

export async function handler(): Promise<{ sent: number; failed: number; configured: boolean }> {
  if (!sms) {
    logger.warn("notifications not drained: AT_USERNAME (Africa's Talking) is not configured");
    return { sent: 0, failed: 0, configured: false };
  }
  const result = await drainNotifications({ db, logger, now: () => new Date(), sms });
  if (result.sent || result.failed) logger.info('notifications drained', result);
  return { ...result, configured: true };
}
