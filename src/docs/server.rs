//! `kiln docs serve`: an HTTP server (axum) for the generated site, loopback by default.
//!
//! Only the site's own files are served: [`site_path`] maps a request path to one of them or
//! to nothing (404), whatever `..`, encodings or separators it holds. Selection filters in the
//! page are answered by `/api/select` with the CLI's own selection grammar, so the page and
//! `kiln ls -s` can never disagree.

use crate::error::{Diagnostic, Error, ErrorKind, Result};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Answers a selection: `(select, exclude)` → unique_ids, or an error to show.
pub type Selector =
    Arc<dyn Fn(&str, &str) -> std::result::Result<Vec<String>, String> + Send + Sync>;

/// What the server needs.
pub struct ServeOptions {
    /// The target path holding `index.html` and `docs/`.
    pub site: PathBuf,
    /// The selection grammar.
    pub selector: Selector,
    /// How many times the site was rebuilt (`kiln watch --docs`), answered at `/api/version`
    /// so the page reloads after each rebuild; None for a site that does not change.
    pub version: Option<Arc<AtomicU64>>,
}

/// Files of the site at the top of the target path.
const TOP_FILES: &[&str] = &[
    "index.html",
    "manifest.json",
    "catalog.json",
    "run_results.json",
    "sources.json",
];

/// Percent-decodes a path; None when an escape is malformed or the result is not UTF-8.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = path.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The site file a request path names, relative to the target path; None (404) for anything
/// else. Decodes once: a decoded path that still holds `%`, `..`, a backslash or a control
/// character names nothing.
pub fn site_path(request_path: &str) -> Option<String> {
    let decoded = percent_decode(request_path)?;
    let rel = decoded.strip_prefix('/').unwrap_or(&decoded);
    if rel.is_empty() {
        return Some("index.html".to_string());
    }
    let safe_name = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.as_slice() {
        [name] if TOP_FILES.contains(name) || *name == "static_index.html" => {
            Some(name.to_string())
        }
        ["docs", name] if safe_name(name) => Some(format!("docs/{name}")),
        _ => None,
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        _ => "text/plain; charset=utf-8",
    }
}

struct Shared {
    site: PathBuf,
    selector: Selector,
    version: Option<Arc<AtomicU64>>,
}

async fn version(State(s): State<Arc<Shared>>) -> Response {
    match &s.version {
        Some(v) => {
            axum::Json(serde_json::json!({ "version": v.load(Ordering::SeqCst) })).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn file(State(s): State<Arc<Shared>>, uri: Uri) -> Response {
    let Some(rel) = site_path(uri.path()) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    match tokio::fs::read(s.site.join(&rel)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type(&rel)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn select(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let select = q.get("select").map(String::as_str).unwrap_or("");
    let exclude = q.get("exclude").map(String::as_str).unwrap_or("");
    let selector = s.selector.clone();
    let (select, exclude) = (select.to_string(), exclude.to_string());
    let result = tokio::task::spawn_blocking(move || selector(&select, &exclude)).await;
    match result {
        Ok(Ok(ids)) => axum::Json(serde_json::json!({ "selected": ids })).into_response(),
        Ok(Err(message)) => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({ "error": message })),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// The router: `/api/select`, `/api/version`, then the site's files.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/select", get(select))
        .route("/api/version", get(version))
        .fallback(get(file))
        .with_state(shared)
}

/// Binds the address; a port in use is a clear error.
pub async fn bind(host: &str, port: u16) -> Result<tokio::net::TcpListener> {
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .or_else(|_| {
            std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
                .ok()
                .and_then(|mut a| a.next())
                .ok_or(())
        })
        .map_err(|_| {
            Error::from(
                Diagnostic::new(ErrorKind::Usage, format!("--host {host} is not an address"))
                    .with_hint("use an IP address such as 127.0.0.1, or a host name"),
            )
        })?;
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "another program is listening there; stop it, or pick a free port with --port {}",
                port.wrapping_add(1)
            )
        } else {
            "check the --host and --port values".to_string()
        };
        let what = if e.kind() == std::io::ErrorKind::AddrInUse {
            format!("port {port} on {host} is already in use")
        } else {
            format!("cannot listen on {host}:{port}: {e}")
        };
        Error::from(Diagnostic::new(ErrorKind::Usage, what).with_hint(hint))
    })
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let shared = Arc::new(Shared {
        site: opts.site,
        selector: opts.selector,
        version: opts.version,
    });
    axum::serve(listener, router(shared))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("the docs server stopped: {e}")))
}

#[cfg(test)]
mod tests {
    use super::site_path;

    #[test]
    fn only_the_sites_files_are_served() {
        assert_eq!(site_path("/").as_deref(), Some("index.html"));
        assert_eq!(site_path("/index.html").as_deref(), Some("index.html"));
        assert_eq!(
            site_path("/manifest.json").as_deref(),
            Some("manifest.json")
        );
        assert_eq!(site_path("/docs/app.js").as_deref(), Some("docs/app.js"));
        assert_eq!(
            site_path("/docs/details-3.json").as_deref(),
            Some("docs/details-3.json")
        );
        assert_eq!(site_path("/docs/app%2Ejs").as_deref(), Some("docs/app.js"));
        for bad in [
            "/../etc/passwd",
            "/docs/../../etc/passwd",
            "/docs/..",
            "/docs/%2e%2e/%2e%2e/etc/passwd",
            "/%2e%2e/secret",
            "/docs/%2E%2E%2Fprofiles.yml",
            "/docs/%252e%252e/x",
            "/docs/..%5cprofiles.yml",
            "/docs\\..\\profiles.yml",
            "/docs/.hidden",
            "/docs/a/b.json",
            "/profiles.yml",
            "/compiled/p/models/a.sql",
            "/docs/%00.json",
            "/docs/%zz",
            "/docs/%c0%ae%c0%ae",
            "//etc/passwd",
            "/index.html/..",
        ] {
            assert_eq!(site_path(bad), None, "{bad}");
        }
    }
}
