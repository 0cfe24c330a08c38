// Display actuation from registry config, checked against the Kuando Busylight vectors
// (test/fixtures/vectors/kuando_busylight.json: hslu-ige-laes/lora-devices-ttn plenom-kuando-busylight.md at
// 0cdd406e and the PhilDay-CT/XD-Dev-config Kuando Codec.js at 022256c7; byte order red, blue, green,
// on-time, off-time on fPort 15).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { deviceProfiles } from '#domain/device-profiles';
import { DisplayCodeMissingError, DisplayConfigError, displayConfigSchema, resolveDisplayActuation } from '#domain/display';
import { bytesToHex, hexToBytes, relayConfigSchema } from '#domain/modbus';
import { vectorsDir } from '../support/vectors.ts';


const colourSchema = z.object({
  red: z.number(),
  green: z.number(),
  blue: z.number(),
  ontime: z.number(),
  offtime: z.number(),
});
const kuandoVectors = z
  .array(
    z.object({
      source: z.string(),
      direction: z.string(),
      input: z.object({
        fPort: z.number().optional(),
        label_in_source: z.string().optional(),
        data: colourSchema.optional(),
      }),
      expected: z.object({
        hex: z.string().optional(),
        bytes: z.array(z.number()).optional(),
        fPort: z.number().optional(),
      }),
      verified: z.object({ 'hslu decodeDownlink(bytes)': colourSchema.optional() }).loose().optional(),
    }),
  )
  .parse(JSON.parse(readFileSync(path.join(vectorsDir, 'kuando_busylight.json'), 'utf8')));

/** The codecs' byte order: red, blue, green, on-time, off-time. */
const kuandoColour = (bytes: Uint8Array) => ({
  red: bytes[0],
  blue: bytes[1],
  green: bytes[2],
  ontime: bytes[3],
  offtime: bytes[4],
});

describe('Kuando vectors', () => {
  const downlinks = kuandoVectors.filter((v) => v.direction === 'downlink' && v.expected.hex);

  it.each(downlinks.map((v) => [v.input.label_in_source ?? '', v] as const))(
    'a display whose code for the state is the "%s" frame sends exactly those bytes on fPort 15',
    (label, vector) => {
      // Prepare: the vector's bytes configured as this display's code for a state.
      const config = { displayCodes: { SHOW: vector.expected.hex ?? '' }, fPort: vector.input.fPort ?? 0 };

      // Act
      const actuation = resolveDisplayActuation(config, 'SHOW');

      // Assess
      expect(label).not.toBe('');
      expect(actuation.fPort).toBe(15);
      expect(bytesToHex(actuation.data)).toBe(bytesToHex(hexToBytes(vector.expected.hex ?? '')));
      expect(kuandoColour(actuation.data)).toEqual(vector.verified?.['hslu decodeDownlink(bytes)']);
    },
  );

  it('the encoder vector (red steady) is what the red/blue/green order gives', () => {
    // Prepare
    const vector = kuandoVectors.find((v) => v.direction === 'downlink-encoder');
    const colour = vector?.input.data;

    // Act
    const bytes = colour ? [colour.red, colour.blue, colour.green, colour.ontime, colour.offtime] : [];

    // Assess
    expect(bytes).toEqual(vector?.expected.bytes);
    expect(vector?.expected.fPort).toBe(15);
  });
});

describe('resolveDisplayActuation', () => {
  const kuando = deviceProfiles.kuando_busylight.defaultConfig;

  it('resolves FREE on a Kuando registered with the profile defaults to green steady on fPort 15', () => {
    // Prepare: registration merges the operator's config over the catalogue's defaults (none given here)
    const config = { ...deviceProfiles.kuando_busylight.defaultConfig };

    // Act
    const actuation = resolveDisplayActuation(config, 'FREE');

    // Assess
    expect(actuation).toEqual({
      state: 'FREE',
      payloadHex: '0000ff6400',
      data: Uint8Array.of(0x00, 0x00, 0xff, 0x64, 0x00),
      fPort: 15,
      confirmed: false,
    });
    expect(kuandoColour(actuation.data)).toEqual({ red: 0, blue: 0, green: 255, ontime: 100, offtime: 0 });
  });

  it('OCCUPIED is red', () => {
    const { data } = resolveDisplayActuation(kuando, 'OCCUPIED');
    expect(kuandoColour(data)).toMatchObject({ red: 255, blue: 0, green: 0 });
  });

  // These two record what the registry proposal's codes really show under the codecs' byte order, so a
  // change to them is deliberate: FF00FF is red+green (yellow), FFA500 is red + blue 165 (pink/violet),
  // not the CSS orange (255,165,0) the value suggests. Codes are per-device config, editable without code.
  it('RESERVED (FF00FF) lights red and green', () => {
    const { data } = resolveDisplayActuation(kuando, 'RESERVED');
    expect(kuandoColour(data)).toMatchObject({ red: 255, blue: 0, green: 255 });
  });

  it('MAINTENANCE (FFA500) lights red with blue at 165', () => {
    const { data } = resolveDisplayActuation(kuando, 'MAINTENANCE');
    expect(kuandoColour(data)).toMatchObject({ red: 255, blue: 165, green: 0 });
  });

  it('uses the per-device codes, fPort and confirmed flag, not the defaults', () => {
    // Prepare: a display with its own palette (solid white for FREE) and confirmed downlinks.
    const config = { displayCodes: { FREE: 'ff ff ff ff 00' }, fPort: 2, confirmed: true };

    // Act
    const actuation = resolveDisplayActuation(config, 'FREE');

    // Assess
    expect(actuation).toMatchObject({ payloadHex: 'ffffffff00', fPort: 2, confirmed: true });
  });

  it('fails with DisplayCodeMissingError naming the state and the configured ones', () => {
    // Prepare
    const config = { displayCodes: { FREE: '0000FF6400' }, fPort: 15 };

    // Act
    const act = () => resolveDisplayActuation(config, 'RESERVED');

    // Assess
    expect(act).toThrow(DisplayCodeMissingError);
    expect(act).toThrow(/"RESERVED".*FREE/);
  });

  it('does not find inherited object keys as states', () => {
    expect(() => resolveDisplayActuation(kuando, 'constructor')).toThrow(DisplayCodeMissingError);
    expect(() => resolveDisplayActuation(kuando, '__proto__')).toThrow(DisplayCodeMissingError);
  });

  it.each([
    ['no displayCodes', { fPort: 15 }],
    ['no fPort', { displayCodes: { FREE: '00' } }],
    ['fPort 0 (MAC commands)', { displayCodes: { FREE: '00' }, fPort: 0 }],
    ['fPort 224', { displayCodes: { FREE: '00' }, fPort: 224 }],
    ['odd-length hex', { displayCodes: { FREE: '0000FF640' }, fPort: 15 }],
    ['non-hex', { displayCodes: { FREE: 'green' }, fPort: 15 }],
    ['empty payload', { displayCodes: { FREE: '' }, fPort: 15 }],
    ['a config that is not an object', 'kuando'],
  ])('rejects a config with %s as DisplayConfigError', (_label, config) => {
    expect(() => resolveDisplayActuation(config, 'FREE')).toThrow(DisplayConfigError);
  });
});

describe('device-profile defaults', () => {
  it('are valid configs for the modules that read them', () => {
    expect(displayConfigSchema.safeParse(deviceProfiles.kuando_busylight.defaultConfig).success).toBe(true);
    expect(relayConfigSchema.parse(deviceProfiles.milesight_uc100.defaultConfig.relay)).toEqual({
      method: 'coil',
      slaveId: 1,
      coil: 0,
    });
  });
});
