//! Bearer JWT authentication: this server is an OAuth2-style resource server
//! that verifies tokens issued elsewhere, and mints tokens for development.
//!
//! Keys and algorithms (RFC 8725). Every configured key is bound to exactly
//! one algorithm, inferred from the key itself: Ed25519 → `EdDSA`, RSA →
//! `RS256`, EC P-256 → `ES256`, an HMAC secret (at least 32 bytes) → `HS256`.
//! A token whose header `alg` differs from its key's algorithm is rejected, so
//! `alg: none` and "HS256 signed with the RSA/Ed25519 public key" both fail.
//! A token with a `kid` is checked against the key with that kid only; if no
//! key has it, against the keys configured without a kid (an IdP's key given
//! as a PEM file, whose tokens carry the IdP's kid), and if there are none of
//! those for its `alg`, it is refused as an unknown kid. A token without a
//! `kid` is checked against the keys whose algorithm equals its `alg`. The
//! kid is only a hint: a token is accepted only with a valid signature by a
//! configured key of its `alg`. Header members that point at other keys (`jwk`, `jku`, `x5u`, `x5c`)
//! are never used, and any `crit` header is refused (we implement no JWS
//! extension). Tokens over [`MAX_TOKEN_BYTES`] are rejected before parsing.
//!
//! Claims: `iss`, `aud` and `exp` are required and checked (`nbf` too when
//! present, all with the configured leeway); `sub` and `tenant` must be
//! non-empty strings, `permissions` an array of strings (unknown permissions
//! are ignored), `customerId` (optional) a non-empty string.
//!
//! Verification cache. Checking a signature on every request is the expensive
//! part, so successfully verified tokens are cached, keyed by the SHA-256 of
//! the token string (the token itself is never stored), with the resulting
//! [`Principal`]. This is safe because a token's claims are immutable once its
//! signature is verified, and the key set is fixed for the life of an
//! [`Authenticator`]: revoking a signing key means restarting with the new
//! key set, which starts with an empty cache. A cache hit still checks `exp`
//! (plus leeway) against the current time, so an expired token is never
//! accepted from the cache. Failed verifications are never cached. The cache
//! holds at most [`TOKEN_CACHE_CAPACITY`] entries; when full, expired entries
//! go first, then arbitrary ones until it is half full, so memory stays
//! bounded under many distinct tokens and the sweep is amortised.

mod cache;
mod keys;
pub mod remote;
mod signer;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Validation;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use cache::TokenCache;
use keys::VerifyingKey;
pub use signer::{
    ensure_dev_key, DevKey, MintError, Signer, TokenClaims, DEV_PRIVATE_KEY_FILE,
    DEV_PUBLIC_KEY_FILE,
};

/// Tokens (the part after `Bearer `) longer than this are rejected unparsed.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// At most this many verified tokens are remembered.
pub const TOKEN_CACHE_CAPACITY: usize = 10_000;
/// The largest clock-skew leeway accepted (more would make `exp` meaningless).
pub const MAX_LEEWAY_SECONDS: u64 = 3600;
/// HMAC secrets shorter than this are refused (RFC 7518 §3.2: at least the hash size).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

/// What a token may do; the strings are the platform's permission names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    ReadCustomer,
    WriteCustomer,
    DeleteCustomer,
    ReadAllCustomers,
}

impl Permission {
    pub const ALL: [Permission; 4] = [
        Permission::ReadCustomer,
        Permission::WriteCustomer,
        Permission::DeleteCustomer,
        Permission::ReadAllCustomers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadCustomer => "READ_CUSTOMER",
            Permission::WriteCustomer => "WRITE_CUSTOMER",
            Permission::DeleteCustomer => "DELETE_CUSTOMER",
            Permission::ReadAllCustomers => "READ_ALL_CUSTOMERS",
        }
    }

    /// The permission with this exact name; `None` for names we do not know.
    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|permission| permission.as_str() == name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verified caller: who, in which tenant, allowed to do what, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub tenant: String,
    pub permissions: BTreeSet<Permission>,
    /// Set for a customer-scoped user, who may touch only this customer.
    pub customer_id: Option<String>,
    /// The token's `exp`, in seconds since the Unix epoch.
    pub expires_at: i64,
    /// The token's `iat` (when its user logged in), in seconds since the
    /// Unix epoch; `None` when absent or not an integer (issue 13: such a
    /// token records no access).
    pub issued_at: Option<i64>,
}

