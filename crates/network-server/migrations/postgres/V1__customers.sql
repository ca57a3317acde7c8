-- Customers of every tenant. PostgreSQL flavour.
-- Text compared with the "C" (binary) collation, like SQLite, so that both
-- stores sort and page the same way; `properties` is a JSON object of string
-- to string.
CREATE TABLE customers (
    tenant                 TEXT COLLATE "C" NOT NULL,
    id                     TEXT COLLATE "C" NOT NULL,
    name                   TEXT COLLATE "C" NOT NULL,
    country                TEXT COLLATE "C" NULL,
    timezone               TEXT COLLATE "C" NULL,
    properties             JSONB  NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(properties) = 'object'),
    creation_timestamp     BIGINT NOT NULL,
    first_access_timestamp BIGINT NULL,
    last_access_timestamp  BIGINT NULL,
    version                BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);

-- Listing: one index per sort field, the id as the final tie-breaker.
-- A missing country sorts first (ascending), as in SQLite.
CREATE INDEX customers_by_name ON customers (tenant, name, id);
CREATE INDEX customers_by_country ON customers (tenant, country NULLS FIRST, id);
CREATE INDEX customers_by_creation ON customers (tenant, creation_timestamp, id);
