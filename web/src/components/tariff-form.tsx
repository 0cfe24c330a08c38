// The tariff forms (operators and admins, the roles POST /tariffs and POST /tariffs/{id}/versions allow): a
// new tariff with its first version, and a new version of a tariff, prefilled from its latest. Rates and
// amounts are typed in currency units and sent as the API's minor units (toMinorText); the API checks
// the rest (ascending blocks, time-of-use coverage, what a tax applies to) and its answer is shown as it comes.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText } from '../api.ts';
import { majorText, toMinorText } from '../money.ts';
import type { Tariff, TariffVersion } from '../portal-types.ts';

type Kind = 'flat' | 'blocks' | 'tou' | 'fixed' | 'percent_tax' | 'unit_levy';
const kinds: [Kind, string][] = [
  ['flat', 'flat rate'],
  ['blocks', 'inclining blocks (per month)'],
  ['tou', 'time of use'],
  ['fixed', 'fixed charge'],
  ['percent_tax', 'percentage tax'],
  ['unit_levy', 'levy per unit'],
];

interface Block {
  upTo: string;
  rate: string;
  name?: string;
}
interface Period {
  band: string;
  days: string;
  from: string;
  to: string;
}
/** One component as the form holds it: every field a string; what the form does not edit is kept in `extra`. */
interface Draft {
  id: string;
  kind: Kind;
  name: string;
  rate: string;
  per: string;
  amount: string;
  percent: string;
  appliesTo: string;
  blocks: Block[];
  bands: { name: string; rate: string }[];
  periods: Period[];
  extra: Record<string, unknown>;
}

const blank = (kind: Kind, id: string): Draft => ({
  id,
  kind,
  name: '',
  rate: '',
  per: 'month',
  amount: '',
  percent: '',
  appliesTo: '',
  blocks: [
    { upTo: '', rate: '' },
    { upTo: '', rate: '' },
  ],
  bands: [{ name: 'peak', rate: '' }, { name: 'offpeak', rate: '' }],
  periods: [
    { band: 'peak', days: 'weekdays', from: '06:00', to: '22:00' },
    { band: 'offpeak', days: 'weekdays', from: '22:00', to: '06:00' },
    { band: 'offpeak', days: 'weekends', from: '00:00', to: '24:00' },
  ],
  extra: {},
});

const str = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
const list = (v: unknown) => (Array.isArray(v) ? v : []) as Record<string, unknown>[];

function toDraft(c: Record<string, unknown>): Draft {
  const kind = (kinds.some(([k]) => k === c.kind) ? c.kind : 'flat') as Kind;
  const d = blank(kind, str(c.id));
  d.name = str(c.name);
  if (c.rateMinor !== undefined) d.rate = majorText(c.rateMinor);
  if (c.amountMinor !== undefined) d.amount = majorText(c.amountMinor);
  if (c.per !== undefined) d.per = str(c.per);
  d.percent = str(c.percent);
  d.appliesTo = Array.isArray(c.appliesTo) ? c.appliesTo.join(', ') : '';
  if (kind === 'blocks') d.blocks = list(c.blocks).map((b) => ({ upTo: str(b.upTo), rate: majorText(b.rateMinor), ...(b.name ? { name: str(b.name) } : {}) }));
  if (kind === 'tou') {
    d.bands = list(c.bands).map((b) => ({ name: str(b.name), rate: majorText(b.rateMinor) }));
    d.periods = list(c.periods).map((p) => ({ band: str(p.band), days: str(p.days), from: str(p.from), to: str(p.to) }));
    d.extra = { ...(c.weekendDays ? { weekendDays: c.weekendDays } : {}), ...(c.holidays ? { holidays: c.holidays } : {}) };
  }
  return d;
}

