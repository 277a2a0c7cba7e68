//! The compile cache and the reused manifest entries: a compile renders and analyses only what
//! changed, and `manifest.json` / `kiln_lineage.json` copy only unchanged node entries, and what
//! they reuse is never stale (a parent's new name or columns, environment variables, renders
//! that asked the database, files edited by hand).

use crate::support::TempProject;
use serde_json::Value;

const CACHE: &str = "target/kiln_compile_cache.jsonl";
const INDEX: &str = "target/kiln_manifest_index.bin";

fn project() -> TempProject {
    TempProject::with_files(&[
        ("project.yml", "name: cc\n"),
        ("models/a.sql", "select 1 as id, 'x' as label"),
        ("models/b.sql", "select * from {{ ref('a') }}"),
        (
            "models/c.sql",
            "select id, '{{ env_var('KILN_CC_REGION', 'north') }}' as region from {{ ref('b') }}",
        ),
        ("models/d.sql", "select 4 as id"),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        data_tests: [unique]\n",
        ),
    ])
}

/// `(renders, analyses)` the compile cache reused in `kiln compile`.
fn compile_counts(p: &TempProject, args: &[&str], env: &[(&str, &str)]) -> (usize, usize) {
    p.debug_counts("compile", args, env, "Compile cache:")
}

fn compiled(p: &TempProject, model: &str) -> String {
    p.read(&format!("target/compiled/cc/models/{model}.sql"))
}

fn lineage(p: &TempProject) -> Value {
    serde_json::from_str(&p.read("target/kiln_lineage.json")).unwrap()
}

fn manifest(p: &TempProject) -> Value {
    serde_json::from_str(&p.read("target/manifest.json")).unwrap()
}

#[test]
fn a_second_compile_reuses_every_render_and_analysis_and_writes_the_same_files() {
    let p = project();
    assert_eq!(compile_counts(&p, &[], &[]), (0, 0));
    let files = ["target/manifest.json", "target/kiln_lineage.json"].map(|f| p.read(f));
    let sql = compiled(&p, "c");
    // Four models and one test.
    assert_eq!(compile_counts(&p, &[], &[]), (5, 5));
    assert_eq!(
        files,
        ["target/manifest.json", "target/kiln_lineage.json"].map(|f| p.read(f)),
        "files written from the caches are the same bytes"
    );
    assert_eq!(sql, compiled(&p, "c"));
    // A parse-only command rewrites the manifest without compiled SQL, then compile adds it.
    p.kiln(&["parse"]).ok();
    assert!(manifest(&p)["nodes"]["model.cc.c"]["compiled_code"].is_null());
    compile_counts(&p, &[], &[]);
    assert_eq!(files[0], p.read("target/manifest.json"));
}

#[test]
fn a_parent_renamed_or_with_new_columns_compiles_its_children_again() {
    let p = project();
    compile_counts(&p, &[], &[]);
    assert!(compiled(&p, "b").contains("\"a\""), "{}", compiled(&p, "b"));

    // `a` builds another relation: `b`'s template is the same, but its ref resolves elsewhere.
    p.write(
        "models/a.sql",
        "{{ config(alias='a_v2') }}\nselect 1 as id, 'x' as label",
    );
    let (renders, _) = compile_counts(&p, &[], &[]);
    assert_eq!(
        renders, 2,
        "c and d are reused; a, b and the test on a render again"
    );
    assert!(compiled(&p, "b").contains("a_v2"), "{}", compiled(&p, "b"));

    // `a` gains a column: `b`'s SQL is unchanged but its `select *` now has three columns, and
    // so does everything reading it.
    p.write(
        "models/a.sql",
        "{{ config(alias='a_v2') }}\nselect 1 as id, 'x' as label, 2 as extra",
    );
    let (renders, analyses) = compile_counts(&p, &[], &[]);
    assert_eq!(renders, 4, "only a renders again");
    assert_eq!(
        analyses, 1,
        "only d: a, b, c and the test read what changed and are analysed again"
    );
    let l = lineage(&p);
    assert_eq!(
        l["nodes"]["model.cc.b"]["columns"],
        serde_json::json!(["id", "label", "extra"])
    );
    assert_eq!(
        l["nodes"]["model.cc.c"]["columns"],
        serde_json::json!(["id", "region"])
    );
}

