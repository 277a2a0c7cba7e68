//! Query results as dbt's templates read them (dbt hands templates an agate table):
//! `table.rows`, `table.columns`, `table.column_names`, `table[0]`, `row['name']`, `row[0]`,
//! `table.columns[0].values()`, `table.columns['name'].values()`, `columns.items()`.

use super::QueryTable;
use super::values::PyList;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};
use std::sync::Arc;

/// A result table.
#[derive(Debug)]
pub struct Table {
    names: Arc<Vec<String>>,
    rows: Vec<Value>,
    columns: Vec<Value>,
}

/// One row, indexable by position and by column name.
#[derive(Debug)]
struct Row {
    names: Arc<Vec<String>>,
    values: Vec<Value>,
}

/// One column: its name and values.
#[derive(Debug)]
struct Column {
    name: String,
    values: Vec<Value>,
}

/// The table's columns, indexable by position and by name.
#[derive(Debug)]
struct Columns(Vec<Value>, Arc<Vec<String>>);

/// Converts a query result into a table value.
pub fn table(t: &QueryTable) -> Value {
    let names = Arc::new(t.columns.clone());
    let cells: Vec<Vec<Value>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(Value::from_serialize).collect())
        .collect();
    let columns = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            Value::from_object(Column {
                name: name.clone(),
                values: cells
                    .iter()
                    .map(|r| r.get(i).cloned().unwrap_or_default())
                    .collect(),
            })
        })
        .collect();
    let rows = cells
        .into_iter()
        .map(|values| {
            Value::from_object(Row {
                names: names.clone(),
                values,
            })
        })
        .collect();
    Value::from_object(Table {
        names,
        rows,
        columns,
    })
}

fn index(key: &Value, len: usize) -> Option<usize> {
    let i = key.as_i64()?;
    let i = if i < 0 { len as i64 + i } else { i };
    usize::try_from(i).ok().filter(|i| *i < len)
}

impl Object for Table {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = index(key, self.rows.len()) {
            return self.rows.get(i).cloned();
        }
        match key.as_str()? {
            "rows" => Some(Value::from(self.rows.clone())),
            "columns" => Some(Value::from_object(Columns(
                self.columns.clone(),
                self.names.clone(),
            ))),
            "column_names" => Some(Value::from_serialize(&*self.names)),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.rows.clone())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "print_table" => Ok(Value::from(())),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

impl Object for Row {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = index(key, self.values.len()) {
            return self.values.get(i).cloned();
        }
        let name = key.as_str()?;
        let i = self.names.iter().position(|n| n == name)?;
        self.values.get(i).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.values.clone())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "values" => Ok(PyList::from_vec(self.values.clone())),
            "keys" => Ok(Value::from_serialize(&*self.names)),
            "items" => Ok(PyList::from_vec(
                self.names
                    .iter()
                    .zip(&self.values)
                    .map(|(n, v)| Value::from(vec![Value::from(n.clone()), v.clone()]))
                    .collect(),
            )),
            "dict" => Ok(super::values::PyDict::from_pairs(
                self.names
                    .iter()
                    .zip(&self.values)
                    .map(|(n, v)| (Value::from(n.clone()), v.clone())),
            )),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

impl Object for Column {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = index(key, self.values.len()) {
            return self.values.get(i).cloned();
        }
        match key.as_str()? {
            "name" => Some(Value::from(self.name.clone())),
            // `column.values` read as an attribute gives the values too.
            "values" => Some(Value::from(self.values.clone())),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.values.clone())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "values" | "values_distinct" => {
                let mut v = self.values.clone();
                if method == "values_distinct" {
                    let mut seen = Vec::new();
                    v.retain(|x| {
                        let new = !seen.contains(x);
                        if new {
                            seen.push(x.clone());
                        }
                        new
                    });
                }
                Ok(PyList::from_vec(v))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

impl Object for Columns {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = index(key, self.0.len()) {
            return self.0.get(i).cloned();
        }
        let name = key.as_str()?;
        let i = self.1.iter().position(|n| n == name)?;
        self.0.get(i).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.clone())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "keys" => Ok(Value::from_serialize(&*self.1)),
            "values" => Ok(PyList::from_vec(self.0.clone())),
            "items" => Ok(PyList::from_vec(
                self.1
                    .iter()
                    .zip(&self.0)
                    .map(|(n, c)| Value::from(vec![Value::from(n.clone()), c.clone()]))
                    .collect(),
            )),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}
