// The command statuses the store's statements spell as literals, taken from the domain's transition table.
import { sql } from 'kysely';
import { commandStatuses, isTerminal } from '#domain/commands';

/**
 * Final statuses as a literal list. Open is spelled "not final" on purpose: that cannot match the
 * partial indexes of all open commands, so the planner looks commands up by id and by device (see
 * claimCommands in dispatch.ts).
 */
export const finalStatuses = sql.raw(`(${commandStatuses.filter(isTerminal).map((s) => `'${s}'`).join(', ')})`);
