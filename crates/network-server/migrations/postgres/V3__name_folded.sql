-- Issue 13: `searchText` matches case-insensitively (Unicode case folding).
-- `name_folded` is the name folded by the server (`domain::fold`), set on
-- every write; PostgreSQL does not fold it (its `lower()` follows the
-- database's locale), it only compares it, in the binary "C" collation like
-- SQLite. Existing rows are folded right after the migrations, by the same
-- Rust code, under the migrations' advisory lock (`postgres::fold_names`);
-- the partial index finds the rows still to fold at once (empty afterwards).
-- The main index serves prefix (range) and exact searches on the folded name.
ALTER TABLE customers ADD COLUMN name_folded TEXT COLLATE "C" NULL;
CREATE INDEX customers_by_name_folded ON customers (tenant, name_folded, id);
CREATE INDEX customers_unfolded ON customers (tenant, id) WHERE name_folded IS NULL;
