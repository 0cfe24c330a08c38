// The device command state machine and what each command puts on the wire: one model for relay
// switching (UC100 + Modbus meter), display actuation (Busylight and other displays) and ESP32 balance
// updates. Pure functions over values; the app layer turns their answers into conditional UPDATEs.
import * as z from 'zod';
import type { ModbusResponseFrame } from './decoders/types.ts';
import { esp32CommandTopic } from './topics.ts';
import { resolveDisplayActuation } from './display.ts';
import { balanceCommandSchema } from './esp32.ts';
import { formatIssues } from './issues.ts';
import { buildRelayFrame, bytesToHex, confirmsWrite, hexToBytes, parseRelayConfig, parseWriteRequest, type RelayAction } from './modbus.ts';

// ---- Lifecycle ----

export const commandStatuses = ['pending', 'queued', 'sent', 'confirmed', 'failed', 'cancelled', 'expired'] as const;
export type CommandStatus = (typeof commandStatuses)[number];
export const commandTypes = ['relay_on', 'relay_off', 'display', 'balance_update', 'downlink'] as const;
export type CommandType = (typeof commandTypes)[number];
/**
 * Where a command's downlink is. `unknown`: an attempt ended without learning whether the network server
 * queued it (a 5xx or 429, an unreadable 2xx, a timeout, a connection dropped mid-request). On a queued
 * command the next attempt lists the device queue before enqueueing; on a sent command the dispatcher
 * lists it to adopt the item or, finding none, fail the command.
 */
export type DeliveryState = 'awaiting_device' | 'transmitted' | 'acknowledged' | 'published' | 'nacked' | 'unknown';

/**
 * Legal transitions. pending: stored, not yet handed to the queue (or scheduled, or waiting out a
 * backoff); queued: handed to the queue or being dispatched; sent: accepted by the network server (or
 * published); then confirmed, failed, cancelled or expired, which are final. Only pending and queued can
 * be cancelled: once ChirpStack holds the downlink, recalling it is not this command's job.
 */
export const commandTransitions: Readonly<Record<CommandStatus, readonly CommandStatus[]>> = {
  pending: ['queued', 'failed', 'cancelled', 'expired'],
  queued: ['sent', 'failed', 'cancelled', 'expired'],
  sent: ['confirmed', 'failed', 'expired'],
  confirmed: [],
  failed: [],
  cancelled: [],
  expired: [],
};

export const canTransition = (from: CommandStatus, to: CommandStatus): boolean => commandTransitions[from].includes(to);
export const isTerminal = (status: CommandStatus): boolean => commandTransitions[status].length === 0;
export const cancellableStatuses = commandStatuses.filter((s) => canTransition(s, 'cancelled'));
/** Statuses a command may still expire from (it has not reached a final outcome). */
export const openStatuses = commandStatuses.filter((s) => canTransition(s, 'expired'));

// ---- Retries ----

export interface BackoffPolicy {
  baseMs: number;
  factor: number;
  maxMs: number;
}

/** 30 s, 1 min, 2 min, ... capped at 15 min: ChirpStack outages are usually short, and Class A devices slow. */
export const defaultBackoff: BackoffPolicy = { baseMs: 30_000, factor: 2, maxMs: 15 * 60_000 };

/** Delay before retry number `retry` (1 = the first retry). */
export function backoffDelayMs(retry: number, policy: BackoffPolicy = defaultBackoff): number {
  const n = Math.max(1, Math.floor(retry));
  return Math.min(policy.maxMs, Math.round(policy.baseMs * policy.factor ** (n - 1)));
}

export interface SendFailure {
  retryable: boolean;
  message: string;
}

export type FailureOutcome =
  | { kind: 'retry'; retryCount: number; nextAttemptAt: Date; errorMessage: string }
  | { kind: 'fail'; retryCount: number; errorMessage: string };

/**
 * What a failed send leads to: another attempt after a backoff while retries remain and the error is
 * worth retrying; otherwise the command fails, keeping the error. retry_count counts retries made.
 */
