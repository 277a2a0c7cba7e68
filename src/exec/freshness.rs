//! `kiln source freshness`: how long ago each source table was last loaded, against its
//! `warn_after` / `error_after` rules.

use crate::adapter::Adapter;
use crate::compile::Manifest;
use crate::project::{Source, Threshold};

/// The outcome of one source's freshness check.
#[derive(Debug, Clone)]
pub struct FreshnessResult {
    /// `source.<package>.<source>.<table>`.
    pub unique_id: String,
    /// `pass`, `warn`, `error` (stale past `error_after`) or `runtime error`.
    pub status: String,
    /// The newest `loaded_at_field` value, as the database returned it.
    pub max_loaded_at: Option<String>,
    /// When the check ran (RFC 3339).
    pub snapshotted_at: String,
    /// Seconds between the newest load and the check.
    pub age_seconds: Option<i64>,
    /// Why the check could not run, for runtime errors.
    pub error: Option<String>,
    /// The rules checked.
    pub warn_after: Option<Threshold>,
    /// The rules checked.
    pub error_after: Option<Threshold>,
    /// Extra `where` condition the query used.
    pub filter: Option<String>,
    /// Seconds the query took.
    pub execution_time: f64,
    /// When the check started (RFC 3339).
    pub started_at: String,
    /// When the check ended (RFC 3339).
    pub completed_at: String,
    /// Age of the newest load in seconds, with sub-second precision.
    pub age_precise: Option<f64>,
}

/// Parses a timestamp as databases print them (naive values are taken as UTC).
pub fn parse_timestamp(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
    let t = text.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, f) {
            return Some(Utc.from_utc_datetime(&n));
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| Utc.from_utc_datetime(&n))
}

fn exceeded(threshold: Option<Threshold>, age: i64) -> bool {
    threshold.is_some_and(|t| age > t.count * t.period.seconds())
}

/// The sources among `selected` that have freshness rules and a `loaded_at_field`.
pub fn checkable<'a>(manifest: &'a Manifest, selected: &[String]) -> Vec<&'a Source> {
    selected
        .iter()
        .filter_map(|id| manifest.project.sources.get(id))
        .filter(|s| {
            s.loaded_at_field.is_some()
                && s.freshness
                    .as_ref()
                    .is_some_and(|f| f.warn_after.is_some() || f.error_after.is_some())
        })
        .collect()
}

/// Checks one source.
pub async fn check(manifest: &Manifest, adapter: &Adapter, source: &Source) -> FreshnessResult {
    let clock = std::time::Instant::now();
    let now = chrono::Utc::now();
    let stamp =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let freshness = source.freshness.clone().unwrap_or_default();
    let mut result = FreshnessResult {
        unique_id: source.unique_id.clone(),
        status: "runtime error".into(),
        max_loaded_at: None,
        snapshotted_at: stamp(now),
        age_seconds: None,
        error: None,
        warn_after: freshness.warn_after,
        error_after: freshness.error_after,
        filter: freshness.filter.clone(),
        execution_time: 0.0,
        started_at: stamp(now),
        completed_at: stamp(now),
        age_precise: None,
    };
    let (Some(rel), Some(field)) = (
        manifest.source_relations.get(&source.unique_id),
        source.loaded_at_field.as_deref(),
    ) else {
        result.error = Some("no relation or loaded_at_field".into());
        return result;
    };
    let sql = adapter
        .sql()
        .freshness(rel, field, freshness.filter.as_deref());
    match adapter.query(&sql).await {
        Err(e) => result.error = Some(e.diagnostics()[0].message.clone()),
        Ok(t) => {
            let value = t
                .rows
                .first()
                .and_then(|r| r.first())
                .filter(|v| !v.is_null())
                .map(crate::project::config::value_to_string);
            match value.as_deref().and_then(parse_timestamp) {
                None => {
                    result.max_loaded_at = value.clone();
                    result.error = Some(match value {
                        None => format!("{} is empty: no `{field}` to compare", rel.render()),
                        Some(v) => format!("`{field}` value `{v}` is not a timestamp"),
                    });
                }
                Some(loaded) => {
                    let age = (now - loaded).num_seconds();
                    result.max_loaded_at =
                        Some(loaded.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                    result.age_seconds = Some(age);
                    result.age_precise =
                        (now - loaded).num_microseconds().map(|us| us as f64 / 1e6);
                    result.status = if exceeded(freshness.error_after, age) {
                        "error"
                    } else if exceeded(freshness.warn_after, age) {
                        "warn"
                    } else {
                        "pass"
                    }
                    .into();
                }
            }
        }
    }
    result.execution_time = clock.elapsed().as_secs_f64();
    result.completed_at = stamp(chrono::Utc::now());
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_database_timestamps() {
        for t in [
            "2024-03-01 10:00:00",
            "2024-03-01T10:00:00",
            "2024-03-01 10:00:00.250",
            "2024-03-01T10:00:00+00:00",
        ] {
            assert_eq!(
                parse_timestamp(t).map(|d| d.format("%Y-%m-%d %H:%M").to_string()),
                Some("2024-03-01 10:00".to_string()),
                "{t}"
            );
        }
        assert!(parse_timestamp("yesterday").is_none());
    }
}
