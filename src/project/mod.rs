//! Loading: project file, profiles, file discovery and properties YAML into plain data.

pub mod config;
pub mod types;

pub use config::Config;
pub use types::*;
