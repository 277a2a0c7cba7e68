//! `selectors.yml`: named selections in dbt's YAML format, used with `--selector NAME` (and the
//! one marked `default: true` when a command selects nothing else). Definitions are read into
//! plain data here; [`crate::graph`] evaluates them.

use super::project_file::{key_location, parse_yaml};
use crate::error::{Collector, Diagnostic, ErrorKind, Result};
use serde_json::Value;

/// The file, at the project root.
pub const FILE: &str = "selectors.yml";

/// One `selectors:` entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NamedSelector {
    /// `name:`.
    pub name: String,
    /// `description:`.
    pub description: String,
    /// `default: true`: used when a command is given no selection.
    pub default: bool,
    /// `definition:`.
    pub definition: Definition,
}

/// A selector definition.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Definition {
    /// A selection in the CLI's syntax (`+tag:nightly`), also what method entries
    /// (`{method: tag, value: nightly, parents: true}`) and `{tag: nightly}` become.
    Cli(String),
    /// `union:` — the `exclude:` members are taken away from the others.
    Union(Vec<Definition>, Vec<Definition>),
    /// `intersection:` — likewise with `exclude:` members.
    Intersection(Vec<Definition>, Vec<Definition>),
    /// `{method: selector, value: other}`: another named selector.
    Selector(String),
}

/// Parses `selectors.yml`; every problem is reported with its line.
pub fn parse(text: &str) -> Result<Vec<NamedSelector>> {
    let doc = parse_yaml(FILE, text)?;
    let mut diags = Collector::new();
    let error = |path: &[String], message: String, hint: &str| {
        Diagnostic::new(ErrorKind::Project, message)
            .at(key_location(FILE, text, path))
            .with_hint(hint.to_string())
    };
    let Some(list) = doc.get("selectors").and_then(Value::as_array) else {
        return Err(error(
            &[],
            "selectors.yml has no `selectors:` list".into(),
            "write `selectors:` followed by entries with `name:` and `definition:`",
        )
        .into());
    };
    let mut out = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let path = vec!["selectors".to_string(), format!("[{i}]")];
        let Some(name) = entry.get("name").and_then(Value::as_str) else {
            // Point at the entry's first key: the entry itself has no line of its own.
            let first_key = entry.as_object().and_then(|m| m.keys().next().cloned());
            diags.push(error(
                &[path.clone(), first_key.into_iter().collect()].concat(),
                format!("selector {} has no `name:`", i + 1),
                "give every selector a `name:`",
            ));
            continue;
        };
        let Some(def) = entry.get("definition") else {
            diags.push(error(
                &[path.clone(), vec!["name".into()]].concat(),
                format!("selector `{name}` has no `definition:`"),
                "add `definition:`, e.g. `definition: 'tag:nightly'`",
            ));
            continue;
        };
        let mut def_path = path.clone();
        def_path.push("definition".into());
        match definition(def, &def_path, &error) {
            Ok(definition) => out.push(NamedSelector {
                name: name.to_string(),
                description: entry
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                default: entry
                    .get("default")
                    .is_some_and(|d| d.as_bool() == Some(true) || d.as_str() == Some("true")),
                definition,
            }),
            Err(d) => diags.push(d),
        }
    }
    let defaults: Vec<&str> = out
        .iter()
        .filter(|s| s.default)
        .map(|s| s.name.as_str())
        .collect();
    if defaults.len() > 1 {
        diags.push(error(
            &["selectors".to_string()],
            format!("more than one default selector: {}", defaults.join(", ")),
            "mark at most one selector `default: true`",
        ));
    }
    diags.finish(out)
}

type Err<'a> = &'a dyn Fn(&[String], String, &str) -> Diagnostic;

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn definition(
    v: &Value,
    path: &[String],
    error: Err,
) -> std::result::Result<Definition, Diagnostic> {
    match v {
        Value::String(s) => Ok(Definition::Cli(s.clone())),
        Value::Object(map) => {
            for set in ["union", "intersection"] {
                if let Some(items) = map.get(set) {
                    let mut sub = path.to_vec();
                    sub.push(set.to_string());
                    let Some(items) = items.as_array() else {
                        return Err(error(
                            &sub,
                            format!("`{set}:` must be a list of definitions"),
                            "write each member on its own `- ` line",
                        ));
                    };
                    let (mut keep, mut drop) = (Vec::new(), Vec::new());
                    for (i, item) in items.iter().enumerate() {
                        let mut p = sub.clone();
                        p.push(format!("[{i}]"));
                        match item.get("exclude") {
                            Some(ex) => {
                                p.push("exclude".into());
                                let list: Vec<&Value> = match ex.as_array() {
                                    Some(l) => l.iter().collect(),
                                    None => vec![ex],
                                };
                                for e in list {
                                    drop.push(definition(e, &p, error)?);
                                }
                            }
                            None => keep.push(definition(item, &p, error)?),
                        }
                    }
                    return Ok(if set == "union" {
                        Definition::Union(keep, drop)
                    } else {
                        Definition::Intersection(keep, drop)
                    });
                }
            }
            if let Some(method) = map.get("method") {
                return method_entry(map, method, path, error);
            }
            match map.iter().next() {
                Some((key, value)) if map.len() == 1 => match scalar(value) {
                    Some(v) if key == "selector" => Ok(Definition::Selector(v)),
                    Some(v) => Ok(Definition::Cli(format!("{key}:{v}"))),
                    None => Err(error(
                        path,
                        format!("`{key}:` needs a single value"),
                        "write it like `tag: nightly`",
                    )),
                },
                _ => Err(error(
                    path,
                    "a selector definition is a string, `union:`, `intersection:`, `method:` with `value:`, or one `method: value` pair".into(),
                    "see dbt's YAML selectors: e.g. `definition: {method: tag, value: nightly}`",
                )),
            }
        }
        _ => Err(error(
            path,
            "a selector definition must be a string or a mapping".into(),
            "write e.g. `definition: 'tag:nightly'`",
        )),
    }
}