/** The API's component, or an Error naming the field that is not an amount. */
function toComponent(d: Draft, n: number): Record<string, unknown> {
  const minor = (label: string, text: string) => {
    const v = toMinorText(text);
    if (v === undefined) throw new Error(`component ${n} (${d.id || d.kind}): ${label} “${text}” is not an amount (digits and one point)`);
    return v;
  };
  const head = { id: d.id.trim(), kind: d.kind, ...(d.name.trim() ? { name: d.name.trim() } : {}) };
  const applies = d.appliesTo.split(/[\s,]+/).filter(Boolean);
  switch (d.kind) {
    case 'flat':
      return { ...head, rateMinor: minor('rate', d.rate) };
    case 'blocks':
      return {
        ...head,
        blocks: d.blocks.map((b, i) => ({ upTo: b.upTo.trim() === '' ? null : b.upTo.trim(), rateMinor: minor(`block ${i + 1} rate`, b.rate), ...(b.name ? { name: b.name } : {}) })),
      };
    case 'tou':
      return {
        ...head,
        bands: d.bands.map((b, i) => ({ name: b.name.trim(), rateMinor: minor(`band ${i + 1} rate`, b.rate) })),
        periods: d.periods.map((p) => ({ band: p.band.trim(), days: p.days, from: p.from.trim(), to: p.to.trim() })),
        ...d.extra,
      };
    case 'fixed':
      return { ...head, per: d.per, amountMinor: minor('amount', d.amount) };
    case 'percent_tax':
      return { ...head, percent: d.percent.trim(), appliesTo: applies };
    case 'unit_levy':
      return { ...head, rateMinor: minor('rate', d.rate), appliesTo: applies };
  }
}

/** A datetime-local value ("2026-12-02T00:00", the browser's time zone) as an ISO instant. */
function instant(local: string): string {
  const d = new Date(local);
  if (!local || Number.isNaN(d.getTime())) throw new Error('Effective from: pick a date and time');
  return d.toISOString();
}

/** A Date as a datetime-local value in the browser's time zone. */
const localValue = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
/** The first local midnight after now and after `after` (a scheduled version's start: a new one must follow it). */
const nextMidnight = (after?: string) => {
  const d = new Date(Math.max(Date.now(), after ? new Date(after).getTime() : 0));
  d.setHours(24, 0, 0, 0);
  return d;
};

type Update<T> = (patch: Partial<T>) => void;

function Input({ label, value, onValue, ...rest }: { label: string; value: string; onValue: (v: string) => void; placeholder?: string; class?: string }) {
  return <input aria-label={label} value={value} onInput={(e) => onValue(e.currentTarget.value)} {...rest} />;
}

function Rows<T>({ what, rows, columns, render, add, onChange }: { what: string; rows: T[]; columns: string[]; render: (row: T, set: Update<T>, label: string) => ComponentChildren; add: T; onChange: (rows: T[]) => void }) {
  return (
    <table class="rows">
      <thead>
        <tr>
          {columns.map((c) => (
            <th key={c}>{c}</th>
          ))}
          <th />
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) => (
          <tr key={i}>
            {render(row, (patch) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r))), `${what} ${i + 1}`)}
            <td>
              <button type="button" class="small-button" aria-label={`Remove ${what} ${i + 1}`} onClick={() => onChange(rows.filter((_, j) => j !== i))}>
                ×
              </button>
            </td>
          </tr>
        ))}
        <tr>
          <td colSpan={columns.length + 1}>
            <button type="button" class="small-button" onClick={() => onChange([...rows, { ...add }])}>
              + {what}
            </button>
          </td>
        </tr>
      </tbody>
    </table>
  );
}

