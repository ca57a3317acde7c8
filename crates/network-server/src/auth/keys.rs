//! Loading verification keys (PEM public keys, JWKS files, HS256 secrets),
//! each bound to the one algorithm its key type allows, and checked at load
//! time so a bad key stops the start instead of failing every request.

use std::path::Path;

use aws_lc_rs::signature::{ParsedPublicKey, RsaParameters, ECDSA_P256_SHA256_FIXED, ED25519};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::{AuthConfigError, KeySource, MIN_HMAC_SECRET_BYTES};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32-byte key follows.
pub(super) const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
/// DER prefix of an EC P-256 SubjectPublicKeyInfo (RFC 5480, named curve,
/// uncompressed point); the 65-byte point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// DER of the id-ecPublicKey OID (1.2.840.10045.2.1), to name EC keys on other curves.
const EC_PUBLIC_KEY_OID: [u8; 9] = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// The RSA sizes aws-lc verifies (`RSA_PKCS1_2048_8192_SHA256`).
const RSA_BITS: std::ops::RangeInclusive<u32> = 2048..=8192;

/// A loaded key: its one algorithm, its optional `kid`, and where it came from.
pub(super) struct VerifyingKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
    /// For messages: the file (and JWKS entry), or "HS256 secret".
    pub origin: String,
}

/// The algorithms this server accepts at all; anything else (`none`, HS512, PS256...) is refused.
pub(super) fn supported_algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "EdDSA" => Some(Algorithm::EdDSA),
        "RS256" => Some(Algorithm::RS256),
        "ES256" => Some(Algorithm::ES256),
        "HS256" => Some(Algorithm::HS256),
        _ => None,
    }
}

pub(super) fn load(source: &KeySource) -> Result<Vec<VerifyingKey>, AuthConfigError> {
    match source {
        KeySource::PublicKeyPem { path, kid } => Ok(vec![load_public_pem(path, kid.clone())?]),
        KeySource::Jwks { path } => parse_jwks(&read(path)?, &path.display().to_string(), true),
        // Fetched at run time (`remote`), not at start.
        KeySource::JwksUrl { .. } | KeySource::OidcIssuer { .. } => Ok(Vec::new()),
        KeySource::HmacSecret { secret, kid } => {
            let origin = match kid {
                Some(kid) => format!("HS256 secret `{kid}`"),
                None => "HS256 secret".to_string(),
            };
            check_hmac_secret(&origin, secret)?;
            Ok(vec![VerifyingKey {
                kid: kid.clone(),
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(secret),
                origin,
            }])
        }
    }
}

pub(super) fn check_hmac_secret(origin: &str, secret: &[u8]) -> Result<(), AuthConfigError> {
    if secret.len() < MIN_HMAC_SECRET_BYTES {
        return Err(invalid(
            origin,
            format!(
                "an HS256 secret must be at least {MIN_HMAC_SECRET_BYTES} bytes (got {})",
                secret.len()
            ),
        ));
    }
    Ok(())
}

fn invalid(origin: &str, reason: impl Into<String>) -> AuthConfigError {
    AuthConfigError::InvalidKey { origin: origin.to_string(), reason: reason.into() }
}

pub(super) fn read(path: &Path) -> Result<Vec<u8>, AuthConfigError> {
    std::fs::read(path).map_err(|source| AuthConfigError::Read { path: path.to_path_buf(), source })
}

/// The one key block of a PEM file (`EC PARAMETERS` blocks, as `openssl ecparam` writes, are skipped).
pub(super) fn single_pem_block(origin: &str, bytes: &[u8]) -> Result<pem::Pem, AuthConfigError> {
    let blocks = pem::parse_many(bytes)
        .map_err(|error| invalid(origin, format!("not a PEM file ({error})")))?;
    let mut keys = blocks.into_iter().filter(|block| block.tag() != "EC PARAMETERS");
    match (keys.next(), keys.next()) {
        (Some(block), None) => Ok(block),
        (None, _) => Err(invalid(origin, "contains no PEM block")),
        (Some(_), Some(_)) => {
            Err(invalid(origin, "contains more than one key; use one file per key"))
        }
    }
}

