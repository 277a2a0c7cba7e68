//! Finds dbt's top-level block tags in a file: `{% macro %}`, `{% test %}`, `{% materialization %}`,
//! `{% snapshot %}` and `{% docs %}`, with their names, arguments and byte ranges.
//!
//! This is a small lexer over Jinja tags, not a regex: it skips `{# comments #}` and
//! `{% raw %}…{% endraw %}` regions and understands whitespace control (`{%-`, `-%}`), so a block tag
//! inside a comment or a string in a `{{ }}` expression is not mistaken for a real one.

use crate::error::{Diagnostic, ErrorKind, Location};

/// Which kind of block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `{% macro name(args) %}`.
    Macro,
    /// `{% test name(args) %}`: a custom generic test.
    Test,
    /// `{% materialization name, adapter='x' %}`.
    Materialization,
    /// `{% snapshot name %}`.
    Snapshot,
    /// `{% docs name %}`.
    Docs,
}

impl BlockKind {
    fn keyword(self) -> &'static str {
        match self {
            BlockKind::Macro => "macro",
            BlockKind::Test => "test",
            BlockKind::Materialization => "materialization",
            BlockKind::Snapshot => "snapshot",
            BlockKind::Docs => "docs",
        }
    }

    fn from_keyword(word: &str) -> Option<BlockKind> {
        Some(match word {
            "macro" => BlockKind::Macro,
            "test" => BlockKind::Test,
            "materialization" => BlockKind::Materialization,
            "snapshot" => BlockKind::Snapshot,
            "docs" => BlockKind::Docs,
            _ => return None,
        })
    }
}

/// One top-level block found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Its kind.
    pub kind: BlockKind,
    /// Its name (`my_macro`, `orders_snapshot`).
    pub name: String,
    /// Text after the name inside the opening tag, e.g. `(model, column_name)` or `, adapter='x'`.
    pub args: String,
    /// Byte range of the whole block, from `{%` of the opening tag to `%}` of the end tag.
    pub range: std::ops::Range<usize>,
    /// Byte range of the body between the opening and closing tags.
    pub body: std::ops::Range<usize>,
    /// Byte range of the opening tag.
    pub open_tag: std::ops::Range<usize>,
    /// Byte range of the closing tag.
    pub close_tag: std::ops::Range<usize>,
    /// 0-based line of the opening tag.
    pub line: usize,
}

/// Every kind of block.
pub const ALL_KINDS: &[BlockKind] = &[
    BlockKind::Macro,
    BlockKind::Test,
    BlockKind::Materialization,
    BlockKind::Snapshot,
    BlockKind::Docs,
];

/// A `{% ... %}` tag: its byte range and the trimmed text inside.
struct Tag<'a> {
    start: usize,
    end: usize,
    inner: &'a str,
}

/// Iterates over the `{% %}` tags of `src`, skipping comments and raw blocks.
fn tags(src: &str) -> Vec<Tag<'_>> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_raw = false;
    while i + 1 < bytes.len() {
        if bytes[i] == b'{' && bytes[i + 1] == b'#' && !in_raw {
            i = match src[i + 2..].find("#}") {
                Some(p) => i + 2 + p + 2,
                None => bytes.len(),
            };
            continue;
        }
        if bytes[i] == b'{' && bytes[i + 1] == b'{' && !in_raw {
            // Skip expressions, honouring string literals that may contain `}}`.
            i = skip_expression(src, i + 2, "}}");
            continue;
        }
        if bytes[i] == b'{' && bytes[i + 1] == b'%' {
            let start = i;
            let end = skip_expression(src, i + 2, "%}");
            // An unclosed tag runs to the end of the input: there is no `%}` to cut off.
            let inner_end = if src[..end].ends_with("%}") && end >= start + 4 {
                end - 2
            } else {
                end
            };
            let inner = src[start + 2..inner_end]
                .trim_start_matches(['-', '+'])
                .trim_end_matches(['-', '+'])
                .trim();
            let word = inner.split_whitespace().next().unwrap_or("");
            if in_raw {
                if word == "endraw" {
                    in_raw = false;
                }
            } else if word == "raw" {
                in_raw = true;
            } else {
                out.push(Tag { start, end, inner });
            }
            i = end;
            continue;
        }
        i += 1;
    }
    out
}

