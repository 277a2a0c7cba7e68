//! Seeds: read a CSV file, infer column types, and hand typed rows to the adapter.
//!
//! Parsing is strict: a ragged row, invalid UTF-8 or an unterminated quote is an error naming the
//! file and line, and nothing of that file is loaded.

use crate::adapter::sql::SeedType;
use crate::error::{Diagnostic, Error, ErrorKind, Location, Result};
use crate::project::Config;
use std::collections::BTreeMap;

/// A parsed seed file.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedData {
    /// Column names from the header.
    pub columns: Vec<String>,
    /// Inferred type of each column.
    pub types: Vec<SeedType>,
    /// `column_types` overrides (column → SQL type), which win over inference.
    pub overrides: BTreeMap<String, String>,
    /// Rows; empty fields are NULL.
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows with fewer fields than the header, padded with NULLs as dbt does, by line.
    pub short_rows: Vec<usize>,
}

/// Parses seed `bytes` from `file` with the seed's config (`delimiter`, `column_types`).
pub fn parse(file: &str, bytes: &[u8], config: &Config) -> Result<SeedData> {
    let delimiter = match config.get_str("delimiter") {
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
    };
    // Line numbers for errors need the text; invalid UTF-8 is reported with its line.
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned();
            return Err(Error::from(
                Diagnostic::new(
                    ErrorKind::Project,
                    format!("seed {file} is not valid UTF-8"),
                )
                .at(Location::at_offset(file, &valid, e.valid_up_to()))
                .with_hint("save the CSV as UTF-8; nothing of this seed was loaded"),
            ));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let csv_error = |e: csv::Error| -> Error {
        let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
        let message = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("row has {len} fields but the header has {expected_len}"),
            csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
            _ => e.to_string(),
        };
        Error::from(
            Diagnostic::new(ErrorKind::Project, format!("seed {file}: {message}"))
                .at(Location::at(file, text, line, 0))
                .with_hint("fix the row (quote fields that contain the delimiter); nothing of this seed was loaded"),
        )
    };
    let header = reader.headers().map_err(csv_error)?.clone();
    let columns: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    if columns.is_empty() || columns.iter().all(|c| c.is_empty()) {
        return Err(Error::from(
            Diagnostic::new(ErrorKind::Project, format!("seed {file} has no header row"))
                .at(Location::at(file, text, 1, 1))
                .with_hint("the first line must name the columns"),
        ));
    }
    for (i, c) in columns.iter().enumerate() {
        if c.is_empty() {
            return Err(Error::from(
                Diagnostic::new(
                    ErrorKind::Project,
                    format!("seed {file}: column {} has an empty name", i + 1),
                )
                .at(Location::at(file, text, 1, 1))
                .with_hint("name every column in the header"),
            ));
        }
        if columns[..i].contains(c) {
            return Err(Error::from(
                Diagnostic::new(
                    ErrorKind::Project,
                    format!("seed {file}: column `{c}` appears twice in the header"),
                )
                .at(Location::at(file, text, 1, 1))
                .with_hint("rename one of the columns"),
            ));
        }
        if let Some(bad) = c.chars().find(|ch| ch.is_control()) {
            return Err(Error::from(
                Diagnostic::new(
                    ErrorKind::Project,
                    format!(
                        "seed {file}: column {} has a control character ({:?}) in its name",
                        i + 1,
                        bad
                    ),
                )
                .at(Location::at(file, text, 1, 1))
                .with_hint("remove it from the header: a column name is printable text"),
            ));
        }
    }
    let mut rows = Vec::new();
    let mut short_rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        if record.len() > columns.len() {
            return Err(Error::from(
                Diagnostic::new(
                    ErrorKind::Project,
                    format!(
                        "seed {file}: row has {} fields but the header has {}",
                        record.len(),
                        columns.len()
                    ),
                )
                .at(Location::at(file, text, line, 0))
                .with_hint("fix the row (quote fields that contain the delimiter); nothing of this seed was loaded"),
            ));
        }
        if record.len() < columns.len() {
            short_rows.push(line);
        }
        let mut row: Vec<Option<String>> = record
            .iter()
            .map(|v| {
                if v.is_empty() {
                    None
                } else {
                    Some(v.to_string())
                }
            })
            .collect();
        row.resize(columns.len(), None);
        rows.push(row);
    }
    // An unterminated quote makes the csv crate swallow the rest of the file into one field.
    if let Some(line) = unterminated_quote_line(text) {
        return Err(Error::from(
            Diagnostic::new(ErrorKind::Project, format!("seed {file}: a quoted field is never closed"))
                .at(Location::at(file, text, line, 0))
                .with_hint("close the quote (write \"\" for a literal quote inside a quoted field); nothing of this seed was loaded"),
        ));
    }
    let overrides: BTreeMap<String, String> = match config.get("column_types") {
        Some(serde_json::Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), crate::project::config::value_to_string(v)))
            .collect(),
        _ => BTreeMap::new(),
    };
    let types = (0..columns.len())
        .map(|i| infer(rows.iter().filter_map(|r| r[i].as_deref())))
        .collect();
    Ok(SeedData {
        columns,
        types,
        overrides,
        rows,
        short_rows,
    })
}

