//! Kiln's built-in macro library: generic tests and cross-database macros, written in Jinja and
//! compiled into the binary. Project macros of the same name override them.

use crate::project::Macro;
use crate::project::blocks::{BlockKind, argument_names, find_blocks};

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

/// The built-in macros, parsed once per process.
pub(crate) fn macros() -> &'static [Macro] {
    static MACROS: std::sync::OnceLock<Vec<Macro>> = std::sync::OnceLock::new();
    MACROS.get_or_init(|| {
        let mut out = Vec::new();
        for (file, text) in FILES {
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
        out
    })
}

/// The text of the built-in macro file `name` (for error messages).
pub(crate) fn file_text(name: &str) -> Option<&'static str> {
    FILES
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, text)| *text)
}
