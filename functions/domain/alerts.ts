// Balance alerts: the state an account's balance puts it in, and the SMS texts (each within one 160-
// character GSM-7 message). Pure.
export const alertStates = ['ok', 'low', 'critical', 'exhausted'] as const;
export type AlertState = (typeof alertStates)[number];

export interface AlertPolicy {
  /** At or below this balance (minor units) the account is low, whatever its spend (0: off). */
  lowBalanceMinor: number;
  /** Days of credit left at which a warning is sent, strictly descending (default 7, 3 and 1). */
  warningDays: readonly number[];
  /** At or below minus this the account is exhausted (0: at zero); between it and zero, critical. */
  emergencyCreditMinor: number;
}

/** Days of credit left at the average daily spend (undefined when nothing was spent). */
export function daysLeft(balanceMinor: number, dailySpendMinor: number): number | undefined {
  if (dailySpendMinor <= 0) return undefined;
  return Math.max(0, balanceMinor) / dailySpendMinor;
}

/**
 * Where a balance stands on the warning ladder. The rung counts the warnings it has crossed: one per
 * warning day reached (7, 3, 1 days of credit), at least one at or below the money threshold, and one
 * more than the warnings when it is exhausted. Each rung climbed sends one SMS; the state names the
 * ladder's parts: ok (rung 0), low, critical (the last warning day reached), exhausted.
 */
export interface AlertLevel {
  state: AlertState;
  rung: number;
  days: number | undefined;
}

export function alertLevelOf(balanceMinor: number, dailySpendMinor: number, policy: AlertPolicy): AlertLevel {
  const days = daysLeft(balanceMinor, dailySpendMinor);
  const warnings = policy.warningDays.length;
  if (balanceMinor <= -policy.emergencyCreditMinor) return { state: 'exhausted', rung: warnings + 1, days };
  // Living on emergency credit: every warning is due, the disconnect is not yet.
  if (balanceMinor <= 0) return { state: 'critical', rung: warnings, days };
  const byDays = days === undefined ? 0 : policy.warningDays.filter((w) => days <= w).length;
  const rung = Math.max(byDays, balanceMinor <= policy.lowBalanceMinor ? 1 : 0);
  const state: AlertState = rung === 0 ? 'ok' : byDays === warnings ? 'critical' : 'low';
  return { state, rung, days };
}

export function alertStateOf(balanceMinor: number, dailySpendMinor: number, policy: AlertPolicy): AlertState {
  return alertLevelOf(balanceMinor, dailySpendMinor, policy).state;
}

export const severity = (s: AlertState): number => alertStates.indexOf(s);

const GSM7 = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ !"#¤%&'()*+,\-./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\[~\]|€]*$/;

/** Money as customers read it: "KES 1,234.50". */
export function formatMoney(minor: number, currency: string): string {
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  const major = Math.floor(abs / 100).toLocaleString('en-US');
  return `${sign}${currency} ${major}.${String(abs % 100).padStart(2, '0')}`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A site's wall-clock time (its parts read as UTC) as customers read it: "on Mon 29 Mar at 08:00". */
export function formatWall(wallMs: number): string {
  const d = new Date(wallMs);
  const hhmm = `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  return `on ${DAYS[d.getUTCDay()]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} at ${hhmm}`;
}

export type Template =
  | { template: 'payment_received'; accountNo: string; amountMinor: number; balanceMinor: number; currency: string }
  | { template: 'low_balance'; accountNo: string; balanceMinor: number; currency: string; days?: number | undefined }
  | { template: 'disconnected'; accountNo: string; balanceMinor: number; currency: string }
  /** Exhausted inside friendly-credit hours: the disconnect waits for their end, `disconnectAtWallMs` (the site's wall clock, as UTC ms). */
  | { template: 'credit_exhausted'; accountNo: string; balanceMinor: number; currency: string; disconnectAtWallMs: number }
  | { template: 'reconnected'; accountNo: string; balanceMinor: number; currency: string };

/** The SMS text: at most 160 characters, GSM-7 only (non-GSM characters of an account number are replaced). */
export function renderSms(t: Template): string {
  const acc = t.accountNo.replace(/[^A-Za-z0-9-]/g, '?').slice(0, 20);
  const bal = formatMoney(t.balanceMinor, t.currency);
  let text: string;
  switch (t.template) {
    case 'payment_received':
      text = `Quantify: payment of ${formatMoney(t.amountMinor, t.currency)} received for account ${acc}. New balance ${bal}. Thank you.`;
      break;
    case 'low_balance':
      text = `Quantify: account ${acc} balance is low: ${bal}${t.days !== undefined ? `, about ${Math.max(0, Math.floor(t.days))} day(s) left` : ''}. Top up by M-Pesa to avoid disconnection.`;
      break;
    case 'disconnected':
      text = `Quantify: account ${acc} has run out of credit (balance ${bal}). Supply is being disconnected. Pay by M-Pesa to reconnect.`;
      break;
    case 'credit_exhausted':
      text = `Quantify: account ${acc} is out of credit (balance ${bal}). Supply will be disconnected ${formatWall(t.disconnectAtWallMs)} unless you top up.`;
      break;
    case 'reconnected':
      text = `Quantify: account ${acc} has credit again (balance ${bal}). Supply is being reconnected.`;
      break;
  }
  if (text.length > 160 || !GSM7.test(text)) throw new RangeError(`SMS text is not one GSM-7 message: ${text}`);
  return text;
}
