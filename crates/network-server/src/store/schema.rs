//! One description of a customer's columns, shared by both stores and by
//! `copy-store`: which columns hold the customer's mutable state
//! ([`DETAILS`]), how a draft becomes their parameters ([`detail_values`])
//! and how a stored row becomes a [`Customer`] again ([`customer_from_row`]).
//! The SQL of both dialects is built from this list (`store::sql`), so a new
//! column is added here, plus one migration per store.

use std::borrow::Cow;

use crate::domain::{
    fold, Customer, CustomerDraft, CustomerId, DraftFields, ValidationError, Version,
};

use super::StoreError;

/// How a column's value is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// JSON text (PostgreSQL: `json`, which unlike `jsonb` holds "\u0000"; read back as text).
    Json,
}

/// A column of a customer's mutable state.
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    /// A sort or filter key with an index of its own: SQLite's update sets it
    /// only when it changes (see `store::sqlite`).
    pub indexed: bool,
    /// Computed from the column at this index in [`DETAILS`] on every write
    /// and never read back, so `copy-store` need not read it from the source
    /// (a file the server has not migrated yet lacks it), and an update that
    /// keeps its source keeps it too.
    pub derived_from: Option<usize>,
    /// The draft's value as stored.
    value: for<'a> fn(&'a CustomerDraft) -> Option<Cow<'a, str>>,
    /// Puts a stored value into the fields to validate; the error says why
    /// the stored value cannot be read.
    read: fn(&mut DraftFields, Option<String>) -> Result<(), String>,
}

/// The columns of a customer's mutable state, in the order every statement
/// lists them (after `tenant` and `id`, before [`MANAGED`]).
pub static DETAILS: [Column; 5] = [
    Column {
        name: "name",
        kind: Kind::Text,
        indexed: true,
        derived_from: None,
        value: |draft| Some(Cow::Borrowed(draft.name.as_str())),
        read: |fields, value| {
            fields.name = value.unwrap_or_default();
            Ok(())
        },
    },
    Column {
        name: "country",
        kind: Kind::Text,
        indexed: true,
        derived_from: None,
        value: |draft| draft.country.as_ref().map(|country| Cow::Borrowed(country.as_str())),
        read: |fields, value| {
            fields.country = value;
            Ok(())
        },
    },
    Column {
        name: "timezone",
        kind: Kind::Text,
        indexed: false,
        derived_from: None,
        value: |draft| draft.timezone.as_ref().map(|zone| Cow::Borrowed(zone.as_str())),
        read: |fields, value| {
            fields.timezone = value;
            Ok(())
        },
    },
    Column {
        name: "properties",
        kind: Kind::Json,
        indexed: false,
        derived_from: None,
        value: |draft| {
            let json = serde_json::to_string(draft.properties.as_map());
            Some(Cow::Owned(json.expect("a map of strings encodes as JSON")))
        },
        read: |fields, value| {
            let text = value.as_deref().unwrap_or("{}");
            let map =
                serde_json::from_str(text).map_err(|e| format!("unreadable properties: {e}"))?;
            fields.properties = Some(map);
            Ok(())
        },
    },
    // Issue 13: the name as the case-insensitive search compares it
    // (`domain::fold`), derived from the draft and never read back.
    Column {
        name: "name_folded",
        kind: Kind::Text,
        indexed: true,
        derived_from: Some(0),
        value: |draft| Some(Cow::Owned(fold(draft.name.as_str()))),
        read: |_, _| Ok(()),
    },
];

impl Column {
    /// Whether it is computed from another column (see [`Column::derived_from`]).
    pub fn derived(&self) -> bool {
        self.derived_from.is_some()
    }
}

/// The columns the server manages, after the details in every row read.
pub const MANAGED: [&str; 4] =
    ["creation_timestamp", "first_access_timestamp", "last_access_timestamp", "version"];

/// The draft's values, one per [`DETAILS`] column, in order.
pub fn detail_values(draft: &CustomerDraft) -> Vec<Option<Cow<'_, str>>> {
    DETAILS.iter().map(|column| (column.value)(draft)).collect()
}

/// The draft's value of the column at `index` in [`DETAILS`].
pub fn detail_value(draft: &CustomerDraft, index: usize) -> Option<Cow<'_, str>> {
    (DETAILS[index].value)(draft)
}

/// A row of either database, read by position.
pub trait RowSource {
    fn text(&self, index: usize) -> Result<Option<String>, StoreError>;
    fn int(&self, index: usize) -> Result<Option<i64>, StoreError>;
}

/// The server-managed columns of a stored customer ([`MANAGED`]).
#[derive(Debug, Clone, Copy)]
pub struct Managed {
    creation_timestamp: i64,
    first_access_timestamp: Option<i64>,
    last_access_timestamp: Option<i64>,
    version: Version,
}

