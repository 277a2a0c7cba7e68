//! One manifest entry per resource, in the shape of dbt's v12 classes (`Model`, `Seed`,
//! `Snapshot`, `Analysis`, `SingularTest`, `GenericTest`, `SourceDefinition`, `Macro`,
//! `Documentation`, `UnitTestDefinition`): every key dbt writes and no other, since the published
//! schema rejects unknown keys.

use super::config::{
    ConfigKind, config_member, config_object, source_config_json, unit_test_config_json,
};
use crate::artifacts::JsonObject;
use crate::compile::{Manifest, ManifestNode};
use crate::project::{Column, Freshness, ResourceType, Source, TestTarget, UnitTest};
use serde_json::{Map, Value, json};

/// The docs blocks a description calls with `doc('name')` (or `doc('package', 'name')`), as
/// unique_ids: dbt's `doc_blocks`.
pub fn doc_blocks(manifest: &Manifest, package: &str, description: &str) -> Value {
    static DOC_CALL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"doc\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"]\s*)?\)"#)
            .expect("valid regex")
    });
    let docs = &manifest.project.docs;
    let mut out = Vec::new();
    for c in DOC_CALL.captures_iter(description) {
        let id = match (c.get(1), c.get(2)) {
            (Some(pkg), Some(name)) => format!("doc.{}.{}", pkg.as_str(), name.as_str()),
            (Some(name), None) => {
                let name = name.as_str();
                let own = format!("doc.{package}.{name}");
                let root = format!("doc.{}.{name}", manifest.project.name());
                if docs.contains_key(&root) {
                    root
                } else if docs.contains_key(&own) {
                    own
                } else {
                    docs.values()
                        .find(|d| d.name == name)
                        .map(|d| d.unique_id.clone())
                        .unwrap_or(own)
                }
            }
            _ => continue,
        };
        if !out.contains(&id) {
            out.push(id);
        }
    }
    json!(out)
}

/// A column as dbt's `ColumnInfo`; the fields in key order, as the manifest writes them.
#[derive(serde::Serialize)]
pub struct ColumnInfo<'a> {
    config: ColumnConfig<'a>,
    constraints: Vec<Value>,
    data_type: &'a Option<String>,
    description: String,
    doc_blocks: Value,
    granularity: (),
    meta: &'a std::collections::BTreeMap<String, Value>,
    name: &'a str,
    quote: Option<bool>,
    tags: &'a [String],
}

#[derive(serde::Serialize)]
struct ColumnConfig<'a> {
    meta: &'a std::collections::BTreeMap<String, Value>,
    tags: &'a [String],
}

/// Columns as dbt's `ColumnInfo`, by name.
pub fn columns<'a>(
    manifest: &Manifest,
    package: &str,
    columns: &'a [Column],
) -> std::collections::BTreeMap<&'a str, ColumnInfo<'a>> {
    let renderer = manifest.renderer();
    (columns.iter())
        .map(|c| {
            let info = ColumnInfo {
                config: ColumnConfig {
                    meta: &c.meta,
                    tags: &c.tags,
                },
                constraints: (c.constraints.iter())
                    .map(|k| constraint_json(k, false))
                    .collect(),
                data_type: &c.data_type,
                description: renderer.render_description(&c.description),
                doc_blocks: doc_blocks(manifest, package, &c.description),
                granularity: (),
                meta: &c.meta,
                name: &c.name,
                quote: c.quote,
                tags: &c.tags,
            };
            (c.name.as_str(), info)
        })
        .collect()
}

/// [`columns`] as a JSON value.
pub fn columns_json(manifest: &Manifest, package: &str, cols: &[Column]) -> Value {
    serde_json::to_value(columns(manifest, package, cols)).unwrap_or_default()
}

/// A node's `checksum`, `depends_on` and `contract`, and a `refs` entry, in key order.
#[derive(serde::Serialize)]
struct ChecksumJson<'a> {
    checksum: &'a str,
    name: &'a str,
}

