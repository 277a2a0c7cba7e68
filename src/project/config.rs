//! Node configuration: a map of keys to YAML/JSON values, merged the way dbt merges them.
//!
//! Configs come from three layers (project file tree < properties YAML `config:` < in-file
//! `config()`); [`Config::merge`] applies one layer over another. Keys are normalised so that
//! `pre-hook`, `+pre-hook` and `pre_hook` are the same key.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A node's configuration, sorted by key so it serializes deterministically.
///
/// The map is shared between clones and copied on the first change to one of them: a warm
/// command clones every node's config into the DAG, and most clones are never changed.
#[derive(Debug, Clone, Default, PartialEq, Hash)]
pub struct Config(pub Arc<BTreeMap<String, Value>>);

type Map = BTreeMap<String, Value>;
type JsonMap = serde_json::Map<String, Value>;

/// The distinct configs and `unrendered_config` maps of a run of nodes, which the nodes are
/// written with (see [`write_shared`]) and read back from ([`read_shared`]) by index: the
/// nodes of a project snapshot have a handful of distinct configs between thousands of nodes,
/// and each copy read would be a map of its own.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Shared {
    configs: Vec<Arc<Map>>,
    unrendered: Vec<Arc<JsonMap>>,
}

/// The distinct maps of one type written so far, and where each is, by a hash of its content.
struct Table<T> {
    maps: Vec<Arc<T>>,
    by_hash: HashMap<u64, Vec<u32>>,
}

impl<T: Hash + PartialEq> Table<T> {
    fn new() -> Table<T> {
        Table {
            maps: Vec::new(),
            by_hash: HashMap::new(),
        }
    }

    /// The index of `map` in the table, added if it is not in it yet.
    fn index_of(&mut self, map: &Arc<T>) -> u32 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        map.hash(&mut h);
        let same = self.by_hash.entry(h.finish()).or_default();
        if let Some(i) = same.iter().find(|i| *self.maps[**i as usize] == **map) {
            return *i;
        }
        let i = self.maps.len() as u32;
        self.maps.push(map.clone());
        same.push(i);
        i
    }
}

/// The tables being written on a thread, while [`write_shared`].
struct Writing {
    configs: Table<Map>,
    unrendered: Table<JsonMap>,
}

thread_local! {
    static WRITING: RefCell<Option<Writing>> = const { RefCell::new(None) };
    static READING: RefCell<Option<Shared>> = const { RefCell::new(None) };
}

/// Runs its function when dropped: clears a thread's table when the write or read using it
/// ends, even by a panic.
struct Reset(fn());