impl Managed {
    /// The customer with these columns.
    pub fn customer(self, id: CustomerId, details: CustomerDraft) -> Customer {
        Customer {
            id,
            details,
            creation_timestamp: self.creation_timestamp,
            first_access_timestamp: self.first_access_timestamp,
            last_access_timestamp: self.last_access_timestamp,
            version: self.version,
        }
    }
}

/// The server-managed columns of a row, starting at `first`.
fn managed(row: &impl RowSource, first: usize, id: &str) -> Result<Managed, StoreError> {
    let missing =
        || StoreError::Unavailable(format!("stored customer `{id}` lacks a timestamp or version"));
    Ok(Managed {
        creation_timestamp: row.int(first)?.ok_or_else(missing)?,
        first_access_timestamp: row.int(first + 1)?,
        last_access_timestamp: row.int(first + 2)?,
        version: Version(row.int(first + 3)?.ok_or_else(missing)?),
    })
}

/// A row of `id`, [`DETAILS`], [`MANAGED`] (see `sql::select_columns`) as a
/// customer. The domain values only have validating constructors: a row that
/// no longer validates (e.g. a country withdrawn from the ISO list in a later
/// release) is reported, naming the customer and the field.
pub fn customer_from_row(row: &impl RowSource) -> Result<Customer, StoreError> {
    let id = row.text(0)?.unwrap_or_default();
    let corrupt = |problem: String| {
        StoreError::Unavailable(format!("stored customer `{id}` is not valid: {problem}"))
    };
    let invalid = |error: ValidationError| corrupt(error.to_string());
    let mut fields = DraftFields::default();
    for (index, column) in DETAILS.iter().enumerate() {
        (column.read)(&mut fields, row.text(1 + index)?).map_err(corrupt)?;
    }
    let details = CustomerDraft::parse(fields).map_err(invalid)?;
    let parsed_id = CustomerId::parse(&id).map_err(invalid)?;
    Ok(managed(row, 1 + DETAILS.len(), &id)?.customer(parsed_id, details))
}

/// The [`MANAGED`] columns of a written row (returned or read back, in order);
/// with the draft it wrote, the customer ([`Managed::customer`]).
pub fn written_managed(row: &impl RowSource, id: &CustomerId) -> Result<Managed, StoreError> {
    managed(row, 0, id.as_str())
}

/// A customer just created: version 1, never accessed.
pub fn created_customer(
    id: CustomerId,
    details: CustomerDraft,
    creation_timestamp: i64,
) -> Customer {
    Customer {
        id,
        details,
        creation_timestamp,
        first_access_timestamp: None,
        last_access_timestamp: None,
        version: Version::FIRST,
    }
}

/// Stored ids as domain ids (a page of `list_ids`).
pub fn parse_ids(ids: Vec<String>) -> Result<Vec<CustomerId>, StoreError> {
    ids.iter()
        .map(|id| {
            CustomerId::parse(id).map_err(|error| {
                StoreError::Unavailable(format!("stored customer `{id}` is not valid: {error}"))
            })
        })
        .collect()
}

/// The customers of `found` in the order of `ids` (ids no longer there are skipped).
pub fn in_order(ids: &[CustomerId], found: Vec<Customer>) -> Vec<Customer> {
    let mut found: std::collections::HashMap<String, Customer> =
        found.into_iter().map(|customer| (customer.id.as_str().to_string(), customer)).collect();
    ids.iter().filter_map(|id| found.remove(id.as_str())).collect()
}

/// The total of a list when its page tells it: a short, non-empty page, or an
/// empty first page. `None`: count.
pub fn total_from_page(offset: i64, size: i64, returned: i64) -> Option<i64> {
    ((returned > 0 && returned < size) || (returned == 0 && offset == 0))
        .then_some(offset + returned)
}

/// A customer that cannot be inserted because its id is taken.
pub fn duplicate_id(id: &CustomerId) -> StoreError {
    StoreError::Unavailable(format!(
        "a customer with id `{}` already exists in this tenant",
        id.as_str()
    ))
}

impl RowSource for rusqlite::Row<'_> {
    fn text(&self, index: usize) -> Result<Option<String>, StoreError> {
        self.get(index).map_err(super::sqlite::db)
    }
    fn int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        self.get(index).map_err(super::sqlite::db)
    }
}

impl RowSource for tokio_postgres::Row {
    fn text(&self, index: usize) -> Result<Option<String>, StoreError> {
        self.try_get(index).map_err(super::postgres::db)
    }
    fn int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        self.try_get(index).map_err(super::postgres::db)
    }
}