export function afterSendFailure(
  command: { retryCount: number; maxRetries: number },
  failure: SendFailure,
  now: Date,
  policy: BackoffPolicy = defaultBackoff,
): FailureOutcome {
  if (!failure.retryable) return { kind: 'fail', retryCount: command.retryCount, errorMessage: failure.message };
  if (command.retryCount >= command.maxRetries) {
    const tries = command.retryCount + 1;
    return { kind: 'fail', retryCount: command.retryCount, errorMessage: `${failure.message} (gave up after ${tries} attempt${tries === 1 ? '' : 's'})` };
  }
  const retryCount = command.retryCount + 1;
  return { kind: 'retry', retryCount, nextAttemptAt: new Date(now.getTime() + backoffDelayMs(retryCount, policy)), errorMessage: failure.message };
}

/**
 * Whether a failed enqueue may have left the downlink at the network server: `no` (refused, or never
 * connected), `answered` (it answered with an error, or a 2xx we could not read: whatever it did is done,
 * and its queue now says), `in_flight` (timed out or the connection dropped: it may still be writing it).
 */
export type SendUncertainty = 'no' | 'answered' | 'in_flight';

export type UncertainFailureOutcome =
  | FailureOutcome
  /** No retry is left and the server has finished with the request: list its queue now, then adopt or fail. */
  | { kind: 'list_now'; retryCount: number; errorMessage: string }
  /** No retry is left and the server may still be writing the item: the command stays sent, delivery unknown, until its queue is listed at `resolveAt`. */
  | { kind: 'unknown'; retryCount: number; resolveAt: Date; errorMessage: string };

/**
 * What a failed send leads to when the network server may hold its downlink anyway. While retries remain
 * it is retried as any failure (the retry lists the device queue before enqueueing). The last attempt never
 * fails blind: the command is failed only after a listing shows the item is not there.
 */
export function afterUncertainSend(
  command: { retryCount: number; maxRetries: number },
  failure: SendFailure & { uncertainty: SendUncertainty },
  now: Date,
  policy: BackoffPolicy = defaultBackoff,
): UncertainFailureOutcome {
  const plain = afterSendFailure(command, failure, now, policy);
  if (failure.uncertainty === 'no' || plain.kind === 'retry') return plain;
  if (failure.uncertainty === 'answered') return { kind: 'list_now', retryCount: plain.retryCount, errorMessage: plain.errorMessage };
  return { kind: 'unknown', retryCount: plain.retryCount, resolveAt: new Date(now.getTime() + backoffDelayMs(plain.retryCount + 1, policy)), errorMessage: failure.message };
}

/** When a command whose delivery is unknown is looked at again after its queue could not be listed: later each time (`looks` so far), capped as retries are. */
export function nextUnknownLook(looks: number, now: Date, policy: BackoffPolicy = defaultBackoff): Date {
  return new Date(now.getTime() + backoffDelayMs(looks + 1, policy));
}

// ---- What to send ----

/** The device's registry config cannot produce this command (no relay, no display code, bad values). */
export class CommandConfigError extends Error {
  override name = 'CommandConfigError';
}

/** A LoRaWAN downlink as stored on the command (payload_hex, f_port, confirmed) and shown in its history. */
export interface Downlink {
  payloadHex: string;
  fPort: number;
  confirmed: boolean;
}

const relayDeviceConfigSchema = z
  .object({
    relay: z.unknown().optional(),
    /** UC100 pass-through port (seed relay-control-plan.md: 5; the UC100 decoder's default too). */
    passThroughFPort: z.number().int().min(1).max(223).default(5),
    confirmed: z.boolean().default(false),
  })
  .loose();

/** The relay downlink for a device: Modbus frame from config.relay, sent on the pass-through fPort. */
export function relayDownlink(deviceConfig: unknown, action: RelayAction): Downlink {
  const parsed = relayDeviceConfigSchema.safeParse(deviceConfig ?? {});
  if (!parsed.success) {
    throw new CommandConfigError(`relay device config is invalid: ${formatIssues(parsed.error, '')}`);
  }
  let frame: Uint8Array;
  try {
    frame = buildRelayFrame(parseRelayConfig(parsed.data.relay), action);
  } catch (error) {
    throw new CommandConfigError(error instanceof Error ? error.message : String(error), { cause: error });
  }
  return { payloadHex: bytesToHex(frame), fPort: parsed.data.passThroughFPort, confirmed: parsed.data.confirmed };
}

