//! The customer domain: validated values (each built only through `parse`),
//! the customer record, versions and `If-Match` preconditions.
//!
//! Nothing here knows about HTTP or storage. A value of one of these types is
//! valid by construction, so the store and the HTTP layer never re-check.

mod fold;
mod validation;

pub use fold::{fold, prefix_upper_bound};
pub use validation::*;

/// A customer as stored: its id, its mutable state and the server-managed fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    pub details: CustomerDraft,
    /// Milliseconds since the Unix epoch.
    pub creation_timestamp: i64,
    /// Milliseconds since the Unix epoch; never set by this server (no user logins here).
    pub first_access_timestamp: Option<i64>,
    /// Milliseconds since the Unix epoch; never set by this server (no user logins here).
    pub last_access_timestamp: Option<i64>,
    /// Starts at 1 and grows by one on every update: the customer's strong ETag.
    pub version: Version,
}

/// The version of a customer, published as its strong ETag (`"7"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub i64);

impl Version {
    pub const FIRST: Version = Version(1);

    pub fn next(self) -> Version {
        Version(self.0 + 1)
    }

    /// The version whose entity tag has exactly this opaque part. Strong
    /// comparison compares tags as strings (RFC 9110 §8.8.3.2), so only the
    /// canonical decimal form matches: `"01"` and `"+1"` are not `"1"`.
    fn from_opaque_tag(opaque: &str) -> Option<Version> {
        let canonical = !opaque.is_empty()
            && !opaque.starts_with('0')
            && opaque.bytes().all(|byte| byte.is_ascii_digit());
        canonical.then(|| opaque.parse::<i64>().ok()).flatten().map(Version)
    }

    /// The strong entity tag: the version in double quotes.
    pub fn etag(self) -> String {
        format!("\"{}\"", self.0)
    }
}

/// What an `If-Match` header asks for (RFC 9110 §13.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No `If-Match`: the write is unconditional.
    None,
    /// `If-Match: *`: the customer must exist.
    Exists,
    /// A list of entity tags: the customer's current version must be one of them.
    /// Weak tags and tags that are not ours never match (strong comparison),
    /// so the list may be empty: the write then always fails with 412.
    OneOf(Vec<Version>),
}

/// Why a conditional write matched no row: the customer is absent (404) or
/// its version did not satisfy the precondition (412).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    NotFound,
    Changed,
}

impl Precondition {
    /// Reads the `If-Match` header values of a request (none: unconditional).
    /// Repeated headers form one list (RFC 9110 §5.3), where a header
    /// extractor would keep only the last.
    pub fn from_if_match<'a>(values: impl IntoIterator<Item = &'a str>) -> Precondition {
        let mut values = values.into_iter().peekable();
        if values.peek().is_none() {
            return Precondition::None;
        }
        let header = values.collect::<Vec<_>>().join(", ");
        if header.trim() == "*" {
            return Precondition::Exists;
        }
        let versions = header
            .split(',')
            .filter_map(|tag| {
                let tag = tag.trim();
                let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
                Version::from_opaque_tag(inner)
            })
            .collect();
        Precondition::OneOf(versions)
    }

    /// The versions the writing statement must find (its `version IN ...`
    /// condition, compared inside the database), or `None` when any will do.
    pub fn acceptable_versions(&self) -> Option<Vec<i64>> {
        match self {
            Precondition::None | Precondition::Exists => None,
            Precondition::OneOf(versions) => Some(versions.iter().map(|v| v.0).collect()),
        }
    }

    /// After a write under this precondition matched no row: whether the
    /// customer exists (asked in the same transaction) tells 404 from 412.
    pub fn unmatched(&self, exists: bool) -> Unmatched {
        if exists {
            Unmatched::Changed
        } else {
            Unmatched::NotFound
        }
    }
}

/// A field customers can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Name,
    Country,
    CreationTimestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// A `searchText` pattern on the customer name (`foo*`, `*foo*`, `*foo`, or
