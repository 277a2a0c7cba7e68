//! The docs site's speed on a large generated project, measured in headless Chromium through
//! the DevTools protocol: `kiln docs generate` (without the catalog query), the page becoming
//! usable, a click that expands the lineage graph, search, and the whole graph.
//!
//! ```sh
//! cargo build --release && cargo run --release --example docs_perf -- --models 10000 --runs 5
//! ```
//! Needs python3 (for `bench/gen_project.py`), chromium and chromedriver (`KILN_TEST_CHROMIUM`
//! and `KILN_TEST_CHROMEDRIVER` override where they are). Prints a table of figures against the
//! targets; `--out FILE` also writes it as Markdown.

#[path = "../tests/cli/chrome.rs"]
#[allow(dead_code)]
mod chrome;

use chrome::Browser;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Options {
    models: usize,
    runs: usize,
    out: Option<PathBuf>,
}

fn options() -> Options {
    let mut o = Options {
        models: 10_000,
        runs: 5,
        out: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = || args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--models" => o.models = value().parse().expect("--models N"),
            "--runs" => o.runs = value().parse().expect("--runs N"),
            "--out" => o.out = Some(PathBuf::from(value())),
            other => panic!("unknown option {other}; use --models N --runs N --out FILE"),
        }
        i += 2;
    }
    o
}

/// The kiln binary built beside this example (`target/<profile>/kiln`), or `KILN_BIN`.
fn kiln_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KILN_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join("kiln");
    assert!(bin.is_file(), "build kiln first: cargo build --release");
    bin
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    if xs.is_empty() {
        return f64::NAN;
    }
    xs[xs.len() / 2]
}

fn worst(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::NAN, f64::max)
}

/// `kiln docs serve --port 0`, stopped when dropped.
struct Serve(Child, String);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(kiln: &Path, project: &Path) -> Serve {
    let mut child = Command::new(kiln)
        .args(["docs", "serve", "--port", "0"])
        .current_dir(project)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The server logs its address on stdout, as every log line.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("kiln docs serve stopped").unwrap();
        if let Some(i) = line.find("http://") {
            break line[i..].split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Serve(child, url)
}

/// Durations (ms) of the page's `performance.measure` entries named `name`, then clears them.
async fn measures(b: &Browser, name: &str) -> Vec<f64> {
    let v = b
        .cdp(
            "Runtime.evaluate",
            json!({
                "expression": format!(
                    "JSON.stringify(performance.getEntriesByName({name:?}).map(e => e.duration))"
                ),
                "returnByValue": true,
            }),
        )
        .await;
    let text = v["result"]["value"].as_str().unwrap_or("[]");
    let out: Vec<f64> = serde_json::from_str(text).unwrap_or_default();
    b.eval(&format!("performance.clearMeasures({name:?}); return 1"))
        .await;
    out
}

/// A metric of `Performance.getMetrics`.
fn metric(metrics: &Value, name: &str) -> f64 {
    metrics["metrics"]
        .as_array()
        .and_then(|m| m.iter().find(|x| x["name"] == name))
        .and_then(|x| x["value"].as_f64())
        .unwrap_or(f64::NAN)
}

struct Row {
    figure: String,
    median: f64,
    worst: f64,
    unit: &'static str,
    target: Option<f64>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = options();
    let kiln = kiln_bin();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new("python3")
        .arg(repo.join("bench/gen_project.py"))
        .arg(&project)
        .args(["--models", &o.models.to_string()])
        .status()
        .expect("python3");
    assert!(status.success());
    let mut rows: Vec<Row> = Vec::new();

