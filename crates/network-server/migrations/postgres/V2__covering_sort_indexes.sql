-- Issue 10: the sort indexes also carry the other sort fields (INCLUDE), so
-- that a sort on two or three fields can be an index-only scan. Each index
-- still starts with its field and the id, so a one-field sort is served in
-- order. A missing country sorts first (ascending), as in SQLite.
CREATE INDEX customers_by_name_covering
    ON customers (tenant, name, id) INCLUDE (country, creation_timestamp);
CREATE INDEX customers_by_country_covering
    ON customers (tenant, country NULLS FIRST, id) INCLUDE (name, creation_timestamp);
CREATE INDEX customers_by_creation_covering
    ON customers (tenant, creation_timestamp, id) INCLUDE (name, country);
DROP INDEX customers_by_name;
DROP INDEX customers_by_country;
DROP INDEX customers_by_creation;
