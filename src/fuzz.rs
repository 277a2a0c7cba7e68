//! Entry points for the fuzz targets in `fuzz/` and the property tests: each feeds arbitrary
//! bytes to one parser and ignores its verdict. A parser may refuse any input with an error;
//! it must never panic. Not part of Kiln's API.

use crate::project::config::Config;
use crate::project::{blocks, profiles, project_file, properties};
use std::collections::BTreeMap;
use std::path::Path;

fn text(data: &[u8]) -> &str {
    std::str::from_utf8(data).unwrap_or("")
}

/// An environment in which names of even length are set (to themselves) and the rest are not.
fn fuzz_env(name: &str) -> Option<String> {
    name.len().is_multiple_of(2).then(|| name.to_string())
}

/// The project file (`dbt_project.yml`), with `env_var()` and `var()` in its values.
pub fn project_file(data: &[u8]) {
    let vars = BTreeMap::new();
    let env = fuzz_env;
    let _ = project_file::parse_project_file("dbt_project.yml", text(data), &vars, &env);
}

/// A properties file (`models/schema.yml`).
pub fn properties(data: &[u8]) {
    let _ = properties::parse_properties("models/schema.yml", text(data), "fuzz");
}

/// `profiles.yml`, for the profile `fuzz` and the target it names.
pub fn profiles(data: &[u8]) {
    let vars = BTreeMap::new();
    let env = fuzz_env;
    let opts = profiles::ProfileOptions {
        project_dir: Path::new("project"),
        profiles_dir: None,
        profile: "fuzz",
        target: None,
        vars: &vars,
        env: &env,
        home: None,
    };
    if let Ok(target) = profiles::parse_profiles("profiles.yml", text(data), &opts) {
        let _ = (target.redacted_settings(), target.secrets());
    }
}

/// The Jinja block lexer that finds macros, tests, snapshots and docs blocks.
pub fn blocks(data: &[u8]) {
    let _ = blocks::find_blocks("macros/fuzz.sql", text(data), blocks::ALL_KINDS);
}

/// The CSV seed reader; the first byte picks the delimiter.
pub fn seed_csv(data: &[u8]) {
    let (delimiter, body) = match data.split_first() {
        Some((b';', rest)) => (Some(";"), rest),
        Some((b'\t', rest)) => (Some("\\t"), rest),
        _ => (None, data),
    };
    let mut config = Config::default();
    if let Some(d) = delimiter {
        config.set("delimiter", d.into());
    }
    let _ = crate::exec::seed::parse("seeds/fuzz.csv", body, &config);
}

/// The node selection grammar (`-s`, `--exclude`): methods, graph operators, unions and
/// intersections.
pub fn selection(data: &[u8]) {
    let args: Vec<String> = text(data).split('\n').map(str::to_string).collect();
    let _ = crate::graph::selector::Selection::parse(&args);
}

/// `--vars`, as YAML or JSON.
pub fn vars(data: &[u8]) {
    let _ = crate::cli::parse_vars(text(data));
}

#[cfg(test)]
mod tests {
    //! Property tests: the same entry points as the fuzz targets, on text built from each
    //! parser's own tokens, so that short runs reach deep states.
    use proptest::prelude::*;

    /// Text of up to `n` pieces drawn from `tokens`, a few arbitrary characters among them.
    fn text_of(tokens: &'static [&'static str], n: usize) -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => proptest::sample::select(tokens).prop_map(str::to_string),
            1 => any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..n).prop_map(|v| v.concat())
    }

    const YAML: &[&str] = &[
        "\n",
        "  ",
        ": ",
        "- ",
        "---\n",
        "{",
        "}",
        "[",
        "]",
        ", ",
        "'",
        "\"",
        "#",
        "&a ",
        "*a",
        "!!str ",
        "|\n",
        ">\n",
        "name",
        "version",
        "models",
        "sources",
        "columns",
        "tests",
        "data_tests",
        "config",
        "+materialized",
        "vars",
        "{{ ",
        " }}",
        "{% ",
        " %}",
        "env_var('X')",
        "var('v')",
        "ref('m')",
        "é",
        "0",
        "1.5",
        "true",
        "null",
        "~",
    ];
    const PROFILE: &[&str] = &[
        "fuzz:\n",
        "  target: dev\n",
        "  outputs:\n",
        "    dev:\n",
        "      type: postgres\n",
        "      type: mysql\n",
        "      type: sqlite\n",
        "      url: ",
        "postgres://",
        "u:p",
        "@",
        "/",
        "?",
        "#",
        ":5432",
        "%2F",
        "      password: ",
        "      host: h\n",
        "      user: u\n",
        "      schema: s\n",
        "      dbname: d\n",
        "      port: ",
        "      threads: ",
        "{{ ",
        " }}",
        "env_var('P')",
        "\n",
        "'",
        "\"",
        "é",
    ];
    const JINJA: &[&str] = &[
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        "{%-",
        "-%}",
        "macro ",
        "endmacro",
        "test ",
        "endtest",
        "snapshot ",
        "endsnapshot",
        "docs ",
        "enddocs",
        "materialization ",
        "raw",
        "endraw",
        "m",
        "(",
        ")",
        "'",
        "\"",
        "\\",
        " ",
        "\n",
        "é",
        "𝄞",
    ];
    const CSV: &[&str] = &[
        ",",
        ";",
        "\t",
        "\n",
        "\r\n",
        "\"",
        "\"\"",
        "a",
        "id",
        "1",
        "-2",
        "3.5",
        "2024-01-31",
        "2024-02-30",
        "true",
        "",
        "\u{feff}",
        "\0",
        "é",
    ];
    const SELECT: &[&str] = &[
        "+",
        "@",
        "1",
        "2",
        "*",
        ",",
        " ",
        "\n",
        ":",
        "tag:",
        "path:",
        "source:",
        "state:",
        "modified",
        "config.materialized:",
        "test_type:",
        "resource_type:",
        "fqn:",
        ".",
        "model",
        "result:",
        "error",
        "exposure:",
        "package:",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn project_files_never_panic(t in text_of(YAML, 40)) {
            super::project_file(t.as_bytes());
        }

        #[test]
        fn properties_never_panic(t in text_of(YAML, 40)) {
            super::properties(t.as_bytes());
        }

        #[test]
        fn profiles_never_panic(t in text_of(PROFILE, 30)) {
            super::profiles(t.as_bytes());
        }

        #[test]
        fn blocks_never_panic(t in text_of(JINJA, 40)) {
            super::blocks(t.as_bytes());
        }

        #[test]
        fn seeds_never_panic(t in text_of(CSV, 60)) {
            super::seed_csv(t.as_bytes());
        }

        #[test]
        fn selections_never_panic(t in text_of(SELECT, 20)) {
            super::selection(t.as_bytes());
        }

        #[test]
        fn vars_never_panic(t in text_of(YAML, 30)) {
            super::vars(t.as_bytes());
        }
    }
}
