//! Node configuration: a map of keys to YAML/JSON values, merged the way dbt merges them.
//!
//! Configs come from three layers (project file tree < properties YAML `config:` < in-file
//! `config()`); [`Config::merge`] applies one layer over another. Keys are normalised so that
//! `pre-hook`, `+pre-hook` and `pre_hook` are the same key.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A node's configuration, sorted by key so it serializes deterministically.
///
/// The map is shared between clones and copied on the first change to one of them: a warm
/// command clones every node's config into the DAG, and most clones are never changed.
#[derive(Debug, Clone, Default, PartialEq, Hash, Serialize)]
#[serde(transparent)]
pub struct Config(pub Arc<BTreeMap<String, Value>>);

type Map = BTreeMap<String, Value>;
type JsonMap = serde_json::Map<String, Value>;

/// While [`sharing`]: the maps of one type read so far on this thread, by a hash of their
/// content.
type Seen<T> = RefCell<Option<HashMap<u64, Vec<Arc<T>>>>>;

thread_local! {
    static CONFIGS: Seen<Map> = const { RefCell::new(None) };
    static JSON_MAPS: Seen<JsonMap> = const { RefCell::new(None) };
}

/// Runs `read` with the configs (and `unrendered_config` maps) it reads on this thread shared:
/// a map equal to one read before is that one, not a copy of it. The nodes of a project
/// snapshot have a handful of distinct configs between thousands of nodes; each copy would be
/// a map of its own.
pub fn sharing<R>(read: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CONFIGS.with(|s| *s.borrow_mut() = None);
            JSON_MAPS.with(|s| *s.borrow_mut() = None);
        }
    }
    CONFIGS.with(|s| *s.borrow_mut() = Some(HashMap::new()));
    JSON_MAPS.with(|s| *s.borrow_mut() = Some(HashMap::new()));
    let _reset = Reset;
    read()
}

/// `map`, or an equal map read before it while [`sharing`].
fn shared<T: Hash + PartialEq>(seen: &'static std::thread::LocalKey<Seen<T>>, map: T) -> Arc<T> {
    let mut map = Some(map);
    let found = seen.with(|s| {
        let mut s = s.borrow_mut();
        let seen = s.as_mut()?;
        let map = map.take()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        map.hash(&mut h);
        let same = seen.entry(h.finish()).or_default();
        if let Some(m) = same.iter().find(|m| ***m == map) {
            return Some(m.clone());
        }
        let m = Arc::new(map);
        same.push(m.clone());
        Some(m)
    });
    found.unwrap_or_else(|| Arc::new(map.expect("taken only when shared")))
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Config, D::Error> {
        let map = Map::deserialize(d)?;
        if map.is_empty() {
            return Ok(Config::default());
        }
        Ok(Config(shared(&CONFIGS, map)))
    }
}

/// Reads a node's `unrendered_config`, shared with an equal one read before while [`sharing`].
pub fn shared_map<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<JsonMap>, D::Error> {
    let map = JsonMap::deserialize(d)?;
    if map.is_empty() {
        return Ok(Arc::default());
    }
    Ok(shared(&JSON_MAPS, map))
}

/// Keys whose values accumulate across layers instead of replacing each other.
const APPEND_KEYS: &[&str] = &["tags", "pre_hook", "post_hook"];
/// Keys whose map values are merged key by key.
const MERGE_KEYS: &[&str] = &["meta", "docs", "column_types", "grants"];

/// Normalises a config key: strips a leading `+`, turns `-` into `_`.
pub fn normalize_key(key: &str) -> String {
    key.trim_start_matches('+').replace('-', "_")
}

/// dbt's spelling of a normalised config key: the hooks are `pre-hook` and `post-hook`.
pub fn dbt_key(key: &str) -> &str {
    match key {
        "pre_hook" => "pre-hook",
        "post_hook" => "post-hook",
        other => other,
    }
}

impl Config {
    /// An empty config.
    pub fn new() -> Config {
        Config::default()
    }

    /// Builds a config from key/value pairs, normalising keys.
    pub fn from_pairs<I: IntoIterator<Item = (String, Value)>>(pairs: I) -> Config {
        let mut c = Config::new();
        for (k, v) in pairs {
            c.set(&k, v);
        }
        c
    }

    /// Sets one key (normalised), merging per dbt rules with any existing value.
    pub fn set(&mut self, key: &str, value: Value) {
        let key = normalize_key(key);
        let value = normalize_value(&key, value);
        let map = Arc::make_mut(&mut self.0);
        match map.get_mut(&key) {
            Some(existing) if APPEND_KEYS.contains(&key.as_str()) => {
                let mut items = as_list(existing.take());
                for v in as_list(value) {
                    if key != "tags" || !items.contains(&v) {
                        items.push(v);
                    }
                }
                *existing = Value::Array(items);
            }
            Some(Value::Object(existing)) if MERGE_KEYS.contains(&key.as_str()) => {
                if let Value::Object(new) = value {
                    for (k, v) in new {
                        existing.insert(k, v);
                    }
                } else {
                    map.insert(key, value);
                }
            }
            _ => {
                map.insert(key, value);
            }
        }
    }

    /// Applies `other` over `self` (other wins; tags and hooks accumulate; meta merges).
    pub fn merge(&mut self, other: &Config) {
        for (k, v) in other.0.iter() {
            self.set(k, v.clone());
        }
    }

