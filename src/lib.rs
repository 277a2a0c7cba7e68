//! Kiln: a fast, dbt-compatible SQL model materializer.
//!
//! The crate is organised by stage of the data flow (see ARCHITECTURE.md):
//! [`project`] loads files into plain data, [`template`] renders Jinja, [`sql`] analyses the
//! rendered SQL, [`graph`] plans the DAG and selection, [`artifacts`] writes JSON, and [`cli`] is
//! the thin command-line glue. [`compile`] runs the pure stages in order. [`deps`] installs the
//! packages a project lists, before any of that runs.

pub mod adapter;
pub mod artifacts;
pub mod cli;
pub mod compile;
pub mod contract;
pub mod deps;
pub mod docs;
pub mod error;
pub mod exec;
#[doc(hidden)]
pub mod fuzz;
pub mod graph;
pub mod project;
pub mod sql;
pub mod template;
pub mod unit_test;

pub use error::{Diagnostic, Error, ErrorKind, Location, Result};
