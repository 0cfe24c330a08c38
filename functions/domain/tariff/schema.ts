// What a tariff version is made of, as the API accepts it and the database keeps it (tariff_versions.
// components): consumption charges (flat, inclining blocks per calendar month, time-of-use bands by the
// site's local time), fixed charges (per day, or per month prorated by day) and taxes or levies that name
// the components they apply to. Amounts are decimal strings in minor units (cents): a rate of "1654.5" is
// KES 16.545 per kWh. The checks that need the whole version (overlapping or missing time-of-use hours,
// blocks out of order, a tax naming an unknown component) are here too, each with its path and a message.
import * as z from 'zod';
import { dec } from './decimal.ts';

const DEC = /^\d{1,12}(\.\d{1,9})?$/;

/** A non-negative decimal, as a string (or a JSON number), at most `dp` decimal places. */
const decimal = (what: string, dp: number) =>
  z
    .union([z.string(), z.number().nonnegative().finite()])
    .transform((v) => (typeof v === 'number' ? String(v) : v.trim()))
    .refine((v) => DEC.test(v), `${what} must be a non-negative decimal like "1654.5" (digits, one point)`)
    .refine((v) => (v.split('.')[1] ?? '').length <= dp, `${what} has more than ${dp} decimal places`)
    .transform((v) => v.replace(/^0+(?=\d)/, ''));

const rateMinor = decimal('a rate in minor units per unit', 6);
const amountMinor = decimal('an amount in minor units', 6);
const percent = decimal('a percentage', 4).refine((v) => !DEC.test(v) || dec(v).lte(1000), 'a percentage of at most 1000');
const units = decimal('a quantity of units', 6);

export const componentIdSchema = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, 'lower-case letters, digits and _, starting with a letter (1-40)');
const label = z.string().trim().min(1).max(100);

const hhmm = /^([01]\d|2[0-3]):[0-5]\d$/;
const timeOfDay = z.string().regex(hhmm, 'a local time HH:MM (00:00-23:59)');
const endTimeOfDay = z.string().refine((v) => hhmm.test(v) || v === '24:00', 'a local time HH:MM (00:01-24:00)');

export const flatComponent = z.strictObject({
  id: componentIdSchema,
  kind: z.literal('flat'),
  name: label.optional(),
  rateMinor,
});

export const blocksComponent = z.strictObject({
  id: componentIdSchema,
  kind: z.literal('blocks'),
  name: label.optional(),
  /**
   * Inclining blocks over the units of one local calendar month. Each block runs up to `upTo` units of
   * the month (ascending); the last is open (`upTo: null`). The first is often a lifeline block.
   */
  blocks: z
    .array(z.strictObject({ upTo: units.nullable(), rateMinor, name: label.optional() }))
    .min(1)
    .max(20),
});

export const touComponent = z.strictObject({
  id: componentIdSchema,
  kind: z.literal('tou'),
  name: label.optional(),
  bands: z
    .array(z.strictObject({ name: componentIdSchema, rateMinor }))
    .min(1)
    .max(12),
  /**
   * When each band applies, by the site's local wall clock: `from` inclusive, `to` exclusive, `to` before
   * `from` runs over midnight. Weekdays and weekend days must each be covered exactly once.
   */
  periods: z
    .array(z.strictObject({ band: componentIdSchema, days: z.enum(['weekdays', 'weekends', 'all']), from: timeOfDay, to: endTimeOfDay }))
    .min(1)
    .max(48),
  /** ISO weekdays counted as weekend (1 Monday … 7 Sunday). */
  weekendDays: z.array(z.number().int().min(1).max(7)).max(6).default([6, 7]),
  /** Local dates (YYYY-MM-DD) rated as weekend days, e.g. public holidays. */
  holidays: z.array(z.iso.date()).max(200).default([]),
});

export const fixedComponent = z.strictObject({
  id: componentIdSchema,
  kind: z.literal('fixed'),
  name: label.optional(),
  /** Per local day, or per local calendar month shared equally among its days. */
  per: z.enum(['day', 'month']),
  amountMinor,
});

