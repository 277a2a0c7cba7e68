//! Micro-benchmarks of the hot paths the profiles of `bench/run.py` found: the parse-time render
//! of every model, compiling (the second render and the SQL analysis), the analysis alone,
//! selection and scheduling. They run on a project from `bench/gen_project.py`, so they
//! measure the same shape of project as the runner.
//!
//! ```sh
//! cargo bench --bench hot_paths              # every benchmark
//! cargo bench --bench hot_paths -- select    # the ones whose name holds "select"
//! KILN_BENCH_MODELS=10000 cargo bench --bench hot_paths
//! ```
//! Needs python3. On a noisy machine, compare runs of the same build rather than single
//! figures; criterion reports the change against the last run it saved.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kiln::compile::{self, Manifest, ParseOptions};
use kiln::graph::{IndirectSelection, Schedule, SelectOptions, Selection, select};
use kiln::project::profiles::Target;
use kiln::project::{self, LoadOptions, Project, ResourceType};
use kiln::sql::{self, Dialect};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

struct Fixture {
    _dir: tempfile::TempDir,
    project: Project,
    target: Target,
}

impl Fixture {
    /// A generated project of `KILN_BENCH_MODELS` models (2,000 by default), loaded.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let models = std::env::var("KILN_BENCH_MODELS").unwrap_or_else(|_| "2000".into());
        let generator = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gen_project.py");
        let status = Command::new("python3")
            .arg(&generator)
            .arg(dir.path())
            .args(["--models", &models, "--seed-rows", "10", "--tested", "0.25"])
            .status()
            .expect("python3 runs bench/gen_project.py");
        assert!(status.success(), "bench/gen_project.py failed");
        let no_env = |_: &str| None;
        let project = project::load(&LoadOptions {
            project_dir: dir.path(),
            cli_vars: Default::default(),
            env: &no_env,
        })
        .expect("the generated project loads");
        let target = Target::embedded_default(dir.path(), "bench");
        Fixture {
            _dir: dir,
            project,
            target,
        }
    }

    fn parse(&self) -> Manifest {
        compile::parse(self.project.clone(), self.target.clone(), &options()).expect("parses")
    }

    fn compiled(&self) -> Manifest {
        let mut manifest = self.parse();
        compile::compile(&mut manifest, None, None, None).expect("compiles");
        manifest
    }
}

fn options() -> ParseOptions<'static> {
    ParseOptions {
        env: Arc::new(|_: &str| None),
        invocation: Default::default(),
        cache: None,
    }
}

fn rendering(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("render");
    group.sample_size(10);
    group.bench_function("parse every model", |b| {
        b.iter_batched(
            || (f.project.clone(), f.target.clone()),
            |(project, target)| compile::parse(project, target, &options()).expect("parses"),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("compile every model", |b| {
        b.iter_batched(
            || f.parse(),
            |mut manifest| {
                compile::compile(&mut manifest, None, None, None).expect("compiles");
                manifest
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn analysis(c: &mut Criterion, f: &Fixture) {
    let manifest = f.compiled();
    let sqls: Vec<String> = manifest
        .nodes
        .values()
        .filter(|mn| mn.node.resource_type == ResourceType::Model)
        .filter_map(|mn| mn.compiled_sql.clone())
        .collect();
    let longest = sqls
        .iter()
        .max_by_key(|s| s.len())
        .cloned()
        .unwrap_or_default();
    let dialect = Dialect::Sqlite;
    let mut group = c.benchmark_group("analyse");
    group.bench_function("the longest model", |b| {
        b.iter(|| sql::analyse(&longest, dialect, &|_| None).expect("analyses"))
    });
    group.sample_size(10);
    group.bench_function("every model", |b| {
        b.iter(|| {
            sqls.iter()
                .map(|s| sql::analyse(s, dialect, &|_| None).map_or(0, |a| a.relations.len()))
                .sum::<usize>()
        })
    });
    group.finish();
}

fn selection(c: &mut Criterion, f: &Fixture) {
    let manifest = f.parse();
    let first = manifest
        .dag()
        .topo_order(None)
        .into_iter()
        .find(|id| id.starts_with("model."))
        .expect("a model");
    let name = first.rsplit('.').next().unwrap_or_default().to_string();
    let types = [ResourceType::Model, ResourceType::Test];
    let mut group = c.benchmark_group("select");
    for expr in [
        format!("{name}+"),
        "tag:nightly".to_string(),
        "*".to_string(),
    ] {
        let selection = Selection::parse(std::slice::from_ref(&expr)).expect("parses");
        group.bench_function(&expr, |b| {
            b.iter(|| {
                select(
                    manifest.dag(),
                    &SelectOptions {
                        select: Some(&selection),
                        exclude: None,
                        expr: None,
                        resource_types: &types,
                        state: None,
                        previous_results: None,
                        indirect_selection: IndirectSelection::Eager,
                    },
                )
                .expect("selects")
                .selected
                .len()
            })
        });
    }
    group.finish();
}

fn scheduling(c: &mut Criterion, f: &Fixture) {
    let manifest = f.parse();
    let nodes = manifest.dag().topo_order(None);
    let parents: HashMap<String, BTreeSet<String>> = nodes
        .iter()
        .map(|id| {
            let ps = manifest
                .dag()
                .parents(id)
                .into_iter()
                .map(String::from)
                .collect();
            (id.clone(), ps)
        })
        .collect();
    let mut group = c.benchmark_group("schedule");
    group.bench_function("every node in order", |b| {
        b.iter(|| {
            // One worker: each node finishes before the next starts, the longest ready queue.
            let mut schedule = Schedule::new(&nodes, &parents);
            let mut started = 0;
            while let Some(id) = schedule.next_ready() {
                started += 1;
                for child in schedule.children(&id) {
                    schedule.release(&child);
                }
            }
            assert_eq!(started, nodes.len());
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let fixture = Fixture::new();
    rendering(c, &fixture);
    analysis(c, &fixture);
    selection(c, &fixture);
    scheduling(c, &fixture);
}

criterion_group!(hot_paths, benches);
criterion_main!(hot_paths);
