// The API's answers for the money, tariff, parking and audit pages (the DTOs of
// functions/app/api/{account,payment,tariff,parking,portal,registry}-routes.ts).

export type AlertState = 'ok' | 'low' | 'critical' | 'exhausted';

export interface Account {
  id: string;
  customerId: string;
  accountNo: string;
  currency: string;
  balanceMinor: number;
  lowBalanceThresholdMinor: number;
  status: 'active' | 'suspended' | 'closed';
  alertState: AlertState;
  alertStateAt: string | null;
  createdAt: string;
  /** In list answers (GET /accounts). */
  customerName?: string;
}

export interface AccountDetail extends Account {
  forecast: { dailySpendMinor: number; daysLeft: number | null; basisDays: number };
  lastPayment: Payment | null;
  meters: { id: string; meterNo: string; meterType: string }[];
}

export interface Customer {
  id: string;
  name: string;
  phone: string | null;
  email: string | null;
  accounts?: Account[];
}

export type PaymentStatus = 'received' | 'applied' | 'suspense' | 'conflict' | 'failed' | 'reversed';

export interface Payment {
  id: string;
  provider: string;
  receipt: string;
  channel: string;
  status: PaymentStatus;
  statusReason: string | null;
  accountId: string | null;
  accountReference: string | null;
  amountMinor: number;
  currency: string;
  phone: string | null;
  transactedAt: string | null;
  receivedAt: string;
  appliedAt: string | null;
}

export interface StatementLine {
  entryId: number;
  at: string;
  entryType: string;
  amountMinor: number;
  balanceAfterMinor: number;
  description: string | null;
  paymentId: string | null;
  reason: string | null;
}

export interface Statement {
  account: Account;
  openingBalanceMinor: number;
  closingBalanceMinor: number;
  items: StatementLine[];
}

export interface StkRequest {
  id: string;
  status: string;
  phone: string;
  amountMinor: number;
  resultDesc: string | null;
}

export interface TariffVersion {
  version: number;
  effectiveFrom: string;
  components: unknown;
  note: string | null;
  createdBy: string | null;
  createdAt: string;
}

export interface Tariff {
  id: string;
  name: string;
  meterType: string;
  currency: string;
  siteId: string | null;
  description: string | null;
  versions: TariffVersion[];
}

export type SpaceState = 'FREE' | 'OCCUPIED' | 'RESERVED' | 'MAINTENANCE';

export interface Reservation {
  id: string;
  spaceId: string;
  from: string;
  to: string;
  reference: string;
  status: 'scheduled' | 'active' | 'ended' | 'cancelled';
  createdBy: string | null;
}

export interface ParkingSpace {
  id: string;
  code: string;
  name: string;
  zone: string | null;
  siteId: string | null;
  state: SpaceState;
  sensorState: string | null;
  stateChangedAt: string | null;
  overrideReason: string | null;
  overrideBy: string | null;
  sensorDevEui: string | null;
  displayDevEui: string | null;
  reservation?: Reservation | null;
}

export interface Actuation {
  id: string;
  trigger: string;
  triggerSource: string | null;
  previousState: string | null;
  newState: string;
  displayCode: string | null;
  downlinkSent: boolean;
  downlinkConfirmed: boolean;
  downlinkError: string | null;
  createdAt: string;
}

export interface Bucket {
  start: string;
  end: string;
  consumption: number | null;
  readings: number;
  gap: boolean;
}

export interface Consumption {
  interval: 'hour' | 'day' | 'month';
  timezone: string;
  from: string;
  to: string;
  items: Bucket[];
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  role: string;
  action: string;
  targetType: string;
  targetId: string | null;
  details: unknown;
}

export interface DeviceEvent {
  id: string;
  type: string;
  time: string;
  level: string | null;
  code: string | null;
  description: string | null;
  details: unknown;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** GET /balance-discrepancies: an ESP32 balance report that disagreed with the ledger. */
export interface Discrepancy {
  id: string;
  meterId: string;
  meterNo: string;
  accountId: string | null;
  /** currency: a balance in currency units (KES, not cents); units: kWh or m³ for a meter counting units. */
  unit: 'currency' | 'units';
  reported: number;
  expected: number;
  difference: number;
  tolerance: number;
  reportedAt: string;
  detectedAt: string;
  resyncCommandId: string | null;
}
