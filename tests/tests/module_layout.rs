//! Each crate's modules are layered: no module reaches, through `crate::` paths, a module that
//! reaches back to it. A circle means a type sits in the wrong module, and the crate's docs can
//! no longer list its modules bottom up.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The workspace's crates, each by its source folder.
fn source_folders() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_owned();
    let mut folders: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .expect("crates/ is readable")
        .map(|entry| entry.expect("an entry of crates/").path().join("src"))
        .filter(|src| src.is_dir())
        .collect();
    folders.push(root.join("xtask/src"));
    folders.push(root.join("tests/src"));
    folders.sort();
    folders
}

/// Every `.rs` file under `folder`.
fn rust_files(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(folder).expect("a source folder is readable") {
        let path = entry.expect("an entry of a source folder").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
    files
}

/// The top-level module a file belongs to; `None` for the crate root.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).expect("the file is under its crate's src/");
    let first = relative.components().next()?.as_os_str().to_str()?.to_owned();
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => None,
        Some(stem) => Some(stem.to_owned()),
        None => Some(first),
    }
}

fn identifier_at(text: &str) -> &str {
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    &text[..end]
}

/// The first path segment after each `crate::` in `code`, including every name of a
/// `crate::{a, b::c}` group.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        // `scylla_table::__private` and the like end in "crate" only as part of a longer name.
        if code[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start_of_item = true;
            for (index, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start_of_item = true,
                    c if start_of_item && !c.is_whitespace() => {
                        names.insert(identifier_at(&group[index..]).to_owned());
                        start_of_item = false;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(identifier_at(rest).to_owned());
        }
    }
    names
}

/// The names the crate root re-exports from its modules (`pub use module::{A, B};`), each with
/// its module.
fn root_reexports(src: &Path, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for root in ["lib.rs", "main.rs"] {
        let Ok(code) = fs::read_to_string(src.join(root)) else { continue };
        for statement in code.split(';') {
            let Some(path) = statement.trim_start().strip_prefix("pub use ") else { continue };
            let path = path.trim().trim_start_matches("crate::").trim_start_matches("self::");
            let module = identifier_at(path);
            if !modules.contains(module) {
                continue;
            }
            let rest = &path[module.len()..];
            let items = rest.rsplit_once('{').map_or(rest.rsplit("::").next().unwrap_or_default(), |(_, group)| group);
            for item in items.split(',') {
                let item = item.trim().trim_end_matches('}').trim();
                let name = item.rsplit(" as ").next().unwrap_or(item).rsplit("::").next().unwrap_or(item).trim();
                if !name.is_empty() {
                    names.insert(name.to_owned(), module.to_owned());
                }
            }
        }
    }
    names
}

/// A circle through `start`, if the graph has one.
fn circle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut path = vec![start.to_owned()];
    let mut seen = BTreeSet::new();
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        let here = path.last().expect("the path starts at `start`").clone();
        for next in graph.get(&here).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    walk(graph, start, &mut path, &mut seen).then_some(path)
}

#[test]
fn no_crate_has_a_module_circle() {
    let mut circles = Vec::new();
    let mut edges = 0;
    for src in source_folders() {
        let files = rust_files(&src);
        let modules: BTreeSet<String> = files.iter().filter_map(|file| top_module(&src, file)).collect();
        let reexported = root_reexports(&src, &modules);
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &files {
            let Some(module) = top_module(&src, file) else { continue };
            let code = fs::read_to_string(file).expect("a source file is readable");
            // In a top-level module's own file, `super::` is the crate root.
            let depth = file.strip_prefix(&src).map_or(0, |relative| relative.components().count());
            let is_top_file = depth == 1 || file.file_name().is_some_and(|name| name == "mod.rs") && depth == 2;
            let code = if is_top_file { code.replace("super::", "crate::") } else { code };
            // A module's own tests may reach anywhere, and a comment's link is no dependency.
            let code = code.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
            let code: String =
                code.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
            for used in crate_paths(&code) {
                // A name the root re-exports counts as a use of the module that defines it.
                let used = reexported.get(&used).cloned().unwrap_or(used);
                if used != module && modules.contains(&used) {
                    graph.entry(module.clone()).or_default().insert(used);
                }
            }
        }
        edges += graph.values().map(BTreeSet::len).sum::<usize>();
        for module in &modules {
            if let Some(circle) = circle_from(&graph, module) {
                circles.push(format!("{}: {}", src.display(), circle.join(" -> ")));
            }
        }
    }
    // The workspace's modules use each other in a few hundred places: a scan that finds few saw nothing.
    assert!(edges > 100, "only {edges} uses between modules found");
    assert!(circles.is_empty(), "module circles:\n{}", circles.join("\n"));
}

#[test]
fn the_scan_sees_groups_and_nested_paths() {
    let code = "use crate::a::B;\nuse crate::{c, d::{E, F}, g};\nlet x = crate::h(); let y = my_crate::no;";
    let found: Vec<String> = crate_paths(code).into_iter().collect();
    assert_eq!(found, ["a", "c", "d", "g", "h"]);
    let graph = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["a".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(circle_from(&graph, "a"), Some(vec!["a".to_owned(), "b".to_owned(), "a".to_owned()]));
    assert_eq!(circle_from(&graph, "c"), None);
}

#[test]
fn names_the_root_reexports_count_as_their_modules() {
    let src = std::env::temp_dir().join(format!("module-layout-{}", std::process::id()));
    fs::create_dir_all(&src).unwrap();
    fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\npub use a::{Alpha, inner::Beta as Gamma};\npub use b::Delta;\npub use other::Omega;\n",
    )
    .unwrap();
    let modules = BTreeSet::from(["a".to_owned(), "b".to_owned()]);
    let found = root_reexports(&src, &modules);
    fs::remove_dir_all(&src).unwrap();
    let expected: BTreeMap<String, String> = [("Alpha", "a"), ("Gamma", "a"), ("Delta", "b")]
        .into_iter()
        .map(|(name, module)| (name.to_owned(), module.to_owned()))
        .collect();
    assert_eq!(found, expected);
}