    // docs generate, without the catalog query.
    let mut generate = Vec::new();
    for _ in 0..o.runs {
        let t = Instant::now();
        let out = Command::new(&kiln)
            .args(["docs", "generate", "--empty-catalog", "-q"])
            .current_dir(&project)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        generate.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let nodes = {
        let index: Value = serde_json::from_str(
            &std::fs::read_to_string(project.join("target/docs/index.json")).unwrap(),
        )
        .unwrap();
        index["nodes"].as_array().unwrap().len()
    };
    rows.push(Row {
        figure: format!(
            "`kiln docs generate --empty-catalog` ({} models, {nodes} nodes)",
            o.models
        ),
        median: median(generate.clone()),
        worst: worst(&generate),
        unit: "ms",
        target: Some(1000.0),
    });

    let server = serve(&kiln, &project);
    let Some((chromium, driver)) = chrome::browser() else {
        panic!("chromium and chromedriver are needed");
    };
    let b = Browser::start(&chromium, &driver, 1400, 900).await;
    b.cdp("Performance.enable", json!({})).await;
    let (mut cold, mut usable, mut script, mut open, mut click, mut click_wall, mut search) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    // A node in the middle of the graph: two levels up and down reach a few dozen nodes.
    let focus = format!("model.bench.m_5_{:04}", o.models / 20);
    for run in 0..o.runs {
        b.client.goto("about:blank").await.unwrap();
        b.client
            .goto(&format!("{}#!/overview", server.1))
            .await
            .unwrap();
        let at = b
            .until(
                "the page",
                "const m = performance.getEntriesByName('kiln:usable')[0]; return m ? m.startTime : null",
            )
            .await
            .as_f64()
            .unwrap();
        let metrics = b.cdp("Performance.getMetrics", json!({})).await;
        if run == 0 {
            cold.push(at);
        } else {
            usable.push(at);
            script.push(metric(&metrics, "ScriptDuration") * 1000.0);
        }

        // Search: type a query, one keystroke at a time; each keystroke searches everything.
        let input = b
            .client
            .find(fantoccini::Locator::Css("#search"))
            .await
            .unwrap();
        input.clear().await.unwrap();
        input.send_keys("m_7_012").await.unwrap();
        b.until(
            "search results",
            "return document.querySelectorAll('#search-results a').length > 0",
        )
        .await;
        search.extend(measures(&b, "kiln:search").await);

        // The lineage graph of one node, then a click that expands a neighbour in place.
        b.client
            .goto(&format!("{}#!/lineage/{focus}", server.1))
            .await
            .unwrap();
        b.until("the graph", "return kilnDocs.graphReady").await;
        open.extend(measures(&b, "kiln:lineage-open").await);
        let p = b
            .eval(
                "const n = kilnDocs.cy.nodes('.more').filter(n => !n.hasClass('root'))[0]; \
                 const p = n.renderedPosition(); const r = document.getElementById('graph').getBoundingClientRect(); \
                 return [r.left + p.x, r.top + p.y, n.id()];",
            )
            .await;
        let t = Instant::now();
        b.click_at(p[0].as_f64().unwrap(), p[1].as_f64().unwrap())
            .await;
        b.until(
            "the expanded graph",
            "return kilnDocs.graphReady && performance.getEntriesByName('kiln:lineage-expand').length",
        )
        .await;
        click_wall.push(t.elapsed().as_secs_f64() * 1000.0);
        click.extend(measures(&b, "kiln:lineage-expand").await);
    }
    rows.push(Row {
        figure: "page usable, first load in a new browser".into(),
        median: median(cold.clone()),
        worst: worst(&cold),
        unit: "ms",
        target: None,
    });
    rows.push(Row {
        figure: "page usable (navigation start → index loaded, page drawn)".into(),
        median: median(usable.clone()),
        worst: worst(&usable),
        unit: "ms",
        target: Some(1000.0),
    });
    rows.push(Row {
        figure: "script time to usable (DevTools ScriptDuration)".into(),
        median: median(script.clone()),
        worst: worst(&script),
        unit: "ms",
        target: None,
    });
    rows.push(Row {
        figure: format!("open the lineage of {focus} (2 up, 2 down)"),
        median: median(open.clone()),
        worst: worst(&open),
        unit: "ms",
        target: None,
    });
    rows.push(Row {
        figure: "a click in the lineage: expand a node in place (handler → painted)".into(),
        median: median(click.clone()),
        worst: worst(&click),
        unit: "ms",
        target: Some(100.0),
    });
    rows.push(Row {
        figure: "the same click seen from WebDriver (includes the driver's round trips)".into(),
        median: median(click_wall.clone()),
        worst: worst(&click_wall),
        unit: "ms",
        target: None,
    });
    rows.push(Row {
        figure: "search, per keystroke (scan and draw the results)".into(),
        median: median(search.clone()),
        worst: worst(&search),
        unit: "ms",
        target: Some(50.0),
    });

    // The whole graph, once.
    b.client
        .goto(&format!("{}#!/lineage", server.1))
        .await
        .unwrap();
    let t = Instant::now();
    let deadline = Duration::from_secs(180);
    loop {
        let ready = b.eval("return kilnDocs.graphReady === true").await;
        if ready == json!(true) || t.elapsed() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let whole = measures(&b, "kiln:lineage-whole").await;
    rows.push(Row {
        figure: format!("the whole graph ({} models and sources)", o.models),
        median: median(whole.clone()),
        worst: worst(&whole),
        unit: "ms",
        target: None,
    });
    b.client.clone().close().await.unwrap();

    let mut table = String::from("| figure | median | worst | target | |\n|---|---|---|---|---|\n");
    for r in &rows {
        let (target, met) = match r.target {
            Some(t) => (
                format!("≤ {t} {}", r.unit),
                if r.worst <= t {
                    "met"
                } else if r.median <= t {
                    "met at the median"
                } else {
                    "missed"
                },
            ),
            None => (String::new(), ""),
        };
        table.push_str(&format!(
            "| {} | {:.0} {} | {:.0} {} | {target} | {met} |\n",
            r.figure, r.median, r.unit, r.worst, r.unit
        ));
    }
    let version = Command::new(&chromium)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let report = format!(
        "Docs site, {} models, {} runs, {version}, headless, {} CPU cores.\n\n{table}",
        o.models,
        o.runs,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!("{report}");
    if let Some(out) = o.out {
        std::fs::write(out, report).unwrap();
    }
}
