//! `kiln docs generate` and `kiln docs serve`.

use super::args::{DocsCommand, GlobalArgs, IndirectSelectionArg, SelectArgs};
use super::output::Output;
use super::{EXIT_OK, display_rel, parse_project, select_with_warnings};
use crate::adapter::{Adapter, CatalogTable};
use crate::artifacts;
use crate::compile::Manifest;
use crate::docs;
use crate::error::{Diagnostic, Error, ErrorKind, Result};
use crate::project::ResourceType;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

/// Runs a `kiln docs` subcommand.
pub fn cmd_docs(g: &GlobalArgs, out: &Output, command: &DocsCommand) -> Result<i32> {
    match command {
        DocsCommand::Generate {
            static_page,
            empty_catalog,
        } => generate(g, out, *static_page, *empty_catalog),
        DocsCommand::Serve { port, host, open } => serve(g, out, host, *port, *open),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::Execution,
                format!("cannot start the async runtime: {e}"),
            )
        })
}

/// The schemas holding the project's relations and its sources.
fn catalog_schemas(manifest: &Manifest) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = manifest
        .nodes
        .values()
        .filter(|mn| !mn.is_ephemeral() && mn.node.resource_type != ResourceType::Test)
        .filter_map(|mn| mn.relation.as_ref().map(|r| r.schema.clone()))
        .collect();
    out.extend(manifest.source_relations.values().map(|r| r.schema.clone()));
    out
}

fn generate(g: &GlobalArgs, out: &Output, static_page: bool, empty_catalog: bool) -> Result<i32> {
    write_docs(g, out, static_page, empty_catalog)?.release();
    Ok(EXIT_OK)
}

