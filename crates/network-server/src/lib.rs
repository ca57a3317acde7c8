//! The Network API server: a hand-written implementation of the generated
//! `network_api::NetworkApi` trait, with JWT authentication, per-tenant rate
//! limiting, validation and durable storage (SQLite or PostgreSQL).
//!
//! Layout: `domain` (validated values, no I/O), `access` (logins recorded as
//! access timestamps), `store` (the storage trait
//! and its two implementations), `auth` (bearer JWT verification and minting),
//! `ratelimit` (token buckets), `http` (the trait implementation: check order,
//! error mapping), `listing` (list admission and streamed pages), `ops` (health, readiness, metrics, the published contract),
//! `cors` (CORS headers and preflights), `docs` (`/docs`: the contract rendered
//! by a vendored Redoc), `backup` (online
//! SQLite backups and restores), `copy_store` (SQLite to PostgreSQL), `config` (flags
//! and environment), `server` (wiring, start, shutdown), `telemetry` (JSON logs).

pub mod access;
pub mod auth;
pub mod backup;
pub mod config;
pub mod copy_store;
pub mod cors;
pub mod docs;
pub mod domain;
pub mod error;
pub mod http;
pub mod listing;
pub mod ops;
pub mod ratelimit;
pub mod server;
pub mod store;
pub mod telemetry;
