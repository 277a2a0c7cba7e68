//! The project snapshot: a command on a project where nothing changed takes the parsed project
//! from `target/kiln_snapshot.bin` instead of loading and parsing it, and what it takes is
//! never stale (edits, new and removed files, packages, environment variables, `--vars`, the
//! profile, templates that read the invocation).

use crate::support::TempProject;
use serde_json::Value;

/// What the debug log says when the snapshot is used.
const HIT: &str = "nothing changed since the project snapshot";

fn project() -> TempProject {
    TempProject::with_files(&[
        (
            "project.yml",
            "name: snap\nprofile: snap\nvars:\n  region: north\n",
        ),
        (
            "profiles.yml",
            "snap:\n  target: dev\n  outputs:\n    dev:\n      type: sqlite\n      schema: main\n",
        ),
        ("models/a.sql", "select 1 as id"),
        ("models/b.sql", "select id from {{ ref('a') }}"),
        ("models/c.sql", "select 2 as id"),
        (
            "models/tagged.sql",
            "{{ config(tags=[var('region'), env_var('KILN_SNAP_TAG', 'none')]) }}\nselect 1 as id",
        ),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        data_tests: [not_null]\n",
        ),
    ])
}

/// Runs `kiln <args> --debug`: whether the snapshot was used, and the data lines printed.
fn kiln(p: &TempProject, args: &[&str], env: &[(&str, &str)]) -> (bool, Vec<String>) {
    let mut all = args.to_vec();
    all.push("--debug");
    let run = p.kiln_env(&all, env).ok();
    let hit = run.stdout.contains(HIT) || run.stderr.contains(HIT);
    let lines = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("snap.") || l.starts_with("pkg."))
        .map(str::to_string)
        .collect();
    (hit, lines)
}

fn ls(p: &TempProject, args: &[&str]) -> (bool, Vec<String>) {
    let mut all = vec!["ls"];
    all.extend_from_slice(args);
    kiln(p, &all, &[])
}

fn manifest(p: &TempProject) -> Value {
    serde_json::from_str(&p.read("target/manifest.json")).unwrap()
}

#[test]
fn an_unchanged_project_comes_from_the_snapshot_with_the_same_answers() {
    let p = project();
    let (hit, cold) = kiln(&p, &["ls", "--no-partial-parse"], &[]);
    assert!(!hit);
    assert!(!p.root.join("target/kiln_snapshot.bin").exists());
    assert_eq!(cold.len(), 5, "{cold:?}");

    let (hit, first) = ls(&p, &[]);
    assert!(
        !hit,
        "the first command with the cache has no snapshot to use"
    );
    let written = manifest(&p);
    let (hit, second) = ls(&p, &[]);
    assert!(hit, "nothing changed: the snapshot is used");
    assert_eq!(first, cold);
    assert_eq!(second, cold);
    assert_eq!(manifest(&p), written);

    let (hit, lines) = ls(&p, &["-s", "a+"]);
    assert!(hit);
    assert_eq!(
        lines,
        ["snap.a", "snap.b", "snap.not_null_a_id"].map(String::from)
    );
    // The debug line keeps the partial-parse counts: every render reused.
    assert_eq!(p.debug_counts("parse", &[], &[], "Partial parse:"), (5, 0));
}

