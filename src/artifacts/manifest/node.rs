//! One manifest entry per resource, in the shape of dbt's v12 classes (`Model`, `Seed`,
//! `Snapshot`, `Analysis`, `SingularTest`, `GenericTest`, `SourceDefinition`, `Macro`,
//! `Documentation`, `UnitTestDefinition`): every key dbt writes and no other, since the published
//! schema rejects unknown keys.

use super::config::{ConfigKind, config_json, source_config_json, unit_test_config_json};
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

/// Columns as dbt's `ColumnInfo`.
pub fn columns_json(manifest: &Manifest, package: &str, columns: &[Column]) -> Value {
    let renderer = manifest.renderer();
    let mut map = Map::new();
    for c in columns {
        map.insert(
            c.name.clone(),
            json!({
                "name": c.name,
                "description": renderer.render_description(&c.description),
                "meta": c.meta,
                "data_type": c.data_type,
                "constraints": c.constraints.iter().map(|k| constraint_json(k, false)).collect::<Vec<_>>(),
                "quote": c.quote,
                "config": {"meta": c.meta, "tags": c.tags},
                "tags": c.tags,
                "granularity": null,
                "doc_blocks": doc_blocks(manifest, package, &c.description),
            }),
        );
    }
    Value::Object(map)
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
    let mut v = common_fields(manifest, mn);
    let n = &mn.node;
    if n.resource_type == ResourceType::Seed {
        v.insert("depends_on".into(), json!({"macros": mn.depends_on_macros}));
        return Value::Object(v);
    }
    v.extend(compiled_fields(manifest, mn));
    match n.resource_type {
        ResourceType::Model => {
            v.insert("access".into(), access(&n.config));
            v.insert(
                "constraints".into(),
                n.constraints
                    .iter()
                    .map(|k| constraint_json(k, true))
                    .collect(),
            );
            v.insert("version".into(), Value::Null);
            v.insert("latest_version".into(), Value::Null);
            v.insert("deprecation_date".into(), Value::Null);
            v.insert("primary_key".into(), json!(keys.of_model(&n.name)));
            v.insert("time_spine".into(), Value::Null);
        }
        ResourceType::Test => v.extend(generic_test_fields(manifest, mn)),
        _ => {}
    }
    Value::Object(v)
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

/// The fields every node class has, seeds included.
fn common_fields(manifest: &Manifest, mn: &ManifestNode) -> Map<String, Value> {
    let n = &mn.node;
    let config = config_json(ConfigKind::of(n.resource_type), &n.config);
    let (database, schema) = database_and_schema(manifest, mn);
    let relation_name = match &mn.relation {
        Some(rel) if !mn.is_ephemeral() => json!(rel.render()),
        _ => Value::Null,
    };
    let docs = config
        .get("docs")
        .cloned()
        .unwrap_or_else(|| json!({"show": true, "node_color": null}));
    let mut v = Map::new();
    let mut put = |k: &str, val: Value| {
        v.insert(k.to_string(), val);
    };
    put("database", json!(database));
    put("schema", json!(schema));
    put("name", json!(n.name));
    put("resource_type", json!(n.resource_type.as_str()));
    put("package_name", json!(n.package_name));
    put("path", json!(n.path));
    put("original_file_path", json!(n.original_file_path));
    put("unique_id", json!(n.unique_id));
    put("fqn", json!(n.fqn));
    put("alias", json!(n.alias()));
    put(
        "checksum",
        json!({"name": n.checksum.name(), "checksum": n.checksum.value()}),
    );
    put("tags", config["tags"].clone());
    put("meta", config["meta"].clone());
    put("group", config["group"].clone());
    put("docs", docs);
    put("config", config);
    put(
        "description",
        json!(manifest.renderer().render_description(&n.description)),
    );
    put(
        "columns",
        columns_json(manifest, &n.package_name, &n.columns),
    );
    put(
        "patch_path",
        json!(
            n.patch_path
                .as_ref()
                .map(|p| format!("{}://{}", n.package_name, p))
        ),
    );
    put("build_path", Value::Null);
    put(
        "unrendered_config",
        Value::Object(n.unrendered_config.clone()),
    );
    put("relation_name", relation_name);
    put("raw_code", json!(raw_code(n)));
    put(
        "doc_blocks",
        doc_blocks(manifest, &n.package_name, &n.description),
    );
    v
}

/// The fields of nodes with SQL (`CompiledNode`): language, references, compiled code, contract.
fn compiled_fields(manifest: &Manifest, mn: &ManifestNode) -> Map<String, Value> {
    let nodes: Vec<&String> = mn
        .depends_on
        .iter()
        .filter(|d| !d.starts_with("macro."))
        .collect();
    let refs: Vec<Value> = mn
        .refs
        .iter()
        .map(|r| json!({"name": r.name, "package": r.package, "version": null}))
        .collect();
    let sources: Vec<Value> = mn.sources.iter().map(|(s, t)| json!([s, t])).collect();
    let mut v = Map::new();
    let mut put = |k: &str, val: Value| {
        v.insert(k.to_string(), val);
    };
    put("language", json!("sql"));
    put("refs", json!(refs));
    put("sources", json!(sources));
    put("metrics", json!([]));
    put("functions", json!([]));
    put(
        "depends_on",
        json!({"macros": mn.depends_on_macros, "nodes": nodes}),
    );
    match &mn.compiled_sql {
        Some(sql) => {
            put("compiled_path", json!(compiled_path(manifest, mn)));
            put("compiled", json!(true));
            put("compiled_code", json!(sql));
            put("extra_ctes_injected", json!(true));
            put("extra_ctes", json!([]));
        }
        None => put("compiled_path", Value::Null),
    }
    put(
        "contract",
        json!({
            "enforced": crate::contract::enforced(&mn.node),
            "alias_types": true,
            "checksum": contract_checksum(mn),
        }),
    );
    v
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
                .and_then(|id| manifest.dag.node(id))
                .map(|p| match p.resource_type {
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
            .map(|mn| &mn.node)
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