impl Principal {
    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// Why a request is not authenticated: every variant is a 401.
///
/// The message is safe to send to the client: it says what was wrong without
/// echoing the token, and contains no `"` or `\` (it goes into the
/// `error_description` of a `WWW-Authenticate` header).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    MissingToken,
    #[error("malformed Authorization header")]
    MalformedHeader,
    #[error("more than one Authorization header")]
    MultipleAuthorizationHeaders,
    #[error("authorization scheme is not Bearer")]
    NotBearer,
    #[error("token too large")]
    TokenTooLarge,
    #[error("malformed token")]
    MalformedToken,
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    #[error("unknown key id")]
    UnknownKeyId,
    #[error("invalid token signature")]
    InvalidSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    #[error("missing claim `{0}`")]
    MissingClaim(&'static str),
    #[error("invalid claim `{0}`: {1}")]
    InvalidClaim(&'static str, &'static str),
}

/// Where the verification keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// A PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`): Ed25519, RSA or EC P-256.
    PublicKeyPem { path: PathBuf, kid: Option<String> },
    /// A JWKS file (`{"keys": [...]}`); entries with `"use": "enc"` are skipped.
    Jwks { path: PathBuf },
    /// An HS256 secret of at least [`MIN_HMAC_SECRET_BYTES`] bytes.
    HmacSecret { secret: Vec<u8>, kid: Option<String> },
    /// The identity provider's JWKS URL, fetched at start and refreshed ([`remote`]).
    JwksUrl { url: String, fetch: remote::FetchSettings },
    /// An OpenID Connect issuer: its `jwks_uri` comes from
    /// `<issuer>/.well-known/openid-configuration`.
    OidcIssuer { issuer: String, fetch: remote::FetchSettings },
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::PublicKeyPem { path, kid } => {
                f.debug_struct("PublicKeyPem").field("path", path).field("kid", kid).finish()
            }
            KeySource::Jwks { path } => f.debug_struct("Jwks").field("path", path).finish(),
            KeySource::JwksUrl { url, fetch } => {
                f.debug_struct("JwksUrl").field("url", url).field("fetch", fetch).finish()
            }
            KeySource::OidcIssuer { issuer, fetch } => {
                f.debug_struct("OidcIssuer").field("issuer", issuer).field("fetch", fetch).finish()
            }
            KeySource::HmacSecret { secret, kid } => f
                .debug_struct("HmacSecret")
                .field("secret", &format_args!("[{} bytes redacted]", secret.len()))
                .field("kid", kid)
                .finish(),
        }
    }
}

/// What tokens must look like to be accepted.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The only accepted `iss`.
    pub issuer: String,
    /// The `aud` that must be present (alone or in an array).
    pub audience: String,
    pub keys: Vec<KeySource>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// Which claims carry the tenant, the permissions and the customer scope.
    pub claims: ClaimNames,
}

/// Why the authentication configuration cannot be used: names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("no JWT verification key configured (a PEM public key, a JWKS file or an HS256 secret is required)")]
    NoKeys,
    #[error("the JWT {0} must not be empty")]
    EmptySetting(&'static str),
    #[error("the JWT leeway must be at most {MAX_LEEWAY_SECONDS} seconds (got {0})")]
    LeewayTooLarge(u64),
    #[error("cannot read {}: {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", .path.display())]
    Write { path: PathBuf, source: std::io::Error },
    /// `origin` is the file (and JWKS entry) or "HS256 secret".
    #[error("{origin}: {reason}")]
    InvalidKey { origin: String, reason: String },
    #[error("key id `{0}` is configured more than once")]
    DuplicateKeyId(String),
}

/// Verifies bearer tokens; build once at start and share.
pub struct Authenticator {
    /// The key set: fixed keys plus, with a remote source, the last fetched ones.
    keys: std::sync::RwLock<Arc<Vec<Verifier>>>,
    /// Keys from files and secrets, kept beside every fetched set.
    fixed: Vec<Arc<keys::VerifyingKey>>,
    /// Rebuilds a verifier's validation when fetched keys change.
    rules: ValidationRules,
    /// The identity provider's key set, when one is configured.
    remote: Option<Arc<remote::RemoteKeys>>,
    /// Bumped when the key set changes: a verification that started under an
    /// older set does not go into the cache.
    generation: AtomicU64,
    claims: ClaimNames,
    leeway: i64,
    cache: TokenCache,
    verifications: AtomicU64,
    /// The current Unix time in seconds; replaced in tests to age cached tokens.
    now: fn() -> i64,
}

