//! The pure front half of Kiln: load → render (parse pass) → plan → render (compile pass) →
//! analyse. Produces a [`Manifest`]: every node with its final config, relation, dependencies,
//! compiled SQL and inferred columns. No database I/O happens here.
//!
//! Rendering happens twice, as in dbt: the parse pass (`execute = false`) records refs, sources
//! and in-file `config()`; relation names can only be computed once every node's config is known,
//! so the compile pass renders again with real relation names.

use crate::artifacts::compile_cache::{CompileCache, Recorder};
use crate::artifacts::parse_cache::ParseCache;
use crate::error::{Collector, Diagnostic, Error, ErrorKind, Location, Result};
use crate::graph::{Dag, GraphNode, TestKind};
use crate::project::profiles::{AdapterType, Target};
use crate::project::{Config, Node, Project, ResourceType, TestTarget};
use crate::sql::{self, Dialect};
use crate::template::{
    Database, RefCall, Relation, RelationKind, RenderRequest, Renderer, Resolve, TargetInfo,
    Unresolved,
};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A node after parsing: final config, relation and dependencies.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ManifestNode {
    /// The loaded node (its `config` is the final merged config). Boxed: maps of manifest nodes
    /// then hold and move a pointer, not the whole node.
    pub node: Box<Node>,
    /// The database relation it builds or reads (models, seeds, snapshots).
    pub relation: Option<Relation>,
    /// `ref()` calls, in order.
    pub refs: Vec<RefCall>,
    /// `source()` calls, in order.
    pub sources: Vec<(String, String)>,
    /// unique_ids of parent nodes and sources.
    pub depends_on: Vec<String>,
    /// unique_ids of macros called.
    pub depends_on_macros: Vec<String>,
    /// Compiled SQL, once compiled (ephemeral parents inlined as CTEs).
    pub compiled_sql: Option<String>,
    /// Output columns inferred from the compiled SQL.
    pub inferred_columns: Option<Vec<String>>,
    /// Column-level lineage: output column → the upstream columns it is computed from.
    pub lineage: Arc<BTreeMap<String, Vec<sql::ColumnSource>>>,
}

impl ManifestNode {
    /// The node's final config.
    pub fn config(&self) -> &Config {
        &self.node.config
    }

    /// `materialized` config (view by default; `seed`, `snapshot`, `test` for those types).
    pub fn materialized(&self) -> &str {
        match self.node.resource_type {
            ResourceType::Seed => "seed",
            ResourceType::Snapshot => "snapshot",
            ResourceType::Test => "test",
            _ => self.node.config.materialized(),
        }
    }

    /// True for ephemeral models.
    pub fn is_ephemeral(&self) -> bool {
        self.node.resource_type == ResourceType::Model && self.materialized() == "ephemeral"
    }
}

/// The parsed project: every enabled node, source and the DAG.
pub struct Manifest {
    /// The loaded project.
    pub project: Project,
    /// The connection target.
    pub target: Target,
    /// Dialect of the target.
    pub dialect: Dialect,
    /// Nodes by unique_id.
    pub nodes: BTreeMap<String, ManifestNode>,
    /// Source relations by unique_id.
    pub source_relations: BTreeMap<String, Relation>,
    /// The dependency graph over nodes and sources: see [`Manifest::dag`].
    dag: std::sync::OnceLock<Dag>,
    /// The renderer, reused for compiling and execution: see [`Manifest::renderer`].
    renderer: std::sync::OnceLock<Arc<Renderer>>,
    /// What a renderer not made yet is made with: the environment and the invocation.
    render_with: (crate::template::EnvLookup, crate::template::Invocation),
    /// Problems that did not stop parsing.
    pub warnings: Vec<Diagnostic>,
    /// `--empty`: refs and sources read as zero rows when nodes are compiled.
    pub empty_refs: bool,
    /// The partial-parse cache's key of everything but the nodes (None when parsed without
    /// the cache): the compile cache keys its entries under it.
    pub cache_key: Option<String>,
    /// Whether a render of the parse may have read what differs between invocations (the
    /// command's flags, the clock, see `Renderer::reads_invocation`), or templates may read
    /// `graph` (built from the nodes as loaded): such a parse is not kept in the project
    /// snapshot.
    pub reads_invocation: bool,
    /// The id of this parse in the project snapshot, when it was kept there or taken from it:
    /// a manifest written from the parse alone (nothing compiled) is then known by it.
    pub kept: Option<String>,
    /// The configs of nodes whose config() call set any, as they were before the call's.
    pub loaded_configs: LoadedConfigs,
}

/// The dialect of an adapter type.
pub fn dialect_of(adapter: AdapterType) -> Dialect {
    match adapter {
        AdapterType::Sqlite => Dialect::Sqlite,
        AdapterType::Postgres => Dialect::Postgres,
        AdapterType::Mysql => Dialect::MySql,
    }
}

/// Target facts for templates.
pub fn target_info(target: &Target) -> TargetInfo {
    let mut extra = target.redacted_settings();
    extra.retain(|k, _| {
        !matches!(
            k.as_str(),
            "password" | "pass" | "url" | "type" | "schema" | "database" | "threads"
        )
    });
    TargetInfo {
        profile_name: target.profile_name.clone(),
        name: target.name.clone(),
        dialect: dialect_of(target.adapter),
        schema: target.schema.clone(),
        database: target.database.clone(),
        threads: target.threads,
        extra,
    }
}

/// Everything needed to resolve `ref` and `source` by name.
struct Names {
    /// The root project's name (searched first, as in dbt).
    root: String,
    /// Refable node name → (package, unique_id) of each model, seed or snapshot so named.
    refable: BTreeMap<String, Vec<(String, String)>>,
    /// Disabled refable names → file, for a helpful error.
    disabled: BTreeMap<String, String>,
    /// (source, table) → (package, unique_id).
    sources: BTreeMap<(String, String), Vec<(String, String)>>,
    /// Relations by unique_id; empty during the parse pass.
    relations: BTreeMap<String, Relation>,
    /// Fallback schema for placeholder relations during the parse pass.
    schema: String,
    dialect: Dialect,
}

impl Names {
    /// The names of `nodes` (the enabled ones) and of the project's sources.
    fn new<'a>(project: &Project, nodes: impl Iterator<Item = &'a Node>, target: &Target) -> Names {
        let refable_types = [
            ResourceType::Model,
            ResourceType::Seed,
            ResourceType::Snapshot,
        ];
        let mut refable: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for n in nodes.filter(|n| refable_types.contains(&n.resource_type)) {
            refable
                .entry(n.name.clone())
                .or_default()
                .push((n.package_name.clone(), n.unique_id.clone()));
        }
        let disabled = project
            .disabled
            .values()
            .filter(|n| refable_types.contains(&n.resource_type))
            .map(|n| (n.name.clone(), n.original_file_path.clone()))
            .collect();
        let mut sources: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
        for s in project.sources.values() {
            sources
                .entry((s.source_name.clone(), s.name.clone()))
                .or_default()
                .push((s.package_name.clone(), s.unique_id.clone()));
        }
        Names {
            root: project.name().to_string(),
            refable,
            disabled,
            sources,
            relations: BTreeMap::new(),
            schema: target.schema.clone(),
            dialect: dialect_of(target.adapter),
        }
    }

    fn closest<'a>(&self, name: &str, options: impl Iterator<Item = &'a String>) -> Option<String> {
        crate::error::closest(name, options).cloned()
    }
}

/// Picks among same-named candidates as dbt does: the named package if given, else the root
/// project, then the package of the node asking, then any package.
fn pick<'a>(
    candidates: Option<&'a Vec<(String, String)>>,
    root: &str,
    from_package: &str,
    package: Option<&str>,
) -> Option<&'a String> {
    let candidates = candidates?;
    let find = |p: &str| {
        candidates
            .iter()
            .find(|(pkg, _)| pkg == p)
            .map(|(_, id)| id)
    };
    match package {
        Some(p) => find(p),
        None => find(root)
            .or_else(|| find(from_package))
            .or_else(|| candidates.first().map(|(_, id)| id)),
    }
}

