-- Customers of every tenant. SQLite flavour (STRICT types, binary collation).
-- `properties` holds a JSON object of string to string.
CREATE TABLE customers (
    tenant                 TEXT    NOT NULL,
    id                     TEXT    NOT NULL,
    name                   TEXT    NOT NULL,
    country                TEXT    NULL,
    timezone               TEXT    NULL,
    properties             TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(properties) = 'object'),
    creation_timestamp     INTEGER NOT NULL,
    first_access_timestamp INTEGER NULL,
    last_access_timestamp  INTEGER NULL,
    version                INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
) STRICT;

-- Listing: one index per sort field, the id as the final tie-breaker.
CREATE INDEX customers_by_name ON customers (tenant, name, id);
CREATE INDEX customers_by_country ON customers (tenant, country, id);
CREATE INDEX customers_by_creation ON customers (tenant, creation_timestamp, id);