#[derive(serde::Serialize)]
struct DependsOnJson<'a> {
    macros: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<Vec<&'a String>>,
}

#[derive(serde::Serialize)]
struct ContractJson {
    alias_types: bool,
    checksum: Value,
    enforced: bool,
}

#[derive(serde::Serialize)]
struct RefJson<'a> {
    name: &'a str,
    package: &'a Option<String>,
    version: (),
}

/// `<target-path>/compiled/<project>/...`: where dbt says a node's compiled SQL is.
fn compiled_path(manifest: &Manifest, mn: &ManifestNode) -> String {
    let target = manifest.project.file.target_path.trim_end_matches('/');
    format!(
        "{target}/{}",
        super::compiled_rel_path(manifest, mn).to_string_lossy()
    )
}

/// A model, seed, snapshot, analysis or test (enabled, or disabled with `compiled = false`).
pub fn node_json(manifest: &Manifest, mn: &ManifestNode, keys: &PrimaryKeys) -> Value {
    serde_json::from_slice(&node_object(manifest, mn, keys).into_bytes()).unwrap_or_default()
}

/// [`node_json`] written straight to bytes: what the manifest holds for the node.
pub fn node_object<'a>(
    manifest: &'a Manifest,
    mn: &'a ManifestNode,
    keys: &'a PrimaryKeys,
) -> JsonObject<'a> {
    let mut v = JsonObject::with_capacity(48, 3072);
    common_fields(&mut v, manifest, mn);
    let n = &mn.node;
    if n.resource_type == ResourceType::Seed {
        let depends_on = DependsOnJson {
            macros: &mn.depends_on_macros,
            nodes: None,
        };
        v.put("depends_on", &depends_on);
        return v;
    }
    compiled_fields(&mut v, manifest, mn);
    match n.resource_type {
        ResourceType::Model => {
            v.put("access", &access(&n.config));
            let constraints: Vec<Value> = (n.constraints.iter())
                .map(|k| constraint_json(k, true))
                .collect();
            v.put("constraints", &constraints);
            v.put("deprecation_date", &());
            v.put("latest_version", &());
            v.put("primary_key", keys.of_model(&n.name));
            v.put("time_spine", &());
            v.put("version", &());
        }
        ResourceType::Test => {
            for (k, val) in generic_test_fields(manifest, mn) {
                v.put(k, &val);
            }
        }
        _ => {}
    }
    v
}

/// Where a node's relation is: its own, the audit schema for tests, the target otherwise.
pub(crate) fn database_and_schema(manifest: &Manifest, mn: &ManifestNode) -> (String, String) {
    let target = &manifest.target;
    match (&mn.relation, mn.node.resource_type) {
        (Some(rel), _) => (
            rel.database
                .clone()
                .unwrap_or_else(|| target.database.clone()),
            rel.schema.clone(),
        ),
        (None, ResourceType::Test) => (
            target.database.clone(),
            crate::exec::audit_schema(&target.schema),
        ),
        (None, _) => (target.database.clone(), target.schema.clone()),
    }
}

