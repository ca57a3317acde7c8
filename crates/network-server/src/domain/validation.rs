//! Validated domain values. Each has a `parse` constructor that is the only way
//! to build it; its error names the field and the reason, ready for a 400.

use std::collections::BTreeMap;

/// At most this many entries in `properties`.
pub const MAX_PROPERTIES: usize = 200;
/// Property keys are 1 to this many characters.
pub const MAX_PROPERTY_KEY_CHARS: usize = 128;
/// Property values are at most this many characters.
pub const MAX_PROPERTY_VALUE_CHARS: usize = 4096;
const MAX_NAME_CHARS: usize = 255;
const MAX_ID_CHARS: usize = 128;
const MAX_TENANT_CHARS: usize = 128;

/// Why a value was rejected: the field (a JSON path such as `properties.foo`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: String,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

fn char_count(value: &str) -> usize {
    value.chars().count()
}

const NUL_REASON: &str = "must not contain NUL characters";

/// A NUL byte in UTF-8 is always the NUL character.
fn contains_nul(value: &str) -> bool {
    value.as_bytes().contains(&0)
}

fn no_control_characters(field: &str, value: &str) -> Result<(), ValidationError> {
    if contains_nul(value) {
        return Err(ValidationError::new(field, NUL_REASON));
    }
    Ok(())
}

/// A customer id: 1 to 128 characters, no NUL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CustomerId(String);