/// What every verifier checks besides the signature.
#[derive(Debug, Clone)]
struct ValidationRules {
    issuer: String,
    audience: String,
    leeway: u64,
}

impl ValidationRules {
    fn verifier(&self, key: Arc<keys::VerifyingKey>) -> Verifier {
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = self.leeway;
        Verifier { key, validation }
    }
}

/// A key with the validation rules bound to it (its one algorithm).
struct Verifier {
    key: Arc<keys::VerifyingKey>,
    validation: Validation,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.describe_keys())
            .field("leeway", &self.leeway)
            .field("cached_tokens", &self.cache.len())
            .finish()
    }
}

impl Authenticator {
    /// Loads and checks every key; fails on the first unusable one.
    pub fn new(config: AuthConfig) -> Result<Authenticator, AuthConfigError> {
        if config.issuer.trim().is_empty() {
            return Err(AuthConfigError::EmptySetting("issuer"));
        }
        if config.audience.trim().is_empty() {
            return Err(AuthConfigError::EmptySetting("audience"));
        }
        let mut loaded = Vec::new();
        let mut remote = None;
        for source in &config.keys {
            match source {
                KeySource::JwksUrl { .. } | KeySource::OidcIssuer { .. } => {
                    if remote.is_some() {
                        return Err(AuthConfigError::InvalidKey {
                            origin: "--jwt-jwks-url/--jwt-oidc-issuer".into(),
                            reason: "only one identity provider key set can be configured".into(),
                        });
                    }
                    remote = Some(Arc::new(remote::RemoteKeys::new(source)?));
                }
                _ => loaded.extend(keys::load(source)?),
            }
        }
        if loaded.is_empty() && remote.is_none() {
            return Err(AuthConfigError::NoKeys);
        }
        let mut kids = BTreeSet::new();
        for key in &loaded {
            if let Some(kid) = &key.kid {
                if !kids.insert(kid.as_str()) {
                    return Err(AuthConfigError::DuplicateKeyId(kid.clone()));
                }
            }
        }
        if config.leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(AuthConfigError::LeewayTooLarge(config.leeway_seconds));
        }
        let leeway = config.leeway_seconds;
        let rules = ValidationRules {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway,
        };
        let fixed: Vec<Arc<VerifyingKey>> = loaded.into_iter().map(Arc::new).collect();
        let keys = fixed.iter().cloned().map(|key| rules.verifier(key)).collect();
        Ok(Authenticator {
            keys: std::sync::RwLock::new(Arc::new(keys)),
            fixed,
            rules,
            remote,
            generation: AtomicU64::new(0),
            claims: config.claims.clone(),
            leeway: leeway as i64,
            cache: TokenCache::new(TOKEN_CACHE_CAPACITY),
            verifications: AtomicU64::new(0),
            now: unix_now,
        })
    }

    /// One line per key, for the start-up log: algorithm, kid and origin.
    pub fn describe_keys(&self) -> Vec<String> {
        self.key_set()
            .iter()
            .map(|verifier| {
                let key = &verifier.key;
                match &key.kid {
                    Some(kid) => format!("{:?} key `{kid}` from {}", key.algorithm, key.origin),
                    None => format!("{:?} key from {}", key.algorithm, key.origin),
                }
            })
            .collect()
    }

    /// The current key set (cheap: an `Arc` clone under a read lock).
    fn key_set(&self) -> Arc<Vec<Verifier>> {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The identity provider's key set, if one is configured (for its refresh task).
    pub fn remote(&self) -> Option<Arc<remote::RemoteKeys>> {
        self.remote.clone()
    }

    /// Whether tokens can be verified: always with fixed keys; with an
    /// identity provider's set once it was fetched (for `/readyz`).
    pub fn has_keys(&self) -> bool {
        !self.key_set().is_empty()
    }

    /// Replaces the fetched keys (the fixed ones stay). Tokens verified with a
    /// key that is gone must not be accepted from the cache: it is emptied.
    pub fn replace_remote_keys(&self, fetched: Vec<remote::FetchedKey>) {
        let mut set: Vec<Verifier> =
            self.fixed.iter().cloned().map(|key| self.rules.verifier(key)).collect();
        set.extend(fetched.into_iter().map(|key| self.rules.verifier(Arc::new(key.0))));
        *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache.clear();
    }

    /// How many verified tokens are cached (for metrics).
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }

    /// How many signature verifications were attempted so far (for metrics).
    pub fn signature_verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Authenticates an `Authorization` header value (`None` when absent).
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Arc<Principal>, AuthError> {
        match self.authenticate_cached(authorization)? {
            Cached::Hit(principal) => Ok(principal),
            Cached::Miss(miss) => self.authenticate_verified(miss),
        }
    }

    /// The cheap part of [`Authenticator::authenticate`]: the header's form
    /// and the cache of verified tokens. A miss must go on to
    /// [`Authenticator::authenticate_verified`], the signature check, which a
    /// caller can gate (the failed-authentication limit).
    pub fn authenticate_cached<'t>(
        &self,
        authorization: Option<&'t str>,
    ) -> Result<Cached<'t>, AuthError> {
        let token = bearer_token(authorization)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(principal) = self.cache.get(&digest) {
            if (self.now)() > principal.expires_at.saturating_add(self.leeway) {
                self.cache.remove(&digest);
                return Err(AuthError::Expired);
            }
            return Ok(Cached::Hit(principal));
        }
        Ok(Cached::Miss(CacheMiss { token, digest }))
    }

    /// Verifies a token the cache did not have, and caches it if it is good.
    pub fn authenticate_verified(&self, miss: CacheMiss<'_>) -> Result<Arc<Principal>, AuthError> {
        let generation = self.generation.load(Ordering::SeqCst);
        let principal = Arc::new(self.verify(miss.token)?);
        if self.generation.load(Ordering::SeqCst) == generation {
            self.cache.insert(miss.digest, Arc::clone(&principal), (self.now)(), self.leeway);
            // The set may have changed between the check and the insert.
            if self.generation.load(Ordering::SeqCst) != generation {
                self.cache.remove(&miss.digest);
            }
        }
        Ok(principal)
    }

    /// Full verification: header, key selection, signature, then claims.
    fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::MalformedToken);
        };
        if header.is_empty() || payload.is_empty() {
            return Err(AuthError::MalformedToken);
        }
        let header: RawHeader = decode_json(header).ok_or(AuthError::MalformedToken)?;
        if header.crit.is_some() {
            return Err(AuthError::MalformedToken);
        }
        let algorithm = header.alg.as_deref().ok_or(AuthError::MalformedToken)?;
        let algorithm =
            keys::supported_algorithm(algorithm).ok_or(AuthError::AlgorithmNotAllowed)?;
        let with_algorithm = |verifier: &&Verifier| verifier.key.algorithm == algorithm;
        let key_set = self.key_set();
        let candidates: Vec<&Verifier> = match &header.kid {
            Some(kid) => {
                match key_set
                    .iter()
                    .find(|verifier| verifier.key.kid.as_deref() == Some(kid.as_str()))
                {
                    Some(verifier) if verifier.key.algorithm != algorithm => {
                        return Err(AuthError::AlgorithmNotAllowed)
                    }
                    Some(verifier) => vec![verifier],
                    // A key configured without a kid stands for whatever kid its
                    // issuer stamps on tokens (an IdP's key given as a PEM file).
                    None => {
                        let unnamed: Vec<&Verifier> = key_set
                            .iter()
                            .filter(|verifier| verifier.key.kid.is_none())
                            .filter(with_algorithm)
                            .collect();
                        if unnamed.is_empty() {
                            // Perhaps the identity provider rotated its keys.
                            if let Some(remote) = &self.remote {
                                remote.request_refresh();
                            }
                            return Err(AuthError::UnknownKeyId);
                        }
                        unnamed
                    }
                }
            }
            None => key_set.iter().filter(with_algorithm).collect(),
        };
        if candidates.is_empty() {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        if signature.is_empty() {
            return Err(AuthError::InvalidSignature);
        }
        for verifier in candidates {
            match self.verify_with(token, verifier) {
                Err(AuthError::InvalidSignature) => continue,
                // Anything else does not depend on which key signed: a malformed
                // part, or a claim checked after this key's signature passed.
                outcome => return outcome,
            }
        }
        Err(AuthError::InvalidSignature)
    }

    fn verify_with(&self, token: &str, verifier: &Verifier) -> Result<Principal, AuthError> {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let data =
            jsonwebtoken::decode::<RawClaims>(token, &verifier.key.key, &verifier.validation)
                .map_err(|error| match map_jwt_error(error) {
                    // jsonwebtoken says "missing" for a registered claim of the
                    // wrong type too (`"exp": "tomorrow"`); it checks claims only
                    // after the signature, so the payload is genuine here.
                    AuthError::MissingClaim(claim) if claim_present(token, claim) => {
                        AuthError::InvalidClaim(claim, "has the wrong type")
                    }
                    other => other,
                })?;
        principal_from(data.claims, &self.claims)
    }
}