export const percentTaxComponent = z.strictObject({
  id: componentIdSchema,
  kind: z.literal('percent_tax'),
  name: label.optional(),
  percent,
  /** Components whose amounts it is charged on: charges, or taxes listed before it. */
  appliesTo: z.array(componentIdSchema).min(1).max(20),
});

export const unitLevyComponent = z.strictObject({
  id: componentIdSchema,
  kind: z.literal('unit_levy'),
  name: label.optional(),
  rateMinor,
  /** Consumption components whose units it is charged on. */
  appliesTo: z.array(componentIdSchema).min(1).max(20),
});

export const componentSchema = z.discriminatedUnion('kind', [
  flatComponent,
  blocksComponent,
  touComponent,
  fixedComponent,
  percentTaxComponent,
  unitLevyComponent,
]);
export type Component = z.infer<typeof componentSchema>;
export type ConsumptionComponent = Extract<Component, { kind: 'flat' | 'blocks' | 'tou' }>;
export type FixedComponent = z.infer<typeof fixedComponent>;
export type TaxComponent = Extract<Component, { kind: 'percent_tax' | 'unit_levy' }>;
export type TouComponent = z.infer<typeof touComponent>;
export type BlocksComponent = z.infer<typeof blocksComponent>;

export const isConsumption = (c: Component): c is ConsumptionComponent => c.kind === 'flat' || c.kind === 'blocks' || c.kind === 'tou';
export const isTax = (c: Component): c is TaxComponent => c.kind === 'percent_tax' || c.kind === 'unit_levy';

const minutesOf = (hhmmText: string) => Number(hhmmText.slice(0, 2)) * 60 + Number(hhmmText.slice(3, 5));
const clock = (minutes: number) => `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

type Ctx = z.RefinementCtx;

function checkBlocks(c: BlocksComponent, path: (string | number)[], ctx: Ctx): void {
  c.blocks.forEach((b, i) => {
    const last = i === c.blocks.length - 1;
    if (last && b.upTo !== null) ctx.addIssue({ code: 'custom', path: [...path, 'blocks', i, 'upTo'], message: 'the last block is open-ended: upTo must be null' });
    if (!last && b.upTo === null) ctx.addIssue({ code: 'custom', path: [...path, 'blocks', i, 'upTo'], message: 'only the last block may be open-ended (upTo null)' });
    if (!last && b.upTo !== null && DEC.test(b.upTo) && dec(b.upTo).lte(0)) ctx.addIssue({ code: 'custom', path: [...path, 'blocks', i, 'upTo'], message: 'a block ends above 0 units' });
    const prev = c.blocks[i - 1];
    if (i > 0 && prev?.upTo != null && b.upTo !== null && DEC.test(b.upTo) && DEC.test(prev.upTo) && !dec(b.upTo).gt(prev.upTo)) {
      ctx.addIssue({ code: 'custom', path: [...path, 'blocks', i, 'upTo'], message: `blocks must ascend: ${b.upTo} is not above the previous block's ${prev.upTo}` });
    }
  });
}

