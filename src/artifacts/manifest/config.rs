//! Config objects as dbt writes them in the manifest: every field of the resource type's config
//! class with its default, overlaid with the node's own config. Keys are dbt's (`pre-hook`), and
//! values take the types dbt's schema declares (hooks are `{sql, transaction, index}` objects,
//! tags a list), so dbt's loaders read them.

use crate::artifacts::JsonObject;
use crate::project::config::dbt_key;
use crate::project::{Config, ResourceType};
use serde_json::{Map, Value, json};

/// The config class a node's config is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum ConfigKind {
    /// `ModelConfig`.
    Model,
    /// `NodeConfig` (analyses).
    Node,
    /// `SeedConfig`.
    Seed,
    /// `SnapshotConfig`.
    Snapshot,
    /// `TestConfig` (generic and singular tests).
    Test,
}

impl ConfigKind {
    /// The config class of a resource type.
    pub fn of(resource_type: ResourceType) -> ConfigKind {
        match resource_type {
            ResourceType::Model => ConfigKind::Model,
            ResourceType::Seed => ConfigKind::Seed,
            ResourceType::Snapshot => ConfigKind::Snapshot,
            ResourceType::Test => ConfigKind::Test,
            _ => ConfigKind::Node,
        }
    }
}

fn docs_default() -> Value {
    json!({"show": true, "node_color": null})
}

/// A config key with its default value, and the value serialized.
type DefaultMember = (String, Value, Vec<u8>);

/// The defaults of a config class, in key order, as values and serialized, built once per
/// process: every node of the class starts from them.
fn defaults(kind: ConfigKind) -> &'static [DefaultMember] {
    static BUILT: [std::sync::OnceLock<Vec<DefaultMember>>; 5] =
        [const { std::sync::OnceLock::new() }; 5];
    BUILT[kind as usize].get_or_init(|| {
        build_defaults(kind)
            .into_iter()
            .map(|(k, v)| {
                let bytes = serde_json::to_vec(&v).unwrap_or_default();
                (k, v, bytes)
            })
            .collect()
    })
}

/// The defaults of a config class, in dbt's field order.
fn build_defaults(kind: ConfigKind) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("enabled", json!(true));
    put("alias", Value::Null);
    put(
        "schema",
        if kind == ConfigKind::Test {
            json!(crate::exec::AUDIT_SCHEMA_SUFFIX)
        } else {
            Value::Null
        },
    );
    put("database", Value::Null);
    put("tags", json!([]));
    put("meta", json!({}));
    put("group", Value::Null);
    put("static_analysis", Value::Null);
    if kind == ConfigKind::Test {
        put("materialized", json!("test"));
        put("severity", json!("ERROR"));
        put("store_failures", Value::Null);
        put("store_failures_as", Value::Null);
        put("where", Value::Null);
        put("limit", Value::Null);
        put("fail_calc", json!("count(*)"));
        put("warn_if", json!("!= 0"));
        put("error_if", json!("!= 0"));
        return m;
    }
    put(
        "materialized",
        json!(match kind {
            ConfigKind::Seed => "seed",
            ConfigKind::Snapshot => "snapshot",
            _ => "view",
        }),
    );
    put("incremental_strategy", Value::Null);
    put("batch_size", Value::Null);
    put("lookback", json!(1));
    put("begin", Value::Null);
    put("persist_docs", json!({}));
    put("post-hook", json!([]));
    put("pre-hook", json!([]));
    put("quoting", json!({}));
    put("column_types", json!({}));
    put("full_refresh", Value::Null);
    put("unique_key", Value::Null);
    put("on_schema_change", json!("ignore"));
    put("on_configuration_change", json!("apply"));
    put("grants", json!({}));
    put("packages", json!([]));
    put("docs", docs_default());
    put("contract", json!({"enforced": false, "alias_types": true}));
    put("event_time", Value::Null);
    put("concurrent_batches", Value::Null);
    match kind {
        ConfigKind::Model => {
            put("access", json!("protected"));
            put("freshness", Value::Null);
        }
        ConfigKind::Seed => {
            put("delimiter", json!(","));
            put("quote_columns", Value::Null);
        }
        ConfigKind::Snapshot => {
            put("strategy", Value::Null);
            put("target_schema", Value::Null);
            put("target_database", Value::Null);
            put("updated_at", Value::Null);
            put("check_cols", Value::Null);
            put(
                "snapshot_meta_column_names",
                json!({"dbt_valid_to": null, "dbt_valid_from": null, "dbt_scd_id": null,
                       "dbt_updated_at": null, "dbt_is_deleted": null}),
            );
            put("dbt_valid_to_current", Value::Null);
        }
        _ => {}
    }
    m
}

