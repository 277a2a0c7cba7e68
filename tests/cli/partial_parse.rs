//! The partial-parse cache: a parse renders only the nodes whose inputs changed, and what it
//! reuses is never stale (file edits, macros, properties, vars, environment variables, and
//! templates that read the invocation all make it render again).

use crate::support::TempProject;
use serde_json::Value;

const CACHE: &str = "target/kiln_partial_parse.json";

fn manifest(p: &TempProject) -> Value {
    serde_json::from_str(&p.read("target/manifest.json")).unwrap()
}

fn node<'a>(m: &'a Value, id: &str) -> &'a Value {
    &m["nodes"][id]
}

/// `(reused, rendered)` from the debug line of a parse.
fn parse_counts(p: &TempProject, args: &[&str], env: &[(&str, &str)]) -> (usize, usize) {
    p.debug_counts("parse", args, env, "Partial parse:")
}

fn project() -> TempProject {
    TempProject::with_files(&[
        ("project.yml", "name: pp\nvars:\n  region: north\n"),
        ("models/a.sql", "select 1 as id"),
        ("models/b.sql", "select id from {{ ref('a') }}"),
        ("models/c.sql", "select 2 as id"),
        (
            "models/tagged.sql",
            "{{ config(tags=[var('region'), env_var('KILN_PP_TAG', 'none')]) }}\nselect 1 as id",
        ),
        (
            "models/named.sql",
            "{{ config(alias=pp_alias()) }}\nselect 1 as id",
        ),
        (
            "macros/alias.sql",
            "{% macro pp_alias() %}named_v1{% endmacro %}",
        ),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        data_tests: [not_null]\n",
        ),
    ])
}

#[test]
fn a_second_parse_reuses_every_render_and_an_edit_renders_only_that_model() {
    let p = project();
    assert_eq!(parse_counts(&p, &[], &[]), (0, 6));
    let first = p.read("target/manifest.json");
    assert_eq!(parse_counts(&p, &[], &[]), (6, 0));
    assert_eq!(
        first,
        p.read("target/manifest.json"),
        "a parse from the cache writes the same manifest"
    );

    p.write("models/b.sql", "select id from {{ ref('c') }}");
    assert_eq!(parse_counts(&p, &[], &[]), (5, 1));
    let m = manifest(&p);
    assert_eq!(
        node(&m, "model.pp.b")["depends_on"]["nodes"],
        serde_json::json!(["model.pp.c"])
    );
    let children = |id: &str| m["child_map"][id].as_array().unwrap().clone();
    assert!(!children("model.pp.a").contains(&serde_json::json!("model.pp.b")));
    assert!(children("model.pp.c").contains(&serde_json::json!("model.pp.b")));
}

#[test]
fn what_templates_read_beyond_the_model_invalidates_it() {
    let p = project();
    parse_counts(&p, &[], &[]);
    let tags = |p: &TempProject| node(&manifest(p), "model.pp.tagged")["tags"].clone();
    assert_eq!(tags(&p), serde_json::json!(["north", "none"]));

    // An environment variable the render read.
    assert_eq!(
        parse_counts(&p, &[], &[("KILN_PP_TAG", "secret-value-1")]),
        (5, 1)
    );
    assert_eq!(tags(&p), serde_json::json!(["north", "secret-value-1"]));
    let cache: Value = serde_json::from_str(&p.read(CACHE)).unwrap();
    let seen = &cache["entries"]["model.pp.tagged"]["env"]["KILN_PP_TAG"];
    assert!(
        seen.as_str()
            .is_some_and(|h| h.len() == 16 && h != "secret-value-1"),
        "the cache keeps a hash of each environment value read, not the value: {seen}"
    );
    // --vars: every render may read vars, so all render again.
    assert_eq!(
        parse_counts(
            &p,
            &["--vars", "{region: south}"],
            &[("KILN_PP_TAG", "secret-value-1")]
        ),
        (0, 6)
    );
    assert_eq!(tags(&p), serde_json::json!(["south", "secret-value-1"]));

    // A macro's text.
    let alias = |p: &TempProject| node(&manifest(p), "model.pp.named")["alias"].clone();
    assert_eq!(alias(&p), "named_v1");
    p.write(
        "macros/alias.sql",
        "{% macro pp_alias() %}named_v2{% endmacro %}",
    );
    parse_counts(&p, &[], &[]);
    assert_eq!(alias(&p), "named_v2");

    // A properties file.
    p.write(
        "models/schema.yml",
        "version: 2\nmodels:\n  - name: a\n    config:\n      tags: [from_yaml]\n",
    );
    parse_counts(&p, &[], &[]);
    let m = manifest(&p);
    assert_eq!(
        node(&m, "model.pp.a")["tags"],
        serde_json::json!(["from_yaml"])
    );
    assert!(
        m["nodes"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("test.")),
        "the removed test is gone"
    );
}

#[test]
fn renders_that_read_the_invocation_are_never_kept() {
    let p = TempProject::with_files(&[
        ("project.yml", "name: pp\n"),
        (
            "models/stamped.sql",
            "{{ config(meta={'at': run_started_at.isoformat(), 'cmd': flags.WHICH}) }}\nselect 1 as id",
        ),
        ("models/plain.sql", "select 1 as id"),
    ]);
    assert_eq!(parse_counts(&p, &[], &[]), (0, 1));
    let at = |p: &TempProject| node(&manifest(p), "model.pp.stamped")["meta"]["at"].clone();
    let first = at(&p);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(parse_counts(&p, &[], &[]), (1, 0), "only `plain` is reused");
    assert_ne!(first, at(&p), "run_started_at is this invocation's");
    p.kiln(&["ls"]).ok();
    assert_eq!(
        node(&manifest(&p), "model.pp.stamped")["meta"]["cmd"],
        "list"
    );
}

#[test]
fn a_damaged_cache_is_ignored_and_no_partial_parse_renders_everything() {
    let p = project();
    parse_counts(&p, &[], &[]);
    p.write(CACHE, "{ not json");
    // Without the project snapshot, which would stand in for the whole parse.
    std::fs::remove_file(p.root.join("target/kiln_snapshot.bin")).unwrap();
    assert_eq!(parse_counts(&p, &[], &[]), (0, 6));
    assert!(
        serde_json::from_str::<Value>(&p.read(CACHE)).is_ok(),
        "a fresh cache replaced the damaged one"
    );

    let run = p.kiln(&["parse", "--debug", "--no-partial-parse"]).ok();
    assert!(
        !format!("{}{}", run.stdout, run.stderr).contains("Partial parse:"),
        "--no-partial-parse neither reads nor writes the cache"
    );
    let help = p.kiln(&["parse", "--help"]).ok();
    assert!(help.stdout.contains("--no-partial-parse"));
}

#[test]
fn a_failed_parse_keeps_what_rendered_so_the_fix_renders_only_the_fixed_model() {
    let p = project();
    p.write("models/c.sql", "select {{ undefined_macro() }} as id");
    let run = p.kiln(&["parse", "--debug"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("models/c.sql") || run.stdout.contains("models/c.sql"));
    p.write("models/c.sql", "select 3 as id");
    assert_eq!(parse_counts(&p, &[], &[]), (5, 1));
    assert!(
        node(&manifest(&p), "model.pp.c")["raw_code"]
            .as_str()
            .unwrap()
            .contains("select 3")
    );
}