    /// The raw value of a key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        // Callers nearly always ask for a key already normal: it is looked up as it is, with
        // no new string made for it.
        match key.starts_with('+') || key.contains('-') {
            true => self.0.get(&normalize_key(key)),
            false => self.0.get(key),
        }
    }

    /// A string-valued key.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// A seed's `delimiter` as one byte (`,` by default; `\t` or `tab` for tabs).
    pub fn seed_delimiter(&self, file: &str) -> crate::error::Result<u8> {
        use crate::error::{Diagnostic, Error, ErrorKind, Location};
        Ok(match self.get_str("delimiter") {
            Some(d) if d.len() == 1 => d.as_bytes()[0],
            Some("\\t") | Some("tab") => b'\t',
            Some(d) => {
                return Err(Error::from(
                    Diagnostic::new(
                        ErrorKind::Project,
                        format!("seed delimiter must be one character, got `{d}`"),
                    )
                    .at(Location::file(file))
                    .with_hint("set `delimiter: \";\"` (or `\\t` for tabs) in the seed's config"),
                ));
            }
            None => b',',
        })
    }

    /// A boolean-valued key (accepts `true`/`false` strings as YAML users write them).
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" => Some(true),
                "false" | "no" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// A key that may be a single string or a list of strings.
    pub fn get_list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.iter().map(value_to_string).collect(),
            Some(v) => vec![value_to_string(v)],
        }
    }

    /// `materialized`, defaulting to `view` as dbt does.
    pub fn materialized(&self) -> &str {
        self.get_str("materialized").unwrap_or("view")
    }

    /// Whether the node is enabled (default true).
    pub fn enabled(&self) -> bool {
        self.get_bool("enabled").unwrap_or(true)
    }

    /// The node's tags.
    pub fn tags(&self) -> Vec<String> {
        self.get_list("tags")
    }

    /// Renders a config value as text for selectors and messages.
    pub fn display(&self, key: &str) -> Option<String> {
        self.get(key).map(value_to_string)
    }
}

/// Tags are always a list; hooks are always a list of SQL strings.
fn normalize_value(key: &str, value: Value) -> Value {
    if APPEND_KEYS.contains(&key) {
        Value::Array(as_list(value))
    } else {
        value
    }
}

fn as_list(v: Value) -> Vec<Value> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        other => vec![other],
    }
}

/// Text of a JSON value without quotes for strings.
pub fn value_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Converts a YAML value to JSON. Non-string keys become their text; YAML tags are dropped.
pub fn yaml_to_json(v: &serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (yaml_key(k), yaml_to_json(v)))
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(&t.value),
    }
}

/// The text of a YAML mapping key.
pub fn yaml_key(k: &serde_yaml::Value) -> String {
    match k {
        serde_yaml::Value::String(s) => s.clone(),
        other => value_to_string(&yaml_to_json(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_layers_win_and_tags_accumulate() {
        let mut project = Config::from_pairs([
            ("+materialized".into(), json!("view")),
            ("+tags".into(), json!("nightly")),
            ("pre-hook".into(), json!("select 1")),
            ("+meta".into(), json!({"owner": "a", "tier": 1})),
        ]);
        let yaml = Config::from_pairs([
            ("materialized".into(), json!("table")),
            ("tags".into(), json!(["finance", "nightly"])),
            ("meta".into(), json!({"owner": "b"})),
        ]);
        let in_file = Config::from_pairs([("pre_hook".into(), json!(["select 2"]))]);
        project.merge(&yaml);
        project.merge(&in_file);
        assert_eq!(project.materialized(), "table");
        assert_eq!(project.tags(), vec!["nightly", "finance"]);
        assert_eq!(project.get_list("pre_hook"), vec!["select 1", "select 2"]);
        assert_eq!(project.get("meta"), Some(&json!({"owner": "b", "tier": 1})));
    }

    #[test]
    fn equal_configs_read_while_sharing_are_one_map() {
        let text = r#"[{"materialized":"view","tags":["a"]},{"materialized":"view","tags":["a"]},{"materialized":"table"},{}]"#;
        let read = || serde_json::from_str::<Vec<Config>>(text).unwrap();
        let shared = sharing(read);
        assert!(Arc::ptr_eq(&shared[0].0, &shared[1].0));
        assert!(!Arc::ptr_eq(&shared[0].0, &shared[2].0));
        assert_eq!(shared[0].get_str("materialized"), Some("view"));
        assert_eq!(shared[2].get_str("materialized"), Some("table"));
        assert!(shared[3].0.is_empty());
        // A change to one is made to its own copy.
        let mut changed = shared[1].clone();
        changed.set("materialized", json!("table"));
        assert_eq!(shared[0].get_str("materialized"), Some("view"));
        // Outside `sharing`, each config read is a map of its own, equal all the same.
        let apart = read();
        assert!(!Arc::ptr_eq(&apart[0].0, &apart[1].0));
        assert_eq!(apart, shared);
    }

    #[test]
    fn equal_unrendered_configs_read_while_sharing_are_one_map() {
        #[derive(Deserialize)]
        struct Node {
            #[serde(deserialize_with = "shared_map")]
            unrendered: Arc<JsonMap>,
        }
        let text =
            r#"[{"unrendered":{"+tags":"a"}},{"unrendered":{"+tags":"a"}},{"unrendered":{}}]"#;
        let read = || serde_json::from_str::<Vec<Node>>(text).unwrap();
        let shared = sharing(read);
        assert!(Arc::ptr_eq(&shared[0].unrendered, &shared[1].unrendered));
        assert_eq!(shared[0].unrendered.get("+tags"), Some(&json!("a")));
        assert!(shared[2].unrendered.is_empty());
        let apart = read();
        assert!(!Arc::ptr_eq(&apart[0].unrendered, &apart[1].unrendered));
        assert_eq!(apart[0].unrendered, shared[1].unrendered);
    }
}
