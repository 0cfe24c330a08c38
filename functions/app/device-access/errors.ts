// What issuing and revoking MQTT credentials refuses. Each extends a shared kind (shared/errors.ts), which
// is how the HTTP edge answers it.
import { NotFoundError, ValidationError } from '#shared/errors';

/** Only ESP32 meters talk MQTT to the broker themselves; LoRaWAN devices go through ChirpStack. */
export class NotAnMqttDeviceError extends ValidationError {
  override name = 'NotAnMqttDeviceError';
  constructor(
    readonly deviceId: string,
    readonly kind: string,
  ) {
    super(`device ${deviceId} is a ${kind} device: only ESP32 meters get MQTT credentials`);
  }
}

export class NoMqttCredentialError extends NotFoundError {
  override name = 'NoMqttCredentialError';
  constructor(readonly deviceId: string) {
    super(`device ${deviceId} has no MQTT credential`);
  }
}