/// The package of a node from its unique_id (`model.<package>.<name>`).
fn package_of(unique_id: &str) -> &str {
    unique_id.split('.').nth(1).unwrap_or("")
}

impl Names {
    fn ref_id(&self, from: &str, package: Option<&str>, name: &str) -> Option<&String> {
        pick(
            self.refable.get(name),
            &self.root,
            package_of(from),
            package,
        )
    }

    fn source_id(&self, from: &str, source: &str, table: &str) -> Option<&String> {
        let key = (source.to_string(), table.to_string());
        pick(self.sources.get(&key), &self.root, package_of(from), None)
    }
}

impl Resolve for Names {
    fn resolve_ref(
        &self,
        from: &str,
        package: Option<&str>,
        name: &str,
    ) -> std::result::Result<Relation, Unresolved> {
        let Some(id) = self.ref_id(from, package, name) else {
            if let Some(file) = self.disabled.get(name) {
                return Err(Unresolved {
                    message: format!("ref('{name}') points at a disabled resource ({file})"),
                    hint: "enable it (`enabled: true`) or remove this ref".into(),
                });
            }
            let hint = match self.closest(name, self.refable.keys()) {
                Some(c) => format!(
                    "did you mean ref('{c}')? refs name a model, seed or snapshot by its file name"
                ),
                None => "refs name a model, seed or snapshot by its file name (without .sql/.csv)"
                    .into(),
            };
            let what = match package {
                Some(p) => format!("ref('{p}', '{name}')"),
                None => format!("ref('{name}')"),
            };
            return Err(Unresolved {
                message: format!("{what} does not match any model, seed or snapshot"),
                hint,
            });
        };
        Ok(self.relations.get(id).cloned().unwrap_or_else(|| {
            Relation::new(
                None,
                &self.schema,
                name,
                RelationKind::External,
                self.dialect,
            )
        }))
    }

    fn resolve_source(
        &self,
        source: &str,
        table: &str,
    ) -> std::result::Result<Relation, Unresolved> {
        let Some(id) = self.source_id("", source, table) else {
            let tables: Vec<String> = self
                .sources
                .keys()
                .filter(|(s, _)| s == source)
                .map(|(_, t)| t.clone())
                .collect();
            let hint = if tables.is_empty() {
                let names: BTreeSet<String> = self.sources.keys().map(|(s, _)| s.clone()).collect();
                match self.closest(source, names.iter()) {
                    Some(c) => format!(
                        "did you mean source('{c}', ...)? declare sources under `sources:` in a properties file"
                    ),
                    None => "declare it under `sources:` in a properties .yml file".into(),
                }
            } else {
                match self.closest(table, tables.iter()) {
                    Some(c) => format!("did you mean source('{source}', '{c}')?"),
                    None => format!("source `{source}` has tables: {}", tables.join(", ")),
                }
            };
            return Err(Unresolved {
                message: format!("source('{source}', '{table}') is not declared"),
                hint,
            });
        };
        Ok(self.relations.get(id).cloned().unwrap_or_else(|| {
            Relation::new(None, source, table, RelationKind::External, self.dialect)
        }))
    }
}

/// Options for parsing.
pub struct ParseOptions<'a> {
    /// Reads environment variables for `env_var()` in templates.
    pub env: crate::template::EnvLookup,
    /// The command being run, for `flags` in templates.
    pub invocation: crate::template::Invocation,
    /// Renders an earlier parse kept, reused where nothing they read has changed.
    pub cache: Option<&'a ParseCache>,
}

/// Parses a loaded project: renders every node once to learn refs and config, computes
/// relations and builds the DAG. Reports every problem found.
pub fn parse(mut project: Project, target: Target, opts: &ParseOptions) -> Result<Manifest> {
    let dialect = dialect_of(target.adapter);
    let renderer = Arc::new(Renderer::new(
        &project,
        project.nodes.values(),
        &target_info(&target),
        opts.env.clone(),
        &opts.invocation,
    ));
    let names = Arc::new(Names::new(&project, project.nodes.values(), &target));

    // Parse pass: render every node with execute = false, and make it a manifest node with
    // the config its render set. Renders that may read what differs between invocations are
    // counted; without the cache, no render is checked.
    let invocation_reads = std::sync::atomic::AtomicBool::new(opts.cache.is_none());
    let loaded: Vec<(String, Node)> = std::mem::take(&mut project.nodes).into_iter().collect();
    let results: Vec<(String, RenderedNode)> = loaded
        .into_par_iter()
        .map(|(id, node)| {
            let node = Box::new(node);
            if node.resource_type == ResourceType::Seed {
                return (id, rendered_node(node, None));
            }
            let cached = opts.cache.map(|c| (c, c.node_key(&node)));
            if let Some((cache, key)) = &cached
                && let Some(kept) = cache.get(&id, key)
            {
                return (id, rendered_node(node, Some(kept)));
            }
            let r = parse_render(&renderer, &node, &names, &target, dialect);
            if let (Some((cache, key)), Ok(r)) = (cached, &r) {
                if renderer.reads_invocation(&node, &r.macros) {
                    invocation_reads.store(true, std::sync::atomic::Ordering::Relaxed);
                } else {
                    cache.put(&id, key, r);
                }
            }
            match r {
                Ok(r) => (id, rendered_node(node, Some(r))),
                Err(d) => {
                    let mut made = rendered_node(node, None);
                    made.error = Some(d);
                    (id, made)
                }
            }
        })
        .collect();

    // `graph` holds the nodes as loaded, which the snapshot does not keep.
    let mut reads_invocation = invocation_reads.into_inner() || renderer.builds_graph();
    let mut diags = Collector::new();
    // In unique_id order, so the maps are built in one pass.
    let mut nodes = Vec::with_capacity(results.len());
    let mut disabled_by_call: Vec<Node> = Vec::new();
    let mut loaded_configs = Vec::new();
    for (id, made) in results {
        diags.extend(made.error);
        if let Some(loaded) = made.loaded {
            loaded_configs.push((id.clone(), loaded));
        }
        match made.node {
            Ok(mn) => nodes.push((id, mn)),
            // Disabled by its own config() call: listed with the disabled nodes, as in dbt.
            Err(node) => disabled_by_call.push(*node),
        }
    }
    let mut nodes: BTreeMap<String, ManifestNode> = nodes.into_iter().collect();
    let loaded_configs: LoadedConfigs = loaded_configs.into_iter().collect();
    for node in disabled_by_call {
        project.disabled.insert(node.unique_id.clone(), node);
    }

    // Relations: alias and generate_schema_name semantics.
    let mut source_relations = BTreeMap::new();
    for s in project.sources.values() {
        // Source locations may be templated (`schema: "{{ target.schema }}_raw"`).
        let mut render = |text: &str| match renderer.render_yaml_text(text, &s.original_file_path) {
            Ok(t) => {
                reads_invocation |= t != text && renderer.text_reads_invocation(text);
                t
            }
            Err(d) => {
                diags.push(d);
                text.to_string()
            }
        };
        let schema = render(&s.schema);
        let identifier = render(&s.identifier);
        let database = s.database.as_deref().map(&mut render);
        source_relations.insert(
            s.unique_id.clone(),
            Relation::new(
                database.or_else(|| Some(target.database.clone())),
                &schema,
                &identifier,
                RelationKind::External,
                dialect,
            ),
        );
    }
    let planner = Planner::new(&project, &renderer, names.clone(), &target);
    // Each node is planned apart, in parallel; what it reports is kept in node order.
    let planned: Vec<(Option<Relation>, Vec<String>, Collector, bool)> = nodes
        .par_iter()
        .map(|(_, mn)| {
            let mut diags = Collector::new();
            let mut reads = false;
            let relation = planner.relation(mn, &mut diags, &mut reads);
            let enabled = |id: &str| nodes.contains_key(id);
            let depends_on = planner.depends_on(mn, &enabled, &mut diags);
            (relation, depends_on, diags, reads)
        })
        .collect();
    for (mn, (relation, depends_on, found, reads)) in nodes.values_mut().zip(planned) {
        mn.relation = relation;
        mn.depends_on = depends_on;
        diags.append(found);
        reads_invocation |= reads;
    }
    for u in project.unit_tests.values().filter(|u| u.config.enabled()) {
        let known = nodes
            .values()
            .any(|mn| mn.node.resource_type == ResourceType::Model && mn.node.name == u.model);
        if !known {
            diags.push(
                Diagnostic::new(
                    ErrorKind::Reference,
                    format!(
                        "unit test `{}` is about model `{}`, which does not exist",
                        u.name, u.model
                    ),
                )
                .at(project.location(&u.original_file_path, u.line, 1))
                .with_hint("name an existing, enabled model under `model:`"),
            );
        }
    }
    let graph_nodes = graph_nodes(&nodes, &project, &source_relations);
    let dag = match Dag::build(graph_nodes) {
        Ok(d) => Some(d),
        Err(e) => {
            diags.push_error(e);
            None
        }
    };
    let mut warnings = project.warnings.clone();
    for mn in nodes.values() {
        if mn.node.resource_type == ResourceType::Model && crate::contract::enforced(&mn.node) {
            let (errors, notes) = crate::contract::validate(&mn.node, mn.materialized(), dialect);
            errors.into_iter().for_each(|d| diags.push(d));
            warnings.extend(notes);
        }
    }
    diags.finish(())?;
    let Some(dag) = dag else {
        return Err(Error::new(
            ErrorKind::Cycle,
            "dependency graph could not be built",
        ));
    };
    Ok(Manifest {
        project,
        target,
        dialect,
        nodes,
        source_relations,
        dag: std::sync::OnceLock::from(dag),
        renderer: std::sync::OnceLock::from(renderer),
        render_with: (opts.env.clone(), opts.invocation.clone()),
        warnings,
        empty_refs: false,
        cache_key: opts.cache.map(|c| c.project_key().to_string()),
        reads_invocation,
        kept: None,
        loaded_configs,
    })
}

