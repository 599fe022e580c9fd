//! Metrics rendered as JSON for dashboards.
//!
//! The snapshots derive serde's `Serialize`, so any serde format works; these
//! helpers give the common case, a compact JSON string, without the caller
//! naming serde_json. Durations are milliseconds, as `Serialize` writes them.

use super::{Metrics, ServerMetricsSnapshot};

/// Compact JSON of `value`; `{}` in the unreachable case that serializing
/// fails (the snapshots hold only numbers, addresses and lists).
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"))
}

impl Metrics {
    /// This snapshot as one compact JSON object (durations in milliseconds).
    ///
    /// ```
    /// let m = lentil::Metrics { in_messages: 3, ..Default::default() };
    /// let json: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    /// assert_eq!(json["in_messages"], 3);
    /// assert_eq!(json["latency"], 0.0);
    /// ```
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

impl ServerMetricsSnapshot {
    /// This snapshot as one compact JSON object: the server's fields, and
    /// `peer_metrics`, an array of one flat object per peer.
    ///
    /// ```
    /// let s = lentil::ServerMetricsSnapshot { accepted: 4, ..Default::default() };
    /// let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
    /// assert_eq!(json["accepted"], 4);
    /// assert!(json["peer_metrics"].as_array().unwrap().is_empty());
    /// ```
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}
