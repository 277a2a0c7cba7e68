//! Kiln's integration tests: run the `kiln` binary on fixture projects copied to temp dirs and
//! check what a user sees (files, messages, exit codes).

mod artifacts;
mod browser;
mod chrome;
mod columns;
mod compile;
mod compile_cache;
mod contracts;
mod demo;
mod deps;
mod docs;
mod errors;
mod faults;
mod hardening;
mod lenient;
mod logs;
mod newcomer;
mod packages;
mod partial_parse;
mod project_snapshot;
mod reliability;
mod run;
mod secrets;
mod select;
mod slim;
mod state;
mod support;
mod unit_tests;
mod watch;
