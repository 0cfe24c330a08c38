// The frame format all Milesight devices share: a sequence of channels, each `id(1) type(1) data(N)`,
// with N fixed by (id, type). This module walks such a frame with a device's channel table and decodes
// the attribute channels every Milesight device sends (0xFF 0x01/0x09/0x0A/0x0B/0x0F/0x16/0xFE/0xFF).

import { ascii, byteAt, hex2, isPrintableAscii, toHex } from './reader.ts';
import { decodeFailed, decoded, type DecodeResult, type HistoryPoint, type Measurements } from './types.ts';
import * as z from 'zod';

/** Milesight devices send everything on their application port. */
export const MILESIGHT_FPORT = 85;

export type FrameKind = 'telemetry' | 'alarm' | 'history' | 'device_info' | 'downlink_response' | 'custom_message';

export interface MilesightFrame {
  measurements: Measurements;
  extra: Record<string, unknown>;
  warnings: string[];
  alarms: string[];
  history: HistoryPoint[];
  kinds: Set<FrameKind>;
}

export interface ChannelHandler {
  /**
   * Data bytes after id and type: fixed, or computed from the bytes — undefined when they are too short
   * to tell, a string (the reason) when the bytes say something this decoder cannot size.
   */
  size: number | ((bytes: Uint8Array, at: number) => number | string | undefined);
  read: (bytes: Uint8Array, at: number, frame: MilesightFrame) => void;
}

export const channelKey = (id: number, type: number): number => (id << 8) | type;

const classNames: Readonly<Record<number, string>> = { 0: 'Class A', 1: 'Class B', 2: 'Class C', 3: 'Class CtoB' };

/** Device attributes, reported at power-on and on request: kept in extra, not measurements. */
export const attributeChannels = new Map<number, ChannelHandler>([
  [
    channelKey(0xff, 0x01),
    {
      size: 1,
      read: (b, at, f) => {
        f.extra.protocolVersion = byteAt(b, at);
        f.kinds.add('device_info');
      },
    },
  ],
  [
    channelKey(0xff, 0x09),
    {
      size: 2,
      read: (b, at, f) => {
        f.extra.hardwareVersion = `v${byteAt(b, at).toString(16)}.${(byteAt(b, at + 1) >> 4).toString(16)}`;
        f.kinds.add('device_info');
      },
    },
  ],
  [
    channelKey(0xff, 0x0a),
    {
      size: 2,
      read: (b, at, f) => {
        // Hex digits, as Milesight's README reads them: 01 10 → v1.10.
        f.extra.firmwareVersion = `v${byteAt(b, at).toString(16)}.${byteAt(b, at + 1).toString(16)}`;
        f.kinds.add('device_info');
      },
    },
  ],
  [
    channelKey(0xff, 0x0b),
    {
      size: 1,
      read: (_b, _at, f) => {
        // The byte is 0xFF in every guide example; the channel itself means "powered on".
        f.extra.powerOn = true;
        f.kinds.add('device_info');
      },
    },
  ],
  [
    channelKey(0xff, 0x0f),
    {
      size: 1,
      read: (b, at, f) => {
        f.extra.lorawanClass = classNames[byteAt(b, at)] ?? `unknown (${byteAt(b, at)})`;
        f.kinds.add('device_info');
      },
    },
  ],
  [
    channelKey(0xff, 0x16),
    {
      size: 8,
      read: (b, at, f) => {
        f.extra.serialNumber = toHex(b, at, at + 8);
        f.kinds.add('device_info');
      },
    },
  ],
  [
    channelKey(0xff, 0xfe),
    {
      size: 1,
      read: (_b, _at, f) => {
        f.extra.resetEvent = true;
        f.kinds.add('device_info');
      },
    },
  ],
  [
    channelKey(0xff, 0xff),
    {
      size: 2,
      read: (b, at, f) => {
        f.extra.tslVersion = `v${byteAt(b, at)}.${byteAt(b, at + 1)}`;
        f.kinds.add('device_info');
      },
    },
  ],
]);

/**
 * Replies to configuration downlinks (id 0xFE or 0xFF) by type and data size, from Milesight's decoders.
 * Kept as hex: they confirm settings and carry no measurement.
 */
