-- Issue 13: `searchText` matches case-insensitively (Unicode case folding).
-- `name_folded` is the name folded by the server (`domain::fold`: full case
-- folding of the canonical decomposition, recomposed), set on every write.
-- SQLite cannot fold Unicode in SQL, so `network_fold` is the server's own
-- function, registered on the writing connection before the migrations run:
-- the existing rows are folded by the same Rust code as new ones.
-- The index serves prefix (range) and exact searches on the folded name.
ALTER TABLE customers ADD COLUMN name_folded TEXT NULL;
UPDATE customers SET name_folded = network_fold(name);
CREATE INDEX customers_by_name_folded ON customers (tenant, name_folded, id);
