//! Rate limiting (to be written).
