-- ESP32 balance discrepancies (issue 11): a meter's balance report that disagrees with the ledger-derived
-- balance beyond the tolerance is recorded here for operators; the ledger stays the truth and the meter is
-- sent its correct balance again (resync_command_id).
CREATE TABLE balance_discrepancies (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  meter_id           uuid NOT NULL REFERENCES meters(id),
  account_id         uuid REFERENCES accounts(id),
  -- What the balance is counted in on the meter: currency (major units, e.g. KES) or units (kWh, m³).
  unit               text NOT NULL CHECK (unit IN ('currency', 'units')),
  reported           numeric(20,6) NOT NULL,
  expected           numeric(20,6) NOT NULL,
  -- reported − expected (negative: the meter shows less than the ledger).
  difference         numeric(20,6) NOT NULL,
  tolerance          numeric(20,6) NOT NULL,
  reported_at        timestamptz NOT NULL,
  detected_at        timestamptz NOT NULL DEFAULT now(),
  resync_command_id  uuid,
  -- One row per report: the same report ingested twice is recorded once.
  UNIQUE (meter_id, reported_at)
);
CREATE INDEX balance_discrepancies_detected_idx ON balance_discrepancies (detected_at DESC, id);
CREATE INDEX balance_discrepancies_meter_idx ON balance_discrepancies (meter_id, detected_at DESC);
