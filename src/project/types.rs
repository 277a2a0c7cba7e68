//! The plain data a loaded project is made of. No behaviour beyond small accessors: later
//! stages (template, sql, graph, exec) read these types.

use super::config::Config;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The kind of a node, named as in dbt's manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    /// A `select` in the model paths.
    Model,
    /// A CSV file in the seed paths.
    Seed,
    /// A `{% snapshot %}` block.
    Snapshot,
    /// A data test: generic (from YAML) or singular (a `.sql` file in the test paths).
    Test,
    /// A compiled-only query in the analysis paths.
    Analysis,
    /// A raw table declared under `sources:`.
    Source,
    /// A unit test declared under `unit_tests:`.
    UnitTest,
}

impl ResourceType {
    /// The dbt name: `model`, `seed`, `snapshot`, `test`, `analysis`, `source`, `unit_test`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
            ResourceType::Snapshot => "snapshot",
            ResourceType::Test => "test",
            ResourceType::Analysis => "analysis",
            ResourceType::Source => "source",
            ResourceType::UnitTest => "unit_test",
        }
    }

    /// Parses a dbt resource type name (`data_test` is accepted as `test`).
    pub fn parse(s: &str) -> Option<ResourceType> {
        Some(match s {
            "model" => ResourceType::Model,
            "seed" => ResourceType::Seed,
            "snapshot" => ResourceType::Snapshot,
            "test" | "data_test" => ResourceType::Test,
            "analysis" => ResourceType::Analysis,
            "source" => ResourceType::Source,
            "unit_test" => ResourceType::UnitTest,
            _ => return None,
        })
    }

    /// Every resource type, in the order commands list them.
    pub const ALL: [ResourceType; 7] = [
        ResourceType::Model,
        ResourceType::Seed,
        ResourceType::Snapshot,
        ResourceType::Test,
        ResourceType::Analysis,
        ResourceType::Source,
        ResourceType::UnitTest,
    ];
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A column documented in properties YAML.
#[derive(Debug, Clone, Default, PartialEq, Hash, Serialize, Deserialize)]
pub struct Column {
    /// Column name as written.
    pub name: String,
    /// Description (may contain `{{ doc('...') }}`; rendered at compile time).
    pub description: String,
    /// Declared data type, if any.
    pub data_type: Option<String>,
    /// Free-form metadata.
    pub meta: BTreeMap<String, Value>,
    /// Column-level tags.
    pub tags: Vec<String>,
    /// Whether the name should be quoted.
    pub quote: Option<bool>,
    /// `constraints:` of the column (enforced with the model's contract).
    #[serde(default)]
    pub constraints: Vec<Constraint>,
}

/// A constraint as dbt writes it, on a column or (with `columns`) on a model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Constraint {
    /// `not_null`, `unique`, `primary_key`, `foreign_key`, `check` or `custom`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Name for the constraint, where the database takes one.
    pub name: Option<String>,
    /// The check's expression, a foreign key's `table (column)`, or a custom constraint.
    pub expression: Option<String>,
    /// A foreign key's parent, as `ref('x')` or `source('s', 't')`.
    pub to: Option<String>,
    /// A foreign key's parent columns.
    pub to_columns: Vec<String>,
    /// A model-level constraint's columns.
    pub columns: Vec<String>,
    /// Warn when the database accepts but does not enforce it.
    pub warn_unenforced: bool,
    /// Warn when the database does not take it at all.
    pub warn_unsupported: bool,
}

/// Where a generic test is attached.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TestTarget {
    /// A model, seed or snapshot, by name.
    Ref {
        /// Name of the model, seed or snapshot.
        name: String,
    },
    /// A source table.
    Source {
        /// Source name (the `sources:` entry).
        source: String,
        /// Table name within the source.
        table: String,
    },
}