export function downlinkResponseChannels(sizes: Readonly<Record<number, ChannelHandler['size']>>): Map<number, ChannelHandler> {
  const handlers = new Map<number, ChannelHandler>();
  for (const [typeText, size] of Object.entries(sizes)) {
    const type = Number(typeText);
    for (const id of [0xfe, 0xff]) {
      handlers.set(channelKey(id, type), {
        size,
        read: (b, at, f) => {
          const computed = typeof size === 'number' ? size : size(b, at);
          const end = at + (typeof computed === 'number' ? computed : 0);
          const responses = Array.isArray(f.extra.downlinkResponses) ? f.extra.downlinkResponses : [];
          responses.push({ type: hex2(type), hex: toHex(b, at, end) });
          f.extra.downlinkResponses = responses;
          f.kinds.add('downlink_response');
        },
      });
    }
  }
  return handlers;
}

export interface WalkOptions {
  /** Channel handlers of this device, looked up before the attribute channels. */
  channels: ReadonlyMap<number, ChannelHandler>;
  /** UC100: bytes that match no channel and are printable are a custom message from an IF-THEN rule. */
  customMessages?: boolean;
}

/**
 * Walks a frame. A known channel with too few bytes left is a truncated frame (error). A channel this
 * decoder does not know ends the walk, because its length is unknown: what was decoded before it is
 * kept with a warning; when nothing was, the frame is an error (unknown_channel).
 */
export function walkMilesightFrame(bytes: Uint8Array, options: WalkOptions): { ok: true; frame: MilesightFrame } | { ok: false; result: DecodeResult } {
  const frame: MilesightFrame = { measurements: {}, extra: {}, warnings: [], alarms: [], history: [], kinds: new Set() };
  let i = 0;
  while (i < bytes.length) {
    if (bytes.length - i < 2) {
      return { ok: false, result: decodeFailed('truncated', `lone byte ${hex2(byteAt(bytes, i))} at offset ${i} is not a channel`) };
    }
    const id = byteAt(bytes, i);
    const type = byteAt(bytes, i + 1);
    const handler = options.channels.get(channelKey(id, type)) ?? attributeChannels.get(channelKey(id, type));
    if (!handler) {
      if (options.customMessages && isPrintableAscii(bytes, i)) {
        frame.extra.customMessage = ascii(bytes, i, bytes.length);
        frame.kinds.add('custom_message');
        break;
      }
      const what = `unknown channel ${hex2(id)} ${hex2(type)} at offset ${i}`;
      if (frame.kinds.size === 0) return { ok: false, result: decodeFailed('unknown_channel', what) };
      frame.warnings.push(`${what}; the ${bytes.length - i} bytes from there are not decoded`);
      frame.extra.undecodedHex = toHex(bytes, i);
      break;
    }
    const size = typeof handler.size === 'number' ? handler.size : handler.size(bytes, i + 2);
    if (typeof size === 'string') {
      return { ok: false, result: decodeFailed('invalid_frame', `channel ${hex2(id)} ${hex2(type)} at offset ${i}: ${size}`) };
    }
    if (size === undefined || i + 2 + size > bytes.length) {
      return {
        ok: false,
        result: decodeFailed('truncated', `channel ${hex2(id)} ${hex2(type)} at offset ${i} runs past the end of the ${bytes.length}-byte frame`),
      };
    }
    handler.read(bytes, i + 2, frame);
    i += 2 + size;
  }
  return { ok: true, frame };
}

/** The frame type reported for a walked frame: the most significant kind it contained. */
export function frameTypeOf(kinds: ReadonlySet<FrameKind>): string {
  if (kinds.has('alarm')) return 'alarm';
  if (kinds.has('telemetry')) return 'periodic';
  if (kinds.has('history')) return 'history';
  if (kinds.has('custom_message')) return 'custom_message';
  if (kinds.has('device_info')) return 'device_info';
  if (kinds.has('downlink_response')) return 'downlink_response';
  return 'empty';
}

export function finishFrame(frame: MilesightFrame): DecodeResult {
  const measurements: Measurements = { ...frame.measurements };
  if (frame.alarms.length > 0) measurements.alarms = [...frame.alarms];
  return decoded({
    measurements,
    frameType: frameTypeOf(frame.kinds),
    extra: frame.extra,
    warnings: frame.warnings,
    ...(frame.history.length > 0 ? { history: [...frame.history].sort((a, b) => a.time.getTime() - b.time.getTime()) } : {}),
  });
}

/** `config.fPort` lets a device on another application port be read; Milesight's default is 85. */
export const milesightPortSchema = z.number().int().min(1).max(223);