/// Returns the index just past `close`, skipping quoted strings; the end of input if unclosed.
fn skip_expression(src: &str, mut i: usize, close: &str) -> usize {
    let bytes = src.as_bytes();
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => {
                if b == b'\'' || b == b'"' {
                    quote = Some(b);
                } else if bytes[i..].starts_with(close.as_bytes()) {
                    return i + close.len();
                }
            }
        }
        i += 1;
    }
    bytes.len()
}

/// Finds the top-level blocks of `kinds` in `src`. `file` names the file in diagnostics.
/// Unterminated or unnamed blocks are reported; nested blocks of the same kinds are not expected
/// at top level and are reported too.
pub fn find_blocks(file: &str, src: &str, kinds: &[BlockKind]) -> (Vec<Block>, Vec<Diagnostic>) {
    let mut blocks = Vec::new();
    let mut diags = Vec::new();
    let mut open: Option<(BlockKind, String, String, usize, usize)> = None;
    for tag in tags(src) {
        let mut words = tag.inner.splitn(2, char::is_whitespace);
        let word = words.next().unwrap_or("");
        let rest = words.next().unwrap_or("").trim();
        if let Some(kind) = BlockKind::from_keyword(word).filter(|k| kinds.contains(k)) {
            if let Some((open_kind, name, _, start, _)) = &open {
                diags.push(
                    Diagnostic::new(
                        ErrorKind::Template,
                        format!(
                            "`{{% {} %}}` inside {} `{}` which is not closed yet",
                            kind.keyword(),
                            open_kind.keyword(),
                            name
                        ),
                    )
                    .at(Location::at_offset(file, src, tag.start))
                    .with_hint(format!(
                        "close `{name}` with `{{% end{} %}}` first",
                        open_kind.keyword()
                    ))
                    .or_at(Location::at_offset(file, src, *start)),
                );
                continue;
            }
            let name_end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = rest[..name_end].to_string();
            if name.is_empty() {
                diags.push(
                    Diagnostic::new(
                        ErrorKind::Template,
                        format!("`{{% {} %}}` block has no name", kind.keyword()),
                    )
                    .at(Location::at_offset(file, src, tag.start))
                    .with_hint(format!("write `{{% {} my_name %}}`", kind.keyword())),
                );
                continue;
            }
            let args = rest[name_end..].trim().to_string();
            open = Some((kind, name, args, tag.start, tag.end));
        } else if let Some(kind) = word
            .strip_prefix("end")
            .and_then(BlockKind::from_keyword)
            .filter(|k| kinds.contains(k))
        {
            match open.take() {
                Some((open_kind, name, args, start, body_start)) if open_kind == kind => {
                    blocks.push(Block {
                        kind,
                        name,
                        args,
                        range: start..tag.end,
                        body: body_start..tag.start,
                        open_tag: start..body_start,
                        close_tag: tag.start..tag.end,
                        line: src[..start].matches('\n').count(),
                    });
                }
                other => {
                    diags.push(
                        Diagnostic::new(
                            ErrorKind::Template,
                            format!(
                                "`{{% end{} %}}` without a matching opening tag",
                                kind.keyword()
                            ),
                        )
                        .at(Location::at_offset(file, src, tag.start))
                        .with_hint("remove it or add the opening tag"),
                    );
                    open = other;
                }
            }
        }
    }
    if let Some((kind, name, _, start, _)) = open {
        diags.push(
            Diagnostic::new(
                ErrorKind::Template,
                format!("{} `{}` is never closed", kind.keyword(), name),
            )
            .at(Location::at_offset(file, src, start))
            .with_hint(format!(
                "add `{{% end{} %}}` after its body",
                kind.keyword()
            )),
        );
    }
    (blocks, diags)
}