/// How a generic test is invoked: the test macro, its arguments and its target.
#[derive(Debug, Clone, PartialEq, Hash, Serialize, Deserialize)]
pub struct TestMetadata {
    /// Test name, e.g. `not_null` or `my_custom_test`.
    pub name: String,
    /// Package namespace for `package.test_name` invocations.
    pub namespace: Option<String>,
    /// Arguments, including `column_name` when the test is on a column. String values that look
    /// like `ref(...)`/`source(...)` or contain `{{` are rendered as Jinja at compile time.
    pub kwargs: BTreeMap<String, Value>,
    /// The column the test is attached to, if any.
    pub column_name: Option<String>,
    /// The model, seed, snapshot or source the test checks.
    pub target: TestTarget,
}

/// A node: anything with SQL to render (models, snapshots, tests, analyses) and seeds.
/// `Hash` keys the caches: every field takes part.
#[derive(Debug, Clone, PartialEq, Hash, Serialize, Deserialize)]
pub struct Node {
    /// `<resource_type>.<package>.<name>` (tests add a hash suffix).
    pub unique_id: String,
    /// What kind of node this is.
    pub resource_type: ResourceType,
    /// The project (package) that defines it.
    pub package_name: String,
    /// Node name: file stem for models, block name for snapshots.
    pub name: String,
    /// Path relative to the resource path it was found in, with `/` separators.
    pub path: String,
    /// Path relative to the project root, with `/` separators.
    pub original_file_path: String,
    /// The template text. For snapshots, the body of the block.
    pub raw_code: String,
    /// 0-based line in the file where `raw_code` starts (non-zero for snapshot blocks).
    pub line_offset: usize,
    /// Fully qualified name: package, folders, name.
    pub fqn: Vec<String>,
    /// Merged configuration (project tree < properties YAML; in-file `config()` is applied at
    /// render time).
    pub config: Config,
    /// Description from properties YAML.
    pub description: String,
    /// Documented columns, in YAML order.
    pub columns: Vec<Column>,
    /// Model-level `constraints:` (on several columns).
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// The properties YAML file that described this node, if any.
    pub patch_path: Option<String>,
    /// For generic tests: which test, on what, with which arguments.
    pub test_metadata: Option<TestMetadata>,
    /// dbt's checksum: SHA-256 of the stripped file (the whole file for snapshots), the path
    /// for seeds over 1 MiB, none for generic tests.
    pub checksum: super::identity::Checksum,
    /// dbt's `unrendered_config`: the configs as written in the project file, properties YAML
    /// and `config()` call, each layer replacing keys of the one before.
    #[serde(
        serialize_with = "super::config::write_map",
        deserialize_with = "super::config::read_map"
    )]
    pub unrendered_config: Arc<serde_json::Map<String, Value>>,
}

impl Node {
    /// The name used for the database relation: `alias` config or the node name.
    pub fn alias(&self) -> &str {
        self.config.get_str("alias").unwrap_or(&self.name)
    }

    /// True for generic tests defined in YAML.
    pub fn is_generic_test(&self) -> bool {
        self.test_metadata.is_some()
    }
}

/// A freshness period unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Minutes.
    Minute,
    /// Hours.
    Hour,
    /// Days.
    Day,
}

impl Period {
    /// Length of one unit in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Period::Minute => 60,
            Period::Hour => 3600,
            Period::Day => 86400,
        }
    }
}

/// `count` units of `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Threshold {
    /// Number of periods.
    pub count: i64,
    /// The unit.
    pub period: Period,
}

/// Freshness rules for a source table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Freshness {
    /// Warn when the newest row is older than this.
    pub warn_after: Option<Threshold>,
    /// Error when the newest row is older than this.
    pub error_after: Option<Threshold>,
    /// Extra `where` condition for the freshness query.
    pub filter: Option<String>,
}

