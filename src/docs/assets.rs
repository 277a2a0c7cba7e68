//! The docs page and its front-end, embedded in the binary so the site needs no network.
//!
//! `vendor.js` bundles the npm libraries the page uses (see `docs/site/` for the package list
//! and `scripts/vendor-docs-assets.sh`, which rebuilds the bundle); their licences are in
//! `THIRD-PARTY-LICENSES.txt`, written next to the site. `app.js` and `app.css` are Kiln's own.

/// Files written into `target/docs/`, by name.
pub const FILES: &[(&str, &str)] = &[
    ("app.js", include_str!("assets/app.js")),
    ("app.css", include_str!("assets/app.css")),
    ("vendor.js", include_str!("assets/vendor.js")),
    (
        "THIRD-PARTY-LICENSES.txt",
        include_str!("assets/THIRD-PARTY-LICENSES.txt"),
    ),
];

fn asset(name: &str) -> &'static str {
    FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .unwrap_or("")
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Makes code safe inside a `<script>` or `<style>` element: it can never close the element.
/// `<\/` means the same as `</` in JavaScript strings and regular expressions.
fn script_safe(s: &str) -> String {
    s.replace("</script", "<\\/script")
        .replace("</style", "<\\/style")
        .replace("<!--", "<\\!--")
}

/// The page. With `inline` (the site's data as JSON), everything is inlined into one file that
/// works opened from disk; without, the page loads `docs/*` next to it.
pub fn page(project: &str, inline: Option<&str>) -> String {
    let title = format!("{} · Kiln docs", escape_html(project));
    let body = r#"<div id="app"><div id="loading">Loading…</div></div>"#;
    match inline {
        None => format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"docs/app.css\"></head>\
             <body>{body}<script src=\"docs/vendor.js\"></script>\
             <script src=\"docs/app.js\"></script></body></html>\n"
        ),
        Some(data) => format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title><link rel=\"icon\" href=\"data:,\"><style>{css}</style></head><body>{body}\
             <script>window.KILN_DOCS_DATA = {data};</script>\
             <script>{vendor}</script><script>{app}</script></body></html>\n",
            css = script_safe(asset("app.css")),
            data = data.replace('<', "\\u003c"),
            vendor = script_safe(asset("vendor.js")),
            app = script_safe(asset("app.js")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inlined_data_cannot_close_the_script() {
        let p = page(
            "a<b",
            Some(r#"{"x": "</script><script>alert(1)</script>"}"#),
        );
        assert!(p.contains("<title>a&lt;b · Kiln docs</title>"));
        assert_eq!(p.matches("</script>").count(), 3, "{p}");
        assert!(p.contains(r#"\u003c/script>\u003cscript>"#));
    }
}