/// Parses and compiles the project, reads the catalog (unless `empty_catalog`) and writes the
/// site; returns the compiled manifest, which the server's selection filters read.
pub(super) fn write_docs(
    g: &GlobalArgs,
    out: &Output,
    static_page: bool,
    empty_catalog: bool,
) -> Result<Manifest> {
    let start = Instant::now();
    let mut manifest = parse_project(g, out, "generate")?;
    let schemas = catalog_schemas(&manifest);
    let rt = runtime()?;
    let mut catalog: Vec<CatalogTable> = Vec::new();
    if empty_catalog {
        super::compile_with_cache(g, out, &mut manifest, None, None)?;
    } else {
        let schema_list: Vec<String> = schemas.iter().cloned().collect();
        let adapter = rt.block_on(Adapter::connect(&manifest.target, &schema_list))?;
        // Models may query the database while compiling (run_query, statements).
        let database: Arc<dyn crate::template::Database> = {
            let _guard = rt.enter();
            Arc::new(crate::exec::database_for(adapter.clone()))
        };
        super::compile_with_cache(g, out, &mut manifest, None, Some(database))?;
        catalog = rt.block_on(async {
            let mut tables = Vec::new();
            for schema in &schemas {
                tables.extend(adapter.catalog(schema).await?);
            }
            adapter.close().await;
            Ok::<_, Error>(tables)
        })?;
    }
    // The compiled SQL goes into the manifest and the site; `kiln compile` writes it as files
    // (thousands of small files would cost more than the rest of the command).
    // The manifest and the site read the same compiled project: written side by side.
    let target = manifest.project.target_dir();
    let (manifest_written, site) = rayon::join(
        || artifacts::manifest::write_manifest(&manifest),
        || -> Result<_> {
            let catalog_path = artifacts::catalog::write_catalog(&manifest, &catalog)?;
            let last = std::fs::read_to_string(target.join("run_results.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .map(|v| docs::LastResults::from_json(&v))
                .unwrap_or_default();
            let data = docs::site_data(&manifest, &catalog, &last);
            let written = docs::write_site(&target, &data, static_page)?;
            Ok((catalog_path, data.index.nodes.len(), written))
        },
    );
    manifest_written?;
    let (catalog_path, node_count, written) = site?;
    let root = &manifest.project.root;
    if !empty_catalog {
        out.info(&format!(
            "Catalog: {} relations in {} {}; wrote {}",
            catalog.len(),
            schemas.len(),
            if schemas.len() == 1 {
                "schema"
            } else {
                "schemas"
            },
            display_rel(root, &catalog_path)
        ));
    }
    let pages: Vec<String> = written.iter().map(|p| display_rel(root, p)).collect();
    out.info(&format!(
        "Docs for {} nodes written to {} in {} ms. Serve them with `kiln docs serve`.",
        node_count,
        pages.join(" and "),
        start.elapsed().as_millis()
    ));
    Ok(manifest)
}

fn serve(g: &GlobalArgs, out: &Output, host: &str, port: u16, open: bool) -> Result<i32> {
    let manifest = Arc::new(parse_project(g, out, "serve")?);
    let site = manifest.project.target_dir();
    if !site.join("index.html").is_file() {
        return Err(Error::from(
            Diagnostic::new(
                ErrorKind::Usage,
                format!(
                    "there is no docs site in {}",
                    display_rel(&manifest.project.root, &site)
                ),
            )
            .with_hint("run `kiln docs generate` first"),
        ));
    }
    let m = manifest.clone();
    let selector = selector(move || m.clone());
    let rt = runtime()?;
    rt.block_on(async {
        let listener = docs::server::bind(host, port).await?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
        let url = format!("http://{addr}/");
        out.info(&format!(
            "Serving the docs of {} at {url} (Ctrl-C stops)",
            manifest.project.name()
        ));
        if open {
            open_browser(&url, out);
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        docs::server::serve(
            listener,
            docs::server::ServeOptions {
                site,
                selector,
                version: None,
            },
            shutdown,
        )
        .await
    })?;
    out.info("Stopped the docs server.");
    Ok(EXIT_OK)
}

/// The page's selection filters, answered with the CLI's grammar over the manifest `current`
/// returns (the one the site was written from).
pub(super) fn selector(
    current: impl Fn() -> Arc<Manifest> + Send + Sync + 'static,
) -> docs::server::Selector {
    Arc::new(move |select: &str, exclude: &str| {
        let args = SelectArgs {
            select: vec![select.to_string()],
            exclude: if exclude.trim().is_empty() {
                Vec::new()
            } else {
                vec![exclude.to_string()]
            },
            state: None,
            indirect_selection: IndirectSelectionArg::Empty,
            selector: None,
        };
        select_with_warnings(&current(), &args, &ResourceType::ALL)
            .map(|(ids, _)| ids.into_iter().collect())
            .map_err(|e| {
                e.diagnostics()
                    .iter()
                    .map(|d| match &d.hint {
                        Some(h) => format!("{}: {h}", d.message),
                        None => d.message.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
    })
}

/// Serves the site from a thread of its own until the process ends; returns its URL once it
/// listens (a port in use is an error here, before anything else starts).
pub(super) fn spawn_server(
    host: &str,
    port: u16,
    opts: docs::server::ServeOptions,
) -> Result<String> {
    let (tx, rx) = std::sync::mpsc::channel::<Result<String>>();
    let host = host.to_string();
    std::thread::spawn(move || {
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        rt.block_on(async move {
            let listener = match docs::server::bind(&host, port).await {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let url = match listener.local_addr() {
                Ok(a) => format!("http://{a}/"),
                Err(e) => {
                    let _ = tx.send(Err(Error::new(ErrorKind::Io, e.to_string())));
                    return;
                }
            };
            let _ = tx.send(Ok(url));
            let _ = docs::server::serve(listener, opts, std::future::pending()).await;
        });
    });
    rx.recv()
        .unwrap_or_else(|_| Err(Error::new(ErrorKind::Io, "the docs server did not start")))
}

/// Opens `url` in the user's browser (`$BROWSER`, else the platform's opener).
fn open_browser(url: &str, out: &Output) {
    let opener = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open".to_string()
            } else if cfg!(windows) {
                "explorer".to_string()
            } else {
                "xdg-open".to_string()
            }
        });
    let spawned = std::process::Command::new(&opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if spawned.is_err() {
        out.warning(&Diagnostic::new(
            ErrorKind::Usage,
            format!("could not open a browser with `{opener}`; open {url} yourself"),
        ));
    }
}
