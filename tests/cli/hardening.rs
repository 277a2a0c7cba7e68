//! Bad input that once crashed Kiln or lost its position: each case exits with a located error
//! (or a warning), never a panic.

use crate::support::TempProject;

const PROJECT: &str = "name: shop\nprofile: shop\n";

#[track_caller]
fn no_panic(run: &crate::support::Run) {
    assert_ne!(run.code, 101, "panicked:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn non_ascii_in_jinja_tags_outside_models_is_not_a_panic() {
    for (path, text) in [
        ("macros/m.sql", "{{ é }}\n"),
        ("macros/m.sql", "{% macro m() %}x{% endmacro %}\n{% ü"),
        ("snapshots/s.sql", "{% snapshot s %}\n{{ é }}\n"),
        ("tests/t.sql", "{%é"),
    ] {
        let p = TempProject::with_files(&[
            ("project.yml", PROJECT),
            ("models/m1.sql", "select 1 as id"),
            (path, text),
        ]);
        let run = p.kiln(&["parse"]);
        no_panic(&run);
    }
    // An unclosed snapshot is reported at its line, multi-byte text and all.
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        (
            "snapshots/s.sql",
            "-- é\n{% snapshot s %}\nselect 'ü' {{ é }}\n",
        ),
    ]);
    let run = p.kiln(&["parse"]);
    no_panic(&run);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("snapshots/s.sql:2:1") && run.stderr.contains("never closed"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_second_yaml_document_is_placed_at_its_marker() {
    for (path, text, line) in [
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: m1\n---\nmodels: []\n",
            4,
        ),
        ("project.yml", "---\nname: shop\nprofile: shop\n---\n", 4),
        (
            "profiles.yml",
            "shop:\n  target: dev\n  outputs:\n    dev:\n      type: sqlite\n\n---\n",
            7,
        ),
    ] {
        let p = TempProject::with_files(&[
            ("project.yml", PROJECT),
            ("models/m1.sql", "select 1 as id"),
        ]);
        p.write(path, text);
        let run = p.kiln(&["parse"]);
        assert_eq!(run.code, 2, "{path}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("{path}:{line}:1"))
                && run.stderr.contains("a second document starts here"),
            "{path}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_control_character_in_a_seed_header_is_named_at_line_one() {
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        ("seeds/s.csv", "id,na\0me\n1,a\n"),
    ]);
    let run = p.kiln(&["seed"]);
    no_panic(&run);
    assert_ne!(run.code, 0);
    assert!(
        run.stdout.contains("seeds/s.csv:1:1")
            && run
                .stdout
                .contains("column 2 has a control character ('\\0')"),
        "{}",
        run.stdout
    );
    assert!(
        !p.root.join(".kiln").join("main.db").exists() || {
            let tables = p.query("select name from sqlite_master where name = 's'");
            tables.is_empty()
        }
    );
}

#[test]
fn a_url_target_connects_to_the_port_in_its_url() {
    for (kind, scheme) in [("postgres", "postgres"), ("mysql", "mysql")] {
        let p = TempProject::with_files(&[("project.yml", PROJECT)]);
        p.write(
            "profiles.yml",
            &format!(
                "shop:\n  target: dev\n  outputs:\n    dev:\n      type: {kind}\n      url: \"{scheme}://u:pw@127.0.0.1:5999/db\"\n      schema: s\n      connect_timeout: 3\n"
            ),
        );
        let run = p.kiln(&["debug"]);
        no_panic(&run);
        let all = format!("{}{}", run.stdout, run.stderr);
        assert_ne!(run.code, 0, "{all}");
        assert!(all.contains("127.0.0.1:5999"), "{kind}: {all}");
        assert!(
            !all.contains(":5432") && !all.contains(":3306") && !all.contains("localhost"),
            "{kind}: {all}"
        );
    }
}

#[test]
fn a_value_the_database_refuses_in_a_seed_is_named_at_its_line() {
    use crate::support::Backend;
    for b in [Backend::postgres(), Backend::mysql()]
        .into_iter()
        .flatten()
    {
        let p = TempProject::with_files_on(
            &[
                (
                    "project.yml",
                    "name: shop\nprofile: shop\nseeds:\n  shop:\n    s:\n      +column_types: {id: integer}\n",
                ),
                ("seeds/s.csv", "id,name\n1,a\n2,\"two\nlines\"\nx3,c\n4,d\n"),
            ],
            b,
        );
        let run = p.kiln(&["seed"]);
        assert_eq!(run.code, 1, "{}", run.stdout);
        // The value, and its line in the file: a row with a line break in a field comes before.
        assert!(
            run.stdout.contains("x3")
                && run.stdout.contains("--> seeds/s.csv:5")
                && run.stdout.contains("5 | x3,c"),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn linked_model_folders_are_followed_and_a_link_loop_is_an_error() {
    let p = TempProject::with_files(&[
        ("project.yml", PROJECT),
        ("models/a.sql", "select 1 as id"),
        ("models/nested/deeper/b.sql", "select * from {{ ref('a') }}"),
        ("models/.hidden.sql", "this is not sql"),
        ("shared/c.sql", "select * from {{ ref('b') }}"),
    ]);
    std::os::unix::fs::symlink(p.root.join("shared"), p.root.join("models/linked")).unwrap();
    let run = p.kiln(&["ls", "-o", "path"]).ok();
    assert_eq!(
        run.stderr
            .lines()
            .chain(run.stdout.lines())
            .filter(|l| l.ends_with(".sql"))
            .collect::<Vec<_>>(),
        [
            "models/a.sql",
            "models/linked/c.sql",
            "models/nested/deeper/b.sql"
        ],
        "{}",
        run.stdout
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&p.read("target/manifest.json")).unwrap();
    let c = &manifest["nodes"]["model.shop.c"];
    assert_eq!(c["original_file_path"], "models/linked/c.sql");
    assert_eq!(c["fqn"], serde_json::json!(["shop", "linked", "c"]));

    // A link back to a folder above it would be listed forever: it is an error instead.
    std::os::unix::fs::symlink(p.root.join("models"), p.root.join("models/nested/up")).unwrap();
    let run = p.kiln(&["parse"]);
    no_panic(&run);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot list files under models")
            && run.stderr.contains("points to an ancestor")
            && run.stderr.contains("remove the link"),
        "{}",
        run.stderr
    );
}
