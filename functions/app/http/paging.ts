// The one paging contract of every list route: `limit` (1-500, 50 unless given) and `offset`, and the
// one list answer: `{items, total, limit, offset}` (total: how many rows the filters match in all). A list
// query schema is pagingQuery extended with its own filters; it is strict, so a parameter no filter
// knows (a typo such as `meterno`) is a 400 rather than silently ignored.
import * as z from 'zod';
import { isTimeZone } from '#domain/tariff/zone';

export const pagingQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});
export type Paging = z.infer<typeof pagingQuery>;

/** A list answer: the page's items as DTOs, the filter's total, and the page asked for. */
export function listBody<T, D>(listed: { items: T[]; total: number }, page: Paging, dto: (item: T) => D) {
  return { items: listed.items.map(dto), total: listed.total, limit: page.limit, offset: page.offset };
}

// Years PostgreSQL and JavaScript agree on; anything else is a typo, answered with a 400.
export const queryDate = z.coerce
  .date()
  .refine((d) => d.getUTCFullYear() >= 1970 && d.getUTCFullYear() <= 9999, 'must be a date between 1970 and 9999');

/** A query flag: `true` or `false` (z.coerce.boolean would read "false" as true). */
export const queryBoolean = z.enum(['true', 'false']).transform((v) => v === 'true');

/** A time zone in a query (`tz`): an IANA name the runtime knows. */
export const queryTimeZone = z.string().max(64).refine(isTimeZone, 'an IANA timezone such as Africa/Nairobi');