fn load_public_pem(path: &Path, kid: Option<String>) -> Result<VerifyingKey, AuthConfigError> {
    let origin = path.display().to_string();
    let block = single_pem_block(&origin, &read(path)?)?;
    match block.tag() {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {}
        "PRIVATE KEY"
        | "RSA PRIVATE KEY"
        | "EC PRIVATE KEY"
        | "ENCRYPTED PRIVATE KEY"
        | "OPENSSH PRIVATE KEY" => {
            return Err(invalid(
                &origin,
                "is a private key; configure its public key (openssl pkey -in KEY -pubout)",
            ))
        }
        "CERTIFICATE" => {
            return Err(invalid(
                &origin,
                "is a certificate; configure its public key (openssl x509 -in CERT -pubkey -noout)",
            ))
        }
        other => {
            return Err(invalid(
                &origin,
                format!("unexpected PEM block `{other}`, expected PUBLIC KEY"),
            ))
        }
    }
    // jsonwebtoken reads PEM text: hand it exactly this block.
    let text = pem::encode(&block);
    let der = block.contents();
    let rejected = |what: &str| invalid(&origin, format!("not a valid {what} public key"));
    let (algorithm, key) = if block.tag() == "PUBLIC KEY"
        && der.len() == ED25519_SPKI_PREFIX.len() + 32
        && der.starts_with(&ED25519_SPKI_PREFIX)
    {
        ParsedPublicKey::new(&ED25519, &der[ED25519_SPKI_PREFIX.len()..])
            .map_err(|_| rejected("Ed25519"))?;
        let key = DecodingKey::from_ed_pem(text.as_bytes()).map_err(|_| rejected("Ed25519"))?;
        (Algorithm::EdDSA, key)
    } else if block.tag() == "PUBLIC KEY"
        && der.len() == P256_SPKI_PREFIX.len() + 65
        && der.starts_with(&P256_SPKI_PREFIX)
    {
        ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &der[P256_SPKI_PREFIX.len()..])
            .map_err(|_| rejected("EC P-256"))?;
        let key = DecodingKey::from_ec_pem(text.as_bytes()).map_err(|_| rejected("EC P-256"))?;
        (Algorithm::ES256, key)
    } else if der.windows(EC_PUBLIC_KEY_OID.len()).any(|window| window == EC_PUBLIC_KEY_OID) {
        return Err(invalid(
            &origin,
            "is an EC key on a curve other than P-256 (supported: Ed25519, RSA, EC P-256)",
        ));
    } else {
        let key = DecodingKey::from_rsa_pem(text.as_bytes()).map_err(|_| {
            invalid(
                &origin,
                "unsupported or malformed public key (supported: Ed25519, RSA, EC P-256)",
            )
        })?;
        let pkcs1 = key.try_get_as_bytes().map_err(|_| rejected("RSA"))?;
        let bits = RsaParameters::public_modulus_len(pkcs1).map_err(|_| rejected("RSA"))?;
        check_rsa_bits(&origin, bits)?;
        (Algorithm::RS256, key)
    };
    Ok(VerifyingKey { kid, algorithm, key, origin })
}