/// A hook as dbt's config holds it.
fn hook(v: &Value, index: Option<usize>) -> Value {
    match v {
        Value::Object(o) if o.contains_key("sql") => {
            let mut h = json!({"sql": o["sql"], "transaction": true, "index": index});
            if let Some(t) = o.get("transaction").and_then(Value::as_bool) {
                h["transaction"] = json!(t);
            }
            h
        }
        other => json!({
            "sql": crate::project::config::value_to_string(other),
            "transaction": true,
            "index": index,
        }),
    }
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

fn string_or_null(v: &Value) -> Value {
    match v {
        Value::Null | Value::String(_) => v.clone(),
        other => json!(crate::project::config::value_to_string(other)),
    }
}

/// A value in the type the config schema declares for its key; others pass through.
fn typed(kind: ConfigKind, key: &str, v: &Value) -> Value {
    let bool_or = |default: Value| match v {
        Value::Bool(_) => v.clone(),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" => json!(true),
            "false" | "no" => json!(false),
            _ => default,
        },
        _ => default,
    };
    match key {
        "enabled" => bool_or(json!(true)),
        "full_refresh" | "store_failures" | "quote_columns" => bool_or(Value::Null),
        "tags" | "packages" => Value::Array(
            list(v)
                .iter()
                .map(|t| json!(crate::project::config::value_to_string(t)))
                .collect(),
        ),
        "pre-hook" | "post-hook" => {
            let hooks = list(v);
            Value::Array(
                hooks
                    .iter()
                    .enumerate()
                    .map(|(i, h)| hook(h, if hooks.len() > 1 { Some(i) } else { None }))
                    .collect(),
            )
        }
        "alias"
        | "schema"
        | "database"
        | "group"
        | "incremental_strategy"
        | "where"
        | "store_failures_as"
        | "target_schema"
        | "target_database"
        | "updated_at" => string_or_null(v),
        "materialized" | "fail_calc" | "warn_if" | "error_if" | "delimiter" => match v {
            Value::String(_) => v.clone(),
            other => json!(crate::project::config::value_to_string(other)),
        },
        "severity" => match v.as_str() {
            Some(s) if s.eq_ignore_ascii_case("warn") || s.eq_ignore_ascii_case("error") => {
                v.clone()
            }
            _ => json!("ERROR"),
        },
        "limit" => match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => v.clone(),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(|n| json!(n))
                .unwrap_or(Value::Null),
            _ => Value::Null,
        },
        "meta" | "persist_docs" | "quoting" | "column_types" | "grants" => match v {
            Value::Object(_) => v.clone(),
            _ => json!({}),
        },
        "docs" => {
            let mut d = docs_default();
            if let Value::Object(o) = v {
                if let Some(show) = o.get("show").and_then(Value::as_bool) {
                    d["show"] = json!(show);
                }
                if let Some(color) = o.get("node_color").and_then(Value::as_str) {
                    d["node_color"] = json!(color);
                }
            }
            d
        }
        "contract" => {
            let mut c = json!({"enforced": false, "alias_types": true});
            if let Value::Object(o) = v {
                for k in ["enforced", "alias_types"] {
                    if let Some(b) = o.get(k).and_then(Value::as_bool) {
                        c[k] = json!(b);
                    }
                }
            }
            c
        }
        "unique_key" | "check_cols" => match v {
            Value::Null | Value::String(_) => v.clone(),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| json!(crate::project::config::value_to_string(t)))
                    .collect(),
            ),
            other => json!(crate::project::config::value_to_string(other)),
        },
        "on_configuration_change" => match v.as_str() {
            Some("apply" | "continue" | "fail") => v.clone(),
            _ => json!("apply"),
        },
        "access" if kind == ConfigKind::Model => match v.as_str() {
            Some("private" | "protected" | "public") => v.clone(),
            _ => json!("protected"),
        },
        _ => v.clone(),
    }
}