/// The parse-time render of `node`: `execute` off, and `this` from the config known before
/// rendering, as in dbt.
fn parse_render(
    renderer: &Renderer,
    node: &Node,
    names: &Arc<Names>,
    target: &Target,
    dialect: Dialect,
) -> std::result::Result<crate::template::Rendered, Diagnostic> {
    renderer.render(RenderRequest {
        node,
        config: &node.config,
        this: Some(relation_for(node, target, dialect)),
        execute: false,
        is_incremental: false,
        resolver: names.clone(),
        database: None,
        overrides: None,
    })
}

/// A node of the parse pass made into a manifest node with its render: its final config,
/// calls and macros.
struct RenderedNode {
    /// The manifest node, or the node when its own config() call disables it.
    node: std::result::Result<ManifestNode, Box<Node>>,
    /// The config and `unrendered_config` as loaded, when its config() call set any: kept in
    /// `loaded_configs`, for a render of the node again (see [`Manifest::patch`]).
    loaded: Option<(Config, Arc<serde_json::Map<String, serde_json::Value>>)>,
    /// Why it could not be rendered.
    error: Option<Diagnostic>,
}

fn rendered_node(mut node: Box<Node>, r: Option<crate::template::Rendered>) -> RenderedNode {
    let mut loaded = None;
    if let Some(r) = &r
        && (!r.config.0.is_empty() || !r.config_call.is_empty())
    {
        loaded = Some((node.config.clone(), node.unrendered_config.clone()));
        node.config.merge(&r.config);
        // dbt records the config() call with its rendered values.
        let unrendered = Arc::make_mut(&mut node.unrendered_config);
        for (k, v) in &r.config_call {
            unrendered.insert(k.clone(), v.clone());
        }
    }
    if !node.config.enabled() {
        return RenderedNode {
            node: Err(node),
            loaded,
            error: None,
        };
    }
    let (refs, sources, macros) = match r {
        Some(r) => (r.refs, r.sources, r.macros.into_iter().collect()),
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    let mn = ManifestNode {
        node,
        relation: None,
        refs,
        sources,
        depends_on: Vec::new(),
        depends_on_macros: macros,
        compiled_sql: None,
        inferred_columns: None,
        lineage: Default::default(),
    };
    RenderedNode {
        node: Ok(mn),
        loaded,
        error: None,
    }
}

/// Each node's config and `unrendered_config` as loaded, before its config() call's were
/// merged in, for the nodes whose call set any.
pub type LoadedConfigs =
    BTreeMap<String, (Config, Arc<serde_json::Map<String, serde_json::Value>>)>;

/// Plans a parsed node: its relation and its dependencies.
struct Planner<'a> {
    renderer: &'a Renderer,
    names: Arc<Names>,
    target: &'a Target,
    dialect: Dialect,
    /// A project macro `generate_schema_name` / `generate_alias_name` overrides dbt's default
    /// naming rules, as in dbt.
    schema_macro: bool,
    alias_macro: bool,
}

impl<'a> Planner<'a> {
    fn new(
        project: &Project,
        renderer: &'a Renderer,
        names: Arc<Names>,
        target: &'a Target,
    ) -> Planner<'a> {
        let has_macro = |name: &str| project.macros.values().any(|m| m.name == name);
        Planner {
            renderer,
            names,
            target,
            dialect: dialect_of(target.adapter),
            schema_macro: has_macro("generate_schema_name"),
            alias_macro: has_macro("generate_alias_name"),
        }
    }

    /// The relation a model, seed or snapshot builds (None for other nodes). A naming macro
    /// whose render may read the invocation sets `reads_invocation`.
    fn relation(
        &self,
        mn: &ManifestNode,
        diags: &mut Collector,
        reads_invocation: &mut bool,
    ) -> Option<Relation> {
        if !matches!(
            mn.node.resource_type,
            ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
        ) {
            return None;
        }
        let mut relation = relation_for(&mn.node, self.target, self.dialect);
        let snapshot_schema = mn.node.resource_type == ResourceType::Snapshot
            && mn.node.config.get_str("target_schema").is_some();
        let mut call = |macro_name: &str, key: &str| -> Option<String> {
            let arg = match mn.node.config.get_str(key) {
                Some(v) => format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'")),
                None => "none".to_string(),
            };
            let template = format!("{{{{ {macro_name}({arg}, model) | trim }}}}");
            let request = RenderRequest {
                node: &mn.node,
                config: &mn.node.config,
                this: None,
                execute: false,
                is_incremental: false,
                resolver: self.names.clone(),
                database: None,
                overrides: None,
            };
            match self.renderer.render_str(&template, request, macro_name) {
                Ok(r) if !r.sql.trim().is_empty() => {
                    *reads_invocation |= self.renderer.reads_invocation(&mn.node, &r.macros);
                    Some(r.sql.trim().to_string())
                }
                Ok(_) => None,
                Err(d) => {
                    diags.push(d);
                    None
                }
            }
        };
        if self.schema_macro
            && !snapshot_schema
            && let Some(schema) = call("generate_schema_name", "schema")
        {
            relation.schema = schema;
        }
        if self.alias_macro
            && let Some(alias) = call("generate_alias_name", "alias")
        {
            relation.identifier = alias;
        }
        Some(relation)
    }

    /// The unique_ids `mn` depends on: its refs (among the `enabled` nodes), sources, tested
    /// node and foreign keys' parents.
    fn depends_on(
        &self,
        mn: &ManifestNode,
        enabled: &(dyn Fn(&str) -> bool + Sync),
        diags: &mut Collector,
    ) -> Vec<String> {
        let names = &self.names;
        let ref_id = |from: &str, package: Option<&str>, name: &str| {
            names
                .ref_id(from, package, name)
                .filter(|id| enabled(id))
                .cloned()
        };
        let mut deps = Vec::new();
        let from = mn.node.unique_id.as_str();
        for r in &mn.refs {
            match ref_id(from, r.package.as_deref(), &r.name) {
                Some(id) => deps.push(id),
                None => diags.push(
                    Diagnostic::new(
                        ErrorKind::Reference,
                        format!(
                            "{} refers to `{}`, which is disabled by its own config()",
                            mn.node.name, r.name
                        ),
                    )
                    .at(Location::file(mn.node.original_file_path.clone()))
                    .with_hint("enable it or remove the ref"),
                ),
            }
        }
        for (s, t) in &mn.sources {
            if let Some(id) = names.source_id(from, s, t) {
                deps.push(id.clone());
            }
        }
        if let Some(tm) = &mn.node.test_metadata {
            let target_id = match &tm.target {
                TestTarget::Ref { name } => ref_id(from, None, name),
                TestTarget::Source { source, table } => {
                    names.source_id(from, source, table).cloned()
                }
            };
            if let Some(t) = target_id {
                deps.push(t);
            }
        }
        // A foreign key's parent (`to: ref('x')`) is built first, as in dbt.
        let parents = mn.node.columns.iter().flat_map(|c| &c.constraints);
        for to in parents
            .chain(&mn.node.constraints)
            .filter_map(|k| k.to.as_deref())
        {
            if let Some(crate::unit_test::Input::Ref { package, name }) =
                crate::unit_test::Input::parse(to)
                && let Some(id) = ref_id(from, package.as_deref(), &name)
            {
                deps.push(id);
            }
        }
        let mut seen = BTreeSet::new();
        deps.retain(|d| seen.insert(d.clone()));
        deps
    }
}

