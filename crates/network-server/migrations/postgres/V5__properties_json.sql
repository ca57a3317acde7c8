-- Issue 12: a property key may contain NUL (U+0000). OpenAPI 3.0 cannot forbid
-- it in a map's keys, so a schema-valid request can carry one and the server
-- accepts it; `jsonb` cannot hold "\u0000" at all. `json` keeps the text as
-- the server wrote it, escapes included. Nothing queries inside `properties`,
-- so no `jsonb` operator is lost.
ALTER TABLE customers DROP CONSTRAINT customers_properties_check;
ALTER TABLE customers ALTER COLUMN properties DROP DEFAULT;
ALTER TABLE customers ALTER COLUMN properties TYPE JSON USING properties::json;
ALTER TABLE customers ALTER COLUMN properties SET DEFAULT '{}';
ALTER TABLE customers ADD CONSTRAINT customers_properties_check
    CHECK (json_typeof(properties) = 'object');
