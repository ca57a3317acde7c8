//! Minting tokens (for `network-server token` and the dev mode) and the
//! development signing key kept in the data directory.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use super::keys::{self, ED25519_SPKI_PREFIX};
use super::{AuthConfigError, MAX_TOKEN_BYTES};

/// The dev private key (PKCS#8 PEM, mode 0600) inside the data directory.
pub const DEV_PRIVATE_KEY_FILE: &str = "dev-signing-key.pem";
/// The dev public key (SPKI PEM) inside the data directory.
pub const DEV_PUBLIC_KEY_FILE: &str = "dev-signing-key.pub.pem";

/// The claims of a minted token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub sub: String,
    pub tenant: String,
    pub permissions: Vec<String>,
    #[serde(rename = "customerId", default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    pub iss: String,
    pub aud: String,
    /// Seconds since the Unix epoch.
    pub iat: i64,
    /// Seconds since the Unix epoch.
    pub exp: i64,
    /// Seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("cannot mint a token: {0}")]
    InvalidClaims(&'static str),
    #[error("cannot mint a token: it would be {0} bytes, over the {MAX_TOKEN_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("cannot mint a token: signing failed ({0})")]
    Signing(String),
}

/// A private key (or HS256 secret) with its one algorithm and optional `kid`.
pub struct Signer {
    algorithm: Algorithm,
    key: EncodingKey,
    kid: Option<String>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A PEM private key: PKCS#8 (`PRIVATE KEY`) Ed25519 → EdDSA, RSA → RS256,
    /// EC P-256 → ES256, or PKCS#1 (`RSA PRIVATE KEY`) → RS256.
    pub fn from_private_pem(pem: &[u8], kid: Option<String>) -> Result<Signer, AuthConfigError> {
        Signer::from_pem_with_origin(pem, kid, "private key")
    }

    /// [`Signer::from_private_pem`] reading a file, whose path errors then name.
    pub fn from_private_pem_file(
        path: &Path,
        kid: Option<String>,
    ) -> Result<Signer, AuthConfigError> {
        Signer::from_pem_with_origin(&keys::read(path)?, kid, &path.display().to_string())
    }

    /// An HS256 secret of at least 32 bytes.
    pub fn hs256(secret: Vec<u8>, kid: Option<String>) -> Result<Signer, AuthConfigError> {
        keys::check_hmac_secret("HS256 secret", &secret)?;
        Ok(Signer { algorithm: Algorithm::HS256, key: EncodingKey::from_secret(&secret), kid })
    }

    fn from_pem_with_origin(
        pem: &[u8],
        kid: Option<String>,
        origin: &str,
    ) -> Result<Signer, AuthConfigError> {
        let invalid = |reason: &str| AuthConfigError::InvalidKey {
            origin: origin.to_string(),
            reason: reason.to_string(),
        };
        let block = keys::single_pem_block(origin, pem)?;
        // jsonwebtoken reads PEM text: hand it exactly this block.
        let text = pem::encode(&block);
        let der = block.contents();
        let (algorithm, key) = match block.tag() {
            "PRIVATE KEY" => {
                if Ed25519KeyPair::from_pkcs8(der).is_ok() {
                    (Algorithm::EdDSA, EncodingKey::from_ed_pem(text.as_bytes()))
                } else if EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).is_ok() {
                    (Algorithm::ES256, EncodingKey::from_ec_pem(text.as_bytes()))
                } else if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
                    keys::check_rsa_bits(origin, pair.public_modulus_len() as u32 * 8)?;
                    (Algorithm::RS256, EncodingKey::from_rsa_pem(text.as_bytes()))
                } else {
                    return Err(invalid(
                        "unsupported or malformed private key (supported: Ed25519, RSA, EC P-256)",
                    ));
                }
            }
            "RSA PRIVATE KEY" => {
                let pair = RsaKeyPair::from_der(der)
                    .map_err(|_| invalid("not a valid PKCS#1 RSA private key"))?;
                keys::check_rsa_bits(origin, pair.public_modulus_len() as u32 * 8)?;
                (Algorithm::RS256, EncodingKey::from_rsa_pem(text.as_bytes()))
            }
            "EC PRIVATE KEY" => {
                return Err(invalid(
                    "SEC1 EC keys are not supported; convert to PKCS#8 \
                     (openssl pkcs8 -topk8 -nocrypt -in KEY)",
                ))
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(invalid("encrypted private keys are not supported"));
            }
            "PUBLIC KEY" | "RSA PUBLIC KEY" => {
                return Err(invalid("is a public key; minting needs the private key"));
            }
            _ => return Err(invalid("unexpected PEM block, expected PRIVATE KEY")),
        };
        let key = key.map_err(|_| invalid("jsonwebtoken cannot use this private key"))?;
        let signer = Signer { algorithm, key, kid };
        // Sign once now so an unusable key fails at start, not at the first mint.
        jsonwebtoken::crypto::sign(b"probe", &signer.key, algorithm)
            .map_err(|_| invalid("cannot sign with this private key"))?;
        Ok(signer)
    }

    /// The JWS algorithm name (`EdDSA`, `RS256`, `ES256`, `HS256`).
    pub fn algorithm(&self) -> &'static str {
        match self.algorithm {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            _ => "HS256",
        }
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Signs the claims; refuses claims this server would not accept anyway.
    pub fn mint(&self, claims: &TokenClaims) -> Result<String, MintError> {
        let required = [
            (&claims.sub, "`sub` must not be empty"),
            (&claims.tenant, "`tenant` must not be empty"),
            (&claims.iss, "`iss` must not be empty"),
            (&claims.aud, "`aud` must not be empty"),
        ];
        if let Some((_, problem)) = required.iter().find(|(value, _)| value.trim().is_empty()) {
            return Err(MintError::InvalidClaims(problem));
        }
        if claims.exp <= claims.iat {
            return Err(MintError::InvalidClaims("`exp` must be after `iat`"));
        }
        let mut header = Header::new(self.algorithm);
        header.kid = self.kid.clone();
        let token = jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|error| MintError::Signing(error.to_string()))?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(MintError::TooLarge(token.len()));
        }
        Ok(token)
    }
}

