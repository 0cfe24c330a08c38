// Device clocks: a time a device or the network reports (ChirpStack's `time`, an ESP32 `timestamp`)
// is trusted only up to a tolerance ahead of when the platform received the message. One uplink dated
// years ahead would otherwise pin the meter's last reading date and the device's last-seen time in the
// future. Such a time is corrected to the receive time (the reading keeps a warning saying what the
// device said) or, by policy, the message is quarantined.

export type FutureTimePolicy = 'correct' | 'quarantine';

export interface ClockPolicy {
  /** How far ahead of the receive time a reported time may be (INGEST_MAX_CLOCK_AHEAD_S). */
  maxAheadMs: number;
  /** What to do with a message dated further ahead (INGEST_FUTURE_TIME_POLICY). */
  futureTime: FutureTimePolicy;
}

export const DEFAULT_MAX_CLOCK_AHEAD_S = 300;
export const defaultClockPolicy: ClockPolicy = { maxAheadMs: DEFAULT_MAX_CLOCK_AHEAD_S * 1000, futureTime: 'correct' };

/** What was corrected, kept on the reading (`extra.clock`) and in its `extra.warnings`. */
export interface ClockCorrection {
  reportedTime: string;
  correctedTo: string;
  warning: string;
}

export type ClockCheck =
  | { ok: true; time: Date; correction?: ClockCorrection }
  | { ok: false; reason: string };

export function checkClock(reported: Date, receivedAt: Date, policy: ClockPolicy): ClockCheck {
  const ahead = reported.getTime() - receivedAt.getTime();
  if (!(ahead > policy.maxAheadMs)) return { ok: true, time: reported };
  const what = `reported time ${reported.toISOString()} is ${Math.round(ahead / 1000)} s ahead of the receive time ${receivedAt.toISOString()} (tolerance ${Math.round(policy.maxAheadMs / 1000)} s)`;
  if (policy.futureTime === 'quarantine') return { ok: false, reason: what };
  return { ok: true, time: receivedAt, correction: { reportedTime: reported.toISOString(), correctedTo: receivedAt.toISOString(), warning: `${what}; corrected to the receive time` } };
}