pub(super) fn check_rsa_bits(origin: &str, bits: u32) -> Result<(), AuthConfigError> {
    if !RSA_BITS.contains(&bits) {
        return Err(invalid(
            origin,
            format!(
                "RSA keys must be {} to {} bits (got {bits})",
                RSA_BITS.start(),
                RSA_BITS.end()
            ),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<JwkEntry>,
}

/// One JWK (RFC 7517), only the members we use; read loosely so errors name the member.
#[derive(Deserialize)]
struct JwkEntry {
    kty: Option<String>,
    crv: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    k: Option<String>,
}

/// The signature keys of a JWKS document. `strict`: a key we cannot use is
/// an error (a file the operator wrote); otherwise it is skipped (an identity
/// provider's set may hold keys of algorithms we do not accept).
pub(super) fn parse_jwks(
    bytes: &[u8],
    file: &str,
    strict: bool,
) -> Result<Vec<VerifyingKey>, AuthConfigError> {
    let set: JwkSet = serde_json::from_slice(bytes)
        .map_err(|error| invalid(file, format!("not a JWKS document ({error})")))?;
    let mut loaded = Vec::new();
    for (index, entry) in set.keys.iter().enumerate() {
        // Encryption keys are not for us; everything else must be usable.
        if entry.usage.as_deref() == Some("enc") {
            continue;
        }
        let origin = match &entry.kid {
            Some(kid) => format!("{file} (key #{index}, kid `{kid}`)"),
            None => format!("{file} (key #{index})"),
        };
        match load_jwk(entry, origin) {
            Ok(key) => loaded.push(key),
            Err(error) if strict => return Err(error),
            Err(_) => {}
        }
    }
    if loaded.is_empty() {
        return Err(invalid(file, "contains no signature key"));
    }
    Ok(loaded)
}

fn load_jwk(entry: &JwkEntry, origin: String) -> Result<VerifyingKey, AuthConfigError> {
    let member = |name: &str, value: &Option<String>| -> Result<Vec<u8>, AuthConfigError> {
        let value =
            value.as_deref().ok_or_else(|| invalid(&origin, format!("missing member `{name}`")))?;
        URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| invalid(&origin, format!("member `{name}` is not unpadded base64url")))
    };
    let expect_alg = |expected: &str| -> Result<(), AuthConfigError> {
        match entry.alg.as_deref() {
            None => Ok(()),
            Some(alg) if alg == expected => Ok(()),
            Some(alg) => Err(invalid(
                &origin,
                format!(
                    "`alg` {alg} is not supported for this key type (expected {expected}; \
                     supported: EdDSA, RS256, ES256, HS256)"
                ),
            )),
        }
    };
    let (algorithm, key) = match (entry.kty.as_deref(), entry.crv.as_deref()) {
        (Some("OKP"), Some("Ed25519")) => {
            expect_alg("EdDSA")?;
            let x = member("x", &entry.x)?;
            ParsedPublicKey::new(&ED25519, &x)
                .map_err(|_| invalid(&origin, "not a valid Ed25519 public key"))?;
            (Algorithm::EdDSA, DecodingKey::from_ed_der(&x))
        }
        (Some("EC"), Some("P-256")) => {
            expect_alg("ES256")?;
            let (x, y) = (member("x", &entry.x)?, member("y", &entry.y)?);
            if x.len() != 32 || y.len() != 32 {
                return Err(invalid(&origin, "P-256 coordinates must be 32 bytes each"));
            }
            let point = [&[0x04][..], &x, &y].concat();
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
                .map_err(|_| invalid(&origin, "not a valid EC P-256 public key"))?;
            (Algorithm::ES256, DecodingKey::from_ec_der(&point))
        }
        (Some("RSA"), _) => {
            expect_alg("RS256")?;
            let (n, e) = (member("n", &entry.n)?, member("e", &entry.e)?);
            let significant = n.iter().skip_while(|byte| **byte == 0).count();
            let bits = match n.get(n.len() - significant) {
                Some(first) => (significant as u32 - 1) * 8 + (8 - first.leading_zeros()),
                None => 0,
            };
            check_rsa_bits(&origin, bits)?;
            if e.iter().all(|byte| *byte == 0) {
                return Err(invalid(&origin, "RSA exponent `e` must not be zero"));
            }
            (Algorithm::RS256, DecodingKey::from_rsa_raw_components(&n, &e))
        }
        (Some("oct"), _) => {
            expect_alg("HS256")?;
            let secret = member("k", &entry.k)?;
            check_hmac_secret(&origin, &secret)?;
            (Algorithm::HS256, DecodingKey::from_secret(&secret))
        }
        (Some(kty), crv) => {
            let curve = crv.map(|crv| format!(" on curve {crv}")).unwrap_or_default();
            return Err(invalid(
                &origin,
                format!(
                    "unsupported key type {kty}{curve} (supported: OKP Ed25519, EC P-256, RSA, oct)"
                ),
            ));
        }
        (None, _) => return Err(invalid(&origin, "missing member `kty`")),
    };
    Ok(VerifyingKey { kid: entry.kid.clone(), algorithm, key, origin })
}