/// exact `foo`), holding the [`fold`]ed text: it matches the folded name
/// (case-insensitive, Unicode case folding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameSearch {
    StartsWith(String),
    Contains(String),
    EndsWith(String),
    Exactly(String),
}

impl NameSearch {
    /// Parses `searchText`; a lone `*` or an empty text matches everything (`None`).
    pub fn parse(text: &str) -> Option<NameSearch> {
        let starts = text.starts_with('*');
        let ends = text.len() > 1 && text.ends_with('*');
        let core = text.trim_start_matches('*').trim_end_matches('*');
        if core.is_empty() {
            return None;
        }
        let core = fold(core);
        Some(match (starts, ends) {
            (true, true) => NameSearch::Contains(core),
            (false, true) => NameSearch::StartsWith(core),
            (true, false) => NameSearch::EndsWith(core),
            (false, false) => NameSearch::Exactly(core),
        })
    }

    /// Whether `name` matches (its folded form, as the stores compare).
    pub fn matches(&self, name: &str) -> bool {
        let name = fold(name);
        let name = name.as_str();
        match self {
            NameSearch::StartsWith(core) => name.starts_with(core.as_str()),
            NameSearch::Contains(core) => name.contains(core.as_str()),
            NameSearch::EndsWith(core) => name.ends_with(core.as_str()),
            NameSearch::Exactly(core) => name == core,
        }
    }
}

/// A validated list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Zero-based.
    pub page: u32,
    /// 1 to 1000.
    pub size: u32,
    /// Applied in order; ties are always broken by id (ascending).
    pub sort: Vec<(SortField, Direction)>,
    pub search: Option<NameSearch>,
    pub name_equals: Option<String>,
    pub country: Option<String>,
}

/// The list parameters as they arrived (already typed by the generated query
/// struct, not yet validated): the input of [`ListQuery::parse`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ListParams<'a> {
    pub page: Option<i32>,
    pub size: Option<i32>,
    pub sort: &'a [String],
    pub search_text: Option<&'a str>,
    pub name: Option<&'a str>,
    pub country: Option<&'a str>,
}

/// The spec's `maxLength` of the `name` filter: `eq;` and a name of at most 255.
const MAX_NAME_FILTER_CHARS: usize = 258;

/// The default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// The contract's largest page size.
pub const MAX_PAGE_SIZE: u32 = 1000;

impl SortField {
    /// The field's name in the contract (`sort=name,ASC`).
    pub fn as_str(self) -> &'static str {
        match self {
            SortField::Name => "name",
            SortField::Country => "country",
            SortField::CreationTimestamp => "creationTimestamp",
        }
    }
}

impl ListQuery {
    /// Validates the list parameters exactly as the contract states them:
    /// `page` at least 0; `size` 1 to 1000; each `sort` term exactly
    /// `field,ASC` or `field,DESC` (the pattern
    /// `^(name|country|creationTimestamp),(ASC|DESC)$`: no default direction,
    /// no lower case), each field at most once (a repeated field would add
    /// nothing to the order, and unbounded repetition made the database sort
    /// by thousands of terms); `name` `eq;` and the name (at most 258 characters); `country` two
    /// upper-case letters; `searchText` at most 255 characters. Errors name
    /// the parameter.
    pub fn parse(params: ListParams<'_>) -> Result<ListQuery, ValidationError> {
        let page = params.page.unwrap_or(0);
        if page < 0 {
            return Err(ValidationError::new("page", format!("must be at least 0 (got {page})")));
        }
        let size = params.size.unwrap_or(DEFAULT_PAGE_SIZE as i32);
        if !(1..=MAX_PAGE_SIZE as i32).contains(&size) {
            return Err(ValidationError::new(
                "size",
                format!("must be 1 to {MAX_PAGE_SIZE} (got {size})"),
            ));
        }
        let mut sort: Vec<(SortField, Direction)> = Vec::new();
        for item in params.sort {
            let (field, direction) = parse_sort_term(item)?;
            if sort.iter().any(|(seen, _)| *seen == field) {
                return Err(ValidationError::new(
                    "sort",
                    format!("field `{}` given twice (each field at most once)", field.as_str()),
                ));
            }
            sort.push((field, direction));
        }
        if let Some(filter) = params.name {
            if filter.chars().count() > MAX_NAME_FILTER_CHARS {
                return Err(ValidationError::new(
                    "name",
                    format!("must be at most {MAX_NAME_FILTER_CHARS} characters long"),
                ));
            }
        }
        let name_equals = params
            .name
            .map(|filter| {
                filter.strip_prefix("eq;").map(str::to_string).ok_or_else(|| {
                    ValidationError::new("name", "must be `eq;` followed by the name")
                })
            })
            .transpose()?;
        if let Some(country) = params.country {
            // The filter's pattern (an unknown but well-formed code just matches nothing).
            if !CountryCode::is_well_formed(country) {
                return Err(ValidationError::new(
                    "country",
                    "must be an ISO 3166-1 alpha-2 country code (two upper-case letters, e.g. IT)",
                ));
            }
        }
        if let Some(text) = params.search_text {
            if text.chars().count() > 255 {
                return Err(ValidationError::new(
                    "searchText",
                    "must be at most 255 characters long",
                ));
            }
        }
        Ok(ListQuery {
            page: page as u32,
            size: size as u32,
            sort,
            search: params.search_text.and_then(NameSearch::parse),
            name_equals,
            country: params.country.map(str::to_string),
        })
    }
}

