// Milesight EM300-DI pulse counter (and EM300-DI-HALL): battery, temperature, humidity, the GPIO
// counter and its stored history, on fPort 85. meterValue = pulses / config.pulsesPerUnit (default 1000,
// the seed's 1000 pulses per kWh).
//
// Where Milesight's sources disagree, this decoder decides so (see test/domain/decoders/em300di.test.ts):
// - Water/pulse-conversion channel: documented as 0x06 0xE1 (alarm 0x86 0xE1) until Milesight's commit
//   4b68bbd (2023-11-08) renamed it 0x05 0xE1 / 0x85 0xE1; current decoders ignore 0x06. Both ids are
//   accepted here with the same layout: 0x06/0x86 mean nothing else on this device, and a meter on older
//   firmware (or one following the older guide) must not lose its readings.
// - Counter name: the history counter is absent (2022 TTN codec: `pulse` only in 0x20 records), `pulse`
//   (0x20 0xCE) or converted `water` (0x21 0xCE) by version. All become pulseCount here.
// - The 0xE1 channels report `water` = counter × water_conv / pulse_conv (the device's own conversion,
//   float32), not the counter. pulseCount is recovered as round(water × pulse_conv / water_conv) so that
//   meterValue stays pulses / pulsesPerUnit from the registry whatever the frame version: the registry,
//   not a setting inside the device, is the one place a meter's unit is defined. The device's own
//   figures are kept in extra (waterConv, pulseConv, water).

import * as z from 'zod';
import { pulseTotalValue } from '../counter.ts';
import { formatIssues } from '../issues.ts';
import { attributeChannels, channelKey, downlinkResponseChannels, finishFrame, MILESIGHT_FPORT, milesightPortSchema, walkMilesightFrame } from './milesight.ts';
import type { ChannelHandler, MilesightFrame } from './milesight.ts';
import { byteAt, f32le, float32Value, guarded, i16le, u16le, u32le, unixTime } from './reader.ts';
import { decodeFailed, type Decoder, type Measurements } from './types.ts';

export const DEFAULT_PULSES_PER_UNIT = 1000;

const configSchema = z.looseObject({
  pulsesPerUnit: z.number().positive().finite().optional(),
  fPort: milesightPortSchema.optional(),
});

const gpioLevel = (value: number): string => (value === 0 ? 'low' : value === 1 ? 'high' : `unknown (${value})`);

const waterAlarmNames: Readonly<Record<number, string>> = {
  1: 'water_outage_timeout',
  2: 'water_outage_timeout_release',
  3: 'water_flow_timeout',
  4: 'water_flow_timeout_release',
};
const historyAlarmNames: Readonly<Record<number, string>> = { ...waterAlarmNames, 5: 'gpio_alarm', 6: 'gpio_alarm_release' };

export interface Conversion {
  waterConv: number;
  pulseConv: number;
  water: number;
}

/** The water_conv, pulse_conv, water triple of the 0xE1 channels (8 bytes). */
function readConversion(bytes: Uint8Array, at: number): Conversion {
  return { waterConv: u16le(bytes, at) / 10, pulseConv: u16le(bytes, at + 2) / 10, water: f32le(bytes, at + 4) };
}

/** Pulses behind a converted water figure, or undefined (with the reason) when they cannot be recovered. */
export function pulsesFromConversion(c: Conversion): { pulses?: number; problem?: string } {
  if (!Number.isFinite(c.water)) return { problem: 'water value is not a finite number' };
  if (c.waterConv === 0) return { problem: 'water_conv is 0, pulses cannot be recovered' };
  const pulses = Math.round((float32Value(c.water) * c.pulseConv) / c.waterConv);
  if (!Number.isSafeInteger(pulses) || pulses < 0) return { problem: `recovered pulse count ${pulses} is not a counter value` };
  return { pulses };
}