#[test]
fn edits_new_files_and_removed_files_are_seen_at_once() {
    let p = project();
    ls(&p, &[]);
    assert!(ls(&p, &[]).0);

    // An edit that changes the graph.
    p.write("models/b.sql", "select id from {{ ref('c') }}");
    let (hit, lines) = ls(&p, &["-s", "c+"]);
    assert!(!hit);
    assert_eq!(lines, ["snap.b", "snap.c"].map(String::from));
    // The snapshot is kept as it was: the next command takes the same edit into it again.
    assert_eq!(
        ls(&p, &["-s", "c+"]),
        (false, ["snap.b", "snap.c"].map(String::from).to_vec())
    );

    // A file added, then a file removed.
    p.write("models/d.sql", "select id from {{ ref('c') }}");
    let (hit, lines) = ls(&p, &["-s", "c+"]);
    assert!(!hit);
    assert_eq!(lines, ["snap.b", "snap.c", "snap.d"].map(String::from));
    std::fs::remove_file(p.root.join("models/d.sql")).unwrap();
    assert_eq!(
        ls(&p, &["-s", "c+"]).1,
        ["snap.b", "snap.c"].map(String::from)
    );

    // A new folder of models, and a properties file added in it.
    p.write("models/more/e.sql", "select 5 as id");
    assert!(ls(&p, &[]).1.contains(&"snap.more.e".to_string()));
    p.write(
        "models/more/props.yml",
        "version: 2\nmodels:\n  - name: e\n    columns:\n      - name: id\n        data_tests: [unique]\n",
    );
    assert!(ls(&p, &[]).1.contains(&"snap.more.unique_e_id".to_string()));

    // Folders two deep, listed beside their siblings: kept, then a file added in the deepest.
    // Each time the next command parses again, lists the new model, and keeps the snapshot.
    let seen_then_kept = |model: &str| {
        let (hit, lines) = ls(&p, &[]);
        assert!(!hit);
        assert!(lines.contains(&model.to_string()), "{lines:?}");
        assert!(ls(&p, &[]).0);
    };
    p.write("models/more/deep/er/g.sql", "select 7 as id");
    p.write("models/more/f.sql", "select 6 as id");
    seen_then_kept("snap.more.deep.er.g");
    p.write("models/more/deep/er/h.sql", "select 8 as id");
    seen_then_kept("snap.more.deep.er.h");
}

#[test]
fn an_edit_that_keeps_the_size_within_the_same_instant_is_seen() {
    let p = project();
    kiln(&p, &["parse"], &[]);
    p.write("models/c.sql", "select 2 as id");
    kiln(&p, &["parse"], &[]);
    let raw = |p: &TempProject| manifest(p)["nodes"]["model.snap.c"]["raw_code"].clone();
    assert_eq!(raw(&p), "select 2 as id");
    // Same length, at once: on a file system with coarse times, the stamps could be equal;
    // the snapshot kept the text's hash of a file that changed so close to its load (the unit
    // tests of `artifacts::snapshot` check that comparison itself).
    p.write("models/c.sql", "select 3 as id");
    let (hit, _) = kiln(&p, &["parse"], &[]);
    assert!(!hit);
    assert_eq!(raw(&p), "select 3 as id");
}

#[test]
fn environment_vars_and_the_profile_are_part_of_what_is_kept() {
    let p = project();
    let tagged = |p: &TempProject, args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["ls", "-s", "tag:blue"];
        all.extend_from_slice(args);
        kiln(p, &all, env)
    };
    tagged(&p, &[], &[]);
    assert_eq!(tagged(&p, &[], &[]), (true, vec![]));
    // An environment variable a template read.
    assert_eq!(
        tagged(&p, &[], &[("KILN_SNAP_TAG", "blue")]),
        (false, vec!["snap.tagged".to_string()])
    );
    assert_eq!(
        tagged(&p, &[], &[("KILN_SNAP_TAG", "blue")]),
        (true, vec!["snap.tagged".to_string()])
    );
    assert_eq!(tagged(&p, &[], &[]).1, Vec::<String>::new());
    // `--vars`.
    let (hit, lines) = tagged(&p, &["--vars", "{region: blue}"], &[]);
    assert!(!hit);
    assert_eq!(lines, ["snap.tagged"].map(String::from));

    // The profile: another schema renames every relation.
    kiln(&p, &["parse"], &[]);
    assert!(kiln(&p, &["parse"], &[]).0);
    p.write(
        "profiles.yml",
        "snap:\n  target: dev\n  outputs:\n    dev:\n      type: sqlite\n      schema: other\n",
    );
    let (hit, _) = kiln(&p, &["parse"], &[]);
    assert!(!hit);
    assert_eq!(manifest(&p)["nodes"]["model.snap.a"]["schema"], "other");
}

#[test]
fn an_installed_package_is_seen() {
    let p = project();
    ls(&p, &[]);
    assert!(ls(&p, &[]).0);
    p.write("dbt_packages/pkg/dbt_project.yml", "name: pkg\n");
    p.write("dbt_packages/pkg/models/pm.sql", "select 1 as id");
    let (hit, lines) = ls(&p, &[]);
    assert!(!hit);
    assert!(lines.contains(&"pkg.pm".to_string()), "{lines:?}");
    // A package's file edited in place.
    ls(&p, &[]);
    p.write(
        "dbt_packages/pkg/models/pm.sql",
        "select id from {{ ref('snap', 'a') }}",
    );
    assert_eq!(
        ls(&p, &["-s", "a+"]).1,
        ["pkg.pm", "snap.a", "snap.b", "snap.not_null_a_id"].map(String::from)
    );
}

