//! The generated types check the spec's simple `pattern`s directly instead of
//! with a regular expression (see `xtask/src/direct_pattern.rs`): this test
//! holds them to the regular expression itself, `regress` (what typify
//! would have used), on the characters the patterns name and around them.

use std::str::FromStr;

use network_api::types::{CustomerDetailsName, CustomerName, PropertiesValue};

/// The spec's patterns, read from the contract itself.
fn pattern(pointer: &str) -> regress::Regex {
    let spec: serde_json::Value =
        serde_json::from_str(include_str!("../../../openapi/network.json")).expect("the spec");
    let pattern = spec.pointer(pointer).and_then(|p| p.as_str()).expect("a pattern");
    regress::Regex::new(pattern).expect("a valid pattern")
}

/// Strings of one, two and three characters from the patterns' edges.
fn samples() -> Vec<String> {
    let singles: Vec<char> = [
        '\0',
        '\u{1}',
        '\u{8}',
        '\t',
        '\n',
        '\u{b}',
        '\u{c}',
        '\r',
        '\u{e}',
        ' ',
        '!',
        'a',
        'Z',
        '\u{85}',
        '\u{a0}',
        '\u{a1}',
        '\u{1680}',
        '\u{1fff}',
        '\u{2000}',
        '\u{2005}',
        '\u{200a}',
        '\u{200b}',
        '\u{2028}',
        '\u{2029}',
        '\u{202f}',
        '\u{205f}',
        '\u{3000}',
        '\u{feff}',
        'é',
        '\u{1f600}',
    ]
    .into();
    let mut samples = Vec::new();
    for &a in &singles {
        samples.push(a.to_string());
        for &b in &singles {
            samples.push(format!("{a}{b}"));
            samples.push(format!("{a} {b}"));
        }
    }
    samples
}

fn agree<T: FromStr>(regex: &regress::Regex, what: &str) {
    let mut checked = 0;
    for sample in samples() {
        let expected = regex.find(&sample).is_some();
        assert_eq!(T::from_str(&sample).is_ok(), expected, "{what} for {sample:?}");
        checked += 1;
    }
    assert!(checked > 1_000);
}

#[test]
fn the_name_types_accept_what_the_name_pattern_matches() {
    let regex = pattern("/components/schemas/Customer/properties/name/pattern");
    agree::<CustomerName>(&regex, "CustomerName");
    let regex = pattern("/components/schemas/CustomerDetails/properties/name/pattern");
    agree::<CustomerDetailsName>(&regex, "CustomerDetailsName");
}

#[test]
fn property_values_accept_what_the_no_nul_pattern_matches() {
    let regex = pattern("/components/schemas/Properties/additionalProperties/pattern");
    agree::<PropertiesValue>(&regex, "PropertiesValue");
}