/// What a parse made, without what is built again from it (the renderer, the DAG): what the
/// project snapshot keeps (`artifacts::snapshot`). The nodes are encoded apart, in chunks
/// decoded in parallel.
#[derive(serde::Deserialize)]
pub struct Parsed {
    project: Project,
    #[serde(skip)]
    pub nodes: BTreeMap<String, ManifestNode>,
    source_relations: BTreeMap<String, Relation>,
    warnings: Vec<Diagnostic>,
    cache_key: Option<String>,
    #[serde(deserialize_with = "loaded_tables::read")]
    loaded_configs: LoadedConfigs,
    /// `project.files` but the texts that are a node's `raw_code` (a model's whole file).
    files: BTreeMap<String, String>,
    /// For each node, in order: whether its file's text is its `raw_code`, left out of `files`.
    from_nodes: Vec<bool>,
}

impl Parsed {
    /// Makes `project.files` again once the nodes are in: `files` and the texts of the nodes
    /// marked in `from_nodes`. None when the marks do not fit the nodes.
    pub fn with_files(mut self) -> Option<Parsed> {
        if self.from_nodes.len() != self.nodes.len() {
            return None;
        }
        // The texts are copied in parallel, then made into one map at once; `files` holds
        // none of their paths.
        let nodes: Vec<&ManifestNode> = self.nodes.values().collect();
        let held: Vec<(String, String)> = (nodes.par_iter().zip(&self.from_nodes))
            .filter(|(_, held)| **held)
            .map(|(mn, _)| (mn.node.original_file_path.clone(), mn.node.raw_code.clone()))
            .collect();
        let mut files: BTreeMap<String, String> = held.into_iter().collect();
        files.extend(std::mem::take(&mut self.files));
        self.project.files = Arc::new(files);
        Some(self)
    }
}

/// [`LoadedConfigs`] in the snapshot: their maps go through the snapshot's config tables as
/// nodes' do (`project::config::write_shared`), so the thousands of equal ones read back shared.
mod loaded_tables {
    use super::LoadedConfigs;
    use crate::project::config::{Config, read_map, write_map};
    use serde::{Deserialize, Serialize};
    use std::sync::Arc;
    type JsonMap = serde_json::Map<String, serde_json::Value>;

    #[derive(Serialize)]
    struct EntryRef<'a>(
        &'a Config,
        #[serde(serialize_with = "write_ref")] &'a Arc<JsonMap>,
    );

    #[derive(Deserialize)]
    struct Entry(Config, #[serde(deserialize_with = "read_map")] Arc<JsonMap>);

    fn write_ref<S: serde::Serializer>(map: &&Arc<JsonMap>, s: S) -> Result<S::Ok, S::Error> {
        write_map(map, s)
    }

    pub fn write<S: serde::Serializer>(loaded: &&LoadedConfigs, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(loaded.iter().map(|(id, (c, u))| (id, EntryRef(c, u))))
    }

    pub fn read<'de, D: serde::Deserializer<'de>>(d: D) -> Result<LoadedConfigs, D::Error> {
        let entries = std::collections::BTreeMap::<String, Entry>::deserialize(d)?;
        Ok(entries
            .into_iter()
            .map(|(id, Entry(c, u))| (id, (c, u)))
            .collect())
    }
}

/// [`Parsed`] but its nodes, borrowed from a manifest to be written.
#[derive(serde::Serialize)]
pub struct ParsedRef<'a> {
    project: &'a Project,
    source_relations: &'a BTreeMap<String, Relation>,
    warnings: &'a [Diagnostic],
    cache_key: &'a Option<String>,
    #[serde(serialize_with = "loaded_tables::write")]
    loaded_configs: &'a LoadedConfigs,
    files: FilesApart<'a>,
    from_nodes: Vec<bool>,
}

/// The project's files without those whose texts nodes hold, serialized as a map.
struct FilesApart<'a> {
    files: &'a BTreeMap<String, String>,
    apart: BTreeSet<&'a str>,
}

impl serde::Serialize for FilesApart<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(
            self.files
                .iter()
                .filter(|(k, _)| !self.apart.contains(k.as_str())),
        )
    }
}

impl Manifest {
    /// The renderer of the project's templates for this invocation, made on first use.
    pub fn renderer(&self) -> &Arc<Renderer> {
        self.renderer.get_or_init(|| {
            let (env, invocation) = &self.render_with;
            Arc::new(Renderer::new(
                &self.project,
                self.nodes.values().map(|mn| &*mn.node),
                &target_info(&self.target),
                env.clone(),
                invocation,
            ))
        })
    }

    /// The dependency graph over nodes, sources and unit tests. A parse builds it and checks it
    /// for cycles; a parse restored from the project snapshot whose edges are those of the
    /// kept one builds it here, on first use.
    pub fn dag(&self) -> &Dag {
        self.dag.get_or_init(|| Dag::unchecked(self.graph_nodes()))
    }

    /// The nodes of [`Manifest::dag`].
    fn graph_nodes(&self) -> Vec<GraphNode> {
        graph_nodes(&self.nodes, &self.project, &self.source_relations)
    }

