// Browan (TrackNet) TABS TBMS100 motion/occupancy sensor, fPort 102, 8 bytes:
//   status(1: bit 0 occupied) battery(1) temperature(1) time(2 LE, minutes since the last event) count(3 LE, events since boot)
// Battery byte: bits 3–0 give the voltage, (25 + v) / 10 V, in every source. Bits 7–4 are RFU in the
// TTN motion-sensor description but "remaining capacity" (n / 15 × 100 %) in the TABS Payload Description
// v1.3 as ZENNER's ELEMENT parser reads it; both are reported here (batteryVoltage, batteryPercent),
// since on the vectors the capacity nibble is consistent with the voltage.

import { byteAt, guarded, u16le, u24le } from './reader.ts';
import { decodeFailed, decoded, type Decoder } from './types.ts';

export const TABS_MOTION_FPORT = 102;
const FRAME_LENGTH = 8;

export const browanTabs: Decoder = (input) =>
  guarded(() => {
    const { bytes, fPort } = input;
    if (bytes.length === 0) return decodeFailed('empty_payload', 'TABS uplink has no bytes');
    if (fPort !== TABS_MOTION_FPORT) return decodeFailed('unsupported_fport', `TBMS100 sends on fPort ${TABS_MOTION_FPORT}, got ${fPort}`);
    if (bytes.length < FRAME_LENGTH) return decodeFailed('truncated', `TBMS100 frame needs ${FRAME_LENGTH} bytes, got ${bytes.length}`);
    if (bytes.length > FRAME_LENGTH) return decodeFailed('invalid_frame', `TBMS100 frame should be ${FRAME_LENGTH} bytes, got ${bytes.length}`);

    const battery = byteAt(bytes, 1);
    return decoded({
      measurements: {
        occupied: (byteAt(bytes, 0) & 0x01) === 1,
        batteryVoltage: (25 + (battery & 0x0f)) / 10,
        batteryPercent: Math.round(((battery >> 4) / 15) * 1000) / 10,
        // Bit 7 is RFU; the PCB temperature is 7 bits offset by 32.
        temperatureC: (byteAt(bytes, 2) & 0x7f) - 32,
      },
      frameType: 'periodic',
      extra: { minutesSinceLastEvent: u16le(bytes, 3), eventCount: u24le(bytes, 5) },
    });
  });