/// The development key pair kept in the data directory.
#[derive(Debug)]
pub struct DevKey {
    pub signer: Signer,
    /// The SPKI PEM public key, to configure as a [`super::KeySource::PublicKeyPem`] (no kid).
    pub public_key_path: PathBuf,
}

/// Creates (if absent) or reuses the Ed25519 dev key pair in `data_dir`:
/// [`DEV_PRIVATE_KEY_FILE`] (PKCS#8, mode 0600) and [`DEV_PUBLIC_KEY_FILE`] (SPKI,
/// rewritten from the private key whenever it is missing or differs).
pub fn ensure_dev_key(data_dir: &Path) -> Result<DevKey, AuthConfigError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AuthConfigError::Write { path, source }
    };
    std::fs::create_dir_all(data_dir).map_err(write_error(data_dir))?;
    let private_path = data_dir.join(DEV_PRIVATE_KEY_FILE);
    let public_path = data_dir.join(DEV_PUBLIC_KEY_FILE);
    let origin = private_path.display().to_string();
    let invalid = |reason: &str| AuthConfigError::InvalidKey {
        origin: origin.clone(),
        reason: format!("{reason}; delete it to generate a new dev key"),
    };

    let private_pem = match std::fs::read(&private_path) {
        Ok(bytes) => {
            restrict_permissions(&private_path)?;
            bytes
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            // PKCS#8 v1, as `openssl genpkey -algorithm ed25519` writes: the most widely read form.
            let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
                .map_err(|_| invalid("cannot generate an Ed25519 key"))?;
            let text = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
            write_private(&private_path, text.as_bytes()).map_err(write_error(&private_path))?;
            text.into_bytes()
        }
        Err(source) => return Err(AuthConfigError::Read { path: private_path, source }),
    };

    let block = keys::single_pem_block(&origin, &private_pem)
        .map_err(|_| invalid("is not a PEM file with one key"))?;
    if block.tag() != "PRIVATE KEY" {
        return Err(invalid("is not a PKCS#8 PRIVATE KEY"));
    }
    let pair = Ed25519KeyPair::from_pkcs8(block.contents())
        .map_err(|_| invalid("is not an Ed25519 private key"))?;
    let spki = [&ED25519_SPKI_PREFIX[..], pair.public_key().as_ref()].concat();
    let public_pem = pem::encode(&pem::Pem::new("PUBLIC KEY", spki));
    if std::fs::read(&public_path).ok().as_deref() != Some(public_pem.as_bytes()) {
        std::fs::write(&public_path, &public_pem).map_err(write_error(&public_path))?;
    }
    let signer = Signer::from_pem_with_origin(&private_pem, None, &origin)?;
    Ok(DevKey { signer, public_key_path: public_path })
}

/// Creates the private key file, readable by its owner only, refusing to overwrite.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Narrows an existing private key file to mode 0600 if it is readable by others.
fn restrict_permissions(path: &Path) -> Result<(), AuthConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let write_error = |source| AuthConfigError::Write { path: path.to_path_buf(), source };
        let mode = std::fs::metadata(path).map_err(write_error)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(write_error)?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
