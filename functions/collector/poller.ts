// One gateway's poll cycle: its meters one after another (requests on one gateway are sequential), each
// in at most two FC04 requests as its model's register map says, with a timeout and retries per request.
// A meter that does not answer is backed off (1, 2, 4… poll intervals, capped) so a dead meter does not
// stall the bus, and is probed again when its back-off ends; the first answer puts it back in every cycle.
import type * as z from 'zod';
import { backoffDelayMs } from '#domain/commands';
import type { collectorReadingSchema } from '#domain/posted-readings';
import { decodeRegisterBlocks, plausibilityFlags, registerMaps, type SdmValues } from '#domain/sdm-registers';
import type { GatewayConfig, MeterConfig } from './config.ts';
import { describeModbusError, type RegisterReader } from './modbus-gateway.ts';

export type CollectorReading = z.input<typeof collectorReadingSchema>;

export interface MeterStatus {
  slaveId: number;
  meterId: string;
  model: string;
  state: 'unknown' | 'ok' | 'failing';
  consecutiveFailures: number;
  lastReadingAt: string | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  readings: number;
  failures: number;
  lastFlags: string[];
}

export interface CycleResult {
  readings: CollectorReading[];
  cycleMs: number;
  read: number;
  failed: number;
  skipped: number;
  /** Meters that answered again after failing. */
  recovered: string[];
  /** Meters that started failing in this cycle. */
  lost: string[];
}

interface MeterState {
  config: MeterConfig;
  status: MeterStatus;
  nextAttemptAt: number;
  last: SdmValues | undefined;
}


export class GatewayPoller {
  readonly name: string;
  private readonly meters: MeterState[];

  constructor(
    readonly gateway: GatewayConfig,
    private readonly reader: RegisterReader,
    private readonly now: () => number = Date.now,
  ) {
    this.name = gateway.name ?? `${gateway.host}:${gateway.port}`;
    this.meters = gateway.meters.map((config) => ({
      config,
      nextAttemptAt: 0,
      last: undefined,
      status: {
        slaveId: config.slaveId, meterId: config.meterId, model: config.model, state: 'unknown', consecutiveFailures: 0,
        lastReadingAt: null, lastError: null, nextAttemptAt: null, readings: 0, failures: 0, lastFlags: [],
      },
    }));
  }

  statuses(): MeterStatus[] {
    return this.meters.map((m) => ({ ...m.status }));
  }

  /** One pass over the meters that are due; never throws (a meter's failure is its status). */
  async pollCycle(): Promise<CycleResult> {
    const started = this.now();
    const result: CycleResult = { readings: [], cycleMs: 0, read: 0, failed: 0, skipped: 0, recovered: [], lost: [] };
    for (const meter of this.meters) {
      if (meter.nextAttemptAt > this.now()) {
        result.skipped++;
        continue;
      }
      try {
        const reading = await this.readMeter(meter);
        result.readings.push(reading);
        result.read++;
        if (meter.status.state === 'failing') result.recovered.push(meter.config.meterId);
        meter.status = { ...meter.status, state: 'ok', consecutiveFailures: 0, lastError: null, nextAttemptAt: null, readings: meter.status.readings + 1, lastReadingAt: String(reading.timestamp) };
        meter.nextAttemptAt = 0;
      } catch (error) {
        result.failed++;
        if (meter.status.state !== 'failing') result.lost.push(meter.config.meterId);
        const failures = meter.status.consecutiveFailures + 1;
        const delay = backoffDelayMs(failures, { baseMs: this.gateway.pollIntervalS * 1000, factor: 2, maxMs: this.gateway.maxBackoffS * 1000 });
        // The first failure is tried again next cycle; later ones wait out the back-off.
        meter.nextAttemptAt = failures === 1 ? 0 : this.now() + delay - this.gateway.pollIntervalS * 500;
        meter.status = {
          ...meter.status,
          state: 'failing',
          consecutiveFailures: failures,
          failures: meter.status.failures + 1,
          lastError: describeModbusError(error),
          nextAttemptAt: meter.nextAttemptAt ? new Date(meter.nextAttemptAt).toISOString() : null,
        };
      }
    }
    result.cycleMs = this.now() - started;
    return result;
  }

  private async request(slaveId: number, start: number, count: number): Promise<number[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.reader.readInputRegisters(slaveId, start, count);
      } catch (error) {
        if (attempt >= this.gateway.retries) throw error;
      }
    }
  }

  private async readMeter(meter: MeterState): Promise<CollectorReading> {
    const map = registerMaps[meter.config.model];
    const responses: number[][] = [];
    for (const block of map.blocks) responses.push(await this.request(meter.config.slaveId, block.start, block.count));
    const timestamp = new Date(this.now()).toISOString();
    const { values, flags } = decodeRegisterBlocks(map, responses);
    flags.push(...plausibilityFlags(values, meter.last));
    // Compared with the last reading that had the counter: a NaN in between does not hide a step back.
    meter.last = { ...meter.last, ...Object.fromEntries(Object.entries(values).filter(([, x]) => x !== null)) };
    meter.status.lastFlags = flags;
    const phases = {
      voltageL1: values.voltageL1, voltageL2: values.voltageL2, voltageL3: values.voltageL3,
      currentL1: values.currentL1, currentL2: values.currentL2, currentL3: values.currentL3,
      powerL1: values.powerL1, powerL2: values.powerL2, powerL3: values.powerL3,
      powerFactorL1: values.powerFactorL1, powerFactorL2: values.powerFactorL2, powerFactorL3: values.powerFactorL3,
    };
    return {
      meterId: meter.config.meterId,
      timestamp,
      voltage: values.voltageL1,
      current: values.currentL1,
      power: values.powerTotal !== undefined ? values.powerTotal : values.powerL1,
      powerFactor: values.powerFactorTotal !== undefined ? values.powerFactorTotal : values.powerFactorL1,
      frequency: values.frequency,
      energyImport: values.energyImportKwh,
      energyExport: values.energyExportKwh,
      energyTotal: values.energyTotalKwh,
      phases: Object.fromEntries(Object.entries(phases).filter(([, x]) => x !== undefined)),
      model: map.model,
      slaveId: meter.config.slaveId,
      gateway: this.name,
      ...(flags.length ? { flags } : {}),
    };
  }
}