/// A raw table declared under `sources:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// `source.<package>.<source>.<table>`.
    pub unique_id: String,
    /// The project (package) that declares it.
    pub package_name: String,
    /// The source's name (the `sources:` entry).
    pub source_name: String,
    /// The table's name as used in `source('s', 't')`.
    pub name: String,
    /// The table's name in the database (`identifier`, defaulting to `name`).
    pub identifier: String,
    /// Schema in the database (defaults to the source name).
    pub schema: String,
    /// Database, if set.
    pub database: Option<String>,
    /// Who loads it.
    pub loader: String,
    /// Column holding the load time, for freshness.
    pub loaded_at_field: Option<String>,
    /// Freshness rules (table-level override source-level).
    pub freshness: Option<Freshness>,
    /// Source description.
    pub source_description: String,
    /// Table description.
    pub description: String,
    /// Documented columns.
    pub columns: Vec<Column>,
    /// Merged config (`enabled`, `tags`, `meta`, ...).
    pub config: Config,
    /// Fully qualified name.
    pub fqn: Vec<String>,
    /// The YAML file that declares it, relative to the project root.
    pub original_file_path: String,
}

/// A `{% macro %}`, `{% test %}` or `{% materialization %}` block in the macro paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Macro {
    /// `macro.<package>.<name>`.
    pub unique_id: String,
    /// The project (package) that defines it.
    pub package_name: String,
    /// Callable name (`test_<name>` for test blocks).
    pub name: String,
    /// Path relative to the project root.
    pub original_file_path: String,
    /// The block's source text as written, from `{% macro` (or `{% test`) to its end tag.
    pub macro_sql: String,
    /// The template Kiln compiles: `macro_sql`, with a `{% test %}` block rewritten as the
    /// macro `test_<name>`.
    pub template_sql: String,
    /// 0-based line where the block starts in its file.
    pub line_offset: usize,
    /// Argument names, in order.
    pub arguments: Vec<String>,
    /// Description from properties YAML (`macros:`).
    pub description: String,
    /// Arguments as documented in properties YAML (`macros:`), for the manifest.
    pub documented_arguments: Vec<MacroArgument>,
    /// The properties YAML file that described this macro, if any.
    pub patch_path: Option<String>,
}

/// A macro argument documented in properties YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MacroArgument {
    /// Argument name.
    pub name: String,
    /// Its declared type (`type:`), if any.
    pub data_type: Option<String>,
    /// Description.
    pub description: String,
}

/// A `{% docs name %}` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocBlock {
    /// `doc.<package>.<name>`.
    pub unique_id: String,
    /// Block name used by `doc('name')`.
    pub name: String,
    /// Package.
    pub package_name: String,
    /// File, relative to the project root.
    pub original_file_path: String,
    /// Text between the tags, trimmed.
    pub block_contents: String,
}

/// Rows given to or expected from a unit test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitTestData {
    /// `dict` (rows as maps), `csv` or `sql`.
    pub format: String,
    /// Rows for the `dict` format, each in the column order written.
    pub rows: Vec<indexmap::IndexMap<String, Value>>,
    /// Rows written inline as text, for the `csv` and `sql` formats.
    pub text: Option<String>,
    /// The fixture file the rows come from (`fixture:`), if any.
    pub fixture: Option<String>,
}

/// One `given:` entry of a unit test: an input relation replaced by fixed rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitTestInput {
    /// `ref('name')` or `source('s', 't')` as written.
    pub input: String,
    /// The rows standing in for it.
    pub data: UnitTestData,
}

/// A unit test: a model run on fixed inputs, compared with expected rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitTest {
    /// `unit_test.<package>.<model>.<name>`.
    pub unique_id: String,
    /// Test name.
    pub name: String,
    /// Package.
    pub package_name: String,
    /// Model under test.
    pub model: String,
    /// Description.
    pub description: String,
    /// Inputs.
    pub given: Vec<UnitTestInput>,
    /// Expected output rows.
    pub expect: UnitTestData,
    /// `overrides:` (macros, vars, env_vars) as written.
    pub overrides: BTreeMap<String, Value>,
    /// Config (`tags`, `meta`, `enabled`).
    pub config: Config,
    /// YAML file, relative to the project root.
    pub original_file_path: String,
    /// The line of its `- name:` in that file (1-based).
    #[serde(default)]
    pub line: usize,
    /// Fully qualified name.
    pub fqn: Vec<String>,
}