/// Splits a macro argument list `(a, b=1, c='x')` into argument names.
pub fn argument_names(args: &str) -> Vec<String> {
    let inner = args.trim();
    let inner = inner
        .strip_prefix('(')
        .and_then(|s| s.rfind(')').map(|p| &s[..p]))
        .unwrap_or("");
    let mut names = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut current = String::new();
    for c in inner.chars() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                current.push(c);
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    current.push(c);
                }
                '(' | '[' | '{' => {
                    depth += 1;
                    current.push(c);
                }
                ')' | ']' | '}' => {
                    depth -= 1;
                    current.push(c);
                }
                ',' if depth == 0 => {
                    names.push(std::mem::take(&mut current));
                }
                _ => current.push(c),
            },
        }
    }
    names.push(current);
    names
        .iter()
        .map(|a| a.split('=').next().unwrap_or("").trim().to_string())
        .filter(|a| !a.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[BlockKind] = ALL_KINDS;

    #[test]
    fn finds_blocks_and_skips_comments_and_raw() {
        let src = "{# {% macro fake() %}{% endmacro %} #}\n\
                   {%- macro cents_to_dollars(column, scale=2) -%}\n  ({{ column }} / 100)::numeric(16, {{ scale }})\n{%- endmacro %}\n\
                   {% raw %}{% macro also_fake() %}{% endraw %}\n\
                   {% test is_even(model, column_name) %}select 1 {{ '%}' }}{% endtest %}\n";
        let (blocks, diags) = find_blocks("macros/m.sql", src, ALL);
        assert!(diags.is_empty(), "{diags:?}");
        let names: Vec<_> = blocks.iter().map(|b| (b.kind, b.name.as_str())).collect();
        assert_eq!(
            names,
            vec![
                (BlockKind::Macro, "cents_to_dollars"),
                (BlockKind::Test, "is_even")
            ]
        );
        assert_eq!(blocks[0].line, 1);
        assert_eq!(argument_names(&blocks[0].args), vec!["column", "scale"]);
        assert_eq!(&src[blocks[1].body.clone()], "select 1 {{ '%}' }}");
    }

    #[test]
    fn reports_unclosed_block_with_location() {
        let src = "select 1\n{% snapshot orders_snapshot %}\nselect * from x\n";
        let (blocks, diags) = find_blocks("snapshots/s.sql", src, ALL);
        assert!(blocks.is_empty());
        assert_eq!(
            diags[0].to_string(),
            "snapshots/s.sql:2:1: snapshot `orders_snapshot` is never closed (add `{% endsnapshot %}` after its body)"
        );
    }

    #[test]
    fn non_ascii_inside_or_after_tags_is_text_not_a_panic() {
        // Each of these panicked at a char boundary: an unquoted `é` inside `{{ }}`, and
        // multi-byte text after an unclosed tag.
        for src in [
            "{{ é }}\n",
            "{% é %}",
            "{% macro m() %}é{% endmacro %}{% é",
            "{%é",
            "{{ 'é' ~ é }}{% ü",
        ] {
            let _ = find_blocks("macros/m.sql", src, ALL);
        }
        let (blocks, diags) = find_blocks("macros/m.sql", "{% macro ü() %}x{% endmacro %}", ALL);
        assert_eq!(blocks[0].name, "ü");
        assert!(diags.is_empty());
        let (_, diags) = find_blocks("macros/m.sql", "{% macro m() %}\n{{ é }}\n{% endmac", ALL);
        assert_eq!(
            diags[0].to_string(),
            "macros/m.sql:1:1: macro `m` is never closed (add `{% endmacro %}` after its body)"
        );
    }

    proptest::proptest! {
        /// Whatever the text, the lexer returns blocks whose ranges cut `src` at char
        /// boundaries, and never panics.
        #[test]
        fn any_text_lexes(src in "(\\{\\{|\\{%|%\\}|\\}\\}|\\{#|#\\}|[-'\"\\\\ a-z_()é€𝄞\n]|macro |endmacro|test |raw|endraw){0,40}") {
            let (blocks, _) = find_blocks("macros/m.sql", &src, ALL);
            for b in blocks {
                proptest::prop_assert!(src.get(b.range.clone()).is_some());
                proptest::prop_assert!(src.get(b.body.clone()).is_some());
            }
        }
    }

    #[test]
    fn argument_names_handle_defaults_with_commas() {
        assert_eq!(
            argument_names("(model, values, quote=True, sep=', ', cols=['a', 'b'])"),
            vec!["model", "values", "quote", "sep", "cols"]
        );
        assert!(argument_names("()").is_empty());
    }
}
