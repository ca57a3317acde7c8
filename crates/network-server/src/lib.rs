//! The Network API server: a hand-written implementation of the generated
//! `network_api::NetworkApi` trait, with JWT authentication, per-tenant rate
//! limiting, validation and durable storage (SQLite or PostgreSQL).
//!
//! Layout: `domain` (validated values, no I/O), `access` (logins recorded as
//! access timestamps), `store` (the storage trait
//! and its two implementations), `auth` (bearer JWT verification and minting),
//! `ratelimit` (token buckets), `context` (what every handler shares), `http`
//! (the trait implementation: one wrapper for the shared steps and the check
//! order), `error` (the one mapping of errors to HTTP), `wire` (customer
//! wire types to and from the domain), `listing` (list admission and streamed
//! pages), `metrics` (Prometheus), `ops` (health, readiness, metrics, the published contract),
//! `cors` (CORS headers and preflights), `docs` (`/docs`: the contract rendered by a vendored Redoc), `backup` (online
//! SQLite backups and restores), `copy_store` (SQLite to PostgreSQL), `config` (flags
//! and environment), `server` (wiring, start, shutdown), `telemetry` (JSON logs).

pub mod access;
pub mod auth;
pub mod backup;
pub mod config;
pub mod context;
pub mod copy_store;
pub mod cors;
pub mod docs;
pub mod domain;
pub mod error;
pub mod http;
pub mod listing;
pub mod metrics;
pub mod ops;
pub mod ratelimit;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod wire;
