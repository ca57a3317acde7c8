//! The SQL of both stores, built once from the column description
//! (`store::schema`) for each [`Dialect`]: insert, update, delete, the reads
//! by id, and a list's filter, order and page. Only what really differs
//! between SQLite and PostgreSQL is in the dialect (placeholders, JSON and
//! array parameters, the name search functions, where a missing country sorts,
//! whether an unindexable search is materialized first).
//!
//! Parameters are numbered the same way in every statement: `tenant` 1,
//! `id` 2, the [`DETAILS`] columns from 3 on, then what the statement adds
//! (the creation time of an insert, the acceptable versions of a conditional
//! write: [`versions_param`]).

use crate::domain::{prefix_upper_bound, Direction, ListQuery, NameSearch, SortField, TenantName};

use super::schema::{Column, Kind, DETAILS, MANAGED};

/// What differs between the two databases' SQL.
pub struct Dialect {
    /// Parameter `n`.
    param: fn(usize) -> String,
    /// Parameter `n` as text (the filters' values).
    text_param: fn(usize) -> String,
    /// A [`Kind::Json`] parameter written to its column.
    json_param: fn(usize) -> String,
    /// A [`Kind::Json`] column read as text.
    json_column: fn(&str) -> String,
    /// `version` is one of the list given as parameter `n`.
    version_in: fn(usize) -> String,
    /// The name searches on the folded name (`name_folded`, issue 13; the
    /// search text arrives folded), `{p}` standing for the text's parameter:
    /// starts with, contains, ends with, exactly (literal, no LIKE wildcards
    /// involved). A prefix is also an index range (see [`Dialect::list_filter`]).
    search: [&'static str; 4],
    /// Whether an infix or suffix search (which no index serves) is found by
    /// one scan of a materialized CTE, then sorted (PostgreSQL: its planner
    /// would otherwise walk an index in sort order testing every row, 6.2 s
    /// at 1,000,000 customers for 20 matches; BENCHMARKS.md).
    materialize_scans: bool,
    /// `country ASC` and `country DESC`: a missing country first ascending,
    /// last descending in both stores.
    country_order: [&'static str; 2],
    /// Whether an update returns the managed columns itself (`RETURNING`).
    /// SQLite's does not: an `UPDATE ... RETURNING` there gathers its rows in
    /// a temporary B-tree opened, zero-filled and freed again by every
    /// statement (about 10,000 instructions of the writer thread per update,
    /// by callgrind), so its writer reads them back with
    /// [`Dialect::select_managed`] in the same transaction instead.
    update_returns: bool,
}

pub const SQLITE: Dialect = Dialect {
    param: |n| format!("?{n}"),
    text_param: |n| format!("?{n}"),
    json_param: |n| format!("?{n}"),
    json_column: |column| column.to_string(),
    version_in: |n| format!("version IN (SELECT value FROM json_each(?{n}))"),
    search: [
        "substr(name_folded, 1, length({p})) = {p}",
        "instr(name_folded, {p}) > 0",
        "length(name_folded) >= length({p}) \
         AND substr(name_folded, length(name_folded) - length({p}) + 1) = {p}",
        "name_folded = {p}",
    ],
    materialize_scans: false,
    country_order: ["country ASC", "country DESC"],
    update_returns: false,
};

pub const POSTGRES: Dialect = Dialect {
    param: |n| format!("${n}"),
    text_param: |n| format!("${n}::text"),
    json_param: |n| format!("${n}::text::json"),
    json_column: |column| format!("{column}::text"),
    version_in: |n| format!("version = ANY(${n}::bigint[])"),
    search: [
        "left(name_folded, char_length({p})) = {p}",
        "strpos(name_folded, {p}) > 0",
        "right(name_folded, char_length({p})) = {p}",
        "name_folded = {p}",
    ],
    materialize_scans: true,
    country_order: ["country ASC NULLS FIRST", "country DESC NULLS LAST"],
    update_returns: true,
};

/// The parameter that follows the details (creation time or versions).
pub fn versions_param() -> usize {
    3 + DETAILS.len()
}

impl Dialect {
    fn param(&self, n: usize) -> String {
        (self.param)(n)
    }

    /// The detail column `index` as a parameter `n`.
    fn detail_param(&self, index: usize, n: usize) -> String {
        match DETAILS[index].kind {
            Kind::Text => self.param(n),
            Kind::Json => (self.json_param)(n),
        }
    }

    /// `id`, the details and the managed columns: what [`super::schema::customer_from_row`] reads.
    pub fn select_columns(&self) -> String {
        self.columns_selected(false)
    }

    /// [`Self::select_columns`], with `NULL` for the derived columns (what
    /// `copy-store` reads from a source that may predate them).
    pub fn select_columns_underived(&self) -> String {
        self.columns_selected(true)
    }

    fn columns_selected(&self, null_derived: bool) -> String {
        let mut columns = vec!["id".to_string()];
        columns.extend(DETAILS.iter().map(|column| match column.kind {
            _ if null_derived && column.derived() => format!("NULL AS {}", column.name),
            Kind::Text => column.name.to_string(),
            Kind::Json => (self.json_column)(column.name),
        }));
        columns.extend(MANAGED.iter().map(|column| column.to_string()));
        columns.join(", ")
    }

    /// `columns` of one customer, by tenant (parameter 1) and id (parameter 2).
    pub fn select_by_id(&self, columns: &str) -> String {
        format!(
            "SELECT {columns} FROM customers WHERE tenant = {} AND id = {}",
            self.param(1),
            self.param(2)
        )
    }

    /// One customer by tenant and id.
    pub fn select_one(&self) -> String {
        self.select_by_id(&self.select_columns())
    }

    /// Whether a customer exists.
    pub fn exists(&self) -> String {
        self.select_by_id("1")
    }

    /// A new customer, version 1: tenant, id, the details, the creation time.
    pub fn insert(&self) -> String {
        let details: Vec<String> =
            (0..DETAILS.len()).map(|i| self.detail_param(i, 3 + i)).collect();
        format!(
            "INSERT INTO customers (tenant, id, {}, {}) VALUES ({}, {}, {}, {}, NULL, NULL, 1)",
            detail_names().join(", "),
            MANAGED.join(", "),
            self.param(1),
            self.param(2),
            details.join(", "),
            self.param(versions_param()),
        )
    }

    /// An update of the details chosen by `set` (all but unchanged indexed
    /// ones, for SQLite), bumping the version, returning the managed columns
    /// (where [`Dialect::update_returns`]);
    /// with `if_version`, only when the version is one of [`versions_param`].
    pub fn update(&self, set: impl Fn(usize) -> bool, if_version: bool) -> String {
        self.update_keeping(set, |_| false, if_version)
    }

    /// [`Self::update`], only where the row already holds the draft's value
    /// of each detail chosen by `keep` (`IS`: a missing value equals a
    /// missing value).
    pub fn update_keeping(
        &self,
        set: impl Fn(usize) -> bool,
        keep: impl Fn(usize) -> bool,
        if_version: bool,
    ) -> String {
        let mut assignments: Vec<String> = (0..DETAILS.len())
            .filter(|&i| set(i))
            .map(|i| format!("{} = {}", DETAILS[i].name, self.detail_param(i, 3 + i)))
            .collect();
        assignments.push("version = version + 1".to_string());
        let mut sql = format!(
            "UPDATE customers SET {} WHERE tenant = {} AND id = {}",
            assignments.join(", "),
            self.param(1),
            self.param(2)
        );
        for i in (0..DETAILS.len()).filter(|&i| keep(i)) {
            sql.push_str(&format!(" AND {} IS {}", DETAILS[i].name, self.detail_param(i, 3 + i)));
        }
        if if_version {
            sql.push_str(&format!(" AND {}", (self.version_in)(versions_param())));
        }
        if self.update_returns {
            sql.push_str(&format!(" RETURNING {}", MANAGED.join(", ")));
        }
        sql
    }

    /// The managed columns of one customer (what an update returns where
    /// [`Dialect::update_returns`] is false).
    pub fn select_managed(&self) -> String {
        self.select_by_id(&MANAGED.join(", "))
    }

    /// A delete; with `if_version`, only when the version is one of parameter 3.
    pub fn delete(&self, if_version: bool) -> String {
        let mut sql = format!(
            "DELETE FROM customers WHERE tenant = {} AND id = {}",
            self.param(1),
            self.param(2)
        );
        if if_version {
            sql.push_str(&format!(" AND {}", (self.version_in)(3)));
        }
        sql
    }

    /// The customers of a tenant among the ids given as parameters 2 and up
    /// (SQLite: `count` placeholders) or as the text array parameter 2 (PostgreSQL).
    pub fn select_many(&self, id_list: &str) -> String {
        format!(
            "SELECT {} FROM customers WHERE tenant = {} AND {id_list}",
            self.select_columns(),
            self.param(1)
        )
    }

    /// The WHERE clause of a list (always starting with the tenant) and its
    /// parameters, all text.
    pub fn list_filter(&self, tenant: &TenantName, query: &ListQuery) -> (String, Vec<String>) {
        let mut params = vec![tenant.as_str().to_string()];
        let mut clauses = vec![format!("tenant = {}", self.param(1))];
        let bind = |params: &mut Vec<String>, value: &str| {
            params.push(value.to_string());
            (self.text_param)(params.len())
        };
        if let Some(search) = &query.search {
            let (template, text) = match search {
                NameSearch::StartsWith(text) => (self.search[0], text),
                NameSearch::Contains(text) => (self.search[1], text),
                NameSearch::EndsWith(text) => (self.search[2], text),
                NameSearch::Exactly(text) => (self.search[3], text),
            };
            let p = bind(&mut params, text);
            if let NameSearch::StartsWith(_) = search {
                // The index range of the prefix, then the exact test.
                clauses.push(format!("name_folded >= {p}"));
                if let Some(upper) = prefix_upper_bound(text) {
                    let u = bind(&mut params, &upper);
                    clauses.push(format!("name_folded < {u}"));
                }
            }
            clauses.push(template.replace("{p}", &p));
        }
        if let Some(name) = &query.name_equals {
            let p = bind(&mut params, name);
            clauses.push(format!("name = {p}"));
        }
        if let Some(country) = &query.country {
            let p = bind(&mut params, country);
            clauses.push(format!("country = {p}"));
        }
        (clauses.join(" AND "), params)
    }

    /// ORDER BY from the sort fields, the id ascending last.
    pub fn order_by(&self, sort: &[(SortField, Direction)]) -> String {
        let mut terms: Vec<&str> = sort
            .iter()
            .map(|(field, direction)| match (field, direction) {
                (SortField::Name, Direction::Asc) => "name ASC",
                (SortField::Name, Direction::Desc) => "name DESC",
                (SortField::Country, Direction::Asc) => self.country_order[0],
                (SortField::Country, Direction::Desc) => self.country_order[1],
                (SortField::CreationTimestamp, Direction::Asc) => "creation_timestamp ASC",
                (SortField::CreationTimestamp, Direction::Desc) => "creation_timestamp DESC",
            })
            .collect();
        terms.push("id ASC");
        terms.join(", ")
    }

    /// A page of ids (`index_hint` after the table name, SQLite's `INDEXED BY`)
    /// and the count of all matches, for a filter with `params` parameters:
    /// the page takes two more, its size and offset.
    pub fn list_statements(
        &self,
        filter: &str,
        params: usize,
        query: &ListQuery,
        index_hint: &str,
    ) -> (String, String) {
        let scans = matches!(query.search, Some(NameSearch::Contains(_) | NameSearch::EndsWith(_)));
        let page = if self.materialize_scans && scans {
            format!(
                "WITH matched AS MATERIALIZED (SELECT id, name, country, creation_timestamp \
                 FROM customers WHERE {filter}) \
                 SELECT id FROM matched ORDER BY {} LIMIT {} OFFSET {}",
                self.order_by(&query.sort),
                self.param(params + 1),
                self.param(params + 2)
            )
        } else {
            format!(
                "SELECT id FROM customers{index_hint} WHERE {filter} ORDER BY {} LIMIT {} OFFSET {}",
                self.order_by(&query.sort),
                self.param(params + 1),
                self.param(params + 2)
            )
        };
        (page, format!("SELECT count(*) FROM customers WHERE {filter}"))
    }
}

/// The detail column names, in order.
pub fn detail_names() -> Vec<&'static str> {
    DETAILS.iter().map(|column| column.name).collect()
}

/// A detail column's value in an `unnest` of text arrays (`u`), cast to its type.
fn postgres_array_value(column: &Column) -> String {
    match column.kind {
        Kind::Text => format!("u.{}", column.name),
        Kind::Json => format!("u.{}::json", column.name),
    }
}

/// PostgreSQL's insert of many customers of one tenant in one statement:
/// parameter 1 the tenant, 2 the ids, then one text array per detail
/// column, then the creation times.
pub fn postgres_bulk_insert() -> String {
    let arrays: Vec<String> = (2..versions_param()).map(|n| format!("${n}::text[]")).collect();
    let values: Vec<String> = DETAILS.iter().map(postgres_array_value).collect();
    format!(
        "INSERT INTO customers (tenant, id, {names}, {managed}) \
         SELECT $1, u.id, {values}, u.creation_timestamp, NULL, NULL, 1 \
         FROM unnest({arrays}, ${last}::bigint[]) AS u(id, {names}, creation_timestamp)",
        names = detail_names().join(", "),
        managed = MANAGED.join(", "),
        values = values.join(", "),
        arrays = arrays.join(", "),
        last = versions_param(),
    )
}

/// `copy-store`'s insert of whole rows (tenant, id, details, managed
/// columns: one array each), keeping the rows already there.
pub fn postgres_copy_insert() -> String {
    let columns: Vec<&str> =
        ["tenant", "id"].into_iter().chain(detail_names()).chain(MANAGED).collect();
    let arrays: Vec<String> = (1..=columns.len())
        .map(|n| format!("${n}::{}[]", if n > 2 + DETAILS.len() { "bigint" } else { "text" }))
        .collect();
    let values: Vec<String> = ["tenant", "id"]
        .into_iter()
        .map(|name| format!("u.{name}"))
        .chain(DETAILS.iter().map(postgres_array_value))
        .chain(MANAGED.iter().map(|name| format!("u.{name}")))
        .collect();
    format!(
        "INSERT INTO customers ({names}) SELECT {values} FROM unnest({arrays}) AS u({names}) \
         ON CONFLICT (tenant, id) DO NOTHING",
        names = columns.join(", "),
        values = values.join(", "),
        arrays = arrays.join(", "),
    )
}