/// What the cache of verified tokens says about a bearer token.
#[derive(Debug)]
pub enum Cached<'t> {
    /// Verified before and not expired.
    Hit(Arc<Principal>),
    /// Not verified yet: its signature must be checked.
    Miss(CacheMiss<'t>),
}

/// A well-formed bearer token the cache did not have.
#[derive(Debug)]
pub struct CacheMiss<'t> {
    token: &'t str,
    digest: [u8; 32],
}

/// The current Unix time in seconds.
pub fn unix_now() -> i64 {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

/// The token of a `Bearer <token>` header (RFC 6750 §2.1; scheme case-insensitive).
fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let header = authorization.ok_or(AuthError::MissingToken)?;
    // "Bearer " plus a little whitespace: anything longer carries an oversized token.
    if header.len() > MAX_TOKEN_BYTES + 16 {
        return Err(AuthError::TokenTooLarge);
    }
    let header = header.trim_matches([' ', '\t']);
    if header.is_empty() {
        return Err(AuthError::MissingToken);
    }
    let (scheme, token) = match header.split_once([' ', '\t']) {
        Some((scheme, rest)) => (scheme, rest.trim_start_matches([' ', '\t'])),
        None => (header, ""),
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TokenTooLarge);
    }
    if token.is_empty() || !is_b64token(token) {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token)
}

