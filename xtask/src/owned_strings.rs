//! String newtypes that keep the `String` they are given, in typify's
//! output. typify checks a constrained string (lengths, pattern) in its
//! `from_str` and then copies it (`Self(value.to_string())`), and both its
//! `TryFrom<String>` and its `Deserialize` go through `from_str`: every such
//! value of a request body was allocated twice (the deserialized `String`,
//! then the copy), and every value turned into one from an owned `String`
//! too (issue 17: the name and each property value of every request and
//! response). This pass moves the checks into `TryFrom<String>`, which then
//! keeps the string; `from_str` copies the `&str` once and calls it, and
//! `Deserialize` calls it with the deserialized string. The checks, their
//! errors and the published schema do not change.

use quote::ToTokens;

/// `TryFrom<String>` as [`trait_text`] shows it.
const TRY_FROM_STRING: &str = "TryFrom < :: std :: string :: String >";

/// The checks of a `from_str` ending in `Ok(Self(value.to_string()))`: its
/// statements before that one.
fn checks_of(function: &syn::ImplItemFn) -> Option<Vec<syn::Stmt>> {
    let (last, checks) = function.block.stmts.split_last()?;
    let copy = last.to_token_stream().to_string();
    (copy == "Ok (Self (value . to_string ()))").then(|| checks.to_vec())
}

/// The type an impl is for, by its last path segment (`CustomerName`).
fn self_name(item: &syn::ItemImpl) -> Option<String> {
    match &*item.self_ty {
        syn::Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// The trait an impl implements, as its last segment's text with generics
/// (`FromStr`, `TryFrom < :: std :: string :: String >`, `Deserialize < 'de >`).
fn trait_text(item: &syn::ItemImpl) -> Option<String> {
    let (_, path, _) = item.trait_.as_ref()?;
    path.segments.last().map(|segment| segment.to_token_stream().to_string())
}

fn only_fn(item: &mut syn::ItemImpl) -> Option<&mut syn::ImplItemFn> {
    item.items.iter_mut().find_map(|item| match item {
        syn::ImplItem::Fn(function) => Some(function),
        _ => None,
    })
}

/// Rewrites the `TryFrom<String>` and `Deserialize` impls of every string
/// newtype of `file` whose `from_str` checks, then copies.
pub fn rewrite(file: &mut syn::File) {
    // The types whose `from_str` checks then copies AND whose
    // `TryFrom<String>` only calls it: only these are rewritten (a
    // `from_str` calling a `TryFrom<String>` left calling `from_str` would
    // recurse forever).
    let mut checks = std::collections::HashMap::new();
    let mut delegating = std::collections::HashSet::new();
    for item in &file.items {
        let syn::Item::Impl(item) = item else { continue };
        let (Some(name), Some(implemented)) = (self_name(item), trait_text(item)) else { continue };
        let function = item.items.iter().find_map(|item| match item {
            syn::ImplItem::Fn(function) => Some(function),
            _ => None,
        });
        let Some(function) = function else { continue };
        if implemented == "FromStr" {
            if let Some(found) = checks_of(function) {
                checks.insert(name, found);
            }
        } else if implemented == TRY_FROM_STRING
            && function.block.to_token_stream().to_string() == "{ value . parse () }"
        {
            delegating.insert(name);
        }
    }
    checks.retain(|name, _| delegating.contains(name));
    for item in &mut file.items {
        let syn::Item::Impl(item) = item else { continue };
        let (Some(name), Some(implemented)) = (self_name(item), trait_text(item)) else { continue };
        let Some(checks) = checks.get(&name) else { continue };
        let Some(function) = only_fn(item) else { continue };
        let body = function.block.to_token_stream().to_string();
        if implemented == "FromStr" {
            function.block = syn::parse_quote!({ Self::try_from(value.to_string()) });
        } else if implemented == TRY_FROM_STRING {
            function.block = syn::parse_quote!({
                {
                    let value: &str = &value;
                    #(#checks)*
                }
                Ok(Self(value))
            });
        } else if implemented == "Deserialize < 'de >"
            && body.starts_with(
                "{ :: std :: string :: String :: deserialize (deserializer) ? . parse () . map_err",
            )
        {
            function.block = syn::parse_quote!({
                Self::try_from(::std::string::String::deserialize(deserializer)?).map_err(
                    |e: self::error::ConversionError| {
                        <D::Error as ::serde::de::Error>::custom(e.to_string())
                    },
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checked_string_is_kept_not_copied() {
        let mut file: syn::File = syn::parse_quote! {
            impl ::std::str::FromStr for Name {
                type Err = self::error::ConversionError;
                fn from_str(value: &str) -> ::std::result::Result<Self, self::error::ConversionError> {
                    if value.chars().count() > 255usize {
                        return Err("longer than 255 characters".into());
                    }
                    Ok(Self(value.to_string()))
                }
            }
            impl ::std::convert::TryFrom<::std::string::String> for Name {
                type Error = self::error::ConversionError;
                fn try_from(value: ::std::string::String) -> ::std::result::Result<Self, self::error::ConversionError> {
                    value.parse()
                }
            }
            impl<'de> ::serde::Deserialize<'de> for Name {
                fn deserialize<D>(deserializer: D) -> ::std::result::Result<Self, D::Error>
                where
                    D: ::serde::Deserializer<'de>,
                {
                    ::std::string::String::deserialize(deserializer)?
                        .parse()
                        .map_err(|e: self::error::ConversionError| {
                            <D::Error as ::serde::de::Error>::custom(e.to_string())
                        })
                }
            }
            impl ::std::str::FromStr for Lone {
                type Err = self::error::ConversionError;
                fn from_str(value: &str) -> ::std::result::Result<Self, self::error::ConversionError> {
                    if value.is_empty() {
                        return Err("empty".into());
                    }
                    Ok(Self(value.to_string()))
                }
            }
            impl ::std::convert::TryFrom<::std::string::String> for Other {
                type Error = self::error::ConversionError;
                fn try_from(value: ::std::string::String) -> ::std::result::Result<Self, self::error::ConversionError> {
                    value.parse()
                }
            }
        };
        rewrite(&mut file);
        let text = file.to_token_stream().to_string();
        // The checks run on the string, which is then kept; the error is the same.
        assert!(
            text.contains(
                "{ { let value : & str = & value ; if value . chars () . count () > 255usize"
            ),
            "{text}"
        );
        assert!(text.contains("Ok (Self (value)) }"), "{text}");
        assert!(text.contains("Self :: try_from (:: std :: string :: String :: deserialize"));
        // from_str has only a borrowed string: it copies it once, then checks.
        assert!(text.contains("{ Self :: try_from (value . to_string ()) }"), "{text}");
        assert_eq!(text.matches("255usize").count(), 1, "the checks are written once: {text}");
        // A type whose from_str this pass did not see is left alone, and so
        // is a from_str without a TryFrom<String> calling it.
        assert_eq!(text.matches("value . parse ()").count(), 1, "{text}");
        assert!(text.contains("Err (\"empty\" . into ()) ; } Ok (Self (value . to_string ()))"));
    }
}