/// A note for rows that were shorter than the header (loaded with NULLs), naming their lines.
fn short_rows_warning(file: &str, lines: &[usize]) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    let shown: Vec<String> = lines.iter().take(5).map(usize::to_string).collect();
    let more = if lines.len() > 5 {
        format!(" and {} more", lines.len() - 5)
    } else {
        String::new()
    };
    Some(format!(
        "warning: {file} line{} {}{more} had fewer fields than the header; the missing fields loaded as NULL",
        if lines.len() == 1 { "" } else { "s" },
        shown.join(", ")
    ))
}

/// The line where a quoted field opens and never closes, if any.
fn unterminated_quote_line(text: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut opened_at = 0;
    let mut line = 1;
    let mut at_field_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    in_quotes = false;
                }
            }
            '"' if at_field_start => {
                in_quotes = true;
                opened_at = line;
            }
            '\n' => {
                line += 1;
                at_field_start = true;
                continue;
            }
            _ => {}
        }
        at_field_start = !in_quotes && (c == ',' || c == ';' || c == '\t' || c == '|');
    }
    in_quotes.then_some(opened_at)
}

/// The narrowest type that fits every non-empty value.
pub fn infer<'a>(values: impl Iterator<Item = &'a str>) -> SeedType {
    let mut candidates = [
        SeedType::Integer,
        SeedType::BigInt,
        SeedType::Float,
        SeedType::Boolean,
        SeedType::Date,
        SeedType::Timestamp,
    ]
    .to_vec();
    let mut any = false;
    for v in values {
        any = true;
        let v = v.trim();
        candidates.retain(|t| fits(*t, v));
        if candidates.is_empty() {
            return SeedType::Text;
        }
    }
    if !any {
        return SeedType::Text;
    }
    candidates[0]
}

fn fits(t: SeedType, v: &str) -> bool {
    match t {
        SeedType::Integer => fits(SeedType::BigInt, v) && v.parse::<i32>().is_ok(),
        SeedType::BigInt => {
            let digits = v.strip_prefix('-').unwrap_or(v);
            // Leading zeros (zip codes, ids) stay text so they are not changed.
            !digits.is_empty()
                && digits.len() < 19
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !(digits.len() > 1 && digits.starts_with('0'))
        }
        SeedType::Float => {
            v.parse::<f64>().is_ok_and(f64::is_finite)
                && v.bytes().any(|b| b.is_ascii_digit())
                && !v.contains(['x', 'X', 'i', 'I', 'n', 'N'])
                && !(v.len() > 1 && v.starts_with('0') && !v.starts_with("0."))
        }
        SeedType::Boolean => matches!(v.to_ascii_lowercase().as_str(), "true" | "false"),
        SeedType::Date => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok(),
        SeedType::Timestamp => {
            chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").is_ok()
                || chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S").is_ok()
                || chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f").is_ok()
                || chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
                || chrono::DateTime::parse_from_rfc3339(v).is_ok()
        }
        SeedType::Text => true,
    }
}