/** Each day type's 1440 minutes are covered by exactly one period: overlaps and gaps are named. */
function checkTou(c: TouComponent, path: (string | number)[], ctx: Ctx): void {
  const bandNames = new Set<string>();
  c.bands.forEach((b, i) => {
    if (bandNames.has(b.name)) ctx.addIssue({ code: 'custom', path: [...path, 'bands', i, 'name'], message: `band ${b.name} is defined twice` });
    bandNames.add(b.name);
  });
  c.periods.forEach((p, i) => {
    if (!bandNames.has(p.band)) ctx.addIssue({ code: 'custom', path: [...path, 'periods', i, 'band'], message: `unknown band ${p.band} (bands: ${[...bandNames].join(', ')})` });
    if (minutesOf(p.from) === minutesOf(p.to)) ctx.addIssue({ code: 'custom', path: [...path, 'periods', i], message: `period ${p.from}-${p.to} is empty (use 00:00-24:00 for a whole day)` });
  });
  for (const dayType of ['weekdays', 'weekends'] as const) {
    const owner: (number | undefined)[] = new Array<number | undefined>(1440).fill(undefined);
    const reported = new Set<string>();
    c.periods.forEach((p, i) => {
      if (p.days !== dayType && p.days !== 'all') return;
      const from = minutesOf(p.from);
      const to = minutesOf(p.to);
      if (from === to) return;
      const span = to > from ? to - from : 1440 - from + to;
      for (let k = 0; k < span; k++) {
        const m = (from + k) % 1440;
        const other = owner[m];
        if (other !== undefined) {
          const key = `${other}-${i}`;
          if (!reported.has(key)) {
            reported.add(key);
            const o = c.periods[other]!;
            ctx.addIssue({ code: 'custom', path: [...path, 'periods', i], message: `on ${dayType} period ${p.from}-${p.to} (${p.band}) overlaps period ${o.from}-${o.to} (${o.band}) from ${clock(m)}` });
          }
        } else owner[m] = i;
      }
    });
    for (let m = 0; m < 1440; ) {
      if (owner[m] !== undefined) {
        m++;
        continue;
      }
      let end = m;
      while (end < 1440 && owner[end] === undefined) end++;
      ctx.addIssue({ code: 'custom', path: [...path, 'periods'], message: `on ${dayType} ${clock(m)}-${clock(end)} is in no band` });
      m = end;
    }
  }
}

/** Component ids are unique; a tax names known components, a levy consumption ones, a tax only earlier taxes. */
export function checkComponents(components: readonly Component[], ctx: Ctx, base: (string | number)[] = ['components']): void {
  const seen = new Map<string, number>();
  components.forEach((c, i) => {
    const path = [...base, i];
    if (seen.has(c.id)) ctx.addIssue({ code: 'custom', path: [...path, 'id'], message: `component id ${c.id} is used twice` });
    if (c.kind === 'blocks') checkBlocks(c, path, ctx);
    if (c.kind === 'tou') checkTou(c, path, ctx);
    if (isTax(c)) {
      c.appliesTo.forEach((ref, j) => {
        const at = [...path, 'appliesTo', j];
        const target = components.find((x) => x.id === ref);
        const targetIndex = seen.get(ref);
        if (ref === c.id) ctx.addIssue({ code: 'custom', path: at, message: `${c.id} cannot apply to itself` });
        else if (!target) ctx.addIssue({ code: 'custom', path: at, message: `${c.id} applies to unknown component ${ref}` });
        else if (c.kind === 'unit_levy' && !isConsumption(target)) ctx.addIssue({ code: 'custom', path: at, message: `levy ${c.id} is per unit: it applies to consumption components (flat, blocks, tou), not the ${target.kind} ${ref}` });
        else if (isTax(target) && targetIndex === undefined) ctx.addIssue({ code: 'custom', path: at, message: `${c.id} applies to tax ${ref}, which must be listed before it` });
      });
    }
    if (!seen.has(c.id)) seen.set(c.id, i);
  });
}

export const tariffVersionInput = z
  .strictObject({
    /** When this version takes over (an ISO 8601 instant with its offset). */
    effectiveFrom: z.iso.datetime({ offset: true }).transform((s) => new Date(s)),
    components: z.array(componentSchema).min(1).max(40),
    note: z.string().trim().max(500).optional(),
  })
  .superRefine((v, ctx) => checkComponents(v.components, ctx));
export type TariffVersionInput = z.infer<typeof tariffVersionInput>;

/** The components alone, as stored: parsed again when read, so a stored version is checked like a new one. */
export const componentsSchema = z.array(componentSchema).min(1).max(40).superRefine((cs, ctx) => checkComponents(cs, ctx, []));

/** A version as the rating functions take it. */
export interface TariffVersion {
  effectiveFrom: Date;
  components: readonly Component[];
}
