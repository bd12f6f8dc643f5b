//! The source tree keeps the layers of DESIGN.md and the crate docs: each module belongs to
//! one layer and imports only from layers below it, and no two modules (files) import each
//! other, directly or around a circle.
//!
//! Guards against: a core module reaching up into a face (the server, the CLI), a lower
//! layer reaching into a higher one (storage into the lifecycle, the lifecycle into keys),
//! and import circles coming back as the code grows.
//!
//! How: every `.rs` file under `src/` is a module (`src/a/b.rs` is `a::b`). Its references
//! to other modules are the `crate::`, `super::` and `self::` paths outside comments and
//! outside its own `#[cfg(test)] mod tests` (whose `super::` is the file itself); a path
//! names the deepest module file it reaches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules by layer, lowest first. A module may import its own top-level module's
/// files (without circles) and any module of a lower rank; never one of the same rank.
const LAYERS: &[(&str, u32)] = &[
    // base
    ("clock", 0),
    ("error", 1),
    ("crypto", 2),
    ("model", 3),
    // storage
    ("store", 4),
    // lifecycle
    ("lifecycle", 5),
    // objects
    ("handle", 6),
    ("vault", 7),
    ("keys", 8),
    ("secrets", 8),
    ("certificates", 9),
    // services
    ("rbac", 10),
    ("audit", 10),
    ("hazmat", 10),
    ("customer_data", 11),
    ("seed", 11),
    ("administration", 10),
    ("repair", 10),
    // faces
    ("vectors", 12),
    ("api", 12),
    ("server", 13),
    ("cli", 14),
    ("fuzzing", 15),
];

fn rank(module: &str) -> Option<u32> {
    let top = module.split("::").next().unwrap_or(module);
    LAYERS.iter().find(|(m, _)| *m == top).map(|(_, r)| *r)
}

