//! The docs site of the demo project, driven in headless Chromium through chromedriver as a
//! reader would use it: search, a model's page, the lineage graph (expand, filter), a column's
//! lineage and the run timeline. Skipped where Chromium or chromedriver is missing (`.ci/run`
//! installs both). Screenshots of each view go to `target/docs-screenshots/`, and into
//! `docs/images/` for the README when `KILN_WRITE_SCREENSHOTS=1`.

use crate::chrome::{Browser, browser};
use crate::docs::Server;
use crate::support::TempProject;
use fantoccini::Locator;
use serde_json::json;

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

    // The column lineage of members_latest.date_of_birth: through the union of both clients'
    // staging models to each client's raw column, one of them converted from US dates.
    b.client
        .goto(&format!(
            "http://{}/#!/node/model.kiln_demo.members_latest",
            server.addr
        ))
        .await
        .unwrap();
    let trace = "tr[data-column='date_of_birth'] a.trace";
    b.until(
        "the page",
        &format!("return document.querySelector({trace:?})"),
    )
    .await;
    b.client
        .find(Locator::Css(trace))
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
            "members_clean.date_of_birth passthrough",
            "stg_client_a_members.date_of_birth passthrough",
            "stg_client_b_registrations.date_of_birth passthrough",
            "claims_raw.client_a_members.member_dob expression",
            "claims_raw.client_b_registrations.date_of_birth passthrough",
        ]
    );
    b.until(
        "the column graph",
        "return kilnDocs.cy && kilnDocs.cy.edges().length === 5",
    )
    .await;
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
    let results: serde_json::Value =
        serde_json::from_str(&p.read("target/kiln/run_results.json")).unwrap();
    let built = results["results"].as_array().unwrap().len();
    assert!(built > 50, "{built}");
    assert_eq!(bars, built, "one bar per node of the build");
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

    // The one-file site works opened from disk: no server, no other file.
    p.kiln(&["docs", "generate", "--static"]).ok();
    let page = p.root.join("target/kiln/static_index.html");
    let alone = tempfile::tempdir().unwrap();
    std::fs::copy(&page, alone.path().join("docs.html")).unwrap();
    b.client
        .goto(&format!(
            "file://{}#!/node/model.kiln_demo.members_latest",
            alone.path().join("docs.html").display()
        ))
        .await
        .unwrap();
    b.until(
        "the page from disk",
        "return document.querySelector(\"[data-node='model.kiln_demo.members_latest']\")",
    )
    .await;
    let search = b.client.find(Locator::Css("#search")).await.unwrap();
    search.send_keys("date_of_birth").await.unwrap();
    let hits = b
        .until(
            "search from disk",
            "const l = [...document.querySelectorAll('#search-results a')].map(a => a.dataset.id); return l.length ? l : null",
        )
        .await;
    assert!(
        hits.as_array()
            .unwrap()
            .contains(&json!("model.kiln_demo.members_latest")),
        "{hits}"
    );
    b.client
        .goto(&format!(
            "file://{}#!/lineage/model.kiln_demo.members_latest",
            alone.path().join("docs.html").display()
        ))
        .await
        .unwrap();
    b.until("the graph from disk", "return kilnDocs.graphReady")
        .await;
    let errors = b.eval("return kilnDocs.errors").await;
    assert_eq!(errors, json!([]));
    b.client.clone().close().await.unwrap();
}

/// Under `kiln watch --docs` an open page reloads itself after a save rebuilt the site, and
/// shows the edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_served_by_a_watch_reloads_after_an_edit() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let p = TempProject::with_files_on(
        &[
            ("dbt_project.yml", "name: w\nprofile: w\n"),
            ("models/a.sql", "select 1 as x"),
            (
                "models/a.yml",
                "models:\n  - name: a\n    description: The first version.\n",
            ),
        ],
        crate::support::Backend::Sqlite,
    );
    let mut child = p.spawn(&["watch", "--docs", "--port", "0"]);
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = std::io::BufRead::lines(stdout).map_while(Result::ok);
    let addr = lines
        .find_map(|l| crate::support::served_addr(&l))
        .expect("the watch serves the docs");
    // Keep draining its output so the watch never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let b = Browser::start(&chromium, &chromedriver, 1000, 700).await;
    b.client
        .goto(&format!("http://{addr}/#!/node/model.w.a"))
        .await
        .unwrap();
    b.until(
        "the first version",
        "return document.body.innerText.includes('The first version.')",
    )
    .await;
    b.eval("window.notReloaded = true; return 1").await;
    p.write(
        "models/a.yml",
        "models:\n  - name: a\n    description: The second version.\n",
    );
    b.until(
        "the reloaded page",
        "return window.notReloaded === undefined && document.body.innerText.includes('The second version.')",
    )
    .await;
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
