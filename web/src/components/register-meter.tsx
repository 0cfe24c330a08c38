// Register a meter with the device that serves it, in one request (POST /meters). The API's validation
// answers (a DevEUI already registered, a malformed one) are shown as they come.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText } from '../api.ts';
import type { Meter } from '../types.ts';

const deviceTypes: [string, string, 'lorawan' | 'esp32' | 'none'][] = [
  ['milesight_em300_di', 'Milesight EM300-DI pulse counter (LoRaWAN)', 'lorawan'],
  ['milesight_uc100', 'Milesight UC100 + Eastron SDM320C, with relay (LoRaWAN)', 'lorawan'],
  ['qalcosonic_w1', 'Axioma Qalcosonic W1 water meter (LoRaWAN)', 'lorawan'],
  ['esp32_meter', 'ESP32 smart meter (MQTT)', 'esp32'],
  ['', 'no device yet', 'none'],
];

export function RegisterMeter({ onClose, onRegistered }: { onClose: () => void; onRegistered: (meter: Meter) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [meterNo, setMeterNo] = useState('');
  const [meterType, setMeterType] = useState<'electricity' | 'water'>('electricity');
  const [deviceType, setDeviceType] = useState('milesight_em300_di');
  const [devEui, setDevEui] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (ref.current && !ref.current.open) ref.current.showModal();
  }, []);
  const kind = deviceTypes.find(([t]) => t === deviceType)?.[2] ?? 'none';
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    const device = kind === 'lorawan' ? { deviceType, devEui: devEui.trim() } : kind === 'esp32' ? { deviceType, meterNo: meterNo.trim() } : undefined;
    try {
      const meter = await api<Meter>('/meters', { method: 'POST', body: { meterNo: meterNo.trim(), meterType, ...(device ? { device } : {}) } });
      ref.current?.close();
      onRegistered(meter);
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="register-title" onClose={onClose} onCancel={onClose}>
      <form method="dialog" onSubmit={(e) => void submit(e)}>
        <h2 id="register-title">Register a meter</h2>
        <label class="field">
          <span>Meter number</span>
          <input name="meterNo" value={meterNo} onInput={(e) => setMeterNo(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>Meter type</span>
          <select name="meterType" value={meterType} onChange={(e) => setMeterType(e.currentTarget.value === 'water' ? 'water' : 'electricity')}>
            <option value="electricity">electricity (kWh)</option>
            <option value="water">water (m³)</option>
          </select>
        </label>
        <label class="field">
          <span>Device</span>
          <select name="deviceType" value={deviceType} onChange={(e) => setDeviceType(e.currentTarget.value)}>
            {deviceTypes.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        {kind === 'lorawan' ? (
          <label class="field">
            <span>DevEUI</span>
            <input name="devEui" class="mono" value={devEui} placeholder="16 hex digits" onInput={(e) => setDevEui(e.currentTarget.value)} />
          </label>
        ) : null}
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        <div class="dialog-actions">
          <button type="button" onClick={() => (ref.current?.close(), onClose())} disabled={busy}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy || !meterNo.trim()}>
            Register
          </button>
        </div>
      </form>
    </dialog>
  );
}
