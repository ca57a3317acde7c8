//! Token forging shared by the unit tests of `auth` (`src/auth/tests.rs`)
//! and the attacks over HTTP (`tests/it/jwt_attacks.rs`), included by both
//! with `#[path]`: claims edited as JSON, tokens signed by jsonwebtoken or
//! assembled by hand (what jsonwebtoken refuses to produce). External crates only.

#![allow(dead_code)] // each includer uses its own part

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `claims` with `name` set to `value`.
pub fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

/// `claims` without `name`.
pub fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().expect("claims are an object").remove(name);
    claims
}

/// Signed by jsonwebtoken with `key`, the header naming `algorithm` and `kid`.
pub fn sign(algorithm: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).expect("jsonwebtoken signs")
}

/// A token built by hand: any header, any claims, the signature as given.
pub fn forged(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// HS256 over `header.payload` with `secret`, by hand (any header).
pub fn hs256_signed(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let signing_input = forged(header, claims, "");
    let signing_input = signing_input.trim_end_matches('.');
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64(tag.as_ref()))
}

/// `token` with its payload replaced, header and signature kept.
pub fn with_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", parts[0], b64(claims.to_string().as_bytes()), parts[2])
}
