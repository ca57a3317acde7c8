//! The data the attack runs over, written in bulk through the server's own
//! SQLite store before the server starts (as the benchmark harness does), and
//! the tokens, minted in-process with the server's `Signer`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use network_server::auth::{Signer, TokenClaims};
use network_server::domain::{CustomerDraft, CustomerId, DraftFields, TenantName};
use network_server::store::sqlite::{SqliteOptions, SqliteStore};
use network_server::store::{CustomerStore, SeedCustomer};

/// The tenant whose list queries are heavy.
pub const LISTER: &str = "attacker";
/// The tenant with maximum-size customers (oversized pages).
pub const BULKY: &str = "bulky";
/// The tenant doing ordinary work.
pub const VICTIM: &str = "victim";

const COUNTRIES: [&str; 12] =
    ["IT", "DE", "FR", "ES", "US", "GB", "JP", "BR", "IN", "CN", "SE", "PL"];
const WORDS: [&str; 16] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
    "Duff",
    "Gringotts",
    "Oscorp",
    "Aperture",
];

/// The id of the victim's customer `index` of worker `worker`.
pub fn victim_id(worker: usize, index: usize) -> String {
    format!("v{worker:02}-{index:03}")
}

/// The name a victim's customer has after write `seq` of its worker (0: as seeded).
pub fn victim_name(worker: usize, seq: u64) -> String {
    format!("victim worker {worker} write {seq}")
}

/// What to seed.
#[derive(Debug, Clone, Copy)]
pub struct SeedPlan {
    pub lister_customers: usize,
    pub bulky_customers: usize,
    pub bulky_properties: usize,
    pub bulky_value_chars: usize,
    pub victim_workers: usize,
    pub victim_customers_per_worker: usize,
}

fn draft(
    name: &str,
    country: &str,
    properties: BTreeMap<String, String>,
) -> anyhow::Result<CustomerDraft> {
    CustomerDraft::parse(DraftFields {
        country: Some(country.to_string()),
        timezone: Some("Europe/Rome".into()),
        properties: Some(properties),
        ..DraftFields::new(name)
    })
    .map_err(|error| anyhow::anyhow!("seed draft: {error}"))
}

fn id(text: &str) -> anyhow::Result<CustomerId> {
    CustomerId::parse(text).map_err(|error| anyhow::anyhow!("seed id: {error}"))
}

fn tenant(name: &str) -> anyhow::Result<TenantName> {
    TenantName::parse(name).map_err(|error| anyhow::anyhow!("tenant: {error}"))
}

/// Writes every tenant's rows into the SQLite file the server will open.
pub async fn seed(data_dir: &Path, plan: &SeedPlan) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(network_server::server::SQLITE_FILE);
    let store = SqliteStore::open(&path, SqliteOptions::default()).context("open SQLite")?;
    let created = 1_767_225_600_000i64;

    // The lister's customers: varied names and countries, so that sorting has work to do.
    let lister = tenant(LISTER)?;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for chunk_start in (0..plan.lister_customers).step_by(10_000) {
        let end = (chunk_start + 10_000).min(plan.lister_customers);
        let mut rows = Vec::with_capacity(end - chunk_start);
        for index in chunk_start..end {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let name = format!(
                "{} {} {:05}",
                WORDS[(state % 16) as usize],
                WORDS[((state >> 8) % 16) as usize],
                (state >> 16) % 100_000
            );
            let country = COUNTRIES[((state >> 40) % COUNTRIES.len() as u64) as usize];
            let properties = BTreeMap::from([("plan".to_string(), "silver".to_string())]);
            rows.push(SeedCustomer {
                id: id(&format!("a{index:07}"))?,
                details: draft(&name, country, properties)?,
                creation_timestamp: created + index as i64,
            });
        }
        store.bulk_insert(&lister, rows).await.context("bulk insert (lister)")?;
    }

    // The bulky tenant: the largest customers a request body can carry.
    let bulky = tenant(BULKY)?;
    let value: String = "0123456789abcdef".chars().cycle().take(plan.bulky_value_chars).collect();
    let properties: BTreeMap<String, String> = (0..plan.bulky_properties)
        .map(|key| (format!("property{key:03}"), value.clone()))
        .collect();
    let big = draft("Bulky Customer", "IT", properties)?;
    for chunk_start in (0..plan.bulky_customers).step_by(50) {
        let end = (chunk_start + 50).min(plan.bulky_customers);
        let rows = (chunk_start..end)
            .map(|index| {
                Ok(SeedCustomer {
                    id: id(&format!("b{index:05}"))?,
                    details: big.clone(),
                    creation_timestamp: created + index as i64,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        store.bulk_insert(&bulky, rows).await.context("bulk insert (bulky)")?;
    }

    // The victim's customers, each worker its own.
    let victim = tenant(VICTIM)?;
    let mut rows = Vec::new();
    for worker in 0..plan.victim_workers {
        for index in 0..plan.victim_customers_per_worker {
            let properties = BTreeMap::from([("seq".to_string(), "0".to_string())]);
            rows.push(SeedCustomer {
                id: id(&victim_id(worker, index))?,
                details: draft(&victim_name(worker, 0), "IT", properties)?,
                creation_timestamp: created,
            });
        }
    }
    store.bulk_insert(&victim, rows).await.context("bulk insert (victim)")?;
    store.close().await;
    Ok(())
}

/// Mints tokens with the HS256 secret the server verifies with.
pub struct Tokens {
    signer: Signer,
}

/// Issuer and audience: the server's defaults.
const ISSUER: &str = "network-server";
const AUDIENCE: &str = "network-api";

impl Tokens {
    pub fn new(secret: &[u8]) -> anyhow::Result<Tokens> {
        let signer = Signer::hs256(secret.to_vec(), None)
            .map_err(|error| anyhow::anyhow!("HS256 signer: {error}"))?;
        Ok(Tokens { signer })
    }

    /// A token for `tenant` and `subject`, valid for six hours.
    pub fn mint(
        &self,
        tenant: &str,
        subject: &str,
        permissions: &[&str],
    ) -> anyhow::Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let claims = TokenClaims {
            sub: subject.to_string(),
            tenant: tenant.to_string(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            customer_id: None,
            iss: ISSUER.to_string(),
            aud: AUDIENCE.to_string(),
            iat: now,
            exp: now + 6 * 3600,
            nbf: None,
        };
        self.signer.mint(&claims).map_err(|error| anyhow::anyhow!("{error}"))
    }
}
