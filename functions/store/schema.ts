// Kysely's view of schema/*.sql. Keep in step with the migrations: the migration tests compare the
// column names here with the live database.
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { CommandStatus, CommandType, DeliveryState } from '#domain/commands';
import type { SpaceState } from '#domain/parking';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
/** numeric/int8 columns: read as number (the drivers parse them), written as number or string. */
type Num = ColumnType<number, number | string, number | string>;
type Json<T = Record<string, unknown>> = ColumnType<T, T | string, T | string>;
// Kysely's Generated<> does not see through ColumnType, so defaulted columns of these types are spelled out.
type GeneratedJson<T = Record<string, unknown>> = ColumnType<T, T | string | undefined, T | string>;
type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type GeneratedNum = ColumnType<number, number | string | undefined, number | string>;

export interface SitesTable {
  id: Generated<string>;
  code: string;
  name: string;
  timezone: Generated<string>;
  address: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export type DeviceKind = 'lorawan' | 'esp32' | 'modbus_tcp';
export type DeviceLifecycle = 'installed' | 'active' | 'decommissioned';

export interface DevicesTable {
  id: Generated<string>;
  site_id: string | null;
  kind: DeviceKind;
  dev_eui: string | null;
  meter_no: string | null;
  device_type: string;
  model: string | null;
  manufacturer: string | null;
  decoder: string;
  capabilities: GeneratedJson;
  config: GeneratedJson;
  lifecycle: Generated<DeviceLifecycle>;
  expected_uplink_interval_s: number | null;
  last_seen_at: Timestamp | null;
  last_f_cnt: Num | null;
  battery_level: Num | null;
  margin: number | null;
  joined_at: Timestamp | null;
  counter_offset: GeneratedNum;
  last_counter: Num | null;
  last_counter_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface CustomersTable {
  id: Generated<string>;
  site_id: string | null;
  name: string;
  phone: string | null;
  email: string | null;
  external_ref: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface AccountsTable {
  id: Generated<string>;
  customer_id: string;
  account_no: string;
  currency: Generated<string>;
  balance_minor: GeneratedNum;
  low_balance_threshold_minor: GeneratedNum;
  status: Generated<'active' | 'suspended' | 'closed'>;
  /** Set by the billing job's balance alerts (0013_billing.sql). */
  alert_state: Generated<'ok' | 'low' | 'critical' | 'exhausted'>;
  alert_state_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export type MeterType = 'electricity' | 'water';
export type RelayState = 'on' | 'off' | 'unknown';

export interface MetersTable {
  id: Generated<string>;
  site_id: string | null;
  account_id: string | null;
  meter_no: string;
  serial_number: string | null;
  meter_type: MeterType;
  unit: 'kWh' | 'm3';
  manufacturer: string | null;
  model: string | null;
  is_prepaid: Generated<boolean>;
  is_active: Generated<boolean>;
  communication_status: Generated<'online' | 'offline' | 'unknown'>;
  last_reading: Num | null;
  last_reading_date: Timestamp | null;
  relay_state: Generated<RelayState>;
  relay_state_at: Timestamp | null;
  relay_state_source: string | null;
  tariff_id: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface MeterDevicesTable {
  id: Generated<number>;
  meter_id: string;
  device_id: string;
  valid_from: GeneratedTimestamp;
  valid_to: Timestamp | null;
}

/** View meter_current_device (schema/0004): the meter_devices rows with no end. */
export interface MeterCurrentDeviceView {
  meter_id: string;
  device_id: string;
  valid_from: Date;
}

export interface MeterReadingsTable {
  id: Generated<number>;
  meter_id: string;
  device_id: string | null;
  source_key: string;
  reading_value: Num | null;
  reading_date: Timestamp;
  reading_type: Generated<'automatic' | 'manual' | 'estimated'>;
  is_validated: Generated<boolean>;
  pulse_count: Num | null;
  temperature: Num | null;
  humidity: Num | null;
  rssi: number | null;
  snr: Num | null;
  battery_level: Num | null;
  voltage: Num | null;
  current: Num | null;
  power: Num | null;
  energy_import: Num | null;
  energy_export: Num | null;
  frequency: Num | null;
  power_factor: Num | null;
  f_cnt: Num | null;
  extra: Json | null;
  raw_payload: string | null;
  received_at: CreatedAt;
  /** Pulse counters: the device's counter offset at this reading (reading_value = (offset + pulse_count) / pulsesPerUnit). */
  counter_offset: Num | null;
}

export interface DeviceEventsTable {
  id: Generated<number>;
  device_id: string | null;
  dev_eui: string | null;
  event_type: string;
  event_time: Timestamp;
  level: string | null;
  code: string | null;
  description: string | null;
  details: Json | null;
  source_key: string;
  received_at: CreatedAt;
}


export interface DeviceCommandsTable {
  id: Generated<string>;
  device_id: string;
  meter_id: string | null;
  device_eui: string | null;
  command_type: CommandType;
  command_data: GeneratedJson;
  payload_hex: string | null;
  f_port: number | null;
  confirmed: Generated<boolean>;
  status: Generated<CommandStatus>;
  delivery_state: DeliveryState | null;
  priority: Generated<number>;
  scheduled_at: Timestamp | null;
  idempotency_key: string;
  retry_count: Generated<number>;
  max_retries: Generated<number>;
  next_attempt_at: Timestamp | null;
  error_message: string | null;
  network_queue_item_id: string | null;
  expires_at: Timestamp | null;
  requested_by: string | null;
  reason: string | null;
  created_at: CreatedAt;
  queued_at: Timestamp | null;
  sent_at: Timestamp | null;
  transmitted_at: Timestamp | null;
  confirmed_at: Timestamp | null;
  failed_at: Timestamp | null;
  cancelled_at: Timestamp | null;
  expired_at: Timestamp | null;
  updated_at: UpdatedAt;
  // 0003_command_dispatch.sql
  claim_token: string | null;
  claimed_until: Timestamp | null;
  dispatch_attempts: Generated<number>;
  last_enqueued_at: Timestamp | null;
  outcome: Json | null;
}

export interface ParkingSpacesTable {
  id: Generated<string>;
  site_id: string | null;
  code: string;
  name: string;
  zone: string | null;
  sensor_device_id: string | null;
  /** Maintained by a trigger from sensor_device_id. */
  sensor_dev_eui: ColumnType<string | null, never, never>;
  display_device_id: string | null;
  /** Maintained by a trigger from display_device_id. */
  display_dev_eui: ColumnType<string | null, never, never>;
  current_state: Generated<SpaceState>;
  sensor_state: 'occupied' | 'free' | null;
  display_state: string | null;
  state_changed_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  // 0012_parking_operations.sql
  retired_at: Timestamp | null;
  override_reason: string | null;
  override_by: string | null;
}

export interface ParkingSpaceDevicesTable {
  id: Generated<number>;
  space_id: string;
  device_id: string;
  role: 'sensor' | 'display';
  valid_from: Timestamp;
  valid_to: Timestamp | null;
}

export type ReservationStatus = 'scheduled' | 'active' | 'ended' | 'cancelled';

export interface ParkingReservationsTable {
  id: Generated<string>;
  space_id: string;
  starts_at: Timestamp;
  ends_at: Timestamp;
  reference: string;
  status: Generated<ReservationStatus>;
  created_by: string | null;
  created_at: CreatedAt;
  started_at: Timestamp | null;
  ended_at: Timestamp | null;
  cancelled_at: Timestamp | null;
  cancel_reason: string | null;
}

export interface OccupancyEventsTable {
  id: Generated<number>;
  space_id: string;
  device_id: string | null;
  occupied: boolean;
  previous_state: string | null;
  new_state: string;
  event_time: Timestamp;
  source_key: string;
  created_at: CreatedAt;
}

export type ActuationTrigger =
  | 'sensor_uplink'
  | 'api_reservation'
  | 'manual_override'
  | 'system_cleanup'
  | 'reservation_expired';

export interface ActuationsTable {
  id: Generated<string>;
  space_id: string;
  command_id: string | null;
  trigger_type: ActuationTrigger;
  trigger_source: string | null;
  previous_state: string | null;
  new_state: string;
  display_deveui: string;
  display_code: string;
  fport: number | null;
  confirmed: Generated<boolean>;
  downlink_sent: Generated<boolean>;
  downlink_confirmed: Generated<boolean>;
  downlink_error: string | null;
  response_time_ms: number | null;
  retry_count: Generated<number>;
  created_at: CreatedAt;
  sent_at: Timestamp | null;
  confirmed_at: Timestamp | null;
}

export interface PaymentsTable {
  id: Generated<string>;
  provider: 'mpesa' | 'manual';
  provider_transaction_id: string;
  account_id: string | null;
  account_reference: string | null;
  amount_minor: Num;
  currency: string;
  phone: string | null;
  status: Generated<PaymentStatus>;
  raw: Json | null;
  received_at: CreatedAt;
  applied_at: Timestamp | null;
  channel: Generated<PaymentChannel>;
  transacted_at: Timestamp | null;
  status_reason: string | null;
  updated_at: UpdatedAt;
}

export type PaymentStatus = 'received' | 'applied' | 'suspense' | 'conflict' | 'failed' | 'reversed';
export type PaymentChannel = 'c2b' | 'stk' | 'pull' | 'manual';

export interface LedgerEntriesTable {
  id: Generated<number>;
  account_id: string;
  entry_type: 'payment' | 'consumption' | 'adjustment' | 'refund' | 'reversal' | 'debt_recovery';
  amount_minor: Num;
  balance_after_minor: Num;
  currency: string;
  idempotency_key: string;
  payment_id: string | null;
  description: string | null;
  created_by: string | null;
  created_at: CreatedAt;
  reverses_entry_id: number | null;
  reason: string | null;
  source_ref: string | null;
}

export type EntryType = LedgerEntriesTable['entry_type'];

export interface AccountMetersTable {
  id: Generated<number>;
  account_id: string;
  meter_id: string;
  valid_from: GeneratedTimestamp;
  valid_to: Timestamp | null;
}

export type DarajaCallbackKind = 'c2b_validation' | 'c2b_confirmation' | 'stk_callback' | 'result';
export type DarajaCallbackOutcome = 'received' | 'accepted' | 'rejected' | 'processed' | 'duplicate' | 'invalid' | 'conflict';

export interface DarajaCallbacksTable {
  id: Generated<string>;
  kind: DarajaCallbackKind;
  body: string;
  source_ip: string | null;
  receipt: string | null;
  checkout_request_id: string | null;
  outcome: Generated<DarajaCallbackOutcome>;
  reason: string | null;
  payment_id: string | null;
  received_at: CreatedAt;
  processed_at: Timestamp | null;
}

export type StkStatus = 'initiating' | 'pending' | 'paid' | 'failed' | 'conflict' | 'error';

export interface StkRequestsTable {
  id: Generated<string>;
  account_id: string;
  phone: string;
  amount_minor: Num;
  account_reference: string;
  merchant_request_id: string | null;
  checkout_request_id: string | null;
  status: Generated<StkStatus>;
  result_code: string | null;
  result_desc: string | null;
  receipt: string | null;
  payment_id: string | null;
  requested_by: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  last_queried_at: Timestamp | null;
  completed_at: Timestamp | null;
}

export interface DarajaReconciliationsTable {
  id: Generated<string>;
  window_from: Timestamp;
  window_to: Timestamp;
  seen: Generated<number>;
  credited: Generated<number>;
  mismatches: GeneratedJson<unknown[]>;
  status: 'ok' | 'mismatches' | 'failed';
  error: string | null;
  created_at: CreatedAt;
}

export interface TariffsTable {
  id: Generated<string>;
  site_id: string | null;
  name: string;
  meter_type: MeterType;
  currency: string;
  description: string | null;
  created_by: string | null;
  created_at: CreatedAt;
}

/** Append-only (schema/0009): a change to a tariff is a new version. */
export interface TariffVersionsTable {
  id: Generated<number>;
  tariff_id: string;
  version: number;
  effective_from: Timestamp;
  /** The domain's components (functions/domain/tariff/schema.ts), parsed again when read. */
  components: Json<unknown[]>;
  note: string | null;
  created_by: string | null;
  created_at: CreatedAt;
}

export interface AccountTariffsTable {
  account_id: string;
  meter_type: MeterType;
  tariff_id: string;
  updated_at: UpdatedAt;
}

export interface SiteTariffsTable {
  site_id: string;
  meter_type: MeterType;
  tariff_id: string;
  updated_at: UpdatedAt;
}

/** View meter_tariff (schema/0009): a meter's own tariff, else its account's, else its site's default. */
export interface MeterTariffView {
  meter_id: string;
  tariff_id: string | null;
  source: 'meter' | 'account' | 'site' | null;
}

export interface QuarantineTable {
  id: Generated<string>;
  source: string;
  topic: string | null;
  dev_eui: string | null;
  meter_no: string | null;
  reason_code: string;
  reason: string;
  payload: string;
  dedup_key: string | null;
  status: Generated<'new' | 'reprocessed' | 'discarded'>;
  attempts: Generated<number>;
  payload_encoding: Generated<'utf8' | 'base64'>;
  payload_bytes: number | null;
  payload_sha256: string | null;
  payload_truncated: Generated<boolean>;
  last_error_at: Timestamp | null;
  received_at: CreatedAt;
  resolved_at: Timestamp | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  actor: string;
  role: string;
  action: string;
  target_type: string;
  target_id: string | null;
  details: Json | null;
  request_id: string | null;
  created_at: CreatedAt;
}

export interface QuarantineSourceHoursTable {
  source_key: string;
  hour: Timestamp;
  messages: number;
}

export interface MqttCredentialsTable {
  device_id: string;
  username: string;
  password_hash: string;
  issued_at: Timestamp;
  created_at: CreatedAt;
}

export interface SchemaMigrationsTable {
  version: string;
  name: string;
  checksum: string;
  applied_at: CreatedAt;
}

export interface BillingStateTable {
  meter_id: string;
  last_reading_id: number | null;
  last_value: string | null;
  last_at: Timestamp | null;
  carry_minor: Generated<string>;
  month_key: string | null;
  month_units: Generated<string>;
  last_run_id: string | null;
  updated_at: UpdatedAt;
}

export interface BillingRunsTable {
  id: Generated<string>;
  trigger: 'schedule' | 'manual';
  requested_by: string | null;
  status: Generated<'running' | 'completed' | 'failed'>;
  meters_seen: Generated<number>;
  meters_billed: Generated<number>;
  entries_posted: Generated<number>;
  amount_minor: Generated<Num>;
  fixed_entries_posted: Generated<number>;
  fixed_amount_minor: Generated<Num>;
  skipped: Generated<unknown>;
  error: string | null;
  started_at: CreatedAt;
  finished_at: Timestamp | null;
}

export interface Database {
  sites: SitesTable;
  devices: DevicesTable;
  customers: CustomersTable;
  accounts: AccountsTable;
  meters: MetersTable;
  meter_devices: MeterDevicesTable;
  meter_current_device: MeterCurrentDeviceView;
  meter_readings: MeterReadingsTable;
  device_events: DeviceEventsTable;
  device_commands: DeviceCommandsTable;
  parking_spaces: ParkingSpacesTable;
  parking_space_devices: ParkingSpaceDevicesTable;
  parking_reservations: ParkingReservationsTable;
  occupancy_events: OccupancyEventsTable;
  actuations: ActuationsTable;
  payments: PaymentsTable;
  ledger_entries: LedgerEntriesTable;
  account_meters: AccountMetersTable;
  daraja_callbacks: DarajaCallbacksTable;
  stk_requests: StkRequestsTable;
  daraja_reconciliations: DarajaReconciliationsTable;
  tariffs: TariffsTable;
  tariff_versions: TariffVersionsTable;
  account_tariffs: AccountTariffsTable;
  site_tariffs: SiteTariffsTable;
  meter_tariff: MeterTariffView;
  billing_state: BillingStateTable;
  billing_runs: BillingRunsTable;
  quarantine: QuarantineTable;
  audit_log: AuditLogTable;
  mqtt_credentials: MqttCredentialsTable;
  quarantine_source_hours: QuarantineSourceHoursTable;
  schema_migrations: SchemaMigrationsTable;
}

export type Site = Selectable<SitesTable>;
export type MqttCredential = Selectable<MqttCredentialsTable>;
export type Device = Selectable<DevicesTable>;
export type NewDevice = Insertable<DevicesTable>;
export type Meter = Selectable<MetersTable>;
export type MeterReading = Selectable<MeterReadingsTable>;
export type DeviceCommand = Selectable<DeviceCommandsTable>;
export type DeviceCommandUpdate = Updateable<DeviceCommandsTable>;
export type ParkingSpace = Selectable<ParkingSpacesTable>;
export type ParkingReservation = Selectable<ParkingReservationsTable>;
export type OccupancyEvent = Selectable<OccupancyEventsTable>;
export type Actuation = Selectable<ActuationsTable>;
export type Quarantined = Selectable<QuarantineTable>;
export type Tariff = Selectable<TariffsTable>;
export type TariffVersionRow = Selectable<TariffVersionsTable>;
export type Customer = Selectable<CustomersTable>;
export type Account = Selectable<AccountsTable>;
export type Payment = Selectable<PaymentsTable>;
export type LedgerEntry = Selectable<LedgerEntriesTable>;
export type StkRequest = Selectable<StkRequestsTable>;
export type DarajaCallback = Selectable<DarajaCallbacksTable>;
