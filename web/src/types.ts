// The API's answers as the portal reads them (the DTOs of functions/app/api/*-routes.ts).

export type CommandStatus = 'pending' | 'queued' | 'sent' | 'confirmed' | 'failed' | 'cancelled' | 'expired';
export const openStatuses: readonly CommandStatus[] = ['pending', 'queued', 'sent'];

export interface Device {
  id: string;
  kind: string;
  deviceType: string;
  devEui: string | null;
  meterNo: string | null;
  capabilities: Record<string, boolean> | null;
  config: Record<string, unknown>;
  lifecycle: string;
  expectedUplinkIntervalS: number | null;
  lastSeenAt: string | null;
  batteryLevel: number | null;
}

export interface Meter {
  id: string;
  meterNo: string;
  meterType: 'electricity' | 'water';
  unit: string;
  serialNumber: string | null;
  siteId: string | null;
  accountId: string | null;
  isActive: boolean;
  communicationStatus: 'online' | 'offline' | 'unknown';
  lastReading: number | string | null;
  lastReadingDate: string | null;
  relayState: 'on' | 'off' | 'unknown';
  relayStateAt: string | null;
  relayStateSource: string | null;
  devEui?: string | null;
  device?: Device | null;
}

export interface Command {
  id: string;
  type: string;
  status: CommandStatus;
  statusText: string;
  deliveryState: string | null;
  awaitingDevice: boolean;
  deliveryUnknown: boolean;
  meterId: string | null;
  devEui: string | null;
  payloadHex: string | null;
  fPort: number | null;
  data: Record<string, unknown> | null;
  error: string | null;
  requestedBy: string | null;
  reason: string | null;
  createdAt: string;
  queuedAt: string | null;
  sentAt: string | null;
  transmittedAt: string | null;
  confirmedAt: string | null;
  failedAt: string | null;
  cancelledAt: string | null;
  expiredAt: string | null;
  expiresAt: string | null;
}

export interface Reading {
  id: string;
  readingValue: number | string;
  readingDate: string;
  voltage: number | null;
  current: number | null;
  power: number | null;
  frequency: number | null;
  powerFactor: number | null;
  batteryLevel: number | null;
  temperature: number | null;
  rssi: number | null;
  snr: number | null;
}

export interface Quarantined {
  id: string;
  source: string;
  topic: string | null;
  devEui: string | null;
  meterNo: string | null;
  reasonCode: string;
  reason: string;
  status: 'new' | 'reprocessed' | 'discarded';
  attempts: number;
  receivedAt: string;
}

export interface Overview {
  at: string;
  failedSince: string;
  meters: { total: number; online: number; offline: number; unknown: number; relayOff: number };
  commands: { inFlight: number; awaitingDevice: number; deliveryUnknown: number; failedSince: number };
  quarantine: { new: number };
  accounts: { total: number; low: number; exhausted: number };
  suspense: { count: number; amountMinor: number };
  /** Today from midnight in `timezone` (the browser's, as the portal asks). */
  today: { timezone: string; from: string; money: { currency: string; payments: number; revenueMinor: number; consumptionMinor: number }[] };
}

export interface Items<T> {
  items: T[];
}
