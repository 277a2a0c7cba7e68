//! Secrets: a password, in every form a profile can hold it, never reaches stdout, stderr, the
//! log file or any file Kiln writes under the target path.

use crate::support::{Backend, TempProject};
use std::path::Path;

const PROJECT: &str = "name: shop\nprofile: shop\n";
/// A password with every character that breaks a URL: `/`, `?`, `#`, `@`, `:` and `%`.
const URL_PASSWORD: &str = "Url/Pw?x#y@z:%q";
const LITERAL: &str = "LiteralPw-4711";
const FROM_ENV: &str = "EnvPw-0815";

/// Every file under `dir`, as text.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap();
            (
                e.path().display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect()
}

/// Fails naming where one of `secrets` appears in a run's output or in the project's files.
#[track_caller]
fn assert_nowhere(p: &TempProject, outputs: &[String], secrets: &[&str]) {
    let mut places: Vec<(String, String)> = outputs
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("output {i}"), o.clone()))
        .collect();
    for dir in ["target", "logs"] {
        places.extend(files_under(&p.root.join(dir)));
    }
    for secret in secrets {
        for (place, text) in &places {
            assert!(!text.contains(secret), "`{secret}` appears in {place}");
        }
    }
}

/// The `original` profile with `extra` keys added to its output and its URL's user given
/// `password` (PostgreSQL's trust authentication ignores it, so the run still connects).
fn profile_with(original: &str, password: &str, extra: &str) -> String {
    let profile = original.replacen("://postgres@", &format!("://postgres:{password}@"), 1);
    profile.replace("      threads: 4\n", &format!("      threads: 4\n{extra}"))
}

#[test]
fn passwords_in_every_form_stay_secret() {
    let Some(b) = Backend::postgres() else {
        return;
    };
    let p = TempProject::with_files_on(
        &[
            ("project.yml", PROJECT),
            ("models/m.sql", "select 1 as id"),
            (
                "models/v.sql",
                "{{ config(materialized='view') }} select * from {{ ref('m') }}",
            ),
            (
                "models/schema.yml",
                "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: id\n        tests: [not_null, unique]\n",
            ),
        ],
        b,
    );
    let original = p.read("profiles.yml");
    let mut outputs = Vec::new();
    let env = [("KILN_TEST_SECRET", FROM_ENV)];
    for extra in [
        format!("      password: {LITERAL}\n"),
        "      password: \"{{ env_var('KILN_TEST_SECRET') }}\"\n".to_string(),
        String::new(),
    ] {
        let url_password = if extra.is_empty() { URL_PASSWORD } else { "" };
        let profile = profile_with(&original, url_password, &extra);
        let profile = profile.replace("://postgres:@", "://postgres@");
        p.write("profiles.yml", &profile);
        for args in [
            &["debug"][..],
            &["build", "--debug"],
            &["build", "--log-format", "json", "--debug"],
            &["compile"],
            &["docs", "generate"],
            &["ls", "--output", "json"],
        ] {
            let run = p.kiln_env(args, &env);
            assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
            outputs.push(run.stdout);
            outputs.push(run.stderr);
        }
    }
    // The URL's database survives the password's `/` and `?`: the run really went to `test`.
    let manifest = p.read("target/manifest.json");
    assert!(
        manifest.contains("\"database\":\"test\""),
        "database not `test` in the manifest"
    );
    assert_eq!(p.one("select count(*) from v"), crate::support::n(1.0));
    assert_nowhere(
        &p,
        &outputs,
        &[LITERAL, FROM_ENV, URL_PASSWORD, "Url/Pw", "y@z"],
    );
}

#[test]
fn a_password_in_a_failing_template_is_not_quoted() {
    let p =
        TempProject::with_files(&[("project.yml", PROJECT), ("models/m.sql", "select 1 as id")]);
    let profile = "shop:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      host: 127.0.0.1\n      user: u\n      dbname: d\n      schema: s\n      password: \"S3cretPW {{ oops( }}\"\n";
    p.write("profiles.yml", profile);
    let text = p.kiln(&["run"]);
    let json = p.kiln(&["run", "--log-format", "json"]);
    for run in [&text, &json] {
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    }
    assert!(
        text.stderr
            .contains("cannot render the value of `password`")
            && text.stderr.contains("profiles.yml:10:")
            && text.stderr.contains("password: ****"),
        "{}",
        text.stderr
    );
    assert_nowhere(
        &p,
        &[text.stdout, text.stderr, json.stdout, json.stderr],
        &["S3cretPW"],
    );
}

#[test]
fn a_misspelt_secret_key_warns_and_is_masked() {
    let p =
        TempProject::with_files(&[("project.yml", PROJECT), ("models/m.sql", "select 1 as id")]);
    let profile = "shop:\n  target: dev\n  outputs:\n    dev:\n      type: sqlite\n      passwrd: hunter2-pw\n";
    p.write("profiles.yml", profile);
    let debug = p.kiln(&["debug"]);
    let run = p.kiln(&["run", "--debug"]).ok();
    for out in [&debug.stderr, &run.stderr] {
        assert!(
            out.contains("profiles.yml:6:")
                && out.contains("`passwrd`")
                && out.contains("did you mean `password`?"),
            "{out}"
        );
    }
    assert!(
        debug.stdout.contains("passwrd") && debug.stdout.contains("****"),
        "{}",
        debug.stdout
    );
    assert_nowhere(
        &p,
        &[debug.stdout, debug.stderr, run.stdout, run.stderr],
        &["hunter2-pw"],
    );
}
