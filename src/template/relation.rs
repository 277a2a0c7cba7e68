//! `Relation`: what `ref()`, `source()`, `this` and `adapter.get_relation()` return. It renders as
//! a quoted, dotted name in the target's dialect and has dbt's attributes and methods.

use crate::sql::Dialect;
use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value, from_args};
use minijinja::{Error, ErrorKind, State};
use std::fmt;
use std::sync::Arc;

/// What kind of database object a relation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RelationKind {
    /// A table.
    Table,
    /// A view.
    View,
    /// An ephemeral model inlined as a CTE.
    Cte,
    /// Unknown (e.g. a source).
    External,
}

impl RelationKind {
    /// A view when the database's catalog says so, otherwise a table.
    pub fn table_or_view(is_view: bool) -> RelationKind {
        if is_view {
            RelationKind::View
        } else {
            RelationKind::Table
        }
    }
}

impl RelationKind {
    /// The dbt name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            RelationKind::Table => "table",
            RelationKind::View => "view",
            RelationKind::Cte => "cte",
            RelationKind::External => "external",
        }
    }
}

/// A database relation with dbt's `Relation` interface.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Relation {
    /// Database (catalog); rendered only by dialects that use three-part names.
    pub database: Option<String>,
    /// Schema.
    pub schema: String,
    /// Table or view name.
    pub identifier: String,
    /// What it is.
    pub kind: RelationKind,
    /// Dialect used for quoting.
    pub dialect: Dialect,
    /// Which parts to render (`include(database=False)` etc.).
    pub include: (bool, bool, bool),
    /// `--empty`: in a template, the relation reads as a subquery with no rows.
    pub empty: bool,
}

impl Relation {
    /// A relation in `schema` named `identifier`.
    pub fn new(
        database: Option<String>,
        schema: &str,
        identifier: &str,
        kind: RelationKind,
        dialect: Dialect,
    ) -> Relation {
        Relation {
            database,
            schema: schema.to_string(),
            identifier: identifier.to_string(),
            kind,
            dialect,
            include: (true, true, true),
            empty: false,
        }
    }

    /// The rendered, quoted name (`"main"."orders"`), or the CTE name for ephemeral models.
    pub fn render(&self) -> String {
        if self.kind == RelationKind::Cte {
            return format!("__dbt__cte__{}", self.identifier);
        }
        let mut parts = Vec::new();
        if self.include.0
            && self.dialect.uses_database_in_names()
            && let Some(db) = &self.database
        {
            parts.push(self.dialect.quote(db));
        }
        if self.include.1 && !self.schema.is_empty() {
            parts.push(self.dialect.quote(&self.schema));
        }
        if self.include.2 {
            parts.push(self.dialect.quote(&self.identifier));
        }
        parts.join(".")
    }

    /// Normalised unquoted name as the `sql` stage reports relations (`main.orders`).
    pub fn normalized(&self) -> String {
        if self.kind == RelationKind::Cte {
            return format!("__dbt__cte__{}", self.identifier);
        }
        let mut parts = Vec::new();
        if self.dialect.uses_database_in_names()
            && let Some(db) = &self.database
        {
            parts.push(db.clone());
        }
        parts.push(self.schema.clone());
        parts.push(self.identifier.clone());
        parts.join(".")
    }