#[test]
fn a_parse_that_reads_the_invocation_is_never_kept() {
    let p = project();
    p.write(
        "models/stamped.sql",
        "select '{{ run_started_at }}' as at, '{{ flags.WHICH }}' as command",
    );
    let run = p.kiln(&["parse", "--debug"]).ok();
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(text.contains("cannot be kept as a snapshot"), "{text}");
    assert!(!p.root.join("target/kiln_snapshot.bin").exists());
    assert!(!kiln(&p, &["parse"], &[]).0);
}

#[test]
fn a_damaged_snapshot_is_ignored_and_written_again() {
    let p = project();
    let (_, expected) = ls(&p, &[]);
    let path = p.root.join("target/kiln_snapshot.bin");
    let bytes = std::fs::read(&path).unwrap();
    for damaged in [&bytes[..bytes.len() / 2], b"not a snapshot", &[]] {
        std::fs::write(&path, damaged).unwrap();
        assert_eq!(ls(&p, &[]), (false, expected.clone()));
        assert_eq!(ls(&p, &[]), (true, expected.clone()));
    }
}

#[test]
fn the_manifest_of_a_kept_parse_is_written_again_unless_it_is_on_disk_as_written() {
    let p = project();
    ls(&p, &[]);
    assert!(ls(&p, &[]).0);
    let written = p.read("target/manifest.json");
    let path = p.root.join("target/manifest.json");

    std::fs::remove_file(&path).unwrap();
    assert!(ls(&p, &[]).0);
    assert_eq!(p.read("target/manifest.json"), written);

    p.write("target/manifest.json", "{}");
    assert!(ls(&p, &[]).0);
    assert_eq!(p.read("target/manifest.json"), written);

    // A compile writes the compiled SQL into the manifest; a list writes the parse's again.
    kiln(&p, &["compile"], &[]);
    let compiled = manifest(&p);
    assert_eq!(
        compiled["nodes"]["model.snap.b"]["compiled_code"],
        "select id from \"main\".\"a\""
    );
    assert!(ls(&p, &[]).0);
    assert_eq!(p.read("target/manifest.json"), written);
}

/// The debug log of `kiln parse --debug` and its exit code.
fn parse_log(p: &TempProject, args: &[&str]) -> (i32, String) {
    let mut all = vec!["parse", "--debug"];
    all.extend_from_slice(args);
    let run = p.kiln(&all);
    (run.code, format!("{}{}", run.stdout, run.stderr))
}