    /// What the project snapshot keeps of this parse, but the nodes, which it encodes apart.
    /// A file whose text is a node's `raw_code` is left to that node.
    pub fn parsed(&self) -> ParsedRef<'_> {
        let files = &*self.project.files;
        let mut apart = BTreeSet::new();
        let mut from_nodes = Vec::with_capacity(self.nodes.len());
        for mn in self.nodes.values() {
            let path = mn.node.original_file_path.as_str();
            let held = files.get(path) == Some(&mn.node.raw_code);
            if held {
                apart.insert(path);
            }
            from_nodes.push(held);
        }
        ParsedRef {
            project: &self.project,
            source_relations: &self.source_relations,
            warnings: &self.warnings,
            cache_key: &self.cache_key,
            loaded_configs: &self.loaded_configs,
            files: FilesApart { files, apart },
            from_nodes,
        }
    }

    /// Takes edits of node files (`(file, text)`) into a parse kept earlier: each edited
    /// model or analysis is rendered and planned again; the caller builds the DAG. Returns
    /// whether any edited node's dependencies changed, or None, the manifest then half changed,
    /// when an edit needs the whole parse: a file that is not one enabled model or analysis, a
    /// render that fails or may read the invocation, a node its call now disables, a contract,
    /// any problem to report. The caller then parses the project from the start.
    fn patch(&mut self, edits: &[(String, String)]) -> Option<Edges> {
        let mut ids = Vec::new();
        for (file, text) in edits {
            if self
                .project
                .disabled
                .values()
                .any(|n| n.original_file_path == *file)
            {
                return None;
            }
            let mut found =
                (self.nodes.values_mut()).filter(|mn| mn.node.original_file_path == *file);
            let (Some(mn), None) = (found.next(), found.next()) else {
                return None;
            };
            let kind = mn.node.resource_type;
            if !matches!(kind, ResourceType::Model | ResourceType::Analysis)
                || crate::contract::enforced(&mn.node)
            {
                return None;
            }
            if let Some((config, unrendered)) = self.loaded_configs.remove(&mn.node.unique_id) {
                mn.node.config = config;
                mn.node.unrendered_config = unrendered;
            }
            mn.node.raw_code = text.clone();
            mn.node.checksum = crate::project::identity::Checksum::Sha256(
                crate::project::identity::file_checksum(text),
            );
            Arc::make_mut(&mut self.project.files).insert(file.clone(), text.clone());
            ids.push(mn.node.unique_id.clone());
        }
        self.kept = None;
        // Made now, so it quotes the edited files in its errors.
        let (renderer, names) = rayon::join(
            || self.renderer().clone(),
            || {
                let nodes = self.nodes.values().map(|mn| &*mn.node);
                Arc::new(Names::new(&self.project, nodes, &self.target))
            },
        );
        let planner = Planner::new(&self.project, &renderer, names.clone(), &self.target);
        let enabled: BTreeSet<String> = self.nodes.keys().cloned().collect();
        let mut diags = Collector::new();
        let mut edges = Edges::Same;
        for id in ids {
            let mn = self.nodes.remove(&id)?;
            let depends_on = mn.depends_on;
            let r = parse_render(&renderer, &mn.node, &names, &self.target, self.dialect);
            let Ok(r) = r else {
                return None;
            };
            if renderer.reads_invocation(&mn.node, &r.macros) {
                return None;
            }
            let made = rendered_node(mn.node, Some(r));
            if let Some(loaded) = made.loaded {
                self.loaded_configs.insert(id.clone(), loaded);
            }
            let Ok(mut patched) = made.node else {
                return None;
            };
            let mut reads_invocation = false;
            patched.relation = planner.relation(&patched, &mut diags, &mut reads_invocation);
            let enabled = |id: &str| enabled.contains(id);
            patched.depends_on = planner.depends_on(&patched, &enabled, &mut diags);
            if reads_invocation || crate::contract::enforced(&patched.node) {
                return None;
            }
            if patched.depends_on != depends_on {
                edges = Edges::Changed;
            }
            self.nodes.insert(id, patched);
        }
        diags.is_empty().then_some(edges)
    }
}

/// The manifest of a parse kept earlier, for `target`, with `edits` of node files since taken
/// into it (see `Manifest::patch`); None when they need a whole parse. The DAG is built again
/// when a command first asks for it (at once when an edit changed a dependency, to check it for
/// cycles), and the renderer when a template is first rendered, for this invocation.
pub fn restore(
    parsed: Parsed,
    target: Target,
    opts: &ParseOptions,
    edits: &[(String, String)],
) -> Option<Manifest> {
    let mut manifest = Manifest {
        dag: std::sync::OnceLock::new(),
        project: parsed.project,
        dialect: dialect_of(target.adapter),
        target,
        nodes: parsed.nodes,
        source_relations: parsed.source_relations,
        renderer: std::sync::OnceLock::new(),
        render_with: (opts.env.clone(), opts.invocation.clone()),
        warnings: parsed.warnings,
        empty_refs: false,
        cache_key: parsed.cache_key,
        reads_invocation: false,
        kept: None,
        loaded_configs: parsed.loaded_configs,
    };
    let edges = match edits.is_empty() {
        true => Edges::Same,
        false => manifest.patch(edits)?,
    };
    // The kept parse's graph had no cycle; with its edges unchanged none can have appeared,
    // and the graph is built when a command first asks for it (`kiln parse` never does).
    if edges == Edges::Changed {
        let dag = Dag::build(manifest.graph_nodes()).ok()?;
        manifest.dag = std::sync::OnceLock::from(dag);
    }
    Some(manifest)
}

/// Whether taking edits into a kept parse changed any node's dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edges {
    Same,
    Changed,
}

/// The relation a model, seed or snapshot builds: dbt's default `generate_schema_name` and
/// `generate_alias_name` (custom schema appended to the target schema).
pub fn relation_for(node: &Node, target: &Target, dialect: Dialect) -> Relation {
    let config = &node.config;
    let schema = match (
        node.resource_type,
        config.get_str("target_schema"),
        config.get_str("schema"),
    ) {
        (ResourceType::Snapshot, Some(ts), _) => ts.to_string(),
        (_, _, Some(custom)) if !custom.trim().is_empty() => {
            format!("{}_{}", target.schema, custom.trim())
        }
        _ => target.schema.clone(),
    };
    let database = config
        .get_str("database")
        .or(config.get_str("target_database"))
        .map(str::to_string)
        .unwrap_or_else(|| target.database.clone());
    let kind = match config.materialized() {
        "view" if node.resource_type == ResourceType::Model => RelationKind::View,
        "ephemeral" => RelationKind::Cte,
        _ => RelationKind::Table,
    };
    Relation::new(Some(database), &schema, node.alias(), kind, dialect)
}

fn graph_nodes(
    nodes: &BTreeMap<String, ManifestNode>,
    project: &Project,
    source_relations: &BTreeMap<String, Relation>,
) -> Vec<GraphNode> {
    // A seed that loads a source's table feeds that source (a project whose seeds stand in for
    // the loaders builds in the right order).
    let seed_by_relation: BTreeMap<(String, String), String> = nodes
        .values()
        .filter(|mn| mn.node.resource_type == ResourceType::Seed)
        .filter_map(|mn| {
            let r = mn.relation.as_ref()?;
            Some((
                (r.schema.clone(), r.identifier.clone()),
                mn.node.unique_id.clone(),
            ))
        })
        .collect();
    let mut out: Vec<GraphNode> = nodes
        .par_iter()
        .map(|(_, mn)| {
            let n = &mn.node;
            GraphNode {
                unique_id: n.unique_id.clone(),
                resource_type: n.resource_type,
                name: n.name.clone(),
                package_name: n.package_name.clone(),
                fqn: n.fqn.clone(),
                original_file_path: n.original_file_path.clone(),
                config: n.config.clone(),
                depends_on: mn.depends_on.clone(),
                source_name: None,
                test_kind: match n.resource_type {
                    ResourceType::Test if n.test_metadata.is_some() => Some(TestKind::Generic),
                    ResourceType::Test => Some(TestKind::Singular),
                    _ => None,
                },
                test_name: n.test_metadata.as_ref().map(|t| t.name.clone()),
                file: n.original_file_path.clone(),
                line: n.line_offset + 1,
            }
        })
        .collect();
    // A unit test hangs under its model, like the model's data tests, so `model+` and indirect
    // selection reach it; the executor runs it before the model instead of after.
    for u in project.unit_tests.values().filter(|u| u.config.enabled()) {
        let model = nodes
            .values()
            .filter(|mn| mn.node.resource_type == ResourceType::Model && mn.node.name == u.model)
            .min_by_key(|mn| mn.node.package_name != u.package_name);
        out.push(GraphNode {
            unique_id: u.unique_id.clone(),
            resource_type: ResourceType::UnitTest,
            name: u.name.clone(),
            package_name: u.package_name.clone(),
            fqn: u.fqn.clone(),
            original_file_path: u.original_file_path.clone(),
            config: u.config.clone(),
            depends_on: model
                .map(|mn| mn.node.unique_id.clone())
                .into_iter()
                .collect(),
            source_name: None,
            test_kind: Some(TestKind::Unit),
            test_name: None,
            file: u.original_file_path.clone(),
            line: 1,
        });
    }
    for s in project.sources.values() {
        out.push(GraphNode {
            unique_id: s.unique_id.clone(),
            resource_type: ResourceType::Source,
            name: s.name.clone(),
            package_name: s.package_name.clone(),
            fqn: s.fqn.clone(),
            original_file_path: s.original_file_path.clone(),
            config: s.config.clone(),
            depends_on: source_relations
                .get(&s.unique_id)
                .and_then(|r| seed_by_relation.get(&(r.schema.clone(), r.identifier.clone())))
                .cloned()
                .into_iter()
                .collect(),
            source_name: Some(s.source_name.clone()),
            test_kind: None,
            test_name: None,
            file: s.original_file_path.clone(),
            line: 1,
        });
    }
    out
}

