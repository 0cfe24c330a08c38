// What a device's registry config may hold, per device type, and how a device moves through its
// lifecycle. The decoders and the command builders read config field by field and fall back with a
// warning; these schemas let registration and PATCH /devices refuse a bad value before it is stored.
// Keys a type does not know are kept (a site's own notes, a setting a newer decoder reads).
import * as z from 'zod';
import { channelMapSchema } from './decoders/uc100.ts';
import { milesightPortSchema } from './decoders/milesight.ts';
import { numericMeasurementFields } from './decoders/reader.ts';
import { displayConfigSchema } from './display.ts';
import { relayConfigSchema } from './modbus.ts';
import type { DeviceType } from './device-profiles.ts';

const fPort = z.number().int().min(1).max(223);
const networkCodec = { useNetworkCodec: z.boolean().optional() };

export const deviceConfigSchemas = {
  milesight_em300_di: z.looseObject({ pulsesPerUnit: z.number().positive().finite().optional(), fPort: milesightPortSchema.optional(), ...networkCodec }),
  qalcosonic_w1: z.looseObject({ w1Layout: z.enum(['auto', 'extended', 'extended_temperature']).optional(), ...networkCodec }),
  milesight_uc100: z.looseObject({
    channels: channelMapSchema.optional(),
    passThroughFPort: fPort.refine((p) => p !== 85, 'fPort 85 is the application port; a pass-through port must differ').optional(),
    fPort: milesightPortSchema.optional(),
    meterValueField: z.enum(numericMeasurementFields).optional(),
    relay: relayConfigSchema.optional(),
    confirmed: z.boolean().optional(),
    ...networkCodec,
  }),
  browan_tabs: z.looseObject({ ...networkCodec }),
  kuando_busylight: displayConfigSchema,
  esp32_meter: z.looseObject({}),
  sdm630_modbus_tcp: z.looseObject({ slaveId: z.number().int().min(1).max(247).optional() }),
} as const satisfies Record<DeviceType, z.ZodType>;

/** The config of a device of this type, checked; issues are reported under `config.`. */
export function checkDeviceConfig(deviceType: DeviceType, config: Record<string, unknown>): z.ZodSafeParseResult<unknown> {
  return deviceConfigSchemas[deviceType].safeParse(config);
}

/**
 * A JSON merge patch (RFC 7396) of a config: keys in `patch` replace those in `current`, a null removes
 * one, and nested objects are merged the same way (so `{"channels": {"3": null}}` drops one channel).
 */
export function mergeConfig(current: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else if (isPlainObject(value) && isPlainObject(result[key])) {
      result[key] = mergeConfig(result[key], value);
    } else {
      result[key] = value;
    }
  }
  return result;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---- Lifecycle ----

export const lifecycles = ['installed', 'active', 'decommissioned'] as const;
export type Lifecycle = (typeof lifecycles)[number];

/**
 * installed → active → decommissioned (installed → decommissioned too). A decommissioned device stays
 * so: its DevEUI is its identity on the network and its history points at it; a replacement is a new device.
 * An active device may go back to installed (taken off site for a repair).
 */
const lifecycleMoves: Readonly<Record<Lifecycle, readonly Lifecycle[]>> = {
  installed: ['active', 'decommissioned'],
  active: ['installed', 'decommissioned'],
  decommissioned: [],
};

export function canMoveLifecycle(from: Lifecycle, to: Lifecycle): boolean {
  return from === to || lifecycleMoves[from].includes(to);
}
