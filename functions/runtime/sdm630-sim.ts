// A Modbus TCP gateway with Eastron meters behind it (`npm run sim:sdm630`, the tests, the demo): one
// modbus-serial ServerTCP answering FC04 for several slave ids with plausible values that change with
// time (voltage around 230 V, a load that wanders, energy counters that grow with it). A meter can be
// made silent (the gateway never answers for it, as a dead RS485 meter behind a ZLAN times out) and its
// counter can be reset; a slave id nobody configured gets exception 0x0B (gateway target failed to respond).
import { ServerTCP } from 'modbus-serial';
import type { AddressInfo } from 'node:net';
import { float32ToRegisters, registerMaps, type SdmField, type SdmModel } from '#domain/sdm-registers';

export interface SimulatedMeterSpec {
  slaveId: number;
  model?: SdmModel;
  /** Import energy at start (kWh). */
  startKwh?: number;
  /** Mean active power (W) the load wanders around. */
  meanPowerW?: number;
}

interface MeterState {
  spec: Required<SimulatedMeterSpec>;
  importKwh: number;
  exportKwh: number;
  lastAt: number;
  silent: boolean;
  /** Per meter, so values differ between meters but stay reproducible. */
  phase: number;
}

export interface Sdm630Simulator {
  host: string;
  port: number;
  slaveIds(): number[];
  /** Make a meter stop answering (requests for it time out), or answer again. */
  setSilent(slaveId: number, silent: boolean): void;
  /** Put a meter's import counter back to a value (0: a counter reset, as after a meter swap). */
  resetCounter(slaveId: number, kwh?: number): void;
  /** The values a meter would report now (for tests). */
  valuesOf(slaveId: number): Partial<Record<SdmField, number>>;
  /** FC04 requests answered so far. */
  requests(): number;
  stop(): Promise<void>;
}

export interface Sdm630SimulatorOptions {
  host?: string;
  /** 0 = any free port. */
  port?: number;
  meters: SimulatedMeterSpec[];
  /** Silent from the start. */
  silentSlaveIds?: number[];
  now?: () => number;
}

const GATEWAY_TARGET_FAILED = 0x0b;

export async function startSdm630Simulator(options: Sdm630SimulatorOptions): Promise<Sdm630Simulator> {
  const now = options.now ?? Date.now;
  const meters = new Map<number, MeterState>();
  for (const [i, m] of options.meters.entries()) {
    meters.set(m.slaveId, {
      spec: { model: 'SDM630', startKwh: 1000 + m.slaveId * 37.5, meanPowerW: 1500 + ((m.slaveId * 733) % 4000), ...m },
      importKwh: m.startKwh ?? 1000 + m.slaveId * 37.5,
      exportKwh: 0.5 * m.slaveId,
      lastAt: now(),
      silent: options.silentSlaveIds?.includes(m.slaveId) ?? false,
      phase: i * 1.7,
    });
  }
  let answered = 0;

  /** Advance a meter's counters to now and return what it measures. */
  const measure = (state: MeterState): Partial<Record<SdmField, number>> => {
    const t = now();
    const seconds = t / 1000;
    const power = state.spec.meanPowerW * (1 + 0.25 * Math.sin(seconds / 30 + state.phase));
    state.importKwh += (power * Math.max(0, t - state.lastAt)) / 3_600_000_000;
    state.lastAt = t;
    const v = (k: number) => 230 + 4 * Math.sin(seconds / 17 + state.phase + k);
    const pf = 0.95 + 0.03 * Math.sin(seconds / 23 + state.phase);
    const threePhase = state.spec.model === 'SDM630';
    const perPhase = threePhase ? power / 3 : power;
    const values: Partial<Record<SdmField, number>> = {
      voltageL1: v(0),
      currentL1: perPhase / (v(0) * pf),
      powerL1: perPhase,
      powerFactorL1: pf,
      frequency: 50 + 0.05 * Math.sin(seconds / 11),
      energyImportKwh: state.importKwh,
      energyExportKwh: state.exportKwh,
      energyTotalKwh: state.importKwh + state.exportKwh,
    };
    if (threePhase) {
      Object.assign(values, {
        voltageL2: v(2), voltageL3: v(4),
        currentL2: perPhase / (v(2) * pf), currentL3: perPhase / (v(4) * pf),
        powerL2: perPhase, powerL3: perPhase, powerTotal: power,
        powerFactorL2: pf, powerFactorL3: pf, powerFactorTotal: pf,
      });
    }
    return values;
  };

  const registersOf = (state: MeterState, address: number, length: number): number[] => {
    const values = measure(state);
    const words = new Map<number, number>();
    for (const fd of registerMaps[state.spec.model].fields) {
      const value = values[fd.field];
      if (value === undefined) continue;
      const [high, low] = float32ToRegisters(value);
      words.set(fd.address, high);
      words.set(fd.address + 1, low);
    }
    return Array.from({ length }, (_, i) => words.get(address + i) ?? 0);
  };

  const vector = {
    getMultipleInputRegisters: (address: number, length: number, unitId: number, cb: (err: Error | null, values: number[]) => void) => {
      const state = meters.get(unitId);
      if (!state) {
        cb(Object.assign(new Error(`no meter ${unitId} behind this gateway`), { modbusErrorCode: GATEWAY_TARGET_FAILED }), []);
        return;
      }
      // A silent meter: the gateway never answers, the client times out.
      if (state.silent) return;
      answered++;
      cb(null, registersOf(state, address, length));
    },
    getInputRegister: (address: number, unitId: number, cb: (err: Error | null, value: number) => void) => {
      vector.getMultipleInputRegisters(address, 1, unitId, (err, values) => cb(err, values[0] ?? 0));
    },
  };

  const host = options.host ?? '127.0.0.1';
  const server = new ServerTCP(vector, { host, port: options.port ?? 0, unitID: 255 });
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('serverError', (error: Error) => reject(error));
  });
  // modbus-serial keeps its net.Server private; the bound port is read from it.
  const port = ((server as unknown as { _server: { address(): AddressInfo } })._server.address()).port;
  server.on('socketError', () => undefined);

  return {
    host,
    port,
    slaveIds: () => [...meters.keys()],
    setSilent: (slaveId, silent) => {
      const state = meters.get(slaveId);
      if (state) state.silent = silent;
    },
    resetCounter: (slaveId, kwh = 0) => {
      const state = meters.get(slaveId);
      if (!state) return;
      measure(state);
      state.importKwh = kwh;
    },
    valuesOf: (slaveId) => {
      const state = meters.get(slaveId);
      return state ? measure(state) : {};
    },
    requests: () => answered,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of server.socks.keys()) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