impl CustomerId {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let count = char_count(value);
        if count == 0 || count > MAX_ID_CHARS {
            return Err(ValidationError::new(
                "customerId",
                format!("must be 1 to {MAX_ID_CHARS} characters long (got {count})"),
            ));
        }
        no_control_characters("customerId", value)?;
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tenant name: 1 to 128 characters, no NUL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantName(String);

impl TenantName {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let count = char_count(value);
        if count == 0 || count > MAX_TENANT_CHARS {
            return Err(ValidationError::new(
                "X-Servitly-Tenant",
                format!("must be 1 to {MAX_TENANT_CHARS} characters long (got {count})"),
            ));
        }
        no_control_characters("X-Servitly-Tenant", value)?;
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// White space as the spec's `name` pattern (and ECMA-262's `\s`, which JSON
/// Schema patterns use) defines it: tab to carriage return, space, U+00A0,
/// U+1680, U+2000 to U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 and
/// U+FEFF. (Rust's `char::is_whitespace` differs: it counts U+0085 and not
/// U+FEFF.)
pub fn is_spec_white_space(c: char) -> bool {
    matches!(c,
        '\u{9}'..='\u{d}' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}'
        | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}')
}

/// The spec's `name` pattern: not only white space ([`is_spec_white_space`]), no NUL.
pub const NAME_PATTERN: &str = "^[^\\u0000]*[^\\u0000\\u0009-\\u000d\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff][^\\u0000]*$";
/// The spec's pattern for property values: no NUL.
pub const NO_NUL_PATTERN: &str = "^[^\\u0000]*$";
/// The spec's pattern for country codes (the ISO list is checked by [`CountryCode::parse`]).
pub const COUNTRY_PATTERN: &str = "^[A-Z]{2}$";

/// A customer name: 1 to 255 characters, not only white space, no NUL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CustomerName(String);

impl CustomerName {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let count = char_count(value);
        if count == 0 || count > MAX_NAME_CHARS {
            return Err(ValidationError::new(
                "name",
                format!("must be 1 to {MAX_NAME_CHARS} characters long (got {count})"),
            ));
        }
        if value.chars().all(is_spec_white_space) {
            return Err(ValidationError::new("name", "must not be blank"));
        }
        no_control_characters("name", value)?;
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ISO 3166-1 alpha-2 country code in upper case, checked against the real list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CountryCode(String);

impl CountryCode {
    /// Whether `value` has the spec's shape (`^[A-Z]{2}$`), known country or not.
    pub fn is_well_formed(value: &str) -> bool {
        value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase())
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        if !Self::is_well_formed(value) || celes::Country::from_alpha2(value).is_err() {
            return Err(ValidationError::new(
                "country",
                format!(
                    "`{}` is not an ISO 3166-1 alpha-2 country code (e.g. IT)",
                    truncate(value)
                ),
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone name, checked against the tz database.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        if value.parse::<chrono_tz::Tz>().is_err() {
            return Err(ValidationError::new(
                "timezone",
                format!("`{}` is not an IANA time zone name (e.g. Europe/Rome)", truncate(value)),
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The free-form string properties of a customer, within the documented
/// limits: at most 200 entries, keys of 1 to 128 characters (any characters),
/// values of at most 4096 characters without NUL (the spec's `pattern`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties(BTreeMap<String, String>);

impl Properties {
    pub fn parse(map: BTreeMap<String, String>) -> Result<Self, ValidationError> {
        if map.len() > MAX_PROPERTIES {
            return Err(ValidationError::new(
                "properties",
                format!("at most {MAX_PROPERTIES} entries are allowed (got {})", map.len()),
            ));
        }
        for (key, value) in &map {
            let key_chars = char_count(key);
            if key_chars == 0 || key_chars > MAX_PROPERTY_KEY_CHARS {
                return Err(ValidationError::new(
                    "properties",
                    format!(
                        "keys must be 1 to {MAX_PROPERTY_KEY_CHARS} characters long (got {key_chars} for `{}`)",
                        truncate(key)
                    ),
                ));
            }
            // A key may contain NUL: OpenAPI 3.0 has no `propertyNames`, so
            // the schema cannot forbid it and a schema-valid request may carry
            // one (issue 12). Both stores keep it (PostgreSQL in `json`).
            // The field's name is only built for an error (not per valid entry).
            let field = || format!("properties.{}", truncate(key));
            let value_chars = char_count(value);
            if value_chars > MAX_PROPERTY_VALUE_CHARS {
                return Err(ValidationError::new(
                    field(),
                    format!("values must be at most {MAX_PROPERTY_VALUE_CHARS} characters long (got {value_chars})"),
                ));
            }
            if contains_nul(value) {
                return Err(ValidationError::new(field(), NUL_REASON));
            }
        }
        Ok(Self(map))
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }
}

/// The mutable state of a customer: what create and update write, in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerDraft {
    pub name: CustomerName,
    pub country: Option<CountryCode>,
    pub timezone: Option<TimeZoneName>,
    pub properties: Properties,
}

/// A customer's mutable state as it arrived (from a request body or a stored
/// row), not yet validated: the input of [`CustomerDraft::parse`]. A new
/// optional field is added here and in the draft, with a default of `None`,
/// so the callers that build one with `..DraftFields::default()` stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DraftFields {
    pub name: String,
    pub country: Option<String>,
    pub timezone: Option<String>,
    /// `None`: the empty map.
    pub properties: Option<BTreeMap<String, String>>,
}

impl DraftFields {
    /// A customer with this name and nothing else (yet).
    pub fn new(name: impl Into<String>) -> Self {
        DraftFields { name: name.into(), ..DraftFields::default() }
    }
}

impl CustomerDraft {
    /// Validates every field; a missing `properties` is the empty map.
    pub fn parse(fields: DraftFields) -> Result<Self, ValidationError> {
        let DraftFields { name, country, timezone, properties } = fields;
        Ok(Self {
            name: CustomerName::parse(&name)?,
            country: country.as_deref().map(CountryCode::parse).transpose()?,
            timezone: timezone.as_deref().map(TimeZoneName::parse).transpose()?,
            properties: Properties::parse(properties.unwrap_or_default())?,
        })
    }
}

/// Shortens user input quoted back in an error message.
fn truncate(value: &str) -> String {
    const SHOWN: usize = 40;
    if value.chars().count() <= SHOWN {
        value.to_string()
    } else {
        format!("{}…", value.chars().take(SHOWN).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(CustomerName::parse("Acme Inc.").is_ok());
        assert!(CustomerName::parse(&"é".repeat(255)).is_ok(), "255 characters, not bytes");
        assert_eq!(CustomerName::parse("").unwrap_err().field, "name");
        assert_eq!(CustomerName::parse(" \t\n").unwrap_err().reason, "must not be blank");
        assert!(CustomerName::parse(&"a".repeat(256)).unwrap_err().reason.contains("got 256"));
        assert!(CustomerName::parse("a\0b").is_err());
        assert!(CustomerName::parse("Robert'); DROP TABLE customers;--").is_ok());
        // White space is the spec's (ECMA-262 `\s`), not Rust's: U+FEFF is, U+0085 is not.
        assert!(CustomerName::parse("\u{feff}\u{3000}").is_err());
        assert!(CustomerName::parse("\u{85}").is_ok());
        assert!(CustomerName::parse("\u{1c}").is_ok());
    }

    /// The patterns quoted here are the spec's, and the spec's `name` pattern
    /// accepts exactly what `CustomerName::parse` accepts (as far as white space goes).
    #[test]
    fn patterns_match_the_spec() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../../../openapi/network.json")).unwrap();
        let schemas = &spec["components"]["schemas"];
        for schema in ["CustomerDetails", "Customer"] {
            let properties = &schemas[schema]["properties"];
            assert_eq!(properties["name"]["pattern"], NAME_PATTERN, "{schema}.name");
        }
        assert_eq!(schemas["Properties"]["additionalProperties"]["pattern"], NO_NUL_PATTERN);
        let filter = spec["paths"]["/v2/network/customers"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "country")
            .unwrap();
        assert_eq!(filter["schema"]["pattern"], COUNTRY_PATTERN, "the list's country filter");
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let single = c.to_string();
            let wire = network_api::types::CustomerDetailsName::try_from(single.as_str()).is_ok();
            let domain = CustomerName::parse(&single).is_ok();
            assert_eq!(
                wire, domain,
                "U+{:04X}: spec pattern says {wire}, server says {domain}",
                c as u32
            );
        }
    }

    #[test]
    fn countries_come_from_the_iso_list() {
        assert!(CountryCode::parse("IT").is_ok());
        assert!(CountryCode::parse("US").is_ok());
        let error = CountryCode::parse("XX").unwrap_err();
        assert_eq!(error.field, "country");
        assert!(error.reason.contains("`XX` is not an ISO 3166-1 alpha-2"), "{error}");
        assert!(CountryCode::parse("it").is_err(), "upper case only");
        assert!(CountryCode::parse("ITA").is_err());
        assert!(CountryCode::parse("").is_err());
    }

    /// What `CountryCode::parse` accepts: every upper-case pair celes knows.
    fn accepted_countries() -> Vec<String> {
        let mut codes = Vec::new();
        for first in b'A'..=b'Z' {
            for second in b'A'..=b'Z' {
                let code = String::from_utf8(vec![first, second]).unwrap();
                if CountryCode::parse(&code).is_ok() {
                    codes.push(code);
                }
            }
        }
        codes
    }

    /// What `TimeZoneName::parse` accepts: every name chrono-tz knows.
    fn accepted_time_zones() -> Vec<String> {
        let mut names: Vec<String> =
            chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name().to_string()).collect();
        names.sort();
        names.dedup();
        assert!(names.iter().all(|name| TimeZoneName::parse(name).is_ok()));
        names
    }

    /// The spec's `country` and `timezone` enums are exactly what the server
    /// accepts (celes and chrono-tz, the crates it validates with). To
    /// regenerate after a crate upgrade, run
    /// `NETWORK_SPEC_ENUMS_OUT=target/spec-enums.json cargo test -p network-server --lib spec_enums`,
    /// then `python3 scripts/update_spec_enums.py target/spec-enums.json` and
    /// `cargo xtask generate`.
    #[test]
    fn spec_enums_are_the_crates_lists() {
        let countries = accepted_countries();
        let time_zones = accepted_time_zones();
        if let Ok(out) = std::env::var("NETWORK_SPEC_ENUMS_OUT") {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(out);
            let lists = serde_json::json!({"country": countries, "timezone": time_zones});
            std::fs::write(&path, serde_json::to_string_pretty(&lists).unwrap()).unwrap();
            eprintln!("wrote {}", path.display());
        }
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../../../openapi/network.json")).unwrap();
        let how = "regenerate: NETWORK_SPEC_ENUMS_OUT=target/spec-enums.json cargo test -p \
                   network-server --lib spec_enums && python3 scripts/update_spec_enums.py \
                   target/spec-enums.json && cargo xtask generate";
        for schema in ["CustomerDetails", "Customer"] {
            let properties = &spec["components"]["schemas"][schema]["properties"];
            let listed = |field: &str| -> Vec<String> {
                properties[field]["enum"]
                    .as_array()
                    .map(|values| {
                        values.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
                    })
                    .unwrap_or_default()
            };
            assert!(listed("country") == countries, "{schema}.country differs from celes; {how}");
            assert!(
                listed("timezone") == time_zones,
                "{schema}.timezone differs from chrono-tz; {how}"
            );
            assert!(
                properties["timezone"].get("pattern").is_none(),
                "{schema}.timezone: the enum says it all; {how}"
            );
            // One distinct member name per value, for the generators that read
            // `x-enum-varnames` (`Etc/GMT+1` and `Etc/GMT-1` must not collide).
            let names: std::collections::BTreeSet<&str> = properties["timezone"]["x-enum-varnames"]
                .as_array()
                .map(|names| names.iter().filter_map(|name| name.as_str()).collect())
                .unwrap_or_default();
            assert!(
                names.len() == time_zones.len(),
                "{schema}.timezone needs {} distinct x-enum-varnames; {how}",
                time_zones.len()
            );
        }
    }

    #[test]
    fn time_zones_come_from_the_tz_database() {
        assert!(TimeZoneName::parse("Europe/Rome").is_ok());
        assert!(TimeZoneName::parse("America/Argentina/Buenos_Aires").is_ok());
        assert!(TimeZoneName::parse("UTC").is_ok());
        let error = TimeZoneName::parse("Europe/Atlantis").unwrap_err();
        assert_eq!(error.field, "timezone");
        assert!(TimeZoneName::parse("").is_err());
    }

    #[test]
    fn property_limits() {
        let many: BTreeMap<String, String> =
            (0..201).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(Properties::parse(many).unwrap_err().reason.contains("at most 200"));
        let ok: BTreeMap<String, String> =
            (0..200).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(Properties::parse(ok).is_ok());
        let empty_key = BTreeMap::from([(String::new(), "v".to_string())]);
        assert!(Properties::parse(empty_key).unwrap_err().reason.contains("keys must be 1 to 128"));
        let long_key = BTreeMap::from([("k".repeat(129), "v".to_string())]);
        assert!(Properties::parse(long_key).is_err());
        let long_value = BTreeMap::from([("k".to_string(), "v".repeat(4097))]);
        assert_eq!(Properties::parse(long_value).unwrap_err().field, "properties.k");
        let max_value = BTreeMap::from([("k".to_string(), "v".repeat(4096))]);
        assert!(Properties::parse(max_value).is_ok());
        let nul_key = BTreeMap::from([("k\0ey".to_string(), "v".to_string())]);
        assert!(Properties::parse(nul_key).is_ok(), "a key may contain NUL");
        let nul_value = BTreeMap::from([("k".to_string(), "v\0".to_string())]);
        assert!(Properties::parse(nul_value).unwrap_err().reason.contains("NUL"));
    }

    #[test]
    fn ids_and_tenants() {
        assert!(CustomerId::parse("abcd1234").is_ok());
        assert!(CustomerId::parse("").is_err());
        assert!(CustomerId::parse(&"x".repeat(129)).is_err());
        assert!(TenantName::parse("acme").is_ok());
        assert_eq!(TenantName::parse("").unwrap_err().field, "X-Servitly-Tenant");
    }
}