/// Compiles the given nodes (all when `only` is None): renders with real relation names, inlines
/// ephemeral models as CTEs and analyses the SQL. Syntax errors name the model's file and line.
pub fn compile(
    manifest: &mut Manifest,
    only: Option<&BTreeSet<String>>,
    database: Option<Arc<dyn Database>>,
    cache: Option<&CompileCache>,
) -> Result<()> {
    let resolver: Arc<dyn Resolve> = Arc::new(manifest.compile_resolver());
    // Ephemeral parents of selected nodes are compiled too, since they are inlined.
    let mut wanted: BTreeSet<String> = match only {
        Some(ids) => ids.clone(),
        None => manifest.nodes.keys().cloned().collect(),
    };
    let mut stack: Vec<String> = wanted.iter().cloned().collect();
    while let Some(id) = stack.pop() {
        if let Some(mn) = manifest.nodes.get(&id) {
            for dep in &mn.depends_on {
                if manifest.nodes.get(dep).is_some_and(|d| d.is_ephemeral())
                    && wanted.insert(dep.clone())
                {
                    stack.push(dep.clone());
                }
            }
        }
    }
    let renderer = manifest.renderer().clone();
    let nodes = &manifest.nodes;
    // Each node's SQL, and whether it asked a database that is not connected.
    type Compiled = std::result::Result<(String, bool), Diagnostic>;
    let results: Vec<(String, Compiled)> = wanted
        .par_iter()
        .filter_map(|id| nodes.get(id).map(|mn| (id, mn)))
        .filter(|(_, mn)| mn.node.resource_type != ResourceType::Seed)
        .map(|(id, mn)| {
            let key = cache.map(|c| c.node_key(mn));
            if let (Some(c), Some(key)) = (cache, &key)
                && let Some(sql) = c.render(id, key, resolver.as_ref())
            {
                return (id.clone(), Ok((sql, false)));
            }
            let recorder = cache.map(|_| Arc::new(Recorder::new(resolver.clone())));
            let r = renderer.render(RenderRequest {
                node: &mn.node,
                config: &mn.node.config,
                this: mn.relation.clone(),
                execute: true,
                is_incremental: false,
                resolver: match &recorder {
                    Some(rec) => rec.clone() as Arc<dyn Resolve>,
                    None => resolver.clone(),
                },
                database: database.clone(),
                overrides: None,
            });
            if let (Some(c), Some(key), Some(rec), Ok(r)) = (cache, key, &recorder, &r) {
                if r.asked_database || renderer.reads_invocation(&mn.node, &r.macros) {
                    c.forget(id);
                } else {
                    c.put_render(id, key, rec.calls(), &r.env, &r.sql);
                }
            }
            (id.clone(), r.map(|r| (r.sql, r.offline)))
        })
        .collect();
    let mut diags = Collector::new();
    let mut raw_sql: BTreeMap<String, String> = BTreeMap::new();
    // Nodes whose SQL depended on a database that is not connected.
    let mut offline: BTreeSet<String> = BTreeSet::new();
    for (id, r) in results {
        match r {
            Ok((sql, off)) => {
                if off {
                    offline.insert(id.clone());
                }
                raw_sql.insert(id, sql);
            }
            Err(d) => {
                if let Some(c) = cache {
                    c.forget(&id);
                }
                diags.push(d)
            }
        }
    }
    // Inline ephemeral parents (recursively, parents first) as CTEs. Nodes without ephemeral
    // parents keep their SQL as rendered.
    let order = manifest.dag().topo_order(Some(&wanted));
    let mut injected: Vec<(String, String)> = Vec::new();
    if manifest.nodes.values().any(|mn| mn.is_ephemeral()) {
        for id in &order {
            let Some(sql) = raw_sql.get(id) else { continue };
            let ctes = ephemeral_ctes(manifest, id, &raw_sql);
            if ctes.is_empty() {
                continue;
            }
            let inlined_offline = ctes.iter().any(|(name, _)| {
                offline.iter().any(|o| {
                    manifest
                        .nodes
                        .get(o)
                        .is_some_and(|n| format!("__dbt__cte__{}", n.node.name) == *name)
                })
            });
            if inlined_offline {
                offline.insert(id.clone());
            }
            injected.push((id.clone(), sql::inject_ctes(sql, &ctes)));
        }
    }
    let mut final_sql = raw_sql;
    final_sql.extend(injected);
    let mut known = known_columns(manifest);
    for level in levels(manifest, &order) {
        let analysed: Vec<_> = level
            .par_iter()
            .filter_map(|id| Some((*id, final_sql.get(*id)?, manifest.nodes.get(*id)?)))
            .map(|(id, sql, mn)| {
                let offline = offline.contains(id);
                let a = analyse_with(
                    &manifest.project,
                    manifest.dialect,
                    mn,
                    sql,
                    &known,
                    offline,
                    cache.map(|c| (c, id.as_str())),
                );
                (id, a)
            })
            .collect();
        for (id, a) in analysed {
            let mn = manifest.nodes.get_mut(id).expect("node exists");
            match a {
                Ok((a, problems, columns)) => {
                    mn.inferred_columns = a.columns;
                    mn.lineage = a.lineage;
                    known.extend(columns);
                    for d in problems {
                        diags.push(d);
                    }
                }
                Err(d) => diags.push(d),
            }
            mn.compiled_sql = final_sql.remove(id);
        }
    }
    diags.finish(())
}

/// `order` (a topological order) cut into levels: each node one level after the deepest of its
/// parents in `order`, so the nodes of one level never read each other.
fn levels<'a>(manifest: &Manifest, order: &'a [String]) -> Vec<Vec<&'a String>> {
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out: Vec<Vec<&String>> = Vec::new();
    for id in order {
        let parents = manifest.nodes.get(id).map(|mn| &mn.depends_on[..]);
        let level = parents
            .unwrap_or_default()
            .iter()
            .filter_map(|p| depth.get(p.as_str()))
            .map(|d| d + 1)
            .max()
            .unwrap_or(0);
        depth.insert(id, level);
        if out.len() <= level {
            out.resize_with(level + 1, Vec::new);
        }
        out[level].push(id);
    }
    out
}

/// The columns known before any node is analysed, by normalised relation name: seeds from
/// their header and models under an enforced contract, exactly; sources from their YAML,
/// exactly when every column has a `data_type` (a declared schema rather than documentation);
/// other models' YAML columns as partial, for `select *` until their SQL is analysed.
pub fn known_columns(manifest: &Manifest) -> BTreeMap<String, sql::Known> {
    let mut known = BTreeMap::new();
    for mn in manifest.nodes.values() {
        let Some(rel) = &mn.relation else { continue };
        let yaml = || mn.node.columns.iter().map(|c| c.name.clone()).collect();
        let cols = if let Some(cols) = seed_columns(manifest, mn) {
            sql::Known::exact(cols)
        } else if crate::contract::enforced(&mn.node) && !mn.node.columns.is_empty() {
            sql::Known::exact(yaml())
        } else if !mn.node.columns.is_empty() {
            sql::Known::partial(yaml())
        } else {
            continue;
        };
        known.insert(rel.normalized(), cols);
    }
    for (id, rel) in &manifest.source_relations {
        if let Some(s) = manifest.project.sources.get(id)
            && !s.columns.is_empty()
        {
            let cols = s.columns.iter().map(|c| c.name.clone()).collect();
            let typed = s.columns.iter().all(|c| c.data_type.is_some());
            let cols = if typed {
                sql::Known::exact(cols)
            } else {
                sql::Known::partial(cols)
            };
            known.insert(rel.normalized(), cols);
        }
    }
    known
}