/// One `sort` term: `field,ASC` or `field,DESC`, nothing else.
fn parse_sort_term(item: &str) -> Result<(SortField, Direction), ValidationError> {
    let shown: String = item.chars().take(64).collect();
    let Some((field, direction)) = item.split_once(',') else {
        return Err(ValidationError::new(
            "sort",
            format!("`{shown}` must be `field,ASC` or `field,DESC` (the direction is required)"),
        ));
    };
    let field = match field {
        "name" => SortField::Name,
        "country" => SortField::Country,
        "creationTimestamp" => SortField::CreationTimestamp,
        _ => {
            return Err(ValidationError::new(
                "sort",
                format!("unknown field in `{shown}` (name, country or creationTimestamp)"),
            ))
        }
    };
    let direction = match direction {
        "ASC" => Direction::Asc,
        "DESC" => Direction::Desc,
        _ => {
            return Err(ValidationError::new(
                "sort",
                format!("unknown direction in `{shown}` (ASC or DESC, in upper case)"),
            ))
        }
    };
    Ok((field, direction))
}

/// One page of customers and the total count of matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub content: Vec<Customer>,
    pub total_elements: u64,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// A new, URL-safe and unguessable customer id (122 random bits, hex).
pub fn new_customer_id() -> CustomerId {
    CustomerId::parse(&uuid::Uuid::new_v4().simple().to_string())
        .expect("32 hex characters are a valid id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_star_list_and_garbage() {
        assert_eq!(Precondition::from_if_match([]), Precondition::None);
        assert_eq!(Precondition::from_if_match([" * "]), Precondition::Exists);
        assert_eq!(
            Precondition::from_if_match(["\"3\", W/\"4\", \"x\", \"5\""]),
            Precondition::OneOf(vec![Version(3), Version(5)])
        );
        // Repeated headers are one list.
        assert_eq!(
            Precondition::from_if_match(["\"3\"", "\"5\""]),
            Precondition::OneOf(vec![Version(3), Version(5)])
        );
        assert_eq!(Precondition::from_if_match(["garbage"]), Precondition::OneOf(vec![]));
        // Strong comparison is of strings: only the exact tag matches.
        for other_spelling in ["\"01\"", "\"+1\"", "\"1.0\"", "\" 1\"", "\"1 \"", "\"0x1\"", "\"\""]
        {
            assert_eq!(
                Precondition::from_if_match([other_spelling]),
                Precondition::OneOf(vec![]),
                "{other_spelling}"
            );
        }
        assert_eq!(Precondition::OneOf(vec![]).acceptable_versions(), Some(vec![]));
        assert_eq!(Precondition::OneOf(vec![Version(2)]).acceptable_versions(), Some(vec![2]));
        assert_eq!(Precondition::Exists.acceptable_versions(), None);
    }

    #[test]
    fn an_unmatched_write_is_404_when_absent_and_412_when_present() {
        for precondition in [Precondition::None, Precondition::Exists, Precondition::OneOf(vec![])]
        {
            assert_eq!(precondition.unmatched(false), Unmatched::NotFound);
            assert_eq!(precondition.unmatched(true), Unmatched::Changed);
        }
    }

    #[test]
    fn etag_is_strong_and_quoted() {
        assert_eq!(Version(7).etag(), "\"7\"");
        assert_eq!(
            Precondition::from_if_match([Version(7).etag().as_str()]),
            Precondition::OneOf(vec![Version(7)])
        );
    }

    #[test]
    fn search_text_wildcards() {
        assert_eq!(NameSearch::parse("ac*"), Some(NameSearch::StartsWith("ac".into())));
        assert_eq!(NameSearch::parse("*ac*"), Some(NameSearch::Contains("ac".into())));
        assert_eq!(NameSearch::parse("*ac"), Some(NameSearch::EndsWith("ac".into())));
        assert_eq!(NameSearch::parse("ac"), Some(NameSearch::Exactly("ac".into())));
        assert_eq!(NameSearch::parse("ÉC*"), Some(NameSearch::StartsWith("éc".into())));
        assert!(NameSearch::parse("é*").unwrap().matches("École"));
        assert!(NameSearch::parse("ac*").unwrap().matches("Acme Inc."));
        assert_eq!(NameSearch::parse("*"), None);
        assert_eq!(NameSearch::parse("**"), None);
        assert!(NameSearch::parse("*me In*").unwrap().matches("Acme Inc."));
    }

    fn parse_sort(terms: &[&str]) -> Result<ListQuery, ValidationError> {
        let sort: Vec<String> = terms.iter().map(|t| t.to_string()).collect();
        ListQuery::parse(ListParams { sort: &sort, ..ListParams::default() })
    }

    #[test]
    fn list_sort_accepts_exactly_the_contract_pattern() {
        let query = parse_sort(&["country,ASC", "name,DESC", "creationTimestamp,ASC"]).unwrap();
        assert_eq!(
            query.sort,
            [
                (SortField::Country, Direction::Asc),
                (SortField::Name, Direction::Desc),
                (SortField::CreationTimestamp, Direction::Asc)
            ]
        );
        for bad in
            ["name", "name,asc", "name,Desc", "name,", ",ASC", "id,ASC", "name,ASC,x", " name,ASC"]
        {
            let error = parse_sort(&[bad]).expect_err(bad);
            assert_eq!(error.field, "sort", "{bad}");
        }
        let error = parse_sort(&["name"]).unwrap_err();
        assert!(error.reason.contains("direction is required"), "{error}");
    }

    #[test]
    fn list_sort_field_at_most_once() {
        let error = parse_sort(&["name,DESC", "country,ASC", "name,ASC"]).unwrap_err();
        assert_eq!(error.to_string(), "sort: field `name` given twice (each field at most once)");
        let many: Vec<&str> = ["name,DESC", "country,ASC"].into_iter().cycle().take(1999).collect();
        assert!(parse_sort(&many).is_err());
    }

    #[test]
    fn list_page_and_size_bounds() {
        let parse =
            |page, size| ListQuery::parse(ListParams { page, size, ..ListParams::default() });
        assert_eq!(parse(None, None).unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(parse(Some(3), Some(1000)).unwrap().page, 3);
        assert_eq!(parse(Some(-1), None).unwrap_err().field, "page");
        assert_eq!(parse(None, Some(0)).unwrap_err().field, "size");
        assert_eq!(parse(None, Some(1001)).unwrap_err().field, "size");
    }

    #[test]
    fn new_ids_are_url_safe_and_distinct() {
        let (a, b) = (new_customer_id(), new_customer_id());
        assert_ne!(a, b);
        assert!(a.as_str().chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