/// RFC 6750 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// Whether the payload of `token` has a member called `claim`.
fn claim_present(token: &str, claim: &str) -> bool {
    token
        .split('.')
        .nth(1)
        .and_then(decode_json::<serde_json::Map<String, Value>>)
        .is_some_and(|payload| payload.contains_key(claim))
}

/// A base64url (unpadded) JSON segment, or `None` when it is not one.
fn decode_json<T: serde::de::DeserializeOwned>(segment: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The JOSE header members we look at before choosing a key. Derived, so a
/// duplicated member is an error here as it is in jsonwebtoken's own parse.
#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    crit: Option<Value>,
}

/// The claims we read after jsonwebtoken checked the signature and the
/// registered claims. Loosely typed so a wrong type gets a precise message;
/// the tenant, permissions and customer claims are looked up in `rest` by
/// their configured names ([`ClaimNames`]).
#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    sub: Option<Value>,
    #[serde(default)]
    exp: Option<Value>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

/// Where a token carries the tenant, the permissions and the customer scope.
/// Identity providers name them differently (Keycloak's roles are in
/// `realm_access.roles`, Auth0's custom claims are URLs, OAuth scopes are a
/// space-separated `scope` string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    pub tenant: ClaimPath,
    pub permissions: ClaimPath,
    pub customer: ClaimPath,
}

impl Default for ClaimNames {
    fn default() -> Self {
        ClaimNames {
            tenant: ClaimPath::named("tenant"),
            permissions: ClaimPath::named("permissions"),
            customer: ClaimPath::named("customerId"),
        }
    }
}

/// A claim's name, or a path into nested objects (`realm_access.roles`). A
/// top-level claim whose name is the whole string wins over the path, so
/// names containing dots (`https://example.com/tenant`) work as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    /// The name as configured: what error messages say.
    name: &'static str,
    segments: Vec<String>,
}