#[test]
fn edited_models_are_taken_into_the_snapshot_as_a_whole_parse_would_take_them() {
    let p = project();
    kiln(&p, &["parse"], &[]);
    assert!(kiln(&p, &["parse"], &[]).0);

    // New refs, a config() call, a new checksum.
    p.write(
        "models/b.sql",
        "{{ config(materialized='table', tags=['edited']) }}\nselect id from {{ ref('c') }}",
    );
    let (code, log) = parse_log(&p, &[]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("1 edited files taken into the project snapshot"),
        "{log}"
    );
    let patched = manifest(&p);
    assert_eq!(
        patched["nodes"]["model.snap.b"]["config"]["materialized"],
        "table"
    );
    kiln(&p, &["parse", "--no-partial-parse"], &[]);
    assert_eq!(patched, manifest(&p), "the same manifest as a whole parse");

    // A second edit, of a model whose config() call changes: both are taken.
    p.write(
        "models/tagged.sql",
        "{{ config(tags=['second']) }}\nselect id from {{ ref('a') }}",
    );
    let (_, log) = parse_log(&p, &[]);
    assert!(
        log.contains("2 edited files taken into the project snapshot"),
        "{log}"
    );
    let patched = manifest(&p);
    assert_eq!(
        patched["nodes"]["model.snap.tagged"]["tags"],
        serde_json::json!(["second"])
    );
    assert_eq!(
        patched["nodes"]["model.snap.tagged"]["depends_on"]["nodes"],
        serde_json::json!(["model.snap.a"])
    );
    kiln(&p, &["parse", "--no-partial-parse"], &[]);
    assert_eq!(patched, manifest(&p));
    assert_eq!(
        ls(&p, &["-s", "a+"]).1,
        ["snap.a", "snap.not_null_a_id", "snap.tagged"].map(String::from)
    );

    // An edit that keeps every dependency, after a manifest written with its index: the
    // parent and child maps are copied from that manifest, and are still the whole parse's.
    kiln(&p, &["parse"], &[]);
    p.write("models/c.sql", "select 3 as id");
    let (_, log) = parse_log(&p, &[]);
    assert!(
        log.contains("edited files taken into the project snapshot"),
        "{log}"
    );
    let patched = manifest(&p);
    assert_eq!(
        patched["child_map"]["model.snap.a"],
        serde_json::json!(["model.snap.tagged", "test.snap.not_null_a_id.c1cebc1440"])
    );
    kiln(&p, &["parse", "--no-partial-parse"], &[]);
    assert_eq!(patched, manifest(&p));

    // The graph of a snapshot whose edges no edit changed is the whole parse's.
    kiln(&p, &["parse"], &[]);
    p.write("models/c.sql", "select 4 as id");
    for select in ["+tagged+", "a+", "+not_null_a_id"] {
        let (hit, lines) = ls(&p, &["-s", select]);
        assert!(!hit, "an edit is taken, not a snapshot used as it is");
        assert_eq!(lines, ls(&p, &["-s", select, "--no-partial-parse"]).1);
    }
    assert_eq!(
        ls(&p, &["-s", "+tagged"]).1,
        ["snap.a", "snap.not_null_a_id", "snap.tagged"].map(String::from)
    );
}

#[test]
fn an_edit_that_closes_a_cycle_is_reported_as_by_a_whole_parse() {
    let p = project();
    kiln(&p, &["parse"], &[]);
    // a -> b already; a now reads b too.
    p.write("models/a.sql", "select id from {{ ref('b') }}");
    let (code, log) = parse_log(&p, &[]);
    assert_ne!(code, 0, "{log}");
    assert!(log.contains("dependency cycle: a -> b -> a"), "{log}");
    assert!(log.contains("models/a.sql:1, models/b.sql:1"), "{log}");
    // Mended, the project parses again, and the snapshot takes later edits.
    p.write("models/a.sql", "select 1 as id");
    assert_eq!(parse_log(&p, &[]).0, 0);
    kiln(&p, &["parse"], &[]);
    p.write("models/a.sql", "select 5 as id");
    let (code, log) = parse_log(&p, &[]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("edited files taken into the project snapshot"),
        "{log}"
    );
}

#[test]
fn an_edit_the_snapshot_cannot_take_is_parsed_whole() {
    let p = project();
    kiln(&p, &["parse"], &[]);
    // A render that fails: the whole parse reports it at its file.
    p.write("models/c.sql", "select {{ no_such_macro() }} as id");
    let (code, log) = parse_log(&p, &[]);
    assert_ne!(code, 0);
    assert!(log.contains("models/c.sql"), "{log}");
    p.write("models/c.sql", "select 2 as id");
    assert_eq!(parse_log(&p, &[]).0, 0);
    assert!(kiln(&p, &["parse"], &[]).0);

    // A model its own config() call disables is listed with the disabled nodes.
    p.write(
        "models/c.sql",
        "{{ config(enabled=false) }}\nselect 2 as id",
    );
    let (_, log) = parse_log(&p, &[]);
    assert!(log.contains("need a whole parse"), "{log}");
    let m = manifest(&p);
    assert!(m["nodes"].get("model.snap.c").is_none());
    assert!(m["disabled"].get("model.snap.c").is_some());

    // A properties file and a macro file are not node files.
    kiln(&p, &["parse"], &[]);
    p.write(
        "models/schema.yml",
        "version: 2\nmodels:\n  - name: a\n    description: edited\n",
    );
    let (_, log) = parse_log(&p, &[]);
    assert!(!log.contains("taken into the project snapshot"), "{log}");
    let m = manifest(&p);
    assert_eq!(m["nodes"]["model.snap.a"]["description"], "edited");
    let ids = m["nodes"].as_object().unwrap();
    assert!(!ids.keys().any(|k| k.starts_with("test.snap.not_null_a_id")));
}
