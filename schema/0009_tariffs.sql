-- Tariffs become versioned and made of components (functions/domain/tariff/): a tariff is its identity
-- (name, meter type, currency, optionally one site's); what it charges is in tariff_versions, each taking
-- over from its effective_from. A version is never edited or deleted: a change is a new version.

CREATE TABLE tariff_versions (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tariff_id       uuid NOT NULL REFERENCES tariffs(id),
  version         integer NOT NULL CHECK (version >= 1),
  effective_from  timestamptz NOT NULL,
  -- The components as the domain's schema validates them (decimal strings in minor units).
  components      jsonb NOT NULL CHECK (jsonb_typeof(components) = 'array' AND jsonb_array_length(components) > 0),
  note            text,
  created_by      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tariff_id, version),
  UNIQUE (tariff_id, effective_from)
);

CREATE FUNCTION tariff_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'tariff_versions is append-only: a change is a new version' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER tariff_versions_append_only BEFORE UPDATE OR DELETE ON tariff_versions
  FOR EACH ROW EXECUTE FUNCTION tariff_versions_append_only();

-- A single-price tariff of 0001 becomes its tariff's first version: a flat energy charge and, when it had
-- one, its standing charge as a charge per month (0001 did not say per what).
INSERT INTO tariff_versions (tariff_id, version, effective_from, components, note)
SELECT id, 1, valid_from,
       jsonb_build_array(jsonb_build_object('id', 'energy', 'kind', 'flat', 'rateMinor', price_per_unit_minor::text))
         || CASE WHEN standing_charge_minor > 0
              THEN jsonb_build_array(jsonb_build_object('id', 'standing', 'kind', 'fixed', 'per', 'month', 'amountMinor', standing_charge_minor::text))
              ELSE '[]'::jsonb END,
       'converted from the single-price tariff by migration 0009'
FROM tariffs;

ALTER TABLE tariffs DROP COLUMN price_per_unit_minor;
ALTER TABLE tariffs DROP COLUMN standing_charge_minor;
ALTER TABLE tariffs DROP COLUMN valid_from;
ALTER TABLE tariffs DROP COLUMN valid_to;
ALTER TABLE tariffs ADD COLUMN description text;
ALTER TABLE tariffs ADD COLUMN created_by text;
CREATE INDEX tariffs_site_idx ON tariffs (site_id);

-- Which tariff prices a meter: its own, else its account's for its meter type, else its site's default
-- for its meter type.
ALTER TABLE meters ADD COLUMN tariff_id uuid REFERENCES tariffs(id);
CREATE INDEX meters_tariff_idx ON meters (tariff_id) WHERE tariff_id IS NOT NULL;

CREATE TABLE account_tariffs (
  account_id  uuid NOT NULL REFERENCES accounts(id),
  meter_type  text NOT NULL CHECK (meter_type IN ('electricity', 'water')),
  tariff_id   uuid NOT NULL REFERENCES tariffs(id),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, meter_type)
);

CREATE TABLE site_tariffs (
  site_id     uuid NOT NULL REFERENCES sites(id),
  meter_type  text NOT NULL CHECK (meter_type IN ('electricity', 'water')),
  tariff_id   uuid NOT NULL REFERENCES tariffs(id),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (site_id, meter_type)
);

-- "The tariff of a meter", written once: set-based billing joins it, the API reads one row of it.
CREATE VIEW meter_tariff AS
SELECT m.id AS meter_id,
       COALESCE(m.tariff_id, a.tariff_id, s.tariff_id) AS tariff_id,
       CASE WHEN m.tariff_id IS NOT NULL THEN 'meter'
            WHEN a.tariff_id IS NOT NULL THEN 'account'
            WHEN s.tariff_id IS NOT NULL THEN 'site' END AS source
FROM meters m
LEFT JOIN account_tariffs a ON a.account_id = m.account_id AND a.meter_type = m.meter_type
LEFT JOIN site_tariffs s ON s.site_id = m.site_id AND s.meter_type = m.meter_type;
