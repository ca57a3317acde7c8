//! Bearer JWT authentication (to be written).