/// Analyses a node's compiled SQL against the columns known upstream, and records its output
/// columns in `known` for its descendants. A syntax error is the `Err`; unknown and ambiguous
/// columns come with the analysis, and a node that has them is not trusted downstream, so one
/// typo is reported once. SQL rendered `offline` (without the database it asked for) is not what
/// will run: it is neither checked nor trusted.
pub fn analyse_node(
    project: &Project,
    dialect: Dialect,
    mn: &ManifestNode,
    sql: &str,
    known: &mut BTreeMap<String, sql::Known>,
    offline: bool,
) -> std::result::Result<(sql::Analysis, Vec<Diagnostic>), Diagnostic> {
    let (a, errors, columns) = analyse_with(project, dialect, mn, sql, known, offline, None)?;
    known.extend(columns);
    Ok((a, errors))
}

/// A node's analysis, its column errors, and the columns its relation is now known to have (by
/// normalised name).
type Analysed = (sql::Analysis, Vec<Diagnostic>, Option<(String, sql::Known)>);

/// [`analyse_node`] without recording: the caller adds the columns it returns. With a compile
/// cache (and the node's id), an analysis of the same SQL over the same upstream columns is
/// reused, and a new one is kept.
fn analyse_with(
    project: &Project,
    dialect: Dialect,
    mn: &ManifestNode,
    sql: &str,
    known: &BTreeMap<String, sql::Known>,
    offline: bool,
    cache: Option<(&CompileCache, &str)>,
) -> std::result::Result<Analysed, Diagnostic> {
    let lookup = |name: &str| known.get(name).cloned();
    let a = match cache.and_then(|(c, id)| c.analysis(id, sql, &lookup)) {
        Some(a) => a,
        None => {
            let read = std::cell::RefCell::new(Vec::new());
            let resolve = |name: &str| {
                let answer = lookup(name);
                if cache.is_some() {
                    let hash = crate::artifacts::compile_cache::answer_hash(&answer);
                    read.borrow_mut().push((name.to_string(), hash));
                }
                answer
            };
            let a = sql::analyse(sql, dialect, &resolve)
                .map_err(|e| syntax_error(project, mn, sql, &e))?;
            if let Some((c, id)) = cache {
                let mut read = read.into_inner();
                read.sort();
                read.dedup();
                c.put_analysis(id, sql, read, &a);
            }
            a
        }
    };
    let errors = match offline {
        true => Vec::new(),
        false => column_errors(project, mn, sql, &a),
    };
    let columns = match (&a.columns, &mn.relation) {
        (Some(cols), Some(rel)) => {
            let exact = a.exact && !offline && errors.is_empty();
            Some((rel.normalized(), relation_columns(mn, cols, exact)))
        }
        _ => None,
    };
    Ok((a, errors, columns))
}

/// The columns of the relation a node builds from its query's output columns: a snapshot adds
/// its four meta columns (uncertain when renamed or when deletions add a fifth).
fn relation_columns(mn: &ManifestNode, cols: &[String], exact: bool) -> sql::Known {
    if mn.node.resource_type != ResourceType::Snapshot {
        return sql::Known {
            columns: cols.to_vec(),
            exact,
        };
    }
    let config = &mn.node.config;
    let plain = config.get("snapshot_meta_column_names").is_none()
        && config.get_str("hard_deletes") != Some("new_record");
    let mut columns = cols.to_vec();
    columns.extend(
        [
            "dbt_scd_id",
            "dbt_updated_at",
            "dbt_valid_from",
            "dbt_valid_to",
        ]
        .map(String::from),
    );
    sql::Known {
        columns,
        exact: exact && plain,
    }
}

/// Whether a node's column references are checked: not for generic tests (their SQL comes
/// from a macro, not from a file the user can fix at a line), nor where `column_checks: false`.
pub fn checks_columns(mn: &ManifestNode) -> bool {
    !mn.node.is_generic_test() && mn.node.config.get_bool("column_checks") != Some(false)
}

/// The unknown and ambiguous column references of an analysed node, as errors at its
/// template's line and column, for the nodes [`checks_columns`] accepts.
fn column_errors(
    project: &Project,
    mn: &ManifestNode,
    sql: &str,
    a: &sql::Analysis,
) -> Vec<Diagnostic> {
    if !checks_columns(mn) {
        return Vec::new();
    }
    a.problems
        .iter()
        .map(|p| {
            let (line, col) = sql::map_position_to_template(sql, &mn.node.raw_code, p.line, p.col);
            let location =
                project.location(&mn.node.original_file_path, line + mn.node.line_offset, col);
            Diagnostic::new(
                ErrorKind::Sql,
                format!(
                    "{} in {} {}",
                    p.message, mn.node.resource_type, mn.node.name
                ),
            )
            .at(location)
            .with_hint(p.hint.clone())
        })
        .collect()
}

/// A node's compiled SQL that does not parse, reported at the line of its template.
fn syntax_error(project: &Project, mn: &ManifestNode, sql: &str, e: &sql::SqlError) -> Diagnostic {
    let template_line =
        sql::map_line_to_template(sql, &mn.node.raw_code, e.line) + mn.node.line_offset;
    let location = project.location(&mn.node.original_file_path, template_line, 0);
    let compiled_line = sql
        .lines()
        .nth(e.line.saturating_sub(1))
        .unwrap_or("")
        .trim();
    Diagnostic::new(
        ErrorKind::Sql,
        format!("SQL syntax error in {}: {}", mn.node.name, e.message),
    )
    .at(location)
    .with_hint(format!(
        "compiled line {} reads `{compiled_line}`; fix the SQL (see target/compiled/ for the full query)",
        e.line
    ))
}

/// Checks a node's SQL, rendered just before it runs, as `compile` does: a syntax error or an
/// unknown or ambiguous column is reported at its template line before the database sees the
/// statement. `known` holds the columns of what ran before it, and receives the node's own.
pub fn check_node(
    manifest: &Manifest,
    id: &str,
    sql: &str,
    known: &std::sync::Mutex<BTreeMap<String, sql::Known>>,
) -> std::result::Result<(), Diagnostic> {
    let Some(mn) = manifest.nodes.get(id) else {
        return Ok(());
    };
    let mut known = known
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (_, errors) = analyse_node(
        &manifest.project,
        manifest.dialect,
        mn,
        sql,
        &mut known,
        false,
    )?;
    let mut errors = errors.into_iter();
    let Some(mut first) = errors.next() else {
        return Ok(());
    };
    let more: Vec<String> = errors
        .map(|d| match &d.location {
            Some(l) => format!("{} at line {}", d.message, l.line),
            None => d.message,
        })
        .collect();
    if !more.is_empty() {
        let hint = first.hint.take().unwrap_or_default();
        first.hint = Some(format!("{hint} (also: {})", more.join("; ")));
    }
    Err(first)
}

/// A seed's columns, from its header as the loader reads it (quoted names, a byte-order mark).
pub(crate) fn seed_columns(manifest: &Manifest, mn: &ManifestNode) -> Option<Vec<String>> {
    if mn.node.resource_type != ResourceType::Seed {
        return None;
    }
    let file = &mn.node.original_file_path;
    let text = manifest.project.files.get(file)?;
    let delimiter = mn.node.config.seed_delimiter(file).ok()?;
    let header = text.lines().next()?;
    let header = header.strip_prefix('\u{feff}').unwrap_or(header);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_reader(header.as_bytes());
    let record = reader.records().next()?.ok()?;
    Some(record.iter().map(|c| c.trim().to_string()).collect())
}

/// The CTEs to inline for `id`: every ephemeral ancestor reached through ephemeral nodes,
/// deepest first, each once.
fn ephemeral_ctes(
    manifest: &Manifest,
    id: &str,
    raw_sql: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut seen = BTreeSet::new();
    fn visit(
        manifest: &Manifest,
        id: &str,
        raw_sql: &BTreeMap<String, String>,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<(String, String)>,
    ) {
        let Some(mn) = manifest.nodes.get(id) else {
            return;
        };
        for dep in &mn.depends_on {
            let Some(d) = manifest.nodes.get(dep) else {
                continue;
            };
            if d.is_ephemeral() && seen.insert(dep.clone()) {
                visit(manifest, dep, raw_sql, seen, out);
                if let Some(sql) = raw_sql.get(dep) {
                    out.push((
                        format!("__dbt__cte__{}", d.node.name),
                        sql.trim().to_string(),
                    ));
                }
            }
        }
    }
    visit(manifest, id, raw_sql, &mut seen, &mut out);
    out
}

