//! Direct checks for simple `pattern`s in typify's output: a string newtype
//! whose pattern only excludes characters (`^[^\u0000]*$`, "no NUL"), or
//! also requires one character outside a wider set (`^[^A]*[^B][^A]*$`,
//! "not only white space, no NUL"), gets a character test instead of a
//! `regress` regular expression compiled and run on every value (issue 17:
//! the server checks the name and every property value of each request, and
//! again when it builds the response). The rule is the same: the published
//! schema keeps its `pattern`, and any other pattern keeps `regress`.

use proc_macro2::{TokenStream, TokenTree};
use quote::{quote, ToTokens};

/// The characters of a negated class `[^...]`: inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Excluded(Vec<(char, char)>);

impl Excluded {
    fn contains(&self, c: char) -> bool {
        self.0.iter().any(|&(low, high)| low <= c && c <= high)
    }

    /// Whether every character of `self` is in `other`.
    fn within(&self, other: &Excluded) -> bool {
        self.0.iter().all(|&(low, high)| {
            // Ranges are small in the patterns this handles (checked by the caller).
            (low..=high).all(|c| other.contains(c))
        })
    }

    /// `matches!(c, 'a' | 'b'..='c')`.
    fn test(&self) -> TokenStream {
        let arms = self.0.iter().map(
            |&(low, high)| {
                if low == high {
                    quote!(#low)
                } else {
                    quote!(#low..=#high)
                }
            },
        );
        quote!(matches!(c, #(#arms)|*))
    }
}

/// One element of a pattern: a negated class, repeated (`*`) or once.
type Element = (Excluded, bool);

/// `\uXXXX` or a plain character inside a class.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    match chars.next()? {
        '\\' => {
            if chars.next()? != 'u' {
                return None;
            }
            let hex: String = (0..4).map(|_| chars.next()).collect::<Option<_>>()?;
            char::from_u32(u32::from_str_radix(&hex, 16).ok()?)
        }
        '[' | ']' | '-' | '^' => None,
        c => Some(c),
    }
}

/// `^` then negated classes, each optionally followed by `*`, then `$`;
/// `None` for anything else.
fn elements(pattern: &str) -> Option<Vec<Element>> {
    let mut chars = pattern.strip_prefix('^')?.strip_suffix('$')?.chars().peekable();
    let mut elements = Vec::new();
    while chars.peek().is_some() {
        if chars.next()? != '[' || chars.next()? != '^' {
            return None;
        }
        let mut ranges = Vec::new();
        while chars.peek() != Some(&']') {
            let low = class_char(&mut chars)?;
            let high = if chars.peek() == Some(&'-') {
                chars.next();
                class_char(&mut chars)?
            } else {
                low
            };
            // Larger ranges are not worth a direct check (and `within` walks them).
            if high < low || high as u32 - low as u32 > 0x1000 {
                return None;
            }
            ranges.push((low, high));
        }
        chars.next();
        if ranges.is_empty() {
            return None;
        }
        let repeated = chars.peek() == Some(&'*');
        if repeated {
            chars.next();
        }
        elements.push((Excluded(ranges), repeated));
    }
    Some(elements)
}

/// The condition under which `value` matches `pattern`, as a direct test,
/// when the pattern has one of the two shapes this module handles.
pub fn direct_match(pattern: &str) -> Option<TokenStream> {
    match elements(pattern)?.as_slice() {
        // No character of `a`.
        [(a, true)] => {
            let a = a.test();
            Some(quote!(!value.chars().any(|c| #a)))
        }
        // Some character outside `b`, every other outside `a`: with `a`
        // within `b`, that is no character of `a` and one outside `b`.
        [(a, true), (b, false), (a2, true)] if a == a2 && a.within(b) => {
            let (a, b) = (a.test(), b.test());
            Some(quote!(!value.chars().any(|c| #a) && value.chars().any(|c| !#b)))
        }
        _ => None,
    }
}

/// The first string literal in `tokens` (the pattern in typify's
/// `static PATTERN: LazyLock<Regex> = LazyLock::new(|| Regex::new("...").unwrap())`).
fn first_string(tokens: TokenStream) -> Option<String> {
    tokens.into_iter().find_map(|tree| match tree {
        TokenTree::Literal(literal) => {
            syn::parse2::<syn::LitStr>(literal.into_token_stream()).ok().map(|lit| lit.value())
        }
        TokenTree::Group(group) => first_string(group.stream()),
        _ => None,
    })
}

/// Rewrites every `from_str` of `file` whose pattern has a direct test: the
/// `static PATTERN` goes, and `if PATTERN.find(value).is_none()` becomes
/// `if !(direct test)` (the same error message).
pub fn rewrite(file: &mut syn::File) {
    for item in &mut file.items {
        let syn::Item::Impl(item) = item else { continue };
        let is_from_str = item
            .trait_
            .as_ref()
            .is_some_and(|(_, path, _)| path.segments.last().is_some_and(|s| s.ident == "FromStr"));
        if !is_from_str {
            continue;
        }
        for impl_item in &mut item.items {
            if let syn::ImplItem::Fn(function) = impl_item {
                rewrite_block(&mut function.block);
            }
        }
    }
}

fn rewrite_block(block: &mut syn::Block) {
    let Some(position) = block.stmts.iter().position(
        |stmt| matches!(stmt, syn::Stmt::Item(syn::Item::Static(item)) if item.ident == "PATTERN"),
    ) else {
        return;
    };
    let syn::Stmt::Item(syn::Item::Static(pattern)) = &block.stmts[position] else { return };
    let Some(test) = first_string(pattern.expr.to_token_stream()).and_then(|p| direct_match(&p))
    else {
        return;
    };
    let Some(syn::Stmt::Expr(syn::Expr::If(check), _)) = block.stmts.get_mut(position + 1) else {
        return;
    };
    if check.cond.to_token_stream().to_string() != "PATTERN . find (value) . is_none ()" {
        return;
    }
    *check.cond = syn::parse_quote!(!(#test));
    block.stmts.remove(position);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's `name` and property-value patterns.
    const NAME: &str = "^[^\\u0000]*[^\\u0000\\u0009-\\u000d\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff][^\\u0000]*$";
    const NO_NUL: &str = "^[^\\u0000]*$";

    #[test]
    fn the_two_shapes_are_recognised_and_others_are_not() {
        let no_nul = direct_match(NO_NUL).expect("no NUL").to_string();
        assert_eq!(no_nul, "! value . chars () . any (| c | matches ! (c , '\\0'))");
        let name = direct_match(NAME).expect("name").to_string();
        assert!(name.contains("'\\t' ..= '\\r'"), "{name}");
        assert!(
            name.contains(
                "&& value . chars () . any (| c | ! matches ! (c , '\\0' | '\\t' ..= '\\r' | ' '"
            ),
            "{name}"
        );
        for other in ["^[a-z][a-z0-9-]*$", "\\S", "^[A-Z]{2}$", "^#[0-9a-f]{6}$", "[^a]*", "^[^]*$"]
        {
            assert!(direct_match(other).is_none(), "{other}");
        }
        // The required class must contain the excluded one.
        assert!(direct_match("^[^a]*[^b][^a]*$").is_none());
    }

    #[test]
    fn a_from_str_loses_its_regex_and_keeps_its_error() {
        let mut file: syn::File = syn::parse_quote! {
            impl ::std::str::FromStr for Name {
                type Err = self::error::ConversionError;
                fn from_str(value: &str) -> ::std::result::Result<Self, self::error::ConversionError> {
                    static PATTERN: ::std::sync::LazyLock<::regress::Regex> =
                        ::std::sync::LazyLock::new(|| { ::regress::Regex::new(#NO_NUL).unwrap() });
                    if PATTERN.find(value).is_none() {
                        return Err("doesn't match pattern".into());
                    }
                    Ok(Self(value.to_string()))
                }
            }
        };
        rewrite(&mut file);
        let text = file.to_token_stream().to_string();
        assert!(!text.contains("regress"), "{text}");
        assert!(text.contains("if ! (! value . chars () . any"), "{text}");
        assert!(text.contains("doesn't match pattern"), "{text}");
    }
}