/// `{method: tag, value: nightly, parents: true, children_depth: 2, ...}` as CLI syntax.
fn method_entry(
    map: &serde_json::Map<String, Value>,
    method: &Value,
    path: &[String],
    error: Err,
) -> std::result::Result<Definition, Diagnostic> {
    let method = scalar(method).unwrap_or_default();
    let Some(value) = map.get("value").and_then(scalar) else {
        return Err(error(
            path,
            format!("method `{method}` has no `value:`"),
            "add `value:`, e.g. `value: nightly`",
        ));
    };
    const KEYS: &[&str] = &[
        "method",
        "value",
        "parents",
        "children",
        "parents_depth",
        "children_depth",
        "childrens_parents",
        "indirect_selection",
    ];
    if let Some(k) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        let mut p = path.to_vec();
        p.push(k.clone());
        return Err(error(
            &p,
            format!("unknown key `{k}` in a method selector"),
            "known keys: method, value, parents, children, parents_depth, children_depth, childrens_parents, indirect_selection",
        ));
    }
    if method == "selector" {
        return Ok(Definition::Selector(value));
    }
    let flag = |k: &str| map.get(k).and_then(Value::as_bool).unwrap_or(false);
    let depth = |k: &str| map.get(k).and_then(Value::as_u64);
    let mut text = String::new();
    if flag("childrens_parents") {
        text.push('@');
    } else if flag("parents") || depth("parents_depth").is_some() {
        if let Some(d) = depth("parents_depth") {
            text.push_str(&d.to_string());
        }
        text.push('+');
    }
    if method == "fqn" {
        text.push_str(&value);
    } else {
        text.push_str(&format!("{method}:{value}"));
    }
    if flag("children") || depth("children_depth").is_some() {
        text.push('+');
        if let Some(d) = depth("children_depth") {
            text.push_str(&d.to_string());
        }
    }
    Ok(Definition::Cli(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_in_every_form() {
        let text = "selectors:
  - name: nightly
    description: The nightly run
    default: true
    definition:
      union:
        - method: tag
          value: nightly
          parents: true
          children_depth: 2
        - 'path:models/marts'
        - source: raw
        - exclude:
            - intersection:
                - tag:slow
                - method: resource_type
                  value: model
  - name: reuse
    definition:
      method: selector
      value: nightly
  - name: plain
    definition: '+orders'
";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 3);
        assert!(s[0].default && !s[1].default);
        assert_eq!(
            s[0].definition,
            Definition::Union(
                vec![
                    Definition::Cli("+tag:nightly+2".into()),
                    Definition::Cli("path:models/marts".into()),
                    Definition::Cli("source:raw".into()),
                ],
                vec![Definition::Intersection(
                    vec![
                        Definition::Cli("tag:slow".into()),
                        Definition::Cli("resource_type:model".into())
                    ],
                    vec![]
                )]
            )
        );
        assert_eq!(s[1].definition, Definition::Selector("nightly".into()));
        assert_eq!(s[2].definition, Definition::Cli("+orders".into()));
    }

    #[test]
    fn mistakes_name_their_line() {
        let text = "selectors:\n  - name: a\n    definition:\n      method: tag\n      valu: x\n  - definition: b\n";
        let e = parse(text).unwrap_err();
        let d = e.diagnostics();
        assert_eq!(d.len(), 2, "{e}");
        assert!(d[0].message.contains("method `tag` has no `value:`"), "{e}");
        assert_eq!(d[0].location.as_ref().unwrap().line, 3);
        assert!(d[1].message.contains("has no `name:`"), "{e}");
        assert_eq!(d[1].location.as_ref().unwrap().line, 6);
    }
}
