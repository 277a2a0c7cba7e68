//! Compiling templates for Kiln: minijinja's parser and code generator, then one rewrite of the
//! bytecode so that list and dict displays build Python-like *mutable* objects
//! ([`super::values`]), as dbt's Jinja (Python) does.
//!
//! minijinja builds `[a, b]` and `{k: v}` as immutable values, and folds constant ones (`[]`,
//! `{}`, `['a', 'b']`) into a single value shared by every render. The rewrite is made on the
//! compiled instructions, not on template text, so it cannot change what a template means:
//! - `BuildList(n)` becomes a call of `__kiln_list` with the same n operands;
//! - `BuildMap(n)` becomes a call of `__kiln_dict` with the same 2n operands;
//! - a constant list or dict is followed by a call of `__kiln_copy`, which makes a fresh deep
//!   copy on every evaluation; jump targets after it shift by one.
//!
//! This uses minijinja's `unstable_machinery` API, so the crate is pinned to an exact version in
//! Cargo.toml; the unit tests below fail if its bytecode changes shape.

use minijinja::machinery::{
    CompiledTemplate, Instruction, Instructions, TemplateConfig, WhitespaceConfig,
};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Value, ValueKind};
use minijinja::{AutoEscape, Error};
use std::sync::Arc;

/// Function names the rewritten bytecode calls (registered by [`super::functions`]).
pub const LIST_FN: &str = "__kiln_list";
/// See [`LIST_FN`].
pub const DICT_FN: &str = "__kiln_dict";
/// See [`LIST_FN`].
pub const COPY_FN: &str = "__kiln_copy";

/// A template compiled once and kept for the life of the process.
pub type Compiled = Arc<CompiledTemplate<'static>>;

fn config() -> TemplateConfig {
    TemplateConfig {
        syntax_config: SyntaxConfig,
        ws_config: WhitespaceConfig::default(),
        default_auto_escape: Arc::new(|_: &str| AutoEscape::None),
    }
}

/// A template's name and text, kept for the life of the process: compiled instructions borrow
/// them for the environment's `'static` lifetime. Each is made once per template and renderer
/// (a node's when the node is first rendered, again only if its code changed), so this is
/// bounded by the project's size however often it is compiled.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    name: &'static str,
    text: &'static str,
}

impl Source {
    /// Keeps `name` and `text` for the life of the process.
    pub fn new(name: &str, text: &str) -> Source {
        Source {
            name: Box::leak(name.to_string().into_boxed_str()),
            text: Box::leak(text.to_string().into_boxed_str()),
        }
    }

    /// The template's text.
    pub fn text(&self) -> &'static str {
        self.text
    }
}

/// Compiles `source` (named `name` in errors) and rewrites it for mutable lists and dicts.
/// Name and source are kept for the life of the process (see [`Source`]): callers compile each
/// distinct text once.
pub fn compile(name: &str, source: &str) -> Result<Compiled, Error> {
    compile_source(&Source::new(name, source))
}

/// Compiles a kept template source (see [`compile`]).
pub fn compile_source(source: &Source) -> Result<Compiled, Error> {
    let (name, source) = (source.name, source.text);
    let mut t = CompiledTemplate::new(name, source, &config())?;
    if needs_rewrite(&t.instructions) {
        t.instructions = rewrite(&t.instructions);
    }
    let names: Vec<&'static str> = t.blocks.keys().copied().collect();
    for block in names {
        if let Some(instrs) = t.blocks.get(block)
            && needs_rewrite(instrs)
        {
            let new = rewrite(instrs);
            t.blocks.insert(block, new);
        }
    }
    Ok(Arc::new(t))
}

/// Whether [`rewrite`] would change anything: most model templates build no list or dict, and
/// are kept as compiled.
fn needs_rewrite(instrs: &Instructions<'static>) -> bool {
    (0..instrs.len() as u32).any(|i| match instrs.get(i) {
        Some(Instruction::LoadConst(v)) => is_mutable_const(v),
        Some(Instruction::BuildList(_) | Instruction::BuildMap(_)) => true,
        _ => false,
    })
}

fn is_mutable_const(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::Seq | ValueKind::Map) && !v.is_kwargs()
}