function ComponentFields({ n, draft, set, currency, unit, onRemove }: { n: number; draft: Draft; set: Update<Draft>; currency: string; unit: string; onRemove: () => void }) {
  const per = `${currency} per ${unit}`;
  return (
    <fieldset class="component" data-component={draft.id}>
      <legend>Component {n}</legend>
      <div class="inline-fields">
        <label class="field">
          <span>Id</span>
          <Input label="Id" class="mono" value={draft.id} onValue={(id) => set({ id })} placeholder="energy" />
        </label>
        <label class="field">
          <span>Kind</span>
          <select aria-label="Kind" value={draft.kind} onChange={(e) => set({ ...blank(e.currentTarget.value as Kind, draft.id), name: draft.name })}>
            {kinds.map(([k, label]) => (
              <option key={k} value={k}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Name</span>
          <Input label="Name" value={draft.name} onValue={(name) => set({ name })} placeholder="optional" />
        </label>
        {draft.kind === 'flat' || draft.kind === 'unit_levy' ? (
          <label class="field">
            <span>Rate ({per})</span>
            <Input label={`Rate (${per})`} value={draft.rate} onValue={(rate) => set({ rate })} placeholder="16.55" />
          </label>
        ) : null}
        {draft.kind === 'fixed' ? (
          <>
            <label class="field">
              <span>Amount ({currency})</span>
              <Input label={`Amount (${currency})`} value={draft.amount} onValue={(amount) => set({ amount })} placeholder="150.00" />
            </label>
            <label class="field">
              <span>Per</span>
              <select aria-label="Per" value={draft.per} onChange={(e) => set({ per: e.currentTarget.value })}>
                <option value="month">month (shared by its days)</option>
                <option value="day">day</option>
              </select>
            </label>
          </>
        ) : null}
        {draft.kind === 'percent_tax' ? (
          <label class="field">
            <span>Percent</span>
            <Input label="Percent" value={draft.percent} onValue={(percent) => set({ percent })} placeholder="16" />
          </label>
        ) : null}
        {draft.kind === 'percent_tax' || draft.kind === 'unit_levy' ? (
          <label class="field">
            <span>Applies to (component ids)</span>
            <Input label="Applies to (component ids)" class="mono" value={draft.appliesTo} onValue={(appliesTo) => set({ appliesTo })} placeholder="energy, standing" />
          </label>
        ) : null}
      </div>
      {draft.kind === 'blocks' ? (
        <Rows
          what="block"
          rows={draft.blocks}
          columns={[`Up to (${unit} in the month; empty: above)`, `Rate (${per})`]}
          add={{ upTo: '', rate: '' }}
          onChange={(blocks) => set({ blocks })}
          render={(b, setRow, label) => (
            <>
              <td>
                <Input label={`${label} up to`} value={b.upTo} onValue={(upTo) => setRow({ upTo })} />
              </td>
              <td>
                <Input label={`${label} rate`} value={b.rate} onValue={(rate) => setRow({ rate })} />
              </td>
            </>
          )}
        />
      ) : null}
      {draft.kind === 'tou' ? (
        <>
          <Rows
            what="band"
            rows={draft.bands}
            columns={['Band', `Rate (${per})`]}
            add={{ name: '', rate: '' }}
            onChange={(bands) => set({ bands })}
            render={(b, setRow, label) => (
              <>
                <td>
                  <Input label={`${label} name`} class="mono" value={b.name} onValue={(name) => setRow({ name })} />
                </td>
                <td>
                  <Input label={`${label} rate`} value={b.rate} onValue={(rate) => setRow({ rate })} />
                </td>
              </>
            )}
          />
          <Rows
            what="period"
            rows={draft.periods}
            columns={['Band', 'Days', 'From (HH:MM)', 'To (HH:MM, 24:00)']}
            add={{ band: '', days: 'all', from: '00:00', to: '24:00' }}
            onChange={(periods) => set({ periods })}
            render={(p, setRow, label) => (
              <>
                <td>
                  <Input label={`${label} band`} class="mono" value={p.band} onValue={(band) => setRow({ band })} />
                </td>
                <td>
                  <select aria-label={`${label} days`} value={p.days} onChange={(e) => setRow({ days: e.currentTarget.value })}>
                    <option value="weekdays">weekdays</option>
                    <option value="weekends">weekends</option>
                    <option value="all">all</option>
                  </select>
                </td>
                <td>
                  <Input label={`${label} from`} value={p.from} onValue={(from) => setRow({ from })} />
                </td>
                <td>
                  <Input label={`${label} to`} value={p.to} onValue={(to) => setRow({ to })} />
                </td>
              </>
            )}
          />
        </>
      ) : null}
      <button type="button" class="small-button" onClick={onRemove}>
        Remove component {n}
      </button>
    </fieldset>
  );
}

/** The dialog both forms share: its fields, the API's error beside them, Cancel and Save. */
function TariffDialog({ title, onClose, save, children }: { title: string; onClose: () => void; save: () => Promise<void>; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const alert = useRef<HTMLParagraphElement>(null);
  useEffect(() => {
    if (ref.current && !ref.current.open) ref.current.showModal();
  }, []);
  // The answer is under a long form: bring it into view.
  useEffect(() => alert.current?.scrollIntoView({ block: 'nearest' }), [error]);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await save();
      ref.current?.close();
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} class="dialog wide" aria-label={title} onClose={onClose} onCancel={onClose}>
      <form method="dialog" onSubmit={(e) => void submit(e)}>
        <h2>{title}</h2>
        {children}
        {error ? (
          <p class="error" role="alert" ref={alert}>
            {error}
          </p>
        ) : null}
        <div class="dialog-actions">
          <button type="button" onClick={() => (ref.current?.close(), onClose())} disabled={busy}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            Save
          </button>
        </div>
      </form>
    </dialog>
  );
}

interface VersionDraft {
  effectiveFrom: string;
  note: string;
  components: Draft[];
}

function VersionFields({ value, set, currency, unit }: { value: VersionDraft; set: Update<VersionDraft>; currency: string; unit: string }) {
  const components = value.components;
  const setAt = (i: number) => (patch: Partial<Draft>) => set({ components: components.map((c, j) => (j === i ? { ...c, ...patch } : c)) });
  return (
    <>
      <div class="inline-fields">
        <label class="field">
          <span>Effective from (your time zone)</span>
          <input type="datetime-local" aria-label="Effective from" value={value.effectiveFrom} onInput={(e) => set({ effectiveFrom: e.currentTarget.value })} />
        </label>
        <label class="field">
          <span>Note</span>
          <Input label="Note" value={value.note} onValue={(note) => set({ note })} placeholder="optional" />
        </label>
      </div>
      {components.map((c, i) => (
        <ComponentFields key={i} n={i + 1} draft={c} set={setAt(i)} currency={currency} unit={unit} onRemove={() => set({ components: components.filter((_, j) => j !== i) })} />
      ))}
      <button type="button" onClick={() => set({ components: [...components, blank(components.length ? 'fixed' : 'flat', components.length ? '' : 'energy')] })}>
        + component
      </button>
    </>
  );
}

const versionBody = (v: VersionDraft) => ({
  effectiveFrom: instant(v.effectiveFrom),
  components: v.components.map((c, i) => toComponent(c, i + 1)),
  ...(v.note.trim() ? { note: v.note.trim() } : {}),
});

export const unitOf = (meterType: string) => (meterType === 'water' ? 'm³' : 'kWh');

export function NewTariff({ onClose, onSaved }: { onClose: () => void; onSaved: (t: Tariff) => void }) {
  const [name, setName] = useState('');
  const [meterType, setMeterType] = useState('electricity');
  const [currency, setCurrency] = useState('KES');
  const [description, setDescription] = useState('');
  const [version, setVersion] = useState<VersionDraft>({ effectiveFrom: localValue(new Date()), note: '', components: [blank('flat', 'energy')] });
  const save = async () => {
    const body = { name: name.trim(), meterType, currency: currency.trim(), ...(description.trim() ? { description: description.trim() } : {}), version: versionBody(version) };
    onSaved(await api<Tariff>('/tariffs', { method: 'POST', body }));
  };
  return (
    <TariffDialog title="New tariff" onClose={onClose} save={save}>
      <div class="inline-fields">
        <label class="field">
          <span>Tariff name</span>
          <Input label="Tariff name" value={name} onValue={setName} />
        </label>
        <label class="field">
          <span>Meter type</span>
          <select aria-label="Meter type" value={meterType} onChange={(e) => setMeterType(e.currentTarget.value)}>
            <option value="electricity">electricity (kWh)</option>
            <option value="water">water (m³)</option>
          </select>
        </label>
        <label class="field">
          <span>Currency</span>
          <Input label="Currency" value={currency} onValue={setCurrency} />
        </label>
      </div>
      <label class="field">
        <span>Description</span>
        <Input label="Description" value={description} onValue={setDescription} placeholder="optional" />
      </label>
      <h3>Version 1</h3>
      <VersionFields value={version} set={(patch) => setVersion((v) => ({ ...v, ...patch }))} currency={currency.trim()} unit={unitOf(meterType)} />
    </TariffDialog>
  );
}

export function NewVersion({ tariff, onClose, onSaved }: { tariff: Tariff; onClose: () => void; onSaved: (v: TariffVersion) => void }) {
  const latest = tariff.versions.reduce<TariffVersion | undefined>((a, v) => (!a || v.effectiveFrom > a.effectiveFrom ? v : a), undefined);
  const [version, setVersion] = useState<VersionDraft>(() => ({
    effectiveFrom: localValue(nextMidnight(latest?.effectiveFrom)),
    note: '',
    components: (Array.isArray(latest?.components) ? (latest.components as Record<string, unknown>[]) : []).map(toDraft),
  }));
  const save = async () => onSaved(await api<TariffVersion>(`/tariffs/${tariff.id}/versions`, { method: 'POST', body: versionBody(version) }));
  return (
    <TariffDialog title={`New version of ${tariff.name}`} onClose={onClose} save={save}>
      <p class="small muted">
        A version takes over from its start, which must be after the latest version's and not in the past; versions are never edited. Prefilled from
        version {latest?.version ?? '—'}.
      </p>
      <VersionFields value={version} set={(patch) => setVersion((v) => ({ ...v, ...patch }))} currency={tariff.currency} unit={unitOf(tariff.meterType)} />
    </TariffDialog>
  );
}