impl Manifest {
    /// Ends the manifest's life without freeing it, for a command about to exit: a large
    /// project's manifest is millions of allocations, and freeing them one by one takes longer
    /// than the operating system reclaiming the process. Nothing it holds needs a destructor
    /// to run (it owns no connection, lock or unwritten file).
    pub fn release(self) {
        std::mem::forget(self);
    }

    /// A resolver that returns each node's real relation (ephemeral models as CTE names).
    pub fn compile_resolver(&self) -> impl Resolve + 'static {
        // Only enabled nodes are refable after parsing (in-file config may disable some).
        let nodes = self.nodes.values().map(|mn| &*mn.node);
        let mut names = Names::new(&self.project, nodes, &self.target);
        for (id, mn) in &self.nodes {
            if let Some(r) = &mn.relation {
                let mut r = r.clone();
                if mn.is_ephemeral() {
                    r.kind = RelationKind::Cte;
                }
                names.relations.insert(id.clone(), r);
            }
        }
        names.relations.extend(self.source_relations.clone());
        if self.empty_refs {
            for r in names.relations.values_mut() {
                r.empty = true;
            }
        }
        names
    }

    /// The node with this unique_id.
    pub fn node(&self, id: &str) -> Option<&ManifestNode> {
        self.nodes.get(id)
    }

    /// The node a run's result is about: a node, or a unit test seen as one (named, placed in
    /// its YAML file and depending on its model), so progress lines, the recap and the
    /// artifacts treat both alike.
    pub fn result_node(&self, id: &str) -> Option<std::borrow::Cow<'_, ManifestNode>> {
        if let Some(mn) = self.nodes.get(id) {
            return Some(std::borrow::Cow::Borrowed(mn));
        }
        let u = self.project.unit_tests.get(id)?;
        let model = crate::unit_test::model_of(self, u);
        let node = Node {
            unique_id: u.unique_id.clone(),
            resource_type: ResourceType::UnitTest,
            package_name: u.package_name.clone(),
            name: u.name.clone(),
            path: format!("{}/{}.sql", u.model, u.name),
            original_file_path: u.original_file_path.clone(),
            raw_code: String::new(),
            line_offset: u.line.saturating_sub(1),
            fqn: u.fqn.clone(),
            config: u.config.clone(),
            description: u.description.clone(),
            columns: Vec::new(),
            constraints: Vec::new(),
            patch_path: None,
            test_metadata: None,
            checksum: crate::project::identity::Checksum::None,
            unrendered_config: Default::default(),
        };
        Some(std::borrow::Cow::Owned(ManifestNode {
            node: Box::new(node),
            relation: None,
            refs: Vec::new(),
            sources: Vec::new(),
            depends_on: model.into_iter().collect(),
            depends_on_macros: Vec::new(),
            compiled_sql: None,
            inferred_columns: None,
            lineage: Default::default(),
        }))
    }

    /// `--defer`: each node outside `selected` for which `defer_to` gives a relation (of a
    /// previous manifest) is read from there. Ephemeral models are inlined, never deferred.
    /// Returns the unique_ids deferred.
    pub fn defer(
        &mut self,
        selected: &BTreeSet<String>,
        defer_to: &dyn Fn(&ManifestNode) -> Option<Relation>,
    ) -> Vec<String> {
        let mut deferred = Vec::new();
        for (id, mn) in self.nodes.iter_mut() {
            let relational = matches!(
                mn.node.resource_type,
                ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
            );
            if selected.contains(id) || !relational || mn.is_ephemeral() {
                continue;
            }
            if let Some(r) = defer_to(mn) {
                mn.relation = Some(r);
                deferred.push(id.clone());
            }
        }
        if !deferred.is_empty() {
            // No longer the parse kept in the snapshot.
            self.kept = None;
        }
        deferred
    }
}

/// Renders one node just before it runs, with database access for `run_query`, `adapter` and
/// `is_incremental()`; ephemeral parents are rendered the same way and inlined as CTEs.
///
/// `resolver` is the manifest's [`Manifest::compile_resolver`], made once for all the nodes a
/// command renders: making it reads every node.
pub fn compile_node(
    manifest: &Manifest,
    id: &str,
    database: Option<Arc<dyn Database>>,
    is_incremental: bool,
    resolver: &Arc<dyn Resolve>,
) -> std::result::Result<String, Diagnostic> {
    let render = |id: &str, incremental: bool| -> std::result::Result<String, Diagnostic> {
        let mn = manifest
            .nodes
            .get(id)
            .ok_or_else(|| Diagnostic::new(ErrorKind::Execution, format!("unknown node {id}")))?;
        manifest
            .renderer()
            .render(RenderRequest {
                node: &mn.node,
                config: &mn.node.config,
                this: mn.relation.clone(),
                execute: true,
                is_incremental: incremental,
                resolver: resolver.clone(),
                database: database.clone(),
                overrides: None,
            })
            .map(|r| r.sql)
    };
    let sql = render(id, is_incremental)?;
    // Collect ephemeral ancestors reached through ephemeral nodes, parents first.
    let mut raw = BTreeMap::new();
    let mut stack = vec![id.to_string()];
    let mut seen = BTreeSet::new();
    while let Some(cur) = stack.pop() {
        let Some(mn) = manifest.nodes.get(&cur) else {
            continue;
        };
        for dep in &mn.depends_on {
            if manifest.nodes.get(dep).is_some_and(|d| d.is_ephemeral()) && seen.insert(dep.clone())
            {
                raw.insert(dep.clone(), render(dep, false)?);
                stack.push(dep.clone());
            }
        }
    }
    if raw.is_empty() {
        return Ok(sql);
    }
    let ctes = ephemeral_ctes(manifest, id, &raw);
    Ok(sql::inject_ctes(&sql, &ctes))
}

/// Renders a free-standing template outside any node (`on-run-start`/`on-run-end` hooks,
/// `show --inline`), with `ref`/`source` resolving to real relations.
pub fn render_operation_with(
    manifest: &Manifest,
    template: &str,
    origin: &str,
    database: Option<Arc<dyn Database>>,
) -> std::result::Result<String, Diagnostic> {
    let project = manifest.project.name();
    let node = Node {
        unique_id: format!("operation.{project}.{}", origin.replace(' ', "_")),
        resource_type: ResourceType::Analysis,
        package_name: project.to_string(),
        name: origin.replace(' ', "_"),
        path: String::new(),
        original_file_path: manifest.project.file.file_name.clone(),
        raw_code: template.to_string(),
        line_offset: 0,
        fqn: vec![project.to_string(), origin.replace(' ', "_")],
        config: Config::new(),
        description: String::new(),
        columns: Vec::new(),
        constraints: Vec::new(),
        patch_path: None,
        test_metadata: None,
        checksum: crate::project::identity::Checksum::None,
        unrendered_config: Default::default(),
    };
    let resolver: Arc<dyn Resolve> = Arc::new(manifest.compile_resolver());
    if template.contains("graph") {
        let nodes = manifest.nodes.values().map(|mn| &*mn.node);
        manifest.renderer().provide_graph(&manifest.project, nodes);
    }
    manifest
        .renderer()
        .render_str(
            template,
            RenderRequest {
                node: &node,
                config: &node.config,
                this: None,
                execute: true,
                is_incremental: false,
                resolver,
                database,
                overrides: None,
            },
            origin,
        )
        .map(|r| r.sql)
}

/// [`render_operation_with`] without database access.
pub fn render_operation(
    manifest: &Manifest,
    template: &str,
    origin: &str,
) -> std::result::Result<String, Diagnostic> {
    render_operation_with(manifest, template, origin, None)
}
