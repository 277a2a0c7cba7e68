//! The docs site of the demo project, driven in headless Chromium through chromedriver as a
//! reader would use it: search, a model's page, the lineage graph (expand, filter), a column's
//! lineage and the run timeline. Skipped where Chromium or chromedriver is missing (`.ci/run`
//! installs both). Screenshots of each view go to `target/docs-screenshots/`, and into
//! `docs/images/` for the README when `KILN_WRITE_SCREENSHOTS=1`.

use crate::docs::Server;
use crate::support::TempProject;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A path from the environment, else the first of `candidates` that exists or is on PATH.
fn program(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() && p.is_file() {
            return Some(p.to_path_buf());
        }
        for dir in std::env::split_paths(&path) {
            if dir.join(c).is_file() {
                return Some(dir.join(c));
            }
        }
    }
    None
}

/// Chromium and chromedriver, or None (the test reports itself skipped).
pub fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = program(
        "KILN_TEST_CHROMIUM",
        &[
            "/usr/bin/chromium",
            "chromium",
            "chromium-browser",
            "google-chrome",
        ],
    );
    let driver = program(
        "KILN_TEST_CHROMEDRIVER",
        &["/usr/bin/chromedriver", "chromedriver"],
    );
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            eprintln!(
                "skipped: install chromium and chromedriver (or set KILN_TEST_CHROMIUM and KILN_TEST_CHROMEDRIVER) to run the browser tests"
            );
            None
        }
    }
}

