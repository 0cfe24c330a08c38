// The device catalogue: what each supported device type is, which decoder reads it, what it can do and
// the configuration a new device of that type starts from. Registration merges the operator's config
// over these defaults, so per-device values (pulses per unit, Modbus slave id, display codes, fPort)
// live in the registry, never in code paths.

export type DeviceKind = 'lorawan' | 'esp32' | 'modbus_tcp';

export interface DeviceProfile {
  kind: DeviceKind;
  decoder: string;
  manufacturer: string;
  model: string;
  capabilities: Record<string, boolean>;
  defaultConfig: Record<string, unknown>;
  /** Typical uplink period; the offline job allows a margin over it. */
  defaultUplinkIntervalS?: number;
}

export const deviceProfiles = {
  milesight_em300_di: {
    kind: 'lorawan',
    decoder: 'milesight_em300_di',
    manufacturer: 'Milesight',
    model: 'EM300-DI',
    capabilities: { metering: true, temperature: true, humidity: true },
    // The seed's pulse meter gives 1000 pulses per kWh; set per device for others.
    defaultConfig: { pulsesPerUnit: 1000 },
    defaultUplinkIntervalS: 600,
  },
  qalcosonic_w1: {
    kind: 'lorawan',
    decoder: 'qalcosonic_w1',
    manufacturer: 'Axioma',
    model: 'Qalcosonic W1',
    capabilities: { metering: true },
    defaultConfig: {},
    defaultUplinkIntervalS: 86_400,
  },
  milesight_uc100: {
    kind: 'lorawan',
    decoder: 'milesight_uc100',
    manufacturer: 'Milesight',
    model: 'UC100',
    capabilities: { metering: true, relay: true },
    // Seed (relay-control-plan.md): active pass-through on fPort 5; SDM320C at Modbus id 1, relay coil 0.
    defaultConfig: { passThroughFPort: 5, relay: { method: 'coil', slaveId: 1, coil: 0 }, confirmed: false },
    defaultUplinkIntervalS: 900,
  },
  browan_tabs: {
    kind: 'lorawan',
    decoder: 'browan_tabs',
    manufacturer: 'Browan',
    model: 'TBMS100',
    capabilities: { occupancy: true, temperature: true },
    defaultConfig: {},
    defaultUplinkIntervalS: 3_600,
  },
  kuando_busylight: {
    kind: 'lorawan',
    decoder: 'kuando_busylight',
    manufacturer: 'Kuando',
    model: 'Busylight IoT Omega',
    capabilities: { display: true },
    // Registry proposal: per-display codes, bytes red, blue, green, on-time, off-time on fPort 15.
    defaultConfig: {
      fPort: 15,
      confirmed: false,
      displayCodes: { FREE: '0000FF6400', OCCUPIED: 'FF00006400', RESERVED: 'FF00FF6400', MAINTENANCE: 'FFA5006400' },
    },
  },
  esp32_meter: {
    kind: 'esp32',
    decoder: 'esp32_json',
    manufacturer: 'Quantify',
    model: 'ESP32 smart meter',
    capabilities: { metering: true, balance: true },
    defaultConfig: {},
    defaultUplinkIntervalS: 30,
  },
  sdm630_modbus_tcp: {
    kind: 'modbus_tcp',
    decoder: 'sdm630_tcp',
    manufacturer: 'Eastron',
    model: 'SDM630',
    capabilities: { metering: true },
    defaultConfig: { slaveId: 1 },
    defaultUplinkIntervalS: 60,
  },
} as const satisfies Record<string, DeviceProfile>;

export type DeviceType = keyof typeof deviceProfiles;
export const deviceTypes = Object.keys(deviceProfiles) as [DeviceType, ...DeviceType[]];

export function profileOf(deviceType: DeviceType): DeviceProfile {
  return deviceProfiles[deviceType];
}