/// The fields every node class has, seeds included. Put in key order, the order they are
/// written in, so the object needs no sorting of these.
fn common_fields<'a>(v: &mut JsonObject<'a>, manifest: &Manifest, mn: &'a ManifestNode) {
    let n = &mn.node;
    let kind = ConfigKind::of(n.resource_type);
    let (database, schema) = database_and_schema(manifest, mn);
    let config = |key: &str| config_member(kind, &n.config, key).unwrap_or_default();
    v.put("alias", n.alias());
    v.put("build_path", &());
    let checksum = ChecksumJson {
        checksum: n.checksum.value(),
        name: n.checksum.name(),
    };
    v.put("checksum", &checksum);
    v.put("columns", &columns(manifest, &n.package_name, &n.columns));
    v.put_object("config", config_object(kind, &n.config));
    v.put("database", &database);
    let description = manifest.renderer().render_description(&n.description);
    v.put("description", &description);
    let doc_blocks = doc_blocks(manifest, &n.package_name, &n.description);
    v.put("doc_blocks", &doc_blocks);
    let docs = config_member(kind, &n.config, "docs");
    v.put(
        "docs",
        &docs.unwrap_or_else(|| json!({"show": true, "node_color": null})),
    );
    v.put("fqn", &n.fqn);
    v.put("group", &config("group"));
    v.put("meta", &config("meta"));
    v.put("name", &n.name);
    v.put("original_file_path", &n.original_file_path);
    v.put("package_name", &n.package_name);
    let patch_path = (n.patch_path.as_ref()).map(|p| format!("{}://{}", n.package_name, p));
    v.put("patch_path", &patch_path);
    v.put("path", &n.path);
    v.put("raw_code", raw_code(n));
    let relation_name = match &mn.relation {
        Some(rel) if !mn.is_ephemeral() => Some(rel.render()),
        _ => None,
    };
    v.put("relation_name", &relation_name);
    v.put("resource_type", n.resource_type.as_str());
    v.put("schema", &schema);
    v.put("tags", &config("tags"));
    v.put("unique_id", &n.unique_id);
    v.put("unrendered_config", &n.unrendered_config);
}

/// The fields of nodes with SQL (`CompiledNode`): language, references, compiled code,
/// contract; in key order.
fn compiled_fields<'a>(v: &mut JsonObject<'a>, manifest: &Manifest, mn: &'a ManifestNode) {
    if let Some(sql) = &mn.compiled_sql {
        v.put("compiled", &true);
        v.put("compiled_code", sql);
    }
    let compiled_path = (mn.compiled_sql.as_ref()).map(|_| compiled_path(manifest, mn));
    v.put("compiled_path", &compiled_path);
    let contract = ContractJson {
        alias_types: true,
        checksum: contract_checksum(mn),
        enforced: crate::contract::enforced(&mn.node),
    };
    v.put("contract", &contract);
    let nodes: Vec<&String> = (mn.depends_on.iter())
        .filter(|d| !d.starts_with("macro."))
        .collect();
    let depends_on = DependsOnJson {
        macros: &mn.depends_on_macros,
        nodes: Some(nodes),
    };
    v.put("depends_on", &depends_on);
    if mn.compiled_sql.is_some() {
        v.put("extra_ctes", &[(); 0]);
        v.put("extra_ctes_injected", &true);
    }
    v.put("functions", &[(); 0]);
    v.put("language", "sql");
    v.put("metrics", &[(); 0]);
    let refs: Vec<RefJson> = (mn.refs.iter())
        .map(|r| RefJson {
            name: &r.name,
            package: &r.package,
            version: (),
        })
        .collect();
    v.put("refs", &refs);
    let sources: Vec<[&String; 2]> = mn.sources.iter().map(|(s, t)| [s, t]).collect();
    v.put("sources", &sources);
}

/// A generic test's own fields: the tested column and node, and how the test is invoked.
fn generic_test_fields(manifest: &Manifest, mn: &ManifestNode) -> Map<String, Value> {
    let mut v = Map::new();
    let Some(tm) = &mn.node.test_metadata else {
        return v;
    };
    let attached = match &tm.target {
        TestTarget::Source { .. } => None,
        TestTarget::Ref { name } => mn
            .depends_on
            .iter()
            .find(|d| manifest.nodes.get(*d).is_some_and(|p| p.node.name == *name))
            .cloned(),
    };
    // The properties file key the test was declared under: `models.orders`, `sources.raw`.
    let file_key_name = match &tm.target {
        TestTarget::Ref { name } => {
            let yaml_key = attached
                .as_deref()
                .and_then(|id| manifest.nodes.get(id))
                .map(|p| match p.node.resource_type {
                    ResourceType::Seed => "seeds",
                    ResourceType::Snapshot => "snapshots",
                    ResourceType::Analysis => "analyses",
                    _ => "models",
                })
                .unwrap_or("models");
            format!("{yaml_key}.{name}")
        }
        TestTarget::Source { source, .. } => format!("sources.{source}"),
    };
    let mut kwargs: Map<String, Value> = tm
        .kwargs
        .iter()
        .map(|(k, val)| (k.clone(), val.clone()))
        .collect();
    kwargs.insert(
        "model".into(),
        json!(crate::project::identity::test_model_arg(&tm.target)),
    );
    v.insert("column_name".into(), json!(tm.column_name));
    v.insert("file_key_name".into(), json!(file_key_name));
    v.insert("attached_node".into(), json!(attached));
    v.insert(
        "test_metadata".into(),
        json!({"name": tm.name, "kwargs": kwargs, "namespace": tm.namespace}),
    );
    v
}