/// A chromedriver process and a WebDriver session in headless Chromium.
pub struct Browser {
    driver: Child,
    _profile: tempfile::TempDir,
    /// The session.
    pub client: Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session, `width`×`height`.
    pub async fn start(chromium: &Path, chromedriver: &Path, width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                ]
            }
        });
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let mut builder =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(caps.as_object().unwrap().clone());
            match builder.connect(&url).await {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!("cannot start Chromium: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Browser {
            driver,
            _profile: profile,
            client,
        }
    }

    /// Evaluates `script` (a function body; `return` gives the value).
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// Waits until `script` returns a truthy value, and returns it.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self
                .client
                .execute(script, vec![])
                .await
                .unwrap_or(Value::Null);
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            if Instant::now() > deadline {
                let body = self
                    .eval("return document.body.innerText.slice(0, 2000)")
                    .await;
                panic!("timed out waiting for {what}; the page reads:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks at a point of the viewport (for nodes drawn on a canvas).
    pub async fn click_at(&self, x: f64, y: f64) {
        let m = MouseActions::new("mouse".into())
            .then(PointerAction::MoveTo {
                duration: None,
                x,
                y,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        self.client.perform_actions(m).await.unwrap();
    }

    /// Saves a screenshot of the viewport.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/docs-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), &png).unwrap();
        if std::env::var("KILN_WRITE_SCREENSHOTS").is_ok_and(|v| v == "1") {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(name), &png).unwrap();
        }
    }
}

/// The viewport position of a lineage node drawn on the canvas.
async fn node_point(b: &Browser, id: &str) -> (f64, f64) {
    let v = b
        .eval(&format!(
            "const n = kilnDocs.cy.$id({id:?}); const p = n.renderedPosition(); \
             const r = document.getElementById('graph').getBoundingClientRect(); \
             return [r.left + p.x, r.top + p.y];"
        ))
        .await;
    (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
}

async fn graph_ids(b: &Browser) -> Vec<String> {
    let v = b
        .eval("return kilnDocs.cy.nodes().map(n => n.id()).sort()")
        .await;
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_site_of_the_demo_works_in_chromium() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let p = TempProject::demo_on(crate::support::Backend::Sqlite);
    p.kiln(&["build"]).ok();
    p.kiln(&["docs", "generate"]).ok();
    let server = Server::start(&p);
    let b = Browser::start(&chromium, &chromedriver, 1400, 860).await;
    b.client
        .goto(&format!("http://{}/", server.addr))
        .await
        .unwrap();
    b.until(
        "the page",
        "return document.querySelector('#search') !== null",
    )
    .await;

    // Search for a model and open its page.
    let search = b.client.find(Locator::Css("#search")).await.unwrap();
    search.send_keys("weekly_active").await.unwrap();
    b.until(
        "search results",
        "return document.querySelectorAll('#search-results a').length >= 2",
    )
    .await;
    let first = b
        .eval("return [...document.querySelectorAll('#search-results a')].map(a => a.dataset.id)")
        .await;
    assert_eq!(first[0], "model.kiln_demo.weekly_active_users", "{first}");
    b.client
        .find(Locator::Css(
            "#search-results a[data-id='model.kiln_demo.weekly_active_users']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.until(
        "the model's page",
        "return document.querySelector(\"[data-node='model.kiln_demo.weekly_active_users']\")",
    )
    .await;
    let title = b
        .eval("return document.querySelector('h1').innerText")
        .await;
    assert!(
        title.as_str().unwrap().starts_with("weekly_active_users"),
        "{title}"
    );
    let page = b
        .eval("return document.querySelector('.page').innerText")
        .await;
    let page = page.as_str().unwrap();
    assert!(
        page.contains("Users with at least one event, per week."),
        "{page}"
    );

    // Its columns and their tests, with the last status.
    let columns = b
        .eval(
            "return [...document.querySelectorAll('table.columns tbody tr')].map(r => \
             [...r.children].map(c => c.innerText.trim()))",
        )
        .await;
    let rows: Vec<Vec<String>> = serde_json::from_value(columns).unwrap();
    let week = rows
        .iter()
        .find(|r| r[0] == "week_start")
        .expect("week_start row");
    assert_eq!(week[3], "unique pass", "{rows:?}");
    assert!(rows.iter().any(|r| r[0] == "active_users"), "{rows:?}");
    b.client
        .find(Locator::Css("button[data-tab='compiled']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let code = b
        .eval("return document.querySelector('pre.code').innerText")
        .await;
    assert!(
        code.as_str()
            .unwrap()
            .contains("\"main\".\"events_weekly\""),
        "{code}"
    );

    // The lineage graph opens on the neighbourhood: two levels up, none down.
    b.client
        .find(Locator::LinkText("Lineage graph"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.until("the lineage graph", "return kilnDocs.graphReady")
        .await;
    assert_eq!(
        graph_ids(&b).await,
        [
            "model.kiln_demo.events_weekly",
            "model.kiln_demo.stg_events",
            "model.kiln_demo.weekly_active_users"
        ]
    );
    // Clicking stg_events on the canvas expands it in place: its source comes in.
    let (x, y) = node_point(&b, "model.kiln_demo.stg_events").await;
    b.click_at(x, y).await;
    b.until(
        "the expanded node",
        "return kilnDocs.graphReady && kilnDocs.cy.$id('source.kiln_demo.events_raw.raw_events').nonempty()",
    )
    .await;
    assert_eq!(
        graph_ids(&b).await,
        [
            "model.kiln_demo.events_weekly",
            "model.kiln_demo.stg_events",
            "model.kiln_demo.weekly_active_users",
            "source.kiln_demo.events_raw.raw_events"
        ]
    );
    let side = b
        .eval("return document.querySelector('.graph-side h3').innerText")
        .await;
    assert!(side.as_str().unwrap().starts_with("stg_events"), "{side}");
    b.screenshot("lineage.png").await;

    // A selector filters the graph with the CLI's grammar.
    let filter = b.client.find(Locator::Css("#selector")).await.unwrap();
    filter.send_keys("+weekly_active_users").await.unwrap();
    b.client
        .find(Locator::Css(".graph-bar button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.until(
        "the selection",
        "return kilnDocs.graphReady && document.querySelector('.graph-bar .msg').innerText.includes('match')",
    )
    .await;
    assert_eq!(
        graph_ids(&b).await,
        [
            "model.kiln_demo.events_weekly",
            "model.kiln_demo.stg_events",
            "model.kiln_demo.weekly_active_users",
            "seed.kiln_demo.raw_events",
            "source.kiln_demo.events_raw.raw_events"
        ]
    );

    // The column lineage of events_weekly.week_start reaches the raw payload, two models up.
    b.client
        .goto(&format!(
            "http://{}/#!/node/model.kiln_demo.events_weekly",
            server.addr
        ))
        .await
        .unwrap();
    b.until(
        "the page",
        "return document.querySelector(\"tr[data-column='week_start'] a.trace\")",
    )
    .await;
    b.client
        .find(Locator::Css("tr[data-column='week_start'] a.trace"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let upstream = b
        .until(
            "the upstream columns",
            "const l = [...document.querySelectorAll('.upstream li')].map(li => li.textContent); return l.length ? l : null",
        )
        .await;
    let upstream: Vec<String> = serde_json::from_value(upstream).unwrap();
    assert_eq!(
        upstream,
        [
            "stg_events.event_time expression",
            "events_raw.raw_events.payload expression"
        ]
    );
    b.screenshot("column-lineage.png").await;

    // The run timeline of the build.
    b.client
        .find(Locator::LinkText("Run timeline"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.until(
        "the timeline",
        "return document.querySelectorAll('#timeline rect.bar').length",
    )
    .await;
    let bars = b
        .eval("return document.querySelectorAll('#timeline rect.bar').length")
        .await;
    assert_eq!(bars, 58, "one bar per node of the build");
    let critical = b
        .eval("return [...document.querySelectorAll('.critical-path li')].map(li => li.innerText)")
        .await;
    let critical: Vec<String> = serde_json::from_value(critical).unwrap();
    assert!(critical.len() >= 2, "{critical:?}");
    let outlined = b
        .eval("return document.querySelectorAll('#timeline rect.bar.critical').length")
        .await;
    assert_eq!(outlined, json!(critical.len()));
    let held = b
        .eval("return document.querySelectorAll('table.held-back tbody tr').length")
        .await;
    assert_eq!(held, json!(critical.len()));
    b.screenshot("timeline.png").await;

    // Nothing the page did raised an error.
    let errors = b.eval("return kilnDocs.errors").await;
    assert_eq!(errors, json!([]));
    b.client.clone().close().await.unwrap();
}