/// Every module file: `a::b` -> its text.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let module = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}::{name}")
            };
            if path.is_dir() {
                walk(&path, &module, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !(prefix.is_empty() && (name == "lib" || name == "main"))
            {
                out.insert(module, std::fs::read_to_string(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        "",
        &mut out,
    );
    out
}

/// The code of a file without comments and without its inline test module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths named after `start` in `text`, expanding one or two levels of `{...}` groups:
/// `store::{decode, seam::Table}` gives `store::decode` and `store::seam::Table`.
fn paths_at(text: &str, start: usize) -> Vec<String> {
    let rest = &text[start..];
    let mut path = String::new();
    for (i, c) in rest.char_indices() {
        if is_ident(c) || c == ':' {
            path.push(c);
        } else if c == '{' && (path.is_empty() || path.ends_with("::")) {
            // A group: split its top-level items.
            let mut depth = 1;
            let mut end = i + 1;
            for (j, d) in rest[i + 1..].char_indices() {
                match d {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = i + 1 + j;
                    break;
                }
            }
            let inner = &rest[i + 1..end];
            let mut items = Vec::new();
            let mut depth = 0;
            let mut item = String::new();
            for d in inner.chars() {
                match d {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                item.push(d);
            }
            items.push(item);
            return items
                .iter()
                .flat_map(|it| {
                    let it = it.trim();
                    let joined = format!("{path}{it}");
                    if it.contains('{') {
                        paths_at(&joined, 0)
                    } else {
                        vec![joined]
                    }
                })
                .collect();
        } else {
            break;
        }
    }
    vec![path]
}

/// The child modules a file declares (`mod x;`, `pub(crate) mod x;`).
fn children(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("pub(crate) mod ")
                .or_else(|| l.strip_prefix("pub(super) mod "))
                .or_else(|| l.strip_prefix("pub mod "))
                .or_else(|| l.strip_prefix("mod "))?;
            rest.strip_suffix(';').map(str::to_string)
        })
        .collect()
}

/// The byte ranges of the inline modules of a file (`mod name { ... }`), where `super::`
/// names the file's own module.
fn inline_modules(code: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find("mod ") {
        let at = from + i;
        from = at + 4;
        if at > 0 && code[..at].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = &code[from..];
        let name_len = rest.chars().take_while(|&c| is_ident(c)).count();
        if !rest[name_len..].trim_start().starts_with('{') {
            continue;
        }
        let open = from + name_len + rest[name_len..].find('{').unwrap_or(0);
        let mut depth = 0;
        for (j, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                out.push(open..open + j);
                break;
            }
        }
    }
    out
}

/// The modules `module`'s code refers to (other than itself): anchored paths (`crate::`,
/// `super::`, `self::`) and paths through the child modules it declares (`child::item`).
fn references(module: &str, text: &str, all: &BTreeMap<String, String>) -> BTreeSet<String> {
    let code = code(text);
    let inline = inline_modules(&code);
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    let mut out = BTreeSet::new();
    let mut anchors: Vec<(String, String)> = vec![
        ("crate::".into(), String::new()),
        ("super::".into(), parent.to_string()),
        ("self::".into(), module.to_string()),
    ];
    for child in children(&code) {
        anchors.push((format!("{child}::"), format!("{module}::{child}")));
    }
    for (anchor, base) in &anchors {
        let (anchor, base) = (anchor.as_str(), base.as_str());
        let mut from = 0;
        while let Some(i) = code[from..].find(anchor) {
            let at = from + i;
            from = at + anchor.len();
            if at > 0
                && code[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| is_ident(c) || c == ':')
            {
                continue;
            }
            // Inside an inline module, `super::` is this file's module and `self::` is no
            // other file.
            let base = if inline.iter().any(|r| r.contains(&at)) && anchor != "crate::" {
                module
            } else {
                base
            };
            for path in paths_at(&code, from) {
                let mut segments: Vec<&str> = if base.is_empty() {
                    Vec::new()
                } else {
                    base.split("::").collect()
                };
                segments.extend(path.split("::").filter(|s| !s.is_empty()));
                // The deepest module file the path reaches.
                let target = (1..=segments.len())
                    .rev()
                    .map(|n| segments[..n].join("::"))
                    .find(|m| all.contains_key(m));
                if let Some(t) = target {
                    if t != module {
                        out.insert(t);
                    }
                }
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let all = modules();
    all.iter()
        .map(|(m, text)| (m.clone(), references(m, text, &all)))
        .collect()
}

#[test]
fn every_module_has_a_layer() {
    let missing: Vec<String> = modules()
        .into_keys()
        .filter(|m| rank(m).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "modules with no layer in tests/layers.rs: {missing:?}"
    );
}

#[test]
fn modules_import_only_lower_layers() {
    let mut bad = Vec::new();
    for (from, targets) in graph() {
        let from_top = from.split("::").next().unwrap_or_default().to_string();
        for to in targets {
            let to_top = to.split("::").next().unwrap_or_default();
            if to_top == from_top {
                continue;
            }
            let (Some(a), Some(b)) = (rank(&from), rank(&to)) else {
                continue;
            };
            if b >= a {
                bad.push(format!("{from} (layer {a}) imports {to} (layer {b})"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "imports against the layers:\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_import_circles() {
    let g = graph();
    // Depth-first search for a back edge; report the circle it closes.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        circles: &mut Vec<String>,
    ) {
        state.insert(m.to_string(), 1);
        stack.push(m.to_string());
        for next in g.get(m).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                0 => visit(next, g, state, stack, circles),
                1 => {
                    let i = stack.iter().position(|s| s == next).unwrap_or(0);
                    circles.push(format!("{} -> {next}", stack[i..].join(" -> ")));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.to_string(), 2);
    }
    let mut state = BTreeMap::new();
    let mut circles = Vec::new();
    for m in g.keys() {
        if !state.contains_key(m) {
            visit(m, &g, &mut state, &mut Vec::new(), &mut circles);
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_reader_sees_the_same_graph() {
    // The scanner itself: a group, a nested group, `super::` from a child, and a comment.
    let mut all = BTreeMap::new();
    for m in ["a", "a::b", "a::c", "d"] {
        all.insert(m.to_string(), String::new());
    }
    let text = "use super::c::X;\nuse crate::{d::Y, a::{b::Z}};\n// crate::nothing\n";
    let refs = references("a::b", text, &all);
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        vec!["a::c".to_string(), "d".to_string()]
    );
    // `super::` inside an inline module is the file itself.
    let text = "mod inner {\n    use super::*;\n}\n";
    let refs = references("a::b", text, &all);
    assert!(refs.is_empty(), "{refs:?}");
    // A parent's path through its child, but not a path that only ends the same way.
    let text = "mod b;\nfn f() { b::g(); other::b::h(); }\n";
    let refs = references("a", text, &all);
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        vec!["a::b".to_string()]
    );
}
