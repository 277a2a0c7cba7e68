//! `kiln init NAME`: scaffolds a small runnable project on the embedded database.

use super::output::Output;
use super::{EXIT_OK, display_rel};
use crate::artifacts::write_file;
use crate::error::{Diagnostic, Error, ErrorKind, Result};
use std::path::Path;

/// Files of a new project; `{name}` is replaced by the project name.
const FILES: &[(&str, &str)] = &[
    (
        "project.yml",
        r#"name: {name}
version: "1.0.0"
profile: {name}

model-paths: ["models"]
seed-paths: ["seeds"]
test-paths: ["tests"]
macro-paths: ["macros"]
snapshot-paths: ["snapshots"]
analysis-paths: ["analyses"]
target-path: target
clean-targets: [target]

models:
  {name}:
    staging:
      +materialized: view
    marts:
      +materialized: table
"#,
    ),
    (
        "profiles.yml",
        r#"# Connection settings. `dev` uses the embedded SQLite database in .kiln/ (no server needed).
{name}:
  target: dev
  outputs:
    dev:
      type: sqlite
      schema: main
      threads: 4
"#,
    ),
    (
        "seeds/raw_customers.csv",
        "id,first_name,last_name,signed_up_at\n1,Ada,Lovelace,2024-01-03\n2,Grace,Hopper,2024-01-05\n3,Alan,Turing,2024-02-11\n4,Edsger,Dijkstra,2024-02-20\n",
    ),
    (
        "models/staging/stg_customers.sql",
        "select\n    id as customer_id,\n    first_name,\n    last_name,\n    signed_up_at\nfrom {{ ref('raw_customers') }}\n",
    ),
    (
        "models/marts/customers_by_month.sql",
        "-- dbt.date_trunc is a cross-database macro: the same model builds on SQLite, PostgreSQL and MySQL.\nselect\n    {{ dbt.date_trunc('month', 'signed_up_at') }} as signup_month,\n    count(*) as customers\nfrom {{ ref('stg_customers') }}\ngroup by 1\n",
    ),
    (
        "models/schema.yml",
        r#"version: 2

models:
  - name: stg_customers
    description: One row per customer, renamed from the raw seed.
    columns:
      - name: customer_id
        description: Primary key.
        data_tests:
          - unique
          - not_null
  - name: customers_by_month
    description: Customers who signed up in each month.
    columns:
      - name: signup_month
        data_tests:
          - unique
          - not_null
"#,
    ),
    ("macros/.gitkeep", ""),
    ("tests/.gitkeep", ""),
    ("snapshots/.gitkeep", ""),
    ("analyses/.gitkeep", ""),
    (".gitignore", "target/\n.kiln/\nlogs/\n"),
];

/// Creates the project directory `name` in the current directory.
pub fn run(out: &Output, name: &str) -> Result<i32> {
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(Error::from(
            Diagnostic::new(ErrorKind::Usage, format!("`{name}` is not a valid project name"))
                .with_hint("use letters, digits and underscores, starting with a letter, e.g. `kiln init my_project`"),
        ));
    }
    let dir = Path::new(name);
    if dir.exists() {
        return Err(Error::from(
            Diagnostic::new(ErrorKind::Usage, format!("`{name}` already exists"))
                .with_hint("choose another name or remove the directory"),
        ));
    }
    for (path, text) in FILES {
        write_file(&dir.join(path), text.replace("{name}", name).as_bytes())?;
    }
    out.info(&format!(
        "Created project `{name}` in {}/. Next: cd {name} && kiln build",
        display_rel(Path::new("."), dir)
    ));
    Ok(EXIT_OK)
}
