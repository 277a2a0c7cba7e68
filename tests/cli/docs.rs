//! `kiln docs generate` and `kiln docs serve`: the catalog read from each database, the site's
//! data (columns with types and test statuses, column lineage, the run timeline), the one-file
//! static page, and the server's path handling and selection API.

use crate::support::{Backend, TempProject};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

mod sqlite {
    #[test]
    fn docs_generate_reads_the_catalog_and_writes_the_site() {
        super::docs_generate_reads_the_catalog_and_writes_the_site(crate::support::Backend::Sqlite)
    }
}
mod postgres {
    #[test]
    fn docs_generate_reads_the_catalog_and_writes_the_site() {
        if let Some(b) = crate::support::Backend::postgres() {
            super::docs_generate_reads_the_catalog_and_writes_the_site(b)
        }
    }
}
mod mysql {
    #[test]
    fn docs_generate_reads_the_catalog_and_writes_the_site() {
        if let Some(b) = crate::support::Backend::mysql() {
            super::docs_generate_reads_the_catalog_and_writes_the_site(b)
        }
    }
}

fn json(p: &TempProject, path: &str) -> Value {
    serde_json::from_str(&p.read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The details of `id` from the site's shards.
pub fn details(p: &TempProject, target: &str, id: &str) -> Value {
    let index = json(p, &format!("{target}/docs/index.json"));
    let pos = index["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .position(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in the index"));
    let shard = pos / index["shard_size"].as_u64().unwrap() as usize;
    json(p, &format!("{target}/docs/details-{shard}.json"))[id].clone()
}

fn docs_generate_reads_the_catalog_and_writes_the_site(b: Backend) {
    let p = TempProject::fixture_on("jaffle", b.clone());
    p.kiln(&["build"]);
    let postgres = matches!(b, Backend::Postgres(_));
    if postgres {
        let s = &p.schema;
        p.exec(&format!(
            "comment on table \"{s}\".customers is 'Customers, one per row'"
        ));
        p.exec(&format!(
            "comment on column \"{s}\".customers.customer_id is 'The key'"
        ));
    }
    let run = p.kiln(&["docs", "generate", "--static"]).ok();
    assert!(run.stdout.contains("Catalog: "), "{}", run.stdout);

    // The catalog: every built relation with its columns and types, in dbt's shape.
    let catalog = json(&p, "target/catalog.json");
    assert_eq!(
        catalog["metadata"]["dbt_schema_version"],
        "https://schemas.getdbt.com/dbt/catalog/v1.json"
    );
    let customers = &catalog["nodes"]["model.jaffle.customers"];
    assert_eq!(customers["metadata"]["name"], "customers");
    assert_eq!(customers["metadata"]["type"], "BASE TABLE");
    assert_eq!(customers["columns"]["customer_id"]["index"], 1);
    assert_eq!(customers["columns"]["number_of_orders"]["index"], 6);
    if postgres {
        // Comments written in the database, on the relation and on a column.
        assert_eq!(customers["metadata"]["comment"], "Customers, one per row");
        assert_eq!(customers["columns"]["customer_id"]["comment"], "The key");
        assert_eq!(customers["columns"]["first_name"]["comment"], Value::Null);
    }
    let ty = customers["columns"]["number_of_orders"]["type"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(
        ty.contains("int") || ty.contains("numeric") || ty.is_empty(),
        "number_of_orders is {ty}"
    );
    assert_eq!(
        catalog["nodes"]["model.jaffle.stg_orders"]["metadata"]["type"],
        "VIEW"
    );
    let seed = &catalog["nodes"]["seed.jaffle.raw_orders"];
    assert_eq!(seed["metadata"]["type"], "BASE TABLE");
    if !matches!(b, Backend::Mysql(_)) {
        // MySQL's row count is the storage engine's estimate, which may lag.
        assert_eq!(seed["stats"]["row_count"]["value"], 6, "{seed}");
    }

    // The site: the index lists every node with what search and the graph need.
    let index = json(&p, "target/docs/index.json");
    let nodes = index["nodes"].as_array().unwrap();
    let node = |id: &str| nodes.iter().find(|n| n["id"] == id).unwrap().clone();
    let customers = node("model.jaffle.customers");
    assert_eq!(customers["materialized"], "table");
    assert!(
        customers["description"]
            .as_str()
            .unwrap()
            .starts_with("One record per customer")
    );
    assert!(customers["test_counts"]["pass"].as_u64().unwrap() >= 2);
    let parents: Vec<&str> = customers["parents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| nodes[i.as_u64().unwrap() as usize]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        parents,
        ["model.jaffle.orders", "model.jaffle.stg_customers"]
    );
    assert_eq!(node("macro.jaffle.cents_to_dollars")["type"], "macro");

    // A page: Markdown description, columns with types and tests with their status, SQL and
    // column lineage with the kind of each step.
    let d = details(&p, "target", "model.jaffle.customers");
    assert_eq!(
        d["description_html"],
        "<p>One record per customer, with order history.</p>\n"
    );
    let cols = d["columns"].as_array().unwrap();
    let id_col = cols.iter().find(|c| c["name"] == "customer_id").unwrap();
    assert_eq!(id_col["description_html"], "<p>Primary key.</p>\n");
    assert!(id_col["data_type"].is_string(), "{id_col}");
    let tests: Vec<(&str, &str)> = id_col["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(tests, [("not_null", "pass"), ("unique", "pass")]);
    assert!(d["compiled_code"].as_str().unwrap().contains("left join"));
    assert!(
        d["raw_code"]
            .as_str()
            .unwrap()
            .contains("{{ ref('orders') }}")
    );
    assert!(d["referenced_by"].as_array().unwrap().len() >= 3);
    let edges = |col: &str| -> Vec<(String, String, String)> {
        d["lineage"][col]
            .as_array()
            .unwrap_or_else(|| panic!("no lineage for {col}: {}", d["lineage"]))
            .iter()
            .map(|e| {
                (
                    e["node"].as_str().unwrap_or("").to_string(),
                    e["column"].as_str().unwrap().to_string(),
                    e["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        edges("first_name"),
        [(
            "model.jaffle.stg_customers".to_string(),
            "first_name".to_string(),
            "passthrough".to_string()
        )]
    );
    assert_eq!(
        edges("number_of_orders"),
        [(
            "model.jaffle.orders".to_string(),
            "order_id".to_string(),
            "aggregate".to_string()
        )]
    );
    // A docs block resolved inside a column description.
    let orders = details(&p, "target", "model.jaffle.orders");
    let status = orders["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "status")
        .unwrap();
    assert!(
        status["description_html"]
            .as_str()
            .unwrap()
            .contains("<td>shipped</td>"),
        "{status}"
    );

    // The run timeline: one lane per worker, the critical path, what held the run back.
    let t = json(&p, "target/docs/timeline.json");
    assert_eq!(t["command"], "build");
    assert!(!t["workers"].as_array().unwrap().is_empty());
    let path = t["critical_path"].as_array().unwrap();
    assert!(path.len() >= 2, "{t}");
    assert!(
        path.first().unwrap().as_str().unwrap().starts_with("seed."),
        "{t}"
    );
    assert_eq!(t["held_back"].as_array().unwrap().len(), path.len());

    // One file holds the whole site.
    let page = p.read("target/static_index.html");
    assert!(page.contains("window.KILN_DOCS_DATA = {"));
    assert!(page.contains("model.jaffle.customers"));
    assert!(
        !page.contains("src=\"docs/"),
        "the static page loads nothing"
    );
}

#[test]
fn docs_generate_with_an_empty_catalog_needs_no_database() {
    let p = TempProject::fixture("jaffle");
    // No build: the database holds nothing, and is never asked.
    let run = p.kiln(&["docs", "generate", "--empty-catalog"]).ok();
    assert!(!run.stdout.contains("Catalog:"), "{}", run.stdout);
    let catalog = json(&p, "target/catalog.json");
    assert_eq!(catalog["nodes"], serde_json::json!({}));
    // Columns still come from the YAML and the SQL.
    let d = details(&p, "target", "model.jaffle.customers");
    let names: Vec<&str> = d["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "customer_id");
    assert!(names.contains(&"customer_lifetime_value"), "{names:?}");
    let t = json(&p, "target/docs/timeline.json");
    assert_eq!(t["entries"], serde_json::json!([]));
}

/// A running `kiln docs serve`, stopped when dropped.
pub struct Server {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `kiln docs serve --port 0` in the project and waits for its address.
    pub fn start(p: &TempProject) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(["docs", "serve", "--port", "0"])
            .current_dir(&p.root)
            .env("HOME", &p.home)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The server's log, its address among it, is on stdout.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("kiln docs serve stopped before serving")
                .unwrap();
            if let Some(addr) = crate::support::served_addr(&line) {
                break addr;
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, addr }
    }

    /// Sends a raw GET (the path exactly as given, no client normalisation) and returns the
    /// status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        crate::support::http_get(&self.addr, path)
    }
}

#[test]
fn docs_serve_serves_only_the_site_and_answers_selections() {
    let p = TempProject::fixture("jaffle");
    let run = p.kiln(&["docs", "serve", "--port", "0"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("run `kiln docs generate` first"),
        "{}",
        run.stderr
    );

    p.kiln(&["docs", "generate", "--empty-catalog"]).ok();
    let server = Server::start(&p);
    let (code, body) = server.get("/");
    assert_eq!(code, 200);
    assert!(body.contains("<title>jaffle · Kiln docs</title>"), "{body}");
    let (code, body) = server.get("/docs/index.json");
    assert_eq!(code, 200);
    assert!(body.contains("model.jaffle.customers"));
    assert_eq!(server.get("/docs/app.js").0, 200);
    assert_eq!(server.get("/manifest.json").0, 200);
    // Only `kiln watch --docs` counts rebuilds.
    assert_eq!(server.get("/api/version").0, 404);
    for bad in [
        "/../profiles.yml",
        "/docs/../../profiles.yml",
        "/docs/%2e%2e/%2e%2e/profiles.yml",
        "/%2e%2e/profiles.yml",
        "/docs/..%2f..%2fprofiles.yml",
        "/docs/%252e%252e%252fprofiles.yml",
        "/profiles.yml",
        "/dbt_project.yml",
        "/compiled/jaffle/models/marts/customers.sql",
    ] {
        let (code, body) = server.get(bad);
        assert_eq!(code, 404, "{bad}");
        assert!(!body.contains("outputs"), "{bad} leaked the profile");
    }

    // Selections use the CLI's grammar: the same nodes as `kiln ls -s`.
    let (code, body) = server.get("/api/select?select=%2Bcustomers");
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let mut ids: Vec<String> = v["selected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let ls = p.kiln(&["ls", "-s", "+customers", "--output", "json"]).ok();
    let mut expected: Vec<String> = ls
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["unique_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .filter(|id| !id.starts_with("test."))
        .collect();
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        ids.contains(&"seed.jaffle.raw_orders".to_string()),
        "{ids:?}"
    );
    let (code, body) = server.get("/api/select?select=tag%3Astaging&exclude=stg_orders");
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = v["selected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["model.jaffle.stg_customers", "model.jaffle.stg_payments"]
    );
    let (code, body) = server.get("/api/select?select=bogus_method%3Ax");
    assert_eq!(code, 400);
    assert!(body.contains("error"), "{body}");

    // A port in use is a clear error.
    let (_, port) = server.addr.split_once(':').unwrap();
    let run = p.kiln(&["docs", "serve", "--port", port]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{}",
        run.stderr
    );
}
