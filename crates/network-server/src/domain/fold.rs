//! The folded form of a customer name, what `searchText` compares: Unicode
//! full case folding (`CaseFolding.txt`, status C and F: `École` → `école`,
//! `STRASSE` and `Straße` → `strasse`, `ΣΊΣΥΦΟΣ` → `σίσυφοσ`) of the name's
//! canonical decomposition, recomposed (NFC), so that canonically equivalent
//! spellings (`é` as one code point or as `e` + U+0301) fold alike.
//!
//! It is computed here, in Rust, on every write and for every search, and
//! stored next to the name (`name_folded`): SQLite cannot fold beyond ASCII
//! and PostgreSQL's `lower()` depends on the database's locale, so neither
//! database folds; both only compare the strings this module made, and give
//! the same answers.

use unicode_normalization::UnicodeNormalization;

/// The folded form of `text` (see the module documentation).
pub fn fold(text: &str) -> String {
    let decomposed: String = text.nfd().collect();
    caseless::default_case_fold_str(&decomposed).nfc().collect()
}

/// The smallest string greater than every string that starts with `prefix`
/// (in code point order, which is the byte order of UTF-8 and of both
/// stores' binary collation), or `None` when there is none (a prefix made
/// only of U+10FFFF). `prefix <= s < upper` is then an index range holding
/// exactly the strings that start with `prefix`.
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            other => char::from_u32(u32::from(other) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_beyond_ascii() {
        assert_eq!(fold("École"), "école");
        assert_eq!(fold("ACME Inc."), "acme inc.");
        assert_eq!(fold("Straße"), fold("STRASSE"));
        assert_eq!(fold("ΣΊΣΥΦΟΣ"), fold("σίσυφος"));
        assert_eq!(fold("E\u{301}cole"), fold("École"), "canonically equivalent spellings");
        assert_eq!(fold("%_\\*"), "%_\\*", "no wildcard or escape is special here");
    }

    #[test]
    fn prefix_bounds_hold_exactly_the_prefixed_strings() {
        assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_upper_bound("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        let upper = prefix_upper_bound("éc").unwrap();
        for inside in ["éc", "école", "éc\u{10FFFF}x"] {
            assert!(inside >= "éc" && inside < upper.as_str(), "{inside}");
        }
        for outside in ["éb", "éd", "e", "ed"] {
            assert!(!(outside >= "éc" && outside < upper.as_str()), "{outside}");
        }
    }
}
