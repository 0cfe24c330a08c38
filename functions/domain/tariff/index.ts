// Tariffs: versioned, made of components (flat, inclining blocks, time-of-use, fixed charges, taxes and
// levies), rated in exact decimals and rounded per ledger entry with a carried remainder. The billing job,
// the bill preview and the API use this module's exports.
export { Decimal, dec, QUANTUM_DP, type DecimalLike } from './decimal.ts';
export {
  componentSchema,
  componentsSchema,
  isConsumption,
  isTax,
  tariffVersionInput,
  type Component,
  type TariffVersion,
  type TariffVersionInput,
} from './schema.ts';
export {
  interpolateReading,
  rateFixedCharges,
  rateInterval,
  rateReadings,
  TariffRatingError,
  unitPriceAt,
  versionAt,
  type PricedLine,
  type RatedCharges,
  type RatedConsumption,
  type RatingErrorCode,
  type Reading,
} from './rate.ts';
export { roundAllWithCarry, roundWithCarry, type RoundedEntry } from './rounding.ts';
export { isTimeZone, localDay, monthStart, TimeZoneError, wallParts } from './zone.ts';
