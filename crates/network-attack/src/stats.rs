//! Counting and exact percentiles.

use std::collections::BTreeMap;

use serde::Serialize;

/// Counts by label (a status code, an outcome, an error kind).
#[derive(Debug, Default, Clone, Serialize)]
#[serde(transparent)]
pub struct Counts(pub BTreeMap<String, u64>);

impl Counts {
    pub fn add(&mut self, label: String) {
        *self.0.entry(label).or_default() += 1;
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// `401: 1500, 429: 500`, or `-` when empty.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "-".into();
        }
        self.0
            .iter()
            .map(|(label, count)| format!("{label}: {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The exact `p`th percentile (nearest rank) of `values`, which it sorts.
pub fn percentile_ms(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

/// A short name for a client error.
pub fn error_kind(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".into()
    } else if error.is_connect() {
        "connect error".into()
    } else if error.is_body() || error.is_decode() {
        "body error".into()
    } else if error.is_request() {
        "request error (connection closed or reset)".into()
    } else {
        "other error".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile_ms(&mut values, 50.0), Some(50.0));
        assert_eq!(percentile_ms(&mut values, 99.0), Some(99.0));
        assert_eq!(percentile_ms(&mut values, 100.0), Some(100.0));
        let mut one = vec![7.0];
        assert_eq!(percentile_ms(&mut one, 99.0), Some(7.0));
        assert_eq!(percentile_ms(&mut [], 50.0), None);
    }
}