/** The display downlink for a space state: code, fPort and confirmed flag from the display's registry config. */
export function displayDownlink(deviceConfig: unknown, state: string): Downlink {
  try {
    const actuation = resolveDisplayActuation(deviceConfig, state);
    return { payloadHex: actuation.payloadHex, fPort: actuation.fPort, confirmed: actuation.confirmed };
  } catch (error) {
    throw new CommandConfigError(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/** The ESP32 balance command body (seed esp32-mqtt-architecture.md): {balance, timestamp in ms}. */
export function balanceMessage(balance: number, at: Date): { balance: number; timestamp: number } {
  return balanceCommandSchema.parse({ balance, timestamp: at.getTime() });
}

/** A stored command as the dispatcher reads it. */
export interface StoredCommand {
  commandType: CommandType;
  deviceEui: string | null;
  /** The ESP32's meter number (its MQTT identity), for balance updates. */
  meterNo: string | null;
  payloadHex: string | null;
  fPort: number | null;
  confirmed: boolean;
  commandData: unknown;
  expiresAt: Date | null;
}

export type SendPlan =
  | { kind: 'lorawan'; devEui: string; data: Uint8Array; fPort: number; confirmed: boolean; expiresAt: Date | undefined }
  | { kind: 'mqtt'; topic: string; payload: string; qos: 1 };

/**
 * How to deliver a stored command. LoRaWAN commands go out exactly as stored (the bytes shown in the
 * history are the bytes sent); a balance update becomes the ESP32 JSON on its command topic.
 */
export function planSend(command: StoredCommand): SendPlan {
  if (command.commandType === 'balance_update') {
    if (!command.meterNo) throw new CommandConfigError('balance update for a device without a meter number (not an ESP32 meter)');
    const body = balanceCommandSchema.safeParse(command.commandData);
    if (!body.success) throw new CommandConfigError('balance update has no {balance, timestamp} data');
    return { kind: 'mqtt', topic: esp32CommandTopic(command.meterNo, 'balance'), payload: JSON.stringify({ balance: body.data.balance, timestamp: body.data.timestamp }), qos: 1 };
  }
  if (!command.deviceEui) throw new CommandConfigError(`${command.commandType} command for a device without a DevEUI`);
  if (!command.payloadHex) throw new CommandConfigError(`${command.commandType} command has no payload`);
  if (command.fPort === null || command.fPort < 1 || command.fPort > 223) throw new CommandConfigError(`${command.commandType} command has no valid fPort`);
  return {
    kind: 'lorawan',
    devEui: command.deviceEui,
    data: hexToBytes(command.payloadHex),
    fPort: command.fPort,
    confirmed: command.confirmed,
    expiresAt: command.expiresAt ?? undefined,
  };
}

// ---- Confirmation ----

/**
 * What confirms a command: a relay switch only when the meter echoes the write (the relay really moved);
 * a balance update when the ESP32 reports its balance; other downlinks by the device's ack when sent
 * confirmed, else by ChirpStack's txack (for an unconfirmed Class A downlink, the most anyone learns).
 */
export type ConfirmationMode = 'modbus_echo' | 'balance_report' | 'ack' | 'txack';

export function confirmationModeOf(command: { commandType: CommandType; confirmed: boolean }): ConfirmationMode {
  if (command.commandType === 'relay_on' || command.commandType === 'relay_off') return 'modbus_echo';
  if (command.commandType === 'balance_update') return 'balance_report';
  return command.confirmed ? 'ack' : 'txack';
}

// ---- Feedback from ingestion ----

/** ChirpStack's txack: the gateway transmitted the queue item. */
export interface TxAckFeedback {
  devEui: string;
  queueItemId: string;
  time: Date;
}

/** ChirpStack's ack: the device acknowledged a confirmed downlink, or did not (NACK). */
export interface AckFeedback {
  devEui: string;
  queueItemId: string;
  acknowledged: boolean;
  time: Date;
}

/** A meter's Modbus response in a UC100 pass-through uplink: the echo (or refusal) of a relay write. */
export interface ModbusResponseFeedback {
  deviceId: string;
  devEui: string;
  meterId: string | null;
  response: ModbusResponseFrame;
  time: Date;
}

/** An ESP32's report of the balance it now holds. */
export interface BalanceReportFeedback {
  meterNo: string;
  deviceId: string;
  meterId: string | null;
  balance: number;
  time: Date;
}

/** What ingestion hands to the command system: the confirmations found in one batch. */
export interface BatchFeedback {
  txAcks: TxAckFeedback[];
  acks: AckFeedback[];
  modbusResponses: ModbusResponseFeedback[];
  balanceReports: BalanceReportFeedback[];
}

export type DeliveryEvent =
  | { kind: 'txack'; at: Date }
  | { kind: 'ack'; acknowledged: boolean; at: Date }
  | { kind: 'modbus_echo'; frameHex: string; crcValid: boolean; functionCode: number; exceptionCode?: number; at: Date }
  | { kind: 'balance_report'; balance: number; at: Date };

export interface TrackedCommand {
  commandType: CommandType;
  status: CommandStatus;
  deliveryState: DeliveryState | null;
  confirmed: boolean;
  payloadHex: string | null;
  transmittedAt: Date | null;
  /** When the (successful) send began: nothing older can be an answer to it. */
  sentAt: Date | null;
  /** What the command carried; a balance update's {balance, timestamp}. */
  commandData: unknown;
}

export interface CommandChange {
  status: CommandStatus;
  deliveryState: DeliveryState | null;
  transmittedAt: Date | null;
  confirmedAt: Date | null;
  failedAt: Date | null;
  errorMessage: string | null;
  outcome: Record<string, unknown> | null;
  /** For a relay command confirmed by the meter's echo: the relay state now known. */
  relayState: 'on' | 'off' | null;
}

const modbusExceptions: Readonly<Record<number, string>> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  6: 'server device busy',
};

/**
 * The effect of a delivery event on a sent command, or null when it changes nothing (a duplicate, an
 * event for another kind of command, an echo of a different frame, a report of another balance or from
 * before the command was sent). Only sent commands move: an event for a command already confirmed,
 * failed or expired is history, not news.
 */
export function applyDeliveryEvent(command: TrackedCommand, event: DeliveryEvent): CommandChange | null {
  if (command.status !== 'sent') return null;
  const mode = confirmationModeOf(command);
  const base: CommandChange = {
    status: command.status,
    deliveryState: command.deliveryState,
    transmittedAt: command.transmittedAt,
    confirmedAt: null,
    failedAt: null,
    errorMessage: null,
    outcome: null,
    relayState: null,
  };
  const confirm = (change: CommandChange, outcome: Record<string, unknown>): CommandChange => ({
    ...change,
    status: 'confirmed',
    confirmedAt: event.at,
    outcome: { via: event.kind, at: event.at.toISOString(), ...outcome },
  });
  switch (event.kind) {
    case 'txack': {
      if (command.transmittedAt !== null) return null;
      const change: CommandChange = { ...base, transmittedAt: event.at, deliveryState: command.deliveryState === 'awaiting_device' || command.deliveryState === null ? 'transmitted' : command.deliveryState };
      return mode === 'txack' ? confirm(change, {}) : change;
    }
    case 'ack': {
      if (!command.confirmed || command.deliveryState === 'acknowledged') return null;
      const transmittedAt = command.transmittedAt ?? event.at;
      if (!event.acknowledged) {
        return { ...base, transmittedAt, status: 'failed', deliveryState: 'nacked', failedAt: event.at, errorMessage: 'the device did not acknowledge the confirmed downlink (NACK)', outcome: { via: 'ack', acknowledged: false, at: event.at.toISOString() } };
      }
      const change: CommandChange = { ...base, transmittedAt, deliveryState: 'acknowledged' };
      return mode === 'ack' ? confirm(change, { acknowledged: true }) : change;
    }
    case 'modbus_echo': {
      if (mode !== 'modbus_echo' || !command.payloadHex) return null;
      const request = hexToBytes(command.payloadHex);
      const parsedRequest = parseWriteRequest(request);
      if (!parsedRequest) return null;
      const transmittedAt = command.transmittedAt ?? event.at;
      const deliveryState = command.deliveryState === 'acknowledged' ? 'acknowledged' : 'transmitted';
      // An exception response to this function code means the meter received the write and refused it.
      if (event.exceptionCode !== undefined && event.functionCode === (parsedRequest.functionCode | 0x80) && event.crcValid) {
        const name = modbusExceptions[event.exceptionCode] ?? 'unknown exception';
        return { ...base, transmittedAt, deliveryState, status: 'failed', failedAt: event.at, errorMessage: `the meter refused the write: Modbus exception ${event.exceptionCode} (${name})`, outcome: { via: 'modbus_echo', frameHex: event.frameHex, at: event.at.toISOString() } };
      }
      if (!event.crcValid || !confirmsWrite(request, hexToBytes(event.frameHex))) return null;
      return { ...confirm({ ...base, transmittedAt, deliveryState }, { frameHex: event.frameHex }), relayState: command.commandType === 'relay_on' ? 'on' : 'off' };
    }
    case 'balance_report': {
      // The ESP32 answers a balance command by reporting the balance it now holds; a report of another
      // balance, or one made before this command went out, answers some other command (or none).
      if (mode !== 'balance_report') return null;
      const sent = balanceCommandSchema.safeParse(command.commandData);
      if (!sent.success || sent.data.balance !== event.balance) return null;
      // The report's time is the meter's clock: allow it to run a little behind ours. A report of the same
      // balance from just before the send can only say what the command asked for anyway.
      if (command.sentAt === null || event.at.getTime() < command.sentAt.getTime() - BALANCE_CLOCK_TOLERANCE_MS) return null;
      return confirm(base, { balance: event.balance });
    }
  }
}

/** How far an ESP32's clock may run behind the platform's for its balance report to still count. */
export const BALANCE_CLOCK_TOLERANCE_MS = 2 * 60_000;

// ---- Presentation ----

export interface DescribedCommand {
  status: CommandStatus;
  deliveryState: DeliveryState | null;
  commandType: CommandType;
  confirmed: boolean;
  scheduledAt: Date | null;
  nextAttemptAt: Date | null;
  errorMessage: string | null;
}

/** One honest sentence on where a command is; Class A "awaiting device" is a state, not a failure. */
export function describeCommand(c: DescribedCommand, now: Date): string {
  const mode = confirmationModeOf(c);
  const awaiting: Record<ConfirmationMode, string> = {
    modbus_echo: "the meter's Modbus response",
    balance_report: "the meter's balance report",
    ack: "the device's acknowledgement",
    txack: 'the network to transmit it',
  };
  switch (c.status) {
    case 'pending':
      if (c.scheduledAt && c.scheduledAt > now) return `scheduled for ${c.scheduledAt.toISOString()}`;
      if (c.nextAttemptAt && c.nextAttemptAt > now) return `retry ${c.nextAttemptAt.toISOString()} after: ${c.errorMessage ?? 'an error'}`;
      return 'stored; waiting to be queued';
    case 'queued':
      if (c.nextAttemptAt && c.nextAttemptAt > now) {
        const maybe = c.deliveryState === 'unknown' ? " (the network server may hold the earlier attempt's downlink: the retry checks its queue first)" : '';
        return `will retry at ${c.nextAttemptAt.toISOString()} after: ${c.errorMessage ?? 'an error'}${maybe}`;
      }
      return 'queued for dispatch';
    case 'sent':
      switch (c.deliveryState) {
        case 'unknown':
          return `delivery unknown: the network server may hold the downlink (the device would then still receive it); its queue is checked${c.nextAttemptAt && c.nextAttemptAt > now ? ` at ${c.nextAttemptAt.toISOString()}` : ''} to see whether it is there. Last error: ${c.errorMessage ?? 'none'}`;
        case 'awaiting_device':
          return "queued at the network server: a Class A device receives it in the receive window after its next uplink";
        case 'published':
          return `published to the meter's command topic; waiting for ${awaiting[mode]}`;
        case 'acknowledged':
          return `acknowledged by the device; waiting for ${awaiting[mode]}`;
        default:
          return `transmitted to the device; waiting for ${awaiting[mode]}`;
      }
    case 'confirmed':
      return 'confirmed';
    case 'failed':
      return `failed: ${c.errorMessage ?? 'unknown error'}`;
    case 'cancelled':
      return 'cancelled before it was sent';
    case 'expired':
      return 'expired before it was confirmed';
  }
}