/// dbt's inferred primary key of each model, by model name: the columns tested both `unique`
/// (or `unique_combination_of_columns`) and `not_null`, else those tested unique.
pub struct PrimaryKeys(std::collections::BTreeMap<String, Vec<String>>);

impl PrimaryKeys {
    /// Reads every generic test of the manifest once.
    pub fn of(manifest: &Manifest) -> PrimaryKeys {
        use std::collections::{BTreeMap, BTreeSet};
        let mut unique: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        let mut not_null: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        let tests = manifest
            .nodes
            .values()
            .map(|mn| &*mn.node)
            .chain(manifest.project.disabled.values());
        for node in tests {
            let Some(tm) = &node.test_metadata else {
                continue;
            };
            let TestTarget::Ref { name: model } = &tm.target else {
                continue;
            };
            let columns: Vec<String> = match (
                tm.kwargs.get("column_name"),
                tm.kwargs.get("combination_of_columns"),
            ) {
                (Some(Value::String(c)), _) => vec![c.clone()],
                (_, Some(Value::Array(cols))) => cols
                    .iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            let set = match tm.name.as_str() {
                "unique" | "unique_combination_of_columns" => &mut unique,
                "not_null" => &mut not_null,
                _ => continue,
            };
            set.entry(model.as_str()).or_default().extend(columns);
        }
        let keys = unique
            .into_iter()
            .map(|(model, unique)| {
                let both: Vec<String> = not_null
                    .get(model)
                    .map(|nn| nn.intersection(&unique).cloned().collect())
                    .unwrap_or_default();
                let key = if both.is_empty() {
                    unique.into_iter().collect()
                } else {
                    both
                };
                (model.to_string(), key)
            })
            .collect();
        PrimaryKeys(keys)
    }

    fn of_model(&self, model: &str) -> &[String] {
        self.0.get(model).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A constraint in dbt's shape; only a model-level one has `columns`.
fn constraint_json(k: &crate::project::Constraint, model_level: bool) -> Value {
    let mut v = json!({
        "type": k.kind,
        "name": k.name,
        "expression": k.expression,
        "warn_unenforced": k.warn_unenforced,
        "warn_unsupported": k.warn_unsupported,
        "to": k.to,
        "to_columns": k.to_columns,
    });
    if model_level {
        v["columns"] = json!(k.columns);
    }
    v
}

/// dbt's checksum of an enforced model contract (`build_contract_checksum`): the columns
/// sorted by name with their data types and constraints, and for materializations that enforce
/// constraints, the materialization.
fn contract_checksum(mn: &ManifestNode) -> Value {
    let n = &mn.node;
    if n.resource_type != ResourceType::Model || !crate::contract::enforced(n) {
        return Value::Null;
    }
    let mut columns: Vec<&Column> = n.columns.iter().collect();
    columns.sort_by(|a, b| a.name.cmp(&b.name));
    let mut state = String::new();
    for c in columns {
        state.push_str(&format!(
            "|{}{}[]",
            c.name,
            c.data_type.as_deref().unwrap_or("None")
        ));
    }
    let materialized = mn.materialized();
    if matches!(materialized, "table" | "incremental") {
        state.push_str(materialized);
        state.push_str("[]");
    }
    json!(crate::project::identity::sha256_hex(state.as_bytes()))
}

/// dbt's `raw_code`: the stripped file, the block body of a snapshot, nothing for a seed.
pub fn raw_code(n: &crate::project::Node) -> &str {
    match n.resource_type {
        ResourceType::Snapshot => &n.raw_code,
        _ => crate::project::identity::python_strip(&n.raw_code),
    }
}

fn access(config: &crate::project::Config) -> Value {
    match config.get_str("access") {
        Some(a @ ("private" | "protected" | "public")) => json!(a),
        _ => json!("protected"),
    }
}

fn freshness_json(f: Option<&Freshness>) -> Value {
    match f {
        None => Value::Null,
        Some(f) => json!({
            "warn_after": f.warn_after,
            "error_after": f.error_after,
            "filter": f.filter,
        }),
    }
}

/// A source table as dbt's `SourceDefinition`.
pub fn source_json(manifest: &Manifest, s: &Source) -> Value {
    let renderer = manifest.renderer();
    let rel = manifest.source_relations.get(&s.unique_id);
    let freshness = freshness_json(s.freshness.as_ref());
    let config = source_config_json(&s.config, freshness.clone(), json!(s.loaded_at_field));
    json!({
        "database": rel.and_then(|r| r.database.clone()).unwrap_or_else(|| manifest.target.database.clone()),
        "schema": rel.map(|r| r.schema.clone()).unwrap_or_else(|| s.schema.clone()),
        "name": s.name,
        "resource_type": "source",
        "package_name": s.package_name,
        "path": s.original_file_path,
        "original_file_path": s.original_file_path,
        "unique_id": s.unique_id,
        "fqn": s.fqn,
        "source_name": s.source_name,
        "source_description": renderer.render_description(&s.source_description),
        "loader": s.loader,
        "identifier": rel.map(|r| r.identifier.clone()).unwrap_or_else(|| s.identifier.clone()),
        "quoting": {"database": null, "schema": null, "identifier": null, "column": null},
        "loaded_at_field": s.loaded_at_field,
        "loaded_at_query": null,
        "freshness": freshness,
        "external": null,
        "description": renderer.render_description(&s.description),
        "columns": columns_json(manifest, &s.package_name, &s.columns),
        "meta": config["meta"],
        "source_meta": {},
        "tags": config["tags"],
        "config": config,
        "patch_path": null,
        "unrendered_config": source_unrendered_config(manifest, s, &config),
        "relation_name": rel.map(|r| r.render()),
        "unrendered_database": s.database,
        "unrendered_schema": s.schema,
        "doc_blocks": doc_blocks(manifest, &s.package_name, &s.description),
    })
}

/// A source's `unrendered_config` as dbt writes it: the project's `sources:` configs as written,
/// then the table's freshness, loaded_at_field, meta and tags.
fn source_unrendered_config(manifest: &Manifest, s: &Source, config: &Value) -> Value {
    let project = &manifest.project;
    let file = project
        .packages
        .get(&s.package_name)
        .unwrap_or(&project.file);
    let mut out = file.unrendered_config_for(ResourceType::Source, &s.fqn);
    for key in [
        "freshness",
        "loaded_at_field",
        "loaded_at_query",
        "meta",
        "tags",
    ] {
        out.insert(key.to_string(), config[key].clone());
    }
    Value::Object(out)
}

/// A macro as dbt's `Macro`.
pub fn macro_json(m: &crate::project::Macro) -> Value {
    let supported_languages = if m.name.starts_with("materialization_") {
        json!(["sql"])
    } else {
        Value::Null
    };
    json!({
        "name": m.name,
        "resource_type": "macro",
        "package_name": m.package_name,
        "path": m.original_file_path,
        "original_file_path": m.original_file_path,
        "unique_id": m.unique_id,
        "macro_sql": m.macro_sql,
        "depends_on": {"macros": []},
        "description": m.description,
        "meta": {},
        "docs": {"show": true, "node_color": null},
        "config": {"meta": {}, "docs": {"show": true, "node_color": null}},
        "patch_path": m.patch_path.as_ref().map(|p| format!("{}://{}", m.package_name, p)),
        "arguments": m.documented_arguments.iter().map(|a| json!({
            "name": a.name, "type": a.data_type, "description": a.description,
        })).collect::<Vec<_>>(),
        "supported_languages": supported_languages,
    })
}

/// A docs block as dbt's `Documentation`; `path` is relative to the resource path it was found in.
pub fn doc_json(manifest: &Manifest, d: &crate::project::DocBlock) -> Value {
    json!({
        "name": d.name,
        "resource_type": "doc",
        "package_name": d.package_name,
        "path": resource_relative(manifest, &d.package_name, &d.original_file_path),
        "original_file_path": d.original_file_path,
        "unique_id": d.unique_id,
        "block_contents": d.block_contents,
    })
}

/// A file's path relative to the resource path (models/, macros/, ...) that holds it.
fn resource_relative(manifest: &Manifest, package: &str, rel: &str) -> String {
    let project = &manifest.project;
    let file = if package == project.name() {
        &project.file
    } else {
        match project.packages.get(package) {
            Some(f) => f,
            None => return rel.to_string(),
        }
    };
    // A package's files show as `<install path>/<folder>/<path>`.
    let prefix = file
        .file_name
        .rsplit_once('/')
        .map(|(p, _)| format!("{p}/"))
        .unwrap_or_default();
    let inner = rel.strip_prefix(&prefix).unwrap_or(rel);
    let mut paths: Vec<&String> = file
        .model_paths
        .iter()
        .chain(&file.seed_paths)
        .chain(&file.snapshot_paths)
        .chain(&file.analysis_paths)
        .chain(&file.test_paths)
        .chain(&file.macro_paths)
        .chain(file.docs_paths.iter().flatten())
        .collect();
    paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for base in paths {
        let base = base.trim_end_matches('/');
        if let Some(rest) = inner.strip_prefix(&format!("{base}/")) {
            return rest.to_string();
        }
    }
    inner.to_string()
}

fn unit_data_json(data: &crate::project::UnitTestData) -> Value {
    let rows = match &data.text {
        Some(text) => json!(text),
        None => json!(data.rows),
    };
    json!({"rows": rows, "format": data.format, "fixture": data.fixture})
}

/// A unit test as dbt's `UnitTestDefinition`.
pub fn unit_test_json(manifest: &Manifest, u: &UnitTest) -> Value {
    let model_id = manifest
        .nodes
        .values()
        .find(|mn| mn.node.resource_type == ResourceType::Model && mn.node.name == u.model)
        .map(|mn| mn.node.unique_id.clone());
    let given: Vec<Value> = u
        .given
        .iter()
        .map(|g| {
            let mut d = unit_data_json(&g.data);
            d["input"] = json!(g.input);
            d
        })
        .collect();
    let overrides = if u.overrides.is_empty() {
        Value::Null
    } else {
        json!(u.overrides)
    };
    json!({
        "model": u.model,
        "given": given,
        "expect": unit_data_json(&u.expect),
        "name": u.name,
        "resource_type": "unit_test",
        "package_name": u.package_name,
        "path": resource_relative(manifest, &u.package_name, &u.original_file_path),
        "original_file_path": u.original_file_path,
        "unique_id": u.unique_id,
        "fqn": u.fqn,
        "description": u.description,
        "overrides": overrides,
        "depends_on": {"macros": [], "nodes": model_id.into_iter().collect::<Vec<_>>()},
        "config": unit_test_config_json(&u.config),
        "checksum": crate::project::identity::unit_test_checksum(u),
        "schema": manifest.target.schema,
        "versions": null,
        "version": null,
    })
}
