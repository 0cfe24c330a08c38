// Display actuation: which bytes, on which fPort, a display device is sent for a space state. Everything
// comes from the device's registry config (display codes are per device, never hard-coded); the only
// built-in values are the catalogue's defaults (device-profiles.ts), applied once when a device is registered.
import * as z from 'zod';
import { issueLines } from './issues.ts';
import { hexToBytes } from './modbus.ts';

/** LoRaWAN application payloads: even-length hex, at most 242 bytes (the largest any region allows). */
const hexPayloadSchema = z
  .string()
  .transform((s) => s.replace(/\s+/g, '').toLowerCase())
  .pipe(
    z
      .string()
      .regex(/^([0-9a-f]{2})+$/, 'must be non-empty, even-length hex')
      .max(242 * 2, 'must be at most 242 bytes'),
  );

/** LoRaWAN FPort for application data: 1..223 (0 is MAC commands, 224+ reserved). */
const fPortSchema = z.number().int().min(1).max(223);

export const displayConfigSchema = z
  .object({
    /** Space state (e.g. FREE, OCCUPIED) -> hex payload, per device. */
    displayCodes: z.record(z.string().min(1), hexPayloadSchema),
    fPort: fPortSchema,
    confirmed: z.boolean().default(false),
  })
  // Other device settings (model, relay, ...) may share the config object.
  .loose();

type DisplayConfig = z.infer<typeof displayConfigSchema>;

export interface DisplayActuation {
  state: string;
  /** Lowercase hex, as device_commands.payload_hex and actuations.display_code store it. */
  payloadHex: string;
  data: Uint8Array;
  fPort: number;
  confirmed: boolean;
}

/** The device's config cannot drive a display (missing or malformed displayCodes / fPort). */
export class DisplayConfigError extends Error {
  override name = 'DisplayConfigError';
  constructor(
    message: string,
    readonly issues: readonly string[],
  ) {
    super(message);
  }
}

/** The display has no code for the requested state. */
export class DisplayCodeMissingError extends Error {
  override name = 'DisplayCodeMissingError';
  constructor(
    readonly state: string,
    readonly knownStates: readonly string[],
  ) {
    const known = knownStates.join(', ') || '(none)';
    super(`Display has no code for state ${JSON.stringify(state)}; configured states: ${known}`);
  }
}

/** Validate a display device's registry config. */
function parseDisplayConfig(raw: unknown): DisplayConfig {
  const result = displayConfigSchema.safeParse(raw);
  if (!result.success) {
    const issues = issueLines(result.error, '(config)').map((l) => `${l.path}: ${l.message}`);
    throw new DisplayConfigError(`Invalid display configuration: ${issues.join('; ')}`, issues);
  }
  return result.data;
}

/**
 * The downlink that shows `state` on a display, from the device's registry config.
 * Throws DisplayConfigError for a bad config and DisplayCodeMissingError for an unmapped state.
 */
export function resolveDisplayActuation(config: unknown, state: string): DisplayActuation {
  const parsed = parseDisplayConfig(config);
  // Own-property lookup only: a state named "constructor" or "__proto__" must not find Object.prototype.
  const payloadHex = Object.hasOwn(parsed.displayCodes, state) ? parsed.displayCodes[state] : undefined;
  if (payloadHex === undefined) throw new DisplayCodeMissingError(state, Object.keys(parsed.displayCodes));
  return { state, payloadHex, data: hexToBytes(payloadHex), fPort: parsed.fPort, confirmed: parsed.confirmed };
}