/// A node's config as dbt writes it: the class defaults overlaid with the node's config.
pub fn config_object<'a>(kind: ConfigKind, config: &'a Config) -> JsonObject<'a> {
    let defaults = defaults(kind);
    let mut m = JsonObject::with_capacity(defaults.len() + config.0.len(), 1024);
    for (k, _, bytes) in defaults {
        m.put_raw(k.as_str(), bytes);
    }
    for (k, v) in config.0.iter() {
        let key = dbt_key(k);
        m.put(key, &typed(kind, key, v));
    }
    m
}

/// The member `key` of a node's config as dbt writes it: the node's own, else the default of
/// its class (None when the class has no such key).
pub fn config_member(kind: ConfigKind, config: &Config, key: &str) -> Option<Value> {
    let own = (config.0.iter())
        .rfind(|(k, _)| dbt_key(k) == key)
        .map(|(_, v)| typed(kind, key, v));
    own.or_else(|| {
        let (_, value, _) = defaults(kind).iter().find(|(k, _, _)| k == key)?;
        Some(value.clone())
    })
}

/// A source's config as dbt writes it.
pub fn source_config_json(config: &Config, freshness: Value, loaded_at_field: Value) -> Value {
    let mut m = Map::new();
    m.insert("enabled".into(), json!(true));
    m.insert("event_time".into(), Value::Null);
    m.insert("freshness".into(), freshness);
    m.insert("loaded_at_field".into(), loaded_at_field);
    m.insert("loaded_at_query".into(), Value::Null);
    m.insert("meta".into(), json!({}));
    m.insert("tags".into(), json!([]));
    m.insert("static_analysis".into(), Value::Null);
    for (k, v) in config.0.iter() {
        if matches!(k.as_str(), "freshness" | "loaded_at_field") {
            continue;
        }
        let key = dbt_key(k);
        m.insert(key.to_string(), typed(ConfigKind::Node, key, v));
    }
    Value::Object(m)
}

/// A unit test's config as dbt writes it.
pub fn unit_test_config_json(config: &Config) -> Value {
    let mut m = Map::new();
    m.insert("tags".into(), json!([]));
    m.insert("meta".into(), json!({}));
    m.insert("enabled".into(), json!(true));
    m.insert("static_analysis".into(), Value::Null);
    for (k, v) in config.0.iter() {
        let key = dbt_key(k);
        m.insert(key.to_string(), typed(ConfigKind::Node, key, v));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_json(kind: ConfigKind, config: &Config) -> Value {
        serde_json::from_slice(&config_object(kind, config).into_bytes()).unwrap()
    }

    #[test]
    fn hooks_and_tags_take_dbt_shapes() {
        let config = Config::from_pairs([
            (
                "+pre-hook".to_string(),
                json!("grant select on {{ this }} to r"),
            ),
            ("tags".to_string(), json!("nightly")),
            ("materialized".to_string(), json!("table")),
            ("enabled".to_string(), json!("true")),
        ]);
        let v = config_json(ConfigKind::Model, &config);
        assert_eq!(
            v["pre-hook"],
            json!([{"sql": "grant select on {{ this }} to r", "transaction": true, "index": null}])
        );
        assert_eq!(v["post-hook"], json!([]));
        assert_eq!(v["tags"], json!(["nightly"]));
        assert_eq!(v["materialized"], "table");
        assert_eq!(v["enabled"], json!(true));
        assert_eq!(v["access"], "protected");
        assert!(v.get("pre_hook").is_none());
        let t = config_json(ConfigKind::Test, &Config::new());
        assert_eq!(t["severity"], "ERROR");
        assert!(t.get("pre-hook").is_none());
    }
}
