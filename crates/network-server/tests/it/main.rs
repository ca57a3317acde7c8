//! Integration tests of the real server: each binds 127.0.0.1:0, starts
//! `network-server`'s library on a fresh data directory (or a fresh
//! PostgreSQL schema) and drives it through the generated client or raw HTTP.

#[path = "../common/jwt.rs"]
mod common_jwt;
#[path = "../common/postgres.rs"]
mod common_postgres;
mod helpers;
mod wire;

mod access;
mod backup;
mod cli;
mod concurrency;
mod contract;
mod copy_store;
mod docs;
mod hostile;
mod isolation;
mod jwks;
mod jwt_attacks;
mod list_create_delete;
mod list_limits;
mod ops;
mod persistence;
mod rate_limit;
mod shared_rate_limit;
mod slow_clients;
mod update;
mod version;