function decodeEm300di(pulsesPerUnit: number | undefined) {
  const withMeterValue = (m: Measurements, pulses: number): void => {
    m.pulseCount = pulses;
    // The one pulses-to-value rule (domain/counter.ts); a tiny pulsesPerUnit that overflows gives none.
    const value = pulsesPerUnit !== undefined ? pulseTotalValue(pulses, pulsesPerUnit) : undefined;
    if (value !== undefined) m.meterValue = value;
  };

  const applyConversion = (bytes: Uint8Array, at: number, frame: MilesightFrame, target: Measurements, extra: Record<string, unknown>): void => {
    const c = readConversion(bytes, at);
    extra.waterConv = c.waterConv;
    extra.pulseConv = c.pulseConv;
    if (Number.isFinite(c.water)) extra.water = float32Value(c.water);
    const { pulses, problem } = pulsesFromConversion(c);
    if (pulses !== undefined) withMeterValue(target, pulses);
    else frame.warnings.push(`pulse count not derived: ${problem ?? 'unknown reason'}`);
  };

  const reading = (apply: (b: Uint8Array, at: number, f: MilesightFrame) => void, size: number): ChannelHandler => ({
    size,
    read: (b, at, f) => {
      apply(b, at, f);
      f.kinds.add('telemetry');
    },
  });

  const telemetry: [number, ChannelHandler][] = [
    [channelKey(0x01, 0x75), reading((b, at, f) => { f.measurements.batteryPercent = byteAt(b, at); }, 1)],
    [channelKey(0x03, 0x67), reading((b, at, f) => { f.measurements.temperatureC = i16le(b, at) / 10; }, 2)],
    [channelKey(0x04, 0x68), reading((b, at, f) => { f.measurements.humidityPercent = byteAt(b, at) / 2; }, 1)],
    [channelKey(0x05, 0x00), reading((b, at, f) => { f.extra.gpio = gpioLevel(byteAt(b, at)); }, 1)],
    [
      channelKey(0x05, 0xc8),
      {
        size: 4,
        read: (b, at, f) => {
          withMeterValue(f.measurements, u32le(b, at));
          f.kinds.add('telemetry');
        },
      },
    ],
    [
      channelKey(0x85, 0x00),
      {
        size: 2,
        read: (b, at, f) => {
          f.extra.gpio = gpioLevel(byteAt(b, at));
          f.alarms.push(byteAt(b, at + 1) === 1 ? 'gpio_alarm' : 'gpio_alarm_release');
          f.kinds.add('alarm');
        },
      },
    ],
  ];
  // 0x05/0x85 since the 2023-11 rename, 0x06/0x86 before it: same layout (see the header).
  for (const [id, alarmId] of [
    [0x05, 0x85],
    [0x06, 0x86],
  ] as const) {
    telemetry.push([
      channelKey(id, 0xe1),
      {
        size: 8,
        read: (b, at, f) => {
          applyConversion(b, at, f, f.measurements, f.extra);
          f.kinds.add('telemetry');
        },
      },
    ]);
    telemetry.push([
      channelKey(alarmId, 0xe1),
      {
        size: 9,
        read: (b, at, f) => {
          applyConversion(b, at, f, f.measurements, f.extra);
          const code = byteAt(b, at + 8);
          f.alarms.push(waterAlarmNames[code] ?? `unknown_water_alarm_${code}`);
          f.kinds.add('alarm');
        },
      },
    ]);
  }

  const history: [number, ChannelHandler][] = [
    [
      // v1 record: timestamp(4) temperature(2) humidity(1) gpio_type(1) gpio(1) pulse(4)
      channelKey(0x20, 0xce),
      {
        size: 13,
        read: (b, at, f) => {
          const measurements: Measurements = { temperatureC: i16le(b, at + 4) / 10, humidityPercent: byteAt(b, at + 6) / 2 };
          const extra: Record<string, unknown> = {};
          const mode = byteAt(b, at + 7);
          if (mode === 1) extra.gpio = gpioLevel(byteAt(b, at + 8));
          else if (mode === 2) withMeterValue(measurements, u32le(b, at + 9));
          else extra.gpioType = `unknown (${mode})`;
          f.history.push({ time: unixTime(u32le(b, at)), measurements, extra });
          f.kinds.add('history');
        },
      },
    ],
    [
      // v2 record: timestamp(4) temperature(2) humidity(1) alarm(1) gpio_type(1) gpio(1) water_conv(2) pulse_conv(2) water(4)
      channelKey(0x21, 0xce),
      {
        size: 18,
        read: (b, at, f) => {
          const measurements: Measurements = { temperatureC: i16le(b, at + 4) / 10, humidityPercent: byteAt(b, at + 6) / 2 };
          const extra: Record<string, unknown> = {};
          const alarm = byteAt(b, at + 7);
          if (alarm !== 0) measurements.alarms = [historyAlarmNames[alarm] ?? `unknown_alarm_${alarm}`];
          const mode = byteAt(b, at + 8);
          if (mode === 1) extra.gpio = gpioLevel(byteAt(b, at + 9));
          else if (mode === 2) applyConversion(b, at + 10, f, measurements, extra);
          else extra.gpioType = `unknown (${mode})`;
          f.history.push({ time: unixTime(u32le(b, at)), measurements, extra });
          f.kinds.add('history');
        },
      },
    ],
  ];

  // Replies to configuration downlinks, sizes from Milesight's em300-di decoder (2025).
  const responses = downlinkResponseChannels({
    0x02: 2, 0x03: 2, 0x06: 9, 0x10: 1, 0x17: 2, 0x27: 1, 0x28: 1, 0x35: 8, 0x4a: 1, 0x4e: 2,
    0x68: 1, 0x69: 1, 0x6a: 3, 0x79: 4, 0x92: 5, 0xa1: 7, 0xa2: 9, 0xa3: 2, 0xa4: 2, 0xc3: 1,
  });
  // Attribute channels first: 0xFF 0x0B etc. are device info, not downlink replies.
  const channels = new Map<number, ChannelHandler>([...responses, ...attributeChannels, ...telemetry, ...history]);
  return channels;
}

