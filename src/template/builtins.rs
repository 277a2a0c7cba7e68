//! Kiln's built-in macro library: generic tests and cross-database macros, written in Jinja and
//! compiled into the binary. Project macros of the same name override them.

use crate::project::Macro;
use crate::project::blocks::{BlockKind, argument_names, find_blocks};
use std::collections::BTreeMap;

/// Package name the built-ins are registered under.
pub const PACKAGE: &str = "dbt";

/// (virtual file name, text) of each built-in macro file.
const FILES: &[(&str, &str)] = &[
    (
        "<kiln>/generic_tests.sql",
        include_str!("builtins/generic_tests.sql"),
    ),
    ("<kiln>/cross_db.sql", include_str!("builtins/cross_db.sql")),
    (
        "<kiln>/dbt_globals.sql",
        include_str!("builtins/dbt_globals.sql"),
    ),
];

/// The built-in macros, and their files' text (for error messages).
pub(crate) fn macros() -> (Vec<Macro>, BTreeMap<String, String>) {
    let mut out = Vec::new();
    let mut files = BTreeMap::new();
    for (file, text) in FILES {
        files.insert((*file).to_string(), (*text).to_string());
        let (blocks, diags) = find_blocks(file, text, &[BlockKind::Macro]);
        debug_assert!(diags.is_empty(), "built-in macros must parse: {diags:?}");
        for b in blocks {
            out.push(Macro {
                unique_id: format!("macro.{PACKAGE}.{}", b.name),
                package_name: PACKAGE.to_string(),
                name: b.name.clone(),
                original_file_path: (*file).to_string(),
                macro_sql: text[b.range.clone()].to_string(),
                template_sql: text[b.range.clone()].to_string(),
                line_offset: b.line,
                arguments: argument_names(&b.args),
                description: String::new(),
                documented_arguments: Vec::new(),
                patch_path: None,
            });
        }
    }
    (out, files)
}
