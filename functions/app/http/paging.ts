// The one paging contract of every list route: `limit` (1-500, 50 unless given) and `offset`. A list
// query schema is this extended with its own filters.
import * as z from 'zod';

export const pagingQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});
export type Paging = z.infer<typeof pagingQuery>;
