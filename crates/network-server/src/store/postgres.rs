//! PostgreSQL store (to be written).