// The channel table depends only on pulsesPerUnit: build it once per value, not once per uplink (ingest
// decodes thousands of uplinks a second).
const channelTables = new Map<number | undefined, Map<number, ChannelHandler>>();
function channelsFor(pulsesPerUnit: number | undefined): Map<number, ChannelHandler> {
  let table = channelTables.get(pulsesPerUnit);
  if (!table) {
    if (channelTables.size >= 64) channelTables.clear();
    table = decodeEm300di(pulsesPerUnit);
    channelTables.set(pulsesPerUnit, table);
  }
  return table;
}

export const em300di: Decoder = (input) =>
  guarded(() => {
    const config = configSchema.safeParse(input.config ?? {});
    const warnings: string[] = [];
    let pulsesPerUnit: number | undefined = DEFAULT_PULSES_PER_UNIT;
    let fPort = MILESIGHT_FPORT;
    if (config.success) {
      pulsesPerUnit = config.data.pulsesPerUnit ?? DEFAULT_PULSES_PER_UNIT;
      fPort = config.data.fPort ?? MILESIGHT_FPORT;
    } else {
      // A wrong pulsesPerUnit must not silently become the default: no meterValue until it is fixed.
      pulsesPerUnit = undefined;
      warnings.push(`device config is invalid, meterValue not computed: ${formatIssues(config.error, '')}`);
    }

    if (input.bytes.length === 0) return decodeFailed('empty_payload', 'EM300-DI uplink has no bytes');
    if (input.fPort !== fPort) return decodeFailed('unsupported_fport', `EM300-DI sends on fPort ${fPort}, got ${input.fPort}`);

    const walked = walkMilesightFrame(input.bytes, { channels: channelsFor(pulsesPerUnit) });
    if (!walked.ok) return walked.result;
    walked.frame.warnings.unshift(...warnings);
    return finishFrame(walked.frame);
  });