/// Rewrites one instruction stream (see the module docs).
fn rewrite(old: &Instructions<'static>) -> Instructions<'static> {
    let n = old.len();
    // Which constants get a copy: list/dict constants, except the argument-name list that
    // precedes `BuildMacro` (the VM reads it, no template does).
    let copies: Vec<bool> = (0..n)
        .map(|i| match old.get(i as u32) {
            Some(Instruction::LoadConst(v)) => {
                is_mutable_const(v)
                    && !matches!(old.get(i as u32 + 1), Some(Instruction::BuildMacro(..)))
            }
            _ => false,
        })
        .collect();
    let mut new_index = Vec::with_capacity(n + 1);
    let mut shift = 0u32;
    for (i, copy) in copies.iter().enumerate() {
        new_index.push(i as u32 + shift);
        if *copy {
            shift += 1;
        }
    }
    new_index.push(n as u32 + shift);
    let at = |t: u32| new_index.get(t as usize).copied().unwrap_or(t + shift);

    let mut out = Instructions::new(old.name(), old.source());
    for i in 0..n as u32 {
        let Some(instr) = old.get(i) else { break };
        let instr = match instr.clone() {
            Instruction::Jump(t) => Instruction::Jump(at(t)),
            Instruction::JumpIfFalse(t) => Instruction::JumpIfFalse(at(t)),
            Instruction::JumpIfFalseOrPop(t) => Instruction::JumpIfFalseOrPop(at(t)),
            Instruction::JumpIfTrueOrPop(t) => Instruction::JumpIfTrueOrPop(at(t)),
            Instruction::Iterate(t) => Instruction::Iterate(at(t)),
            Instruction::BuildMacro(name, t, flags) => Instruction::BuildMacro(name, at(t), flags),
            Instruction::BuildList(Some(k)) if k <= u16::MAX as usize => {
                Instruction::CallFunction(LIST_FN, Some(k as u16))
            }
            Instruction::BuildMap(k) if 2 * k <= u16::MAX as usize => {
                Instruction::CallFunction(DICT_FN, Some((2 * k) as u16))
            }
            other => other,
        };
        push(&mut out, old, i, instr);
        if copies[i as usize] {
            push(
                &mut out,
                old,
                i,
                Instruction::CallFunction(COPY_FN, Some(1)),
            );
        }
    }
    out
}

/// Adds `instr` with the span (or at least the line) of old instruction `i`.
fn push(
    out: &mut Instructions<'static>,
    old: &Instructions<'static>,
    i: u32,
    instr: Instruction<'static>,
) {
    match (old.get_span(i), old.get_line(i)) {
        (Some(span), _) => {
            out.add_with_span(instr, span);
        }
        (None, Some(line)) => {
            out.add_with_line(instr, u16::try_from(line).unwrap_or(u16::MAX));
        }
        (None, None) => {
            out.add(instr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::values;
    use minijinja::Environment;
    use minijinja::value::Rest;

    fn env() -> Environment<'static> {
        let mut env = Environment::new();
        env.add_function(LIST_FN, |args: Rest<Value>| values::new_list(&args));
        env.add_function(DICT_FN, |args: Rest<Value>| values::new_dict(&args));
        env.add_function(COPY_FN, |v: Value| values::fresh_copy(&v));
        env.set_unknown_method_callback(values::unknown_method);
        env
    }

    fn render(env: &Environment<'static>, c: &Compiled) -> String {
        let mut out = String::new();
        minijinja::machinery::Vm::new(env)
            .eval(
                &c.instructions,
                Value::from(std::collections::BTreeMap::<String, Value>::new()),
                &c.blocks,
                &mut minijinja::machinery::make_string_output(&mut out),
                AutoEscape::None,
            )
            .unwrap();
        out
    }

    #[test]
    fn jumps_loops_and_macros_survive_the_rewrite() {
        let env = env();
        let c = compile(
            "t",
            "{% macro m(x=[]) %}{% do x.append(1) %}{{ x|length }}{% endmacro %}\
             {{ m() }}{{ m() }}\
             {% for i in range(3) %}{% if i > 0 %}{% set l = [i] %}{% do l.append(i) %}\
             {{ l|join('') }}{% else %}-{% endif %}{% endfor %}\
             {{ 'y' if [] else 'n' }}{{ [1, 2] | length }}",
        )
        .unwrap();
        assert_eq!(render(&env, &c), "11-1122n2");
    }

    #[test]
    fn a_template_without_lists_or_dicts_is_kept_as_compiled() {
        let env = env();
        let plain = compile(
            "t",
            "{% for i in range(2) %}{{ i }}{% endfor %}|{{ 'x' ~ 1 }}",
        )
        .unwrap();
        assert!(!needs_rewrite(&plain.instructions));
        assert_eq!(render(&env, &plain), "01|x1");
        let listed = compile("t", "{{ [1] | length }}").unwrap();
        assert!((0..listed.instructions.len() as u32).any(|i| matches!(
            listed.instructions.get(i),
            Some(Instruction::CallFunction(COPY_FN, _))
        )));
    }

    #[test]
    fn a_constant_list_is_fresh_on_every_render() {
        let env = env();
        let c = compile(
            "t",
            "{% set x = ['a'] %}{% do x.append('b') %}{{ x|join(',') }}",
        )
        .unwrap();
        assert_eq!(render(&env, &c), "a,b");
        assert_eq!(render(&env, &c), "a,b");
    }

    #[test]
    fn dicts_hold_lists_by_reference_and_keep_insertion_order() {
        let env = env();
        let c = compile(
            "t",
            "{% set d = {'z': 1} %}{% do d.update({'k': []}) %}{% do d['k'].append(7) %}\
             {% do d.setdefault('a', 2) %}{{ d.keys() | join(',') }}|{{ d['k'][0] }}|\
             {{ d.pop('z') }}|{{ d | length }}|{{ d.get('missing', 'dflt') }}\
             {% for k, v in d.items() %};{{ k }}{% endfor %}",
        )
        .unwrap();
        assert_eq!(render(&env, &c), "z,k,a|7|1|2|dflt;k;a");
    }

    #[test]
    fn python_string_methods_work() {
        let env = env();
        let c = compile(
            "t",
            "{{ 'A,b'.lower().split(',') | join('+') }}|{{ ' x '.strip() }}|\
             {{ 'abc'.startswith('ab') }}|{{ '{}-{name}'.format(1, name='n') }}|\
             {{ 'a_b'.replace('_', ' ').title() }}",
        )
        .unwrap();
        assert_eq!(render(&env, &c), "a+b|x|True|1-n|A B");
    }

    #[test]
    fn mutating_an_outside_value_says_how_to_fix_it() {
        let env = env();
        let c = compile("t", "{% do v.append(1) %}").unwrap();
        let mut out = String::new();
        let err = minijinja::machinery::Vm::new(&env)
            .eval(
                &c.instructions,
                Value::from_serialize(serde_json::json!({"v": [1]})),
                &c.blocks,
                &mut minijinja::machinery::make_string_output(&mut out),
                AutoEscape::None,
            )
            .err()
            .unwrap();
        assert!(err.to_string().contains("copy it first"), "{err}");
    }
}