    /// Wraps the relation as a Jinja value.
    pub fn into_value(self) -> Value {
        Value::from_object(self)
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl Relation {
    /// dbt's relation class name, which packages check (`metadata.type` ends in `Relation`).
    fn class_name(&self) -> &'static str {
        match self.dialect {
            Dialect::Postgres => "PostgresRelation",
            Dialect::MySql => "MySQLRelation",
            Dialect::Sqlite => "SQLiteRelation",
        }
    }

    fn path(&self) -> Value {
        super::values::PyDict::from_pairs([
            (
                Value::from("database"),
                self.database.clone().map(Value::from).unwrap_or_default(),
            ),
            (Value::from("schema"), Value::from(self.schema.clone())),
            (
                Value::from("identifier"),
                Value::from(self.identifier.clone()),
            ),
        ])
    }
}

impl Object for Relation {
    /// A mapping, as dbt's relations are (`relation is mapping`, `relation.get('path')`).
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let v = match key.as_str()? {
            "metadata" => super::values::PyDict::from_pairs([(
                Value::from("type"),
                Value::from(self.class_name()),
            )]),
            "path" => self.path(),
            "quote_policy" | "include_policy" => super::values::PyDict::from_pairs(
                ["database", "schema", "identifier"]
                    .into_iter()
                    .map(|k| (Value::from(k), Value::from(true))),
            ),
            "is_materialized_view" => Value::from(false),
            "can_be_renamed" | "can_be_replaced" => Value::from(true),
            "database" => self
                .database
                .clone()
                .map(Value::from)
                .unwrap_or(Value::from(())),
            "schema" => Value::from(self.schema.clone()),
            "identifier" | "name" | "table" => Value::from(self.identifier.clone()),
            "type" => Value::from(self.kind.as_str()),
            "is_table" => Value::from(self.kind == RelationKind::Table),
            "is_view" => Value::from(self.kind == RelationKind::View),
            "is_cte" => Value::from(self.kind == RelationKind::Cte),
            _ => return None,
        };
        Some(v)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["path", "type", "metadata", "quote_policy", "include_policy"])
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "render" => Ok(Value::from(Relation::render(self))),
            "get" => {
                let (key, default): (Value, Option<Value>) = from_args(args)?;
                Ok(self.get_value(&key).or(default).unwrap_or_default())
            }
            "without_identifier" => {
                let mut r = (**self).clone();
                r.include.2 = false;
                Ok(r.into_value())
            }
            "to_dict" => Ok(super::values::PyDict::from_pairs(
                ["path", "type", "metadata"].into_iter().map(|k| {
                    let key = Value::from(k);
                    let v = self.get_value(&key).unwrap_or_default();
                    (key, v)
                }),
            )),
            "replace_path" => {
                let (kwargs,): (Kwargs,) = from_args(args)?;
                let mut r = (**self).clone();
                if let Some(v) = kwargs.get::<Option<String>>("schema")? {
                    r.schema = v;
                }
                if let Some(v) = kwargs.get::<Option<String>>("identifier")? {
                    r.identifier = v;
                }
                if let Some(v) = kwargs.get::<Option<String>>("database")? {
                    r.database = Some(v);
                }
                kwargs.assert_all_used()?;
                Ok(r.into_value())
            }
            "include" | "quote" => {
                let (kwargs,): (Kwargs,) = from_args(args)?;
                let mut r = (**self).clone();
                if method == "include" {
                    if let Some(v) = kwargs.get::<Option<bool>>("database")? {
                        r.include.0 = v;
                    }
                    if let Some(v) = kwargs.get::<Option<bool>>("schema")? {
                        r.include.1 = v;
                    }
                    if let Some(v) = kwargs.get::<Option<bool>>("identifier")? {
                        r.include.2 = v;
                    }
                } else {
                    // Kiln always quotes; accept the arguments for compatibility.
                    for k in ["database", "schema", "identifier"] {
                        let _ = kwargs.get::<Option<bool>>(k)?;
                    }
                }
                kwargs.assert_all_used()?;
                Ok(r.into_value())
            }
            "incorporate" => {
                let (kwargs,): (Kwargs,) = from_args(args)?;
                let mut r = (**self).clone();
                if let Some(path) = kwargs.get::<Option<Value>>("path")? {
                    if let Ok(Some(s)) = path
                        .get_attr("schema")
                        .map(|v| v.as_str().map(String::from))
                    {
                        r.schema = s;
                    }
                    if let Ok(Some(s)) = path
                        .get_attr("identifier")
                        .map(|v| v.as_str().map(String::from))
                    {
                        r.identifier = s;
                    }
                    if let Ok(Some(s)) = path
                        .get_attr("database")
                        .map(|v| v.as_str().map(String::from))
                    {
                        r.database = Some(s);
                    }
                }
                if let Some(t) = kwargs.get::<Option<String>>("type")? {
                    r.kind = match t.as_str() {
                        "table" => RelationKind::Table,
                        "view" => RelationKind::View,
                        "cte" => RelationKind::Cte,
                        _ => RelationKind::External,
                    };
                }
                kwargs.assert_all_used()?;
                Ok(r.into_value())
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("relations have no method `{method}`"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.empty && self.kind != RelationKind::Cte {
            // dbt's --empty: the same columns, no rows.
            return write!(
                f,
                "(select * from {} where false limit 0) _dbt_limit_subq_{}",
                Relation::render(self),
                self.identifier
            );
        }
        f.write_str(&Relation::render(self))
    }
}
