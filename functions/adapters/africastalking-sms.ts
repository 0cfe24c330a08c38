// Africa's Talking SMS (their REST messaging API): POST {base}/version1/messaging, form-encoded username,
// to, message and optional from, with the account's API key in the apiKey header and Accept:
// application/json. The answer is SMSMessageData.Recipients[] with status, statusCode, messageId and cost
// per recipient. We send one recipient a message, so the first recipient's statusCode decides:
//   100 Processed, 101 Sent, 102 Queued            → sent, with the provider's messageId
//   405 InsufficientBalance, 500 InternalServerError, 501 GatewayError, 502 RejectedByGateway,
//   an HTTP 5xx/408/429/401/403, a network error or a timeout  → retried later (the outbox backs off)
//   any other status (401 RiskHold, 402 InvalidSenderId, 403 InvalidPhoneNumber, 404 UnsupportedNumberType,
//   406 UserInBlacklist, 407 CouldNotRoute, 409 DoNotDisturbRejection, …) or an HTTP 400 → failed for good.
// Sandbox base https://api.sandbox.africastalking.com (username "sandbox"), live https://api.africastalking.com.
import { SmsRejectedError, type SmsSender } from '#app/notifications/notifications';

export const AT_LIVE_URL = 'https://api.africastalking.com';
export const AT_SANDBOX_URL = 'https://api.sandbox.africastalking.com';

export interface AfricasTalkingOptions {
  username: string;
  /** The API key, or how to get it (Secrets Manager in the cloud; read on each send, cached by the reader). */
  apiKey: string | (() => Promise<string | undefined>);
  /** A registered sender id or short code; the account's default when unset. */
  from?: string | undefined;
  /** Default: the sandbox for username "sandbox", else live. */
  baseUrl?: string | undefined;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const SENT = new Set([100, 101, 102]);
const RETRYABLE = new Set([405, 500, 501, 502]);
const RETRYABLE_HTTP = new Set([401, 403, 408, 429]);

interface AtResponse {
  SMSMessageData?: { Message?: string; Recipients?: { status?: string; statusCode?: number; messageId?: string; number?: string; cost?: string }[] };
}

export function africasTalkingSms(options: AfricasTalkingOptions): SmsSender {
  const base = (options.baseUrl ?? (options.username === 'sandbox' ? AT_SANDBOX_URL : AT_LIVE_URL)).replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    async send(to, body) {
      const apiKey = typeof options.apiKey === 'string' ? options.apiKey : await options.apiKey();
      if (!apiKey) throw new Error("Africa's Talking: no API key configured");
      const form = new URLSearchParams({ username: options.username, to, message: body });
      if (options.from) form.set('from', options.from);
      let response: Response;
      try {
        response = await doFetch(`${base}/version1/messaging`, {
          method: 'POST',
          headers: { apiKey, Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw new Error(`Africa's Talking unreachable: ${error instanceof Error ? error.message : String(error)}`);
      }
      const text = await response.text().catch(() => '');
      if (!response.ok) {
        const detail = `Africa's Talking answered HTTP ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
        if (response.status >= 500 || RETRYABLE_HTTP.has(response.status)) throw new Error(detail);
        throw new SmsRejectedError(detail);
      }
      let parsed: AtResponse;
      try {
        parsed = JSON.parse(text) as AtResponse;
      } catch {
        throw new Error(`Africa's Talking answered something that is not JSON: ${text.slice(0, 200)}`);
      }
      const recipient = parsed.SMSMessageData?.Recipients?.[0];
      if (!recipient) throw new SmsRejectedError(`Africa's Talking sent to no recipient: ${parsed.SMSMessageData?.Message ?? text.slice(0, 200)}`);
      const code = Number(recipient.statusCode);
      const reason = `${recipient.status ?? 'unknown status'} (statusCode ${code})`;
      if (SENT.has(code)) {
        if (!recipient.messageId || recipient.messageId === 'None') throw new Error(`Africa's Talking accepted the message without a message id: ${reason}`);
        return { messageId: recipient.messageId };
      }
      if (RETRYABLE.has(code)) throw new Error(`Africa's Talking: ${reason}`);
      throw new SmsRejectedError(`Africa's Talking: ${reason}`);
    },
  };
}