#[test]
fn environment_values_and_database_answers_are_never_reused_stale() {
    let p = project();
    p.write(
        "models/asks.sql",
        "{% set r = run_query('select 1 as one') %}\nselect {{ 1 if r is none else 2 }} as id",
    );
    compile_counts(&p, &[], &[]);
    assert!(compiled(&p, "c").contains("'north'"));

    let (renders, _) = compile_counts(&p, &[], &[("KILN_CC_REGION", "south")]);
    assert_eq!(
        renders, 4,
        "c read the variable and `asks` asked the database: both render again"
    );
    assert!(
        compiled(&p, "c").contains("'south'"),
        "{}",
        compiled(&p, "c")
    );
    let cache = p.read(CACHE);
    let entry = |id: &str| -> Option<Value> {
        cache
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v[0] == id)
            .map(|v| v[1].clone())
    };
    let seen = &entry("model.cc.c").expect("c is kept")["env"]["KILN_CC_REGION"];
    assert!(
        seen.as_str().is_some_and(|h| h.len() == 16 && h != "south"),
        "the cache keeps a hash of each environment value read, not the value: {seen}"
    );
    assert!(
        entry("model.cc.asks").is_none(),
        "a render that asked the database is not kept"
    );
}

#[test]
fn no_partial_parse_turns_the_compile_cache_and_the_manifest_index_off() {
    let p = project();
    compile_counts(&p, &[], &[]);
    assert!(p.root.join(CACHE).exists() && p.root.join(INDEX).exists());
    let run = p.kiln(&["compile", "--debug", "--no-partial-parse"]).ok();
    assert!(!format!("{}{}", run.stdout, run.stderr).contains("Compile cache:"));
    assert!(
        !p.root.join(INDEX).exists(),
        "a manifest written without keys has no index"
    );
    let help = p.kiln(&["compile", "--help"]).ok();
    assert!(help.stdout.contains("--no-partial-parse"));
}

#[test]
fn a_damaged_cache_or_a_manifest_edited_by_hand_is_never_copied_from() {
    let p = project();
    compile_counts(&p, &[], &[]);
    let good = p.read("target/manifest.json");

    // The header still matches; a line after it is damaged.
    let header = p.read(CACHE).lines().next().unwrap().to_string();
    p.write(CACHE, &format!("{header}\nnot json\n"));
    assert_eq!(compile_counts(&p, &[], &[]), (0, 0));
    assert_eq!(good, p.read("target/manifest.json"));

    // A node entry of the manifest edited in place: the index no longer describes the file,
    // so nothing is copied from it and the whole manifest is written again.
    let edited = good.replace("select 4 as id", "select 5 as id");
    assert_ne!(edited, good);
    p.write("target/manifest.json", &edited);
    compile_counts(&p, &[], &[]);
    assert_eq!(good, p.read("target/manifest.json"));

    p.write(INDEX, "[1, 2");
    compile_counts(&p, &[], &[]);
    assert_eq!(good, p.read("target/manifest.json"));
    let index = std::fs::read(p.root.join(INDEX)).unwrap();
    assert!(index.len() > 5, "the damaged index is written again");
}

#[test]
fn docs_generate_reuses_what_compile_kept() {
    let p = project();
    compile_counts(&p, &[], &[]);
    let run = p
        .kiln(&["docs", "generate", "--empty-catalog", "--debug"])
        .ok();
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(
        text.contains("Compile cache: 5 renders and 5 analyses reused"),
        "{text}"
    );
    let l = lineage(&p);
    assert_eq!(
        l["nodes"]["model.cc.b"]["columns"],
        serde_json::json!(["id", "label"])
    );
}