impl ClaimPath {
    /// A path from a built-in name.
    pub fn named(name: &'static str) -> ClaimPath {
        ClaimPath { name, segments: name.split('.').map(str::to_string).collect() }
    }

    /// A configured name or path; `None` when it is empty.
    pub fn parse(configured: &str) -> Option<ClaimPath> {
        let configured = configured.trim();
        if configured.is_empty() {
            return None;
        }
        // Error messages need a `&'static str`: configured names are few,
        // read once at start, so keeping them for the process's life is fine.
        let name: &'static str = Box::leak(configured.to_string().into_boxed_str());
        Some(ClaimPath { name, segments: name.split('.').map(str::to_string).collect() })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The claim's value, `null` included (present), or `None` when absent.
    fn find(&self, claims: &mut serde_json::Map<String, Value>) -> Option<Value> {
        if let Some(value) = claims.remove(self.name) {
            return Some(value);
        }
        let (first, rest) = self.segments.split_first()?;
        let mut value = claims.get(first)?;
        for segment in rest {
            value = value.as_object()?.get(segment)?;
        }
        Some(value.clone())
    }
}

fn principal_from(claims: RawClaims, names: &ClaimNames) -> Result<Principal, AuthError> {
    let RawClaims { sub, exp, mut rest } = claims;
    let issued_at = rest.get("iat").and_then(Value::as_i64);
    let subject = required_string("sub", sub)?;
    let tenant = required_string(names.tenant.name(), names.tenant.find(&mut rest))?;
    let permissions_claim = names.permissions.name();
    // OAuth's `scope` (RFC 8693 §4.2) and Entra ID's `scp` are space-separated
    // strings; every other permissions claim must be an array of strings.
    let scope_string = matches!(permissions_claim, "scope" | "scp");
    let not_a_list = if scope_string {
        "must be a space-separated string or an array of strings"
    } else {
        "must be an array of strings"
    };
    let names_granted: Vec<String> = match names.permissions.find(&mut rest) {
        None => return Err(AuthError::MissingClaim(permissions_claim)),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(name) => Ok(name),
                _ => Err(AuthError::InvalidClaim(permissions_claim, not_a_list)),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(scope)) if scope_string => {
            scope.split(' ').map(str::to_string).collect()
        }
        Some(_) => return Err(AuthError::InvalidClaim(permissions_claim, not_a_list)),
    };
    // Names we do not know grant nothing here.
    let permissions: BTreeSet<Permission> =
        names_granted.iter().filter_map(|name| Permission::parse(name)).collect();
    // A present but unusable customer claim (`null` included) must not
    // silently widen the token's scope.
    let customer_id = match names.customer.find(&mut rest) {
        None => None,
        Some(value) => Some(required_string(names.customer.name(), Some(value))?),
    };
    let expires_at = match exp {
        Some(Value::Number(exp)) => exp
            .as_i64()
            .or_else(|| exp.as_u64().map(|_| i64::MAX))
            .or_else(|| exp.as_f64().map(|exp| exp.round() as i64))
            .ok_or(AuthError::InvalidClaim("exp", "must be a number"))?,
        // jsonwebtoken already required a numeric exp; kept for completeness.
        Some(_) => return Err(AuthError::InvalidClaim("exp", "must be a number")),
        None => return Err(AuthError::MissingClaim("exp")),
    };
    Ok(Principal { subject, tenant, permissions, customer_id, expires_at, issued_at })
}

fn required_string(name: &'static str, value: Option<Value>) -> Result<String, AuthError> {
    match value {
        None => Err(AuthError::MissingClaim(name)),
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text),
        Some(Value::String(_)) => Err(AuthError::InvalidClaim(name, "must not be empty")),
        Some(_) => Err(AuthError::InvalidClaim(name, "must be a string")),
    }
}

fn map_jwt_error(error: jsonwebtoken::errors::Error) -> AuthError {
    match error.kind() {
        ErrorKind::InvalidSignature => AuthError::InvalidSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm => AuthError::AlgorithmNotAllowed,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(registered_claim(claim)),
        ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::InvalidClaim(registered_claim(claim), "has the wrong type")
        }
        _ => AuthError::MalformedToken,
    }
}

/// The static name of a registered claim jsonwebtoken complained about.
fn registered_claim(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp",
        "nbf" => "nbf",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "unknown",
    }
}