impl Drop for Reset {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Runs `write`, whose configs and `unrendered_config` maps serialized on this thread are
/// written as indexes into the returned table instead of whole. Read them back with
/// [`read_shared`] and that table.
pub fn write_shared<R>(write: impl FnOnce() -> R) -> (R, Shared) {
    let tables = Writing {
        configs: Table::new(),
        unrendered: Table::new(),
    };
    WRITING.with(|w| *w.borrow_mut() = Some(tables));
    let _reset = Reset(|| WRITING.with(|w| *w.borrow_mut() = None));
    let written = write();
    let shared = match WRITING.with(|w| w.borrow_mut().take()) {
        Some(w) => Shared {
            configs: w.configs.maps,
            unrendered: w.unrendered.maps,
        },
        None => Shared::default(),
    };
    (written, shared)
}

/// Runs `read`, which reads what [`write_shared`] wrote with `shared`, its table: each config
/// read is the table's map, shared, not a copy.
pub fn read_shared<R>(shared: Shared, read: impl FnOnce() -> R) -> R {
    READING.with(|r| *r.borrow_mut() = Some(shared));
    let _reset = Reset(|| READING.with(|r| *r.borrow_mut() = None));
    read()
}

/// The index `map` is written as, while [`write_shared`] on this thread.
fn written_index<T: Hash + PartialEq>(
    pick: impl FnOnce(&mut Writing) -> &mut Table<T>,
    map: &Arc<T>,
) -> Option<u32> {
    WRITING.with(|w| w.borrow_mut().as_mut().map(|t| pick(t).index_of(map)))
}

/// The map at the index read, while [`read_shared`] on this thread (an error when the index is
/// not in the table); otherwise the deserializer back, untouched, to read the map whole.
fn read_index<'de, D: Deserializer<'de>, T>(
    d: D,
    pick: impl FnOnce(&Shared) -> &Vec<Arc<T>>,
) -> Result<Result<Arc<T>, D>, D::Error> {
    let reading = READING.with(|r| r.borrow().is_some());
    if !reading {
        return Ok(Err(d));
    }
    let i = u32::deserialize(d)? as usize;
    READING.with(|r| {
        let r = r.borrow();
        let found = r.as_ref().and_then(|s| pick(s).get(i).cloned());
        found.map(Ok).ok_or_else(|| {
            serde::de::Error::custom(format!("shared config {i} is not in its table"))
        })
    })
}

impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match written_index(|w| &mut w.configs, &self.0) {
            Some(i) => s.serialize_u32(i),
            None => self.0.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Config, D::Error> {
        match read_index(d, |s| &s.configs)? {
            Ok(map) => Ok(Config(map)),
            Err(d) => Ok(Config(Arc::new(Map::deserialize(d)?))),
        }
    }
}

/// Writes a node's `unrendered_config`, as an index while [`write_shared`].
pub fn write_map<S: Serializer>(map: &Arc<JsonMap>, s: S) -> Result<S::Ok, S::Error> {
    match written_index(|w| &mut w.unrendered, map) {
        Some(i) => s.serialize_u32(i),
        None => map.serialize(s),
    }
}

/// Reads a node's `unrendered_config`, from the table while [`read_shared`].
pub fn read_map<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<JsonMap>, D::Error> {
    match read_index(d, |s| &s.unrendered)? {
        Ok(map) => Ok(map),
        Err(d) => Ok(Arc::new(JsonMap::deserialize(d)?)),
    }
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
    fn configs_written_shared_are_read_back_as_one_map_each() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Node {
            config: Config,
            #[serde(serialize_with = "write_map", deserialize_with = "read_map")]
            unrendered: Arc<JsonMap>,
        }
        let node = |materialized: &str, tags: &[&str]| Node {
            config: Config::from_pairs([
                ("materialized".to_string(), json!(materialized)),
                ("tags".to_string(), json!(tags)),
            ]),
            unrendered: Arc::new(
                json!({"+materialized": materialized})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        };
        let nodes = vec![
            node("view", &["a"]),
            node("view", &["a"]),
            node("table", &[]),
            Node {
                config: Config::default(),
                unrendered: Arc::default(),
            },
        ];
        let (bytes, shared) = write_shared(|| rmp_serde::to_vec(&nodes).unwrap());
        assert_eq!((shared.configs.len(), shared.unrendered.len()), (3, 3));
        // Each map is written once, in the table: the nodes hold its index.
        let whole = rmp_serde::to_vec(&nodes).unwrap();
        assert!(bytes.len() < whole.len());
        let back: Vec<Node> = read_shared(shared, || rmp_serde::from_slice(&bytes).unwrap());
        assert_eq!(back, nodes);
        assert!(Arc::ptr_eq(&back[0].config.0, &back[1].config.0));
        assert!(Arc::ptr_eq(&back[0].unrendered, &back[1].unrendered));
        assert!(!Arc::ptr_eq(&back[0].config.0, &back[2].config.0));
        // A change to one is made to its own copy.
        let mut changed = back[1].config.clone();
        changed.set("materialized", json!("table"));
        assert_eq!(back[0].config.get_str("materialized"), Some("view"));
        // Outside `write_shared` and `read_shared`, configs are written and read whole.
        let plain: Vec<Node> = rmp_serde::from_slice(&whole).unwrap();
        assert_eq!(plain, nodes);
        assert_eq!(
            serde_json::to_value(&nodes[0].config).unwrap(),
            json!({"materialized": "view", "tags": ["a"]})
        );
        // An index outside the table is an error, not a panic.
        let short = Shared {
            configs: vec![],
            unrendered: vec![],
        };
        assert!(read_shared(short, || rmp_serde::from_slice::<Vec<Node>>(&bytes)).is_err());
    }
}
