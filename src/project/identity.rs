//! dbt's identities, computed as dbt-core 1.11 computes them so that Kiln's manifest and dbt's
//! agree: file checksums, generic test names and unique_ids, and the Python text of YAML values
//! those are built from.
//!
//! dbt builds several identities from Python's `str()` and `repr()` of parsed YAML values, so this
//! module reproduces them for JSON values: `None`, `True`, `1.5`, `'text'`, `['a', 'b']`,
//! `{'k': 'v'}`.

use super::types::{TestTarget, UnitTest, UnitTestData};
use md5::Digest as _;
use serde_json::Value;
use sha2::Sha256;

/// Hex MD5 of a text, as `dbt.utils.md5`.
pub fn md5_hex(text: &str) -> String {
    hex(&md5::Md5::digest(text.as_bytes()))
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of bytes, as Python's `hexdigest()` writes a digest.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Characters Python's `str.strip()` removes: Rust's `char::is_whitespace` plus the four
/// information separators U+001C..U+001F, which Python counts as whitespace.
fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `text.strip()` as Python does it.
pub fn python_strip(text: &str) -> &str {
    text.trim_matches(is_python_whitespace)
}

/// dbt's checksum of a file-backed node: SHA-256 of the file's text after Python's `strip()`.
pub fn file_checksum(text: &str) -> String {
    sha256_hex(python_strip(text).as_bytes())
}

/// Seeds larger than this (1 MiB) are identified by their path, not their contents.
pub const MAXIMUM_SEED_SIZE: u64 = 1024 * 1024;

/// The checksum of a node, as the manifest's `checksum` object holds it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Checksum {
    /// `{"name": "sha256", "checksum": <hex>}`: file-backed nodes.
    Sha256(String),
    /// `{"name": "path", "checksum": <original_file_path>}`: seeds over 1 MiB.
    Path(String),
    /// `{"name": "none", "checksum": ""}`: generic tests, which have no file of their own.
    None,
}

impl Checksum {
    /// The `name` field: `sha256`, `path` or `none`.
    pub fn name(&self) -> &'static str {
        match self {
            Checksum::Sha256(_) => "sha256",
            Checksum::Path(_) => "path",
            Checksum::None => "none",
        }
    }

    /// The `checksum` field.
    pub fn value(&self) -> &str {
        match self {
            Checksum::Sha256(s) | Checksum::Path(s) => s,
            Checksum::None => "",
        }
    }

    /// Reads a manifest's `{"name", "checksum"}` object.
    pub fn from_json(v: &Value) -> Option<Checksum> {
        let value = v.get("checksum")?.as_str()?.to_string();
        Some(match v.get("name")?.as_str()? {
            "sha256" => Checksum::Sha256(value),
            "path" => Checksum::Path(value),
            _ => Checksum::None,
        })
    }

    /// Whether two checksums say "same contents", as dbt's `FileHash.__eq__`: `none` never
    /// equals anything.
    pub fn same(&self, other: &Checksum) -> bool {
        *self != Checksum::None && self == other
    }
}

/// Python's `str()` of a value parsed from YAML or JSON.
pub fn python_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

/// Python's `repr()` of a value parsed from YAML or JSON (dicts in the map's order).
pub fn python_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => python_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => python_str_repr(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", python_str_repr(k), python_repr(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// Python's `repr()` of a float: the shortest round-trip digits, fixed notation for exponents
/// from -4 to 15, scientific (`1e+16`, `1.5e-05`) outside.
pub fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    // `{:e}` gives the shortest round-trip digits: `1.5e0`, `-1.2345e-5`, `1e16`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            let (a, b) = digits.split_at(point as usize);
            format!("{a}.{b}")
        };
        format!("{sign}{text}")
    } else {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exp.abs())
    }
}