/// Loads a seed: parse the whole file first (so a bad file loads nothing), then replace the
/// table in one transaction.
pub(super) async fn run(
    ctx: &super::Ctx,
    mn: &crate::compile::ManifestNode,
) -> std::result::Result<super::Outcome, super::StepError> {
    let file = &mn.node.original_file_path;
    let path = ctx.manifest.project.root.join(file);
    let bytes = std::fs::read(&path).map_err(|e| {
        (
            Diagnostic::new(ErrorKind::Io, format!("cannot read seed {file}: {e}"))
                .at(Location::file(file.clone()))
                .with_hint("check that the file exists and is readable"),
            Vec::new(),
            None,
        )
    })?;
    let data = parse(file, &bytes, mn.config())
        .map_err(|e| (e.diagnostics()[0].clone(), Vec::new(), None))?;
    if let Some(w) = short_rows_warning(file, &data.short_rows) {
        (ctx.events)(super::Event::Message(w));
    }
    let Some(rel) = mn.relation.clone() else {
        return Err((
            Diagnostic::new(ErrorKind::Execution, format!("seed {file} has no relation")),
            Vec::new(),
            None,
        ));
    };
    let sqlgen = ctx.adapter.sql();
    let columns: Vec<(String, String)> = data
        .columns
        .iter()
        .zip(&data.types)
        .map(|(c, t)| {
            let ty = data
                .overrides
                .get(c)
                .cloned()
                .unwrap_or_else(|| sqlgen.seed_type(*t).to_string());
            (c.clone(), ty)
        })
        .collect();
    // Booleans are stored as 1/0 where the database has no boolean type.
    let rows: Vec<Vec<Option<String>>> = if ctx.adapter.dialect() != crate::sql::Dialect::Postgres {
        data.rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .zip(&data.types)
                    .map(|(v, t)| match (v, t) {
                        (Some(v), SeedType::Boolean) => Some(
                            if v.eq_ignore_ascii_case("true") {
                                "1"
                            } else {
                                "0"
                            }
                            .to_string(),
                        ),
                        (v, _) => v,
                    })
                    .collect()
            })
            .collect()
    } else {
        data.rows
    };
    let mut statements = Vec::new();
    ctx.adapter
        .ensure_schema(&rel.schema)
        .await
        .map_err(|e| super::node_error(mn, e, Vec::new(), None))?;
    // Seeds run their pre-hook and post-hook around the load, as models do.
    super::materialize::run_hooks(ctx, mn, "pre_hook", &mut statements, "").await?;
    statements.push(sqlgen.create_table(&rel, &columns));
    let result = async {
        let existing = super::existing_kind(ctx, &rel).await?;
        ctx.adapter
            .load_table(&rel, &columns, &rows, existing)
            .await
    }
    .await;
    match result {
        Ok(n) => {
            super::materialize::run_hooks(ctx, mn, "post_hook", &mut statements, "").await?;
            Ok(super::Outcome::success(
                format!("loaded {n} {}", if n == 1 { "row" } else { "rows" }),
                Some(n),
                None,
                statements,
            ))
        }
        Err(e) => Err(super::node_error(mn, e, statements, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_types() {
        let data = parse(
            "seeds/s.csv",
            b"id,price,ok,day,at,zip,name\n1,1.5,true,2024-01-02,2024-01-02 03:04:05,02134,a\n2,2,false,2024-02-29,2024-01-02T03:04:05,10001,\n",
            &Config::new(),
        )
        .unwrap();
        assert_eq!(
            data.types,
            vec![
                SeedType::Integer,
                SeedType::Float,
                SeedType::Boolean,
                SeedType::Date,
                SeedType::Timestamp,
                SeedType::Text,
                SeedType::Text
            ]
        );
        assert_eq!(data.rows[1][6], None);
    }

    #[test]
    fn impossible_dates_are_text() {
        assert_eq!(infer(["11/31/2001"].into_iter()), SeedType::Text);
        assert_eq!(infer(["2001-11-31"].into_iter()), SeedType::Text);
    }

    #[test]
    fn long_row_is_an_error_on_its_own_line() {
        let e = parse("seeds/s.csv", b"a,b\n1,2\n3,4,5\n6,7\n", &Config::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "seeds/s.csv:3: seed seeds/s.csv: row has 3 fields but the header has 2 (fix the row (quote fields that contain the delimiter); nothing of this seed was loaded)"
        );
    }

    #[test]
    fn short_rows_load_nulls_and_are_named() {
        let d = parse("seeds/s.csv", b"a,b\n1,2\n3\n4,5\n", &Config::new()).unwrap();
        assert_eq!(d.rows[1], vec![Some("3".to_string()), None]);
        assert_eq!(d.short_rows, vec![3]);
        assert_eq!(
            short_rows_warning("seeds/s.csv", &d.short_rows).unwrap(),
            "warning: seeds/s.csv line 3 had fewer fields than the header; the missing fields loaded as NULL"
        );
    }

    #[test]
    fn whole_numbers_are_integer_unless_they_need_64_bits() {
        assert_eq!(infer(["1", "-2147483648"].into_iter()), SeedType::Integer);
        assert_eq!(infer(["1", "2147483648"].into_iter()), SeedType::BigInt);
    }

    #[test]
    fn unterminated_quote_is_reported() {
        let e = parse("seeds/s.csv", b"a,b\n1,\"open\n2,3\n", &Config::new()).unwrap_err();
        assert!(e.to_string().contains("never closed"), "{e}");
        assert_eq!(e.diagnostics()[0].location.as_ref().unwrap().line, 2);
    }

    #[test]
    fn invalid_utf8_is_reported_with_line() {
        let e = parse("seeds/s.csv", b"a,b\n1,2\n3,\xff\n", &Config::new()).unwrap_err();
        assert!(e.to_string().contains("not valid UTF-8"), "{e}");
        assert_eq!(e.diagnostics()[0].location.as_ref().unwrap().line, 3);
    }

    #[test]
    fn hostile_values_are_kept_verbatim() {
        let data = parse(
            "seeds/s.csv",
            b"id,note\n1,\"Robert'); drop table students;--\"\n2,\"say \"\"hi\"\"; ok\"\n",
            &Config::new(),
        )
        .unwrap();
        assert_eq!(
            data.rows[0][1].as_deref(),
            Some("Robert'); drop table students;--")
        );
        assert_eq!(data.rows[1][1].as_deref(), Some("say \"hi\"; ok"));
    }

    #[test]
    fn semicolon_delimiter() {
        let mut c = Config::new();
        c.set("delimiter", serde_json::json!(";"));
        let data = parse("seeds/s.csv", b"a;b\n1;x,y\n", &c).unwrap();
        assert_eq!(data.rows[0][1].as_deref(), Some("x,y"));
    }
}