/// Python's `repr()` of a string: single quotes unless the text holds `'` and no `"`; escapes
/// for backslashes, the quote, `\n`, `\r`, `\t` and characters Python does not print.
pub fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_python_printable(c) => {
                let n = c as u32;
                if n < 0x100 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str.isprintable()` for one character: not a control, format or separator
/// character (other than the ASCII space). Covers the characters YAML files hold in practice.
fn is_python_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() {
        return false;
    }
    !matches!(
        c as u32,
        0xa0 | 0xad
            | 0x600..=0x605
            | 0x61c
            | 0x6dd
            | 0x70f
            | 0x1680
            | 0x180e
            | 0x2000..=0x200f
            | 0x2028..=0x202f
            | 0x205f..=0x2064
            | 0x2066..=0x206f
            | 0x3000
            | 0xd800..=0xdfff
            | 0xe000..=0xf8ff
            | 0xfeff
            | 0xfff9..=0xfffb
    )
}

/// The names dbt gives a generic test: `(short, full)`. The full name goes into the unique_id,
/// `name` and `fqn`; the short one (the full name when it is under 64 characters) into `alias`
/// and `path`.
pub struct GenericTestNames {
    /// Used for `alias`, `path` and compiled files.
    pub short: String,
    /// Used for the unique_id, `name` and `fqn`.
    pub full: String,
}

/// dbt's `synthesize_generic_test_names`: `<type>_<target>_<flattened args>`, shortened to 30
/// characters and an MD5 when it reaches 64 characters. `args` are the test's arguments
/// (with `column_name`, without `model`), in any order: they are read sorted by name.
pub fn synthesize_test_names(
    test_name: &str,
    namespace: Option<&str>,
    target: &TestTarget,
    args: &serde_json::Map<String, Value>,
) -> GenericTestNames {
    let (test_type, target_name) = match target {
        TestTarget::Ref { name } => (test_name.to_string(), name.clone()),
        TestTarget::Source { source, table } => {
            (format!("source_{test_name}"), format!("{source}_{table}"))
        }
    };
    let test_type = match namespace {
        Some(ns) => format!("{ns}_{test_type}"),
        None => test_type,
    };
    let mut keys: Vec<&String> = args.keys().filter(|k| *k != "model").collect();
    keys.sort();
    let mut flat: Vec<String> = Vec::new();
    for k in keys {
        match &args[k] {
            Value::Object(map) => flat.extend(map.values().map(python_str)),
            Value::Array(items) => flat.extend(items.iter().map(python_str)),
            other => flat.push(python_str(other)),
        }
    }
    let clean: Vec<String> = flat.iter().map(|s| clean_identifier(s)).collect();
    let identifier = format!("{test_type}_{target_name}");
    let full = format!("{identifier}_{}", clean.join("__"));
    let short = if full.chars().count() >= 64 {
        let head: String = identifier.chars().take(30).collect();
        format!("{head}_{}", md5_hex(&full))
    } else {
        full.clone()
    };
    GenericTestNames { short, full }
}

/// `re.sub("[^0-9a-zA-Z_]+", "_", s)`.
fn clean_identifier(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

/// The `model` argument dbt records for a generic test: `{{ get_where_subquery(ref('orders')) }}`.
pub fn test_model_arg(target: &TestTarget) -> String {
    let target = match target {
        TestTarget::Ref { name } => format!("ref('{name}')"),
        TestTarget::Source { source, table } => format!("source('{source}', '{table}')"),
    };
    format!("{{{{ get_where_subquery({target}) }}}}")
}

/// dbt's 10-character hash ending a generic test's unique_id: the last 10 hex digits of the MD5
/// of the test's name and the Python `repr` of its metadata, every leaf value `str()`-ed.
pub fn test_hash(name: &str, test_name: &str, namespace: Option<&str>, kwargs: &Value) -> String {
    fn hashable(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                // serde_json's map keeps keys sorted, which is the order dbt sorts them in.
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), hashable(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(hashable).collect()),
            other => Value::String(python_str(other)),
        }
    }
    let metadata = serde_json::json!({
        "kwargs": kwargs,
        "name": test_name,
        "namespace": namespace,
    });
    let text = format!("{name}{}", python_repr(&hashable(&metadata)));
    let digest = md5_hex(&text);
    digest[digest.len() - 10..].to_string()
}

/// dbt's `raw_code` of a generic test: the macro call, then a `config(...)` call with the test's
/// own config in the order dbt builds it.
pub fn test_raw_code(
    test_name: &str,
    namespace: Option<&str>,
    config: &[(String, Value)],
) -> String {
    let macro_name = match namespace {
        Some(ns) => format!("{ns}.test_{test_name}"),
        None => format!("test_{test_name}"),
    };
    let mut code = format!("{{{{ {macro_name}(**_dbt_generic_test_kwargs) }}}}");
    if !config.is_empty() {
        let parts: Vec<String> = config
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}=\"{}\"", s.replace('"', "\\\"")),
                other => format!("{k}={}", python_str(other)),
            })
            .collect();
        code.push_str(&format!("{{{{ config({}) }}}}", parts.join(",")));
    }
    code
}

fn unit_format_repr(format: &str) -> String {
    let member = match format {
        "csv" => "CSV",
        "sql" => "SQL",
        _ => "Dict",
    };
    format!(
        "<UnitTestFormat.{member}: '{}'>",
        if member == "Dict" { "dict" } else { format }
    )
}

fn unit_rows_repr(data: &UnitTestData) -> String {
    match &data.text {
        Some(text) => python_str_repr(text),
        None => {
            let rows: Vec<String> = data
                .rows
                .iter()
                .map(|row| {
                    let items: Vec<String> = row
                        .iter()
                        .map(|(k, v)| format!("{}: {}", python_str_repr(k), python_repr(v)))
                        .collect();
                    format!("{{{}}}", items.join(", "))
                })
                .collect();
            format!("[{}]", rows.join(", "))
        }
    }
}

fn optional_str_repr(v: &Option<String>) -> String {
    v.as_deref()
        .map(python_str_repr)
        .unwrap_or_else(|| "None".into())
}

/// dbt's checksum of a unit test (`UnitTestDefinition.build_unit_test_checksum`): the SHA-256 of
/// the Python reprs of its model, versions, inputs, expected rows and overrides; the description
/// is not part of it.
pub fn unit_test_checksum(u: &UnitTest) -> String {
    let given: Vec<String> = u
        .given
        .iter()
        .map(|g| {
            format!(
                "UnitTestInputFixture(input={}, rows={}, format={}, fixture={})",
                python_str_repr(&g.input),
                unit_rows_repr(&g.data),
                unit_format_repr(&g.data.format),
                optional_str_repr(&g.data.fixture),
            )
        })
        .collect();
    let expect = format!(
        "UnitTestOutputFixture(rows={}, format={}, fixture={})",
        unit_rows_repr(&u.expect),
        unit_format_repr(&u.expect.format),
        optional_str_repr(&u.expect.fixture),
    );
    let overrides = if u.overrides.is_empty() {
        "None".to_string()
    } else {
        let part = |key: &str| {
            u.overrides
                .get(key)
                .map(python_repr)
                .unwrap_or_else(|| "{}".into())
        };
        format!(
            "UnitTestOverrides(macros={}, vars={}, env_vars={})",
            part("macros"),
            part("vars"),
            part("env_vars")
        )
    };
    let mut text = format!(
        "{}-None-[{}]-{expect}-{overrides}",
        u.model,
        given.join(", ")
    );
    for g in &u.given {
        if g.data.fixture.is_some() {
            text.push('-');
            text.push_str(&unit_rows_repr(&g.data));
        }
    }
    sha256_hex(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_text_of_values() {
        assert_eq!(python_repr(&json!(null)), "None");
        assert_eq!(
            python_repr(&json!([1, true, null, 1.5, "a b"])),
            "[1, True, None, 1.5, 'a b']"
        );
        assert_eq!(python_repr(&json!("it's")), "\"it's\"");
        assert_eq!(python_repr(&json!("it's \"x\"")), "'it\\'s \"x\"'");
        assert_eq!(python_repr(&json!("a\\b\nc\u{1}")), "'a\\\\b\\nc\\x01'");
        assert_eq!(python_repr(&json!("café")), "'café'");
        assert_eq!(python_str(&json!(["x", "y"])), "['x', 'y']");
        for (f, text) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (123456789012345.6, "123456789012345.6"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (1.5e300, "1.5e+300"),
        ] {
            assert_eq!(python_float(f), text, "{f}");
        }
    }

    #[test]
    fn strip_matches_python() {
        assert_eq!(python_strip("\u{1c}\t select 1 \n\n\u{a0}"), "select 1");
        assert_eq!(python_strip("\u{feff}x\n"), "\u{feff}x");
    }

    fn args(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn generic_test_names_as_dbt() {
        let orders = TestTarget::Ref {
            name: "orders".into(),
        };
        let n = synthesize_test_names(
            "accepted_values",
            None,
            &orders,
            &args(
                json!({"column_name": "s", "values": [1, true, null, 1.5, "a b", ["x", "y"]], "quote": false}),
            ),
        );
        assert_eq!(
            n.full,
            "accepted_values_orders_s__False__1__True__None__1_5__a_b___x_y_"
        );
        assert_eq!(n.short, n.full);
        // A test without arguments keeps the trailing underscore.
        let n = synthesize_test_names("my_test", None, &orders, &args(json!({})));
        assert_eq!(n.full, "my_test_orders_");
        let n = synthesize_test_names(
            "accepted_values",
            None,
            &TestTarget::Ref {
                name: "stg_orders".into(),
            },
            &args(
                json!({"column_name": "status", "values": ["placed", "shipped", "completed", "return_pending", "returned"]}),
            ),
        );
        assert_eq!(
            n.full,
            "accepted_values_stg_orders_status__placed__shipped__completed__return_pending__returned"
        );
        assert_eq!(
            n.short,
            "accepted_values_stg_orders_4f514bf94b77b7ea437830eec4421c58"
        );
        let n = synthesize_test_names(
            "not_null",
            None,
            &TestTarget::Source {
                source: "raw".into(),
                table: "raw_orders".into(),
            },
            &args(json!({"column_name": "id"})),
        );
        assert_eq!(n.full, "source_not_null_raw_raw_orders_id");
    }

    #[test]
    fn test_hashes_match_dbt() {
        // unique_ids from dbt-core 1.11's manifest of the jaffle fixture.
        let kwargs = json!({"column_name": "customer_id", "model": "{{ get_where_subquery(ref('customers')) }}"});
        assert_eq!(
            test_hash("unique_customers_customer_id", "unique", None, &kwargs),
            "c5af1ff4b1"
        );
        let kwargs = json!({
            "values": ["placed", "shipped", "completed", "return_pending", "returned"],
            "column_name": "status",
            "model": "{{ get_where_subquery(ref('stg_orders')) }}",
        });
        assert_eq!(
            test_hash(
                "accepted_values_stg_orders_status__placed__shipped__completed__return_pending__returned",
                "accepted_values",
                None,
                &kwargs
            ),
            "080fb20aad"
        );
        let kwargs = json!({"column_name": "id", "model": "{{ get_where_subquery(source('raw', 'raw_orders')) }}"});
        assert_eq!(
            test_hash(
                "source_not_null_raw_raw_orders_id",
                "not_null",
                None,
                &kwargs
            ),
            "de303a4e50"
        );
    }

    #[test]
    fn unit_test_checksum_matches_dbt() {
        use super::super::types::UnitTestInput;
        let row = |pairs: &[(&str, Value)]| -> indexmap::IndexMap<String, Value> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        };
        let data = |rows| UnitTestData {
            format: "dict".into(),
            rows,
            text: None,
            fixture: None,
        };
        // The unit test of dbt-core 1.11's reference project (its checksum in dbt's manifest).
        let u = UnitTest {
            unique_id: "unit_test.jaffle.stg_orders.test_stg_orders_renames".into(),
            name: "test_stg_orders_renames".into(),
            package_name: "jaffle".into(),
            model: "stg_orders".into(),
            description: "stg_orders renames id and user_id.".into(),
            given: vec![UnitTestInput {
                input: "ref('raw_orders')".into(),
                data: data(vec![row(&[
                    ("id", json!(1)),
                    ("user_id", json!(10)),
                    ("order_date", json!("2018-01-01")),
                    ("status", json!("placed")),
                ])]),
            }],
            expect: data(vec![row(&[
                ("order_id", json!(1)),
                ("customer_id", json!(10)),
                ("order_date", json!("2018-01-01")),
                ("status", json!("placed")),
            ])]),
            overrides: Default::default(),
            config: Default::default(),
            original_file_path: "models/unit_tests.yml".into(),
            fqn: vec![],
            line: 0,
        };
        assert_eq!(
            unit_test_checksum(&u),
            "32c92ca6596757ff92d0b96127be95b0baf18c398ccace27562ba696d5285c4d"
        );
    }

    #[test]
    fn raw_code_carries_the_config_call() {
        assert_eq!(
            test_raw_code("unique", None, &[]),
            "{{ test_unique(**_dbt_generic_test_kwargs) }}"
        );
        assert_eq!(
            test_raw_code(
                "accepted_values",
                None,
                &[
                    ("where".into(), json!("order_date > '2017-12-31'")),
                    ("alias".into(), json!("a\"b")),
                    ("limit".into(), json!(5)),
                ]
            ),
            "{{ test_accepted_values(**_dbt_generic_test_kwargs) }}{{ config(where=\"order_date > '2017-12-31'\",alias=\"a\\\"b\",limit=5) }}"
        );
        assert_eq!(
            test_raw_code("expression_is_true", Some("dbt_utils"), &[]),
            "{{ dbt_utils.test_expression_is_true(**_dbt_generic_test_kwargs) }}"
        );
    }
}
