//! The crate's layering, checked: which top-level module may import which
//! (CONTRIBUTING.md, "Layers"). Each `src/` file's `crate::…` paths outside
//! comments and test modules are read; an import a layer may not make, or
//! a loop between modules, fails with the file and the path.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The top-level modules, lowest layer first: a module imports only
/// modules before it in this list.
const LAYERS: &[&str] = &[
    "clock",
    "text",
    "machine",
    "job",
    "schedule",
    "group",
    "meter",
    "webhook",
    "paperspace",
    "sim",
    "store",
    "cost",
    "config",
    "logging",
    "delivery",
    "worker",
    "scheduler",
    "http",
    "daemon",
    "cli",
];

/// Imports the order allows but the design does not: the store and the
/// simulator speak Machinist's nouns, never the Paperspace client's; the
/// schedule model is pure (no clock, no store); logging is set up from the
/// configuration alone.
const NEVER: &[(&str, &str)] = &[
    ("sim", "paperspace"),
    ("store", "paperspace"),
    ("schedule", "clock"),
    ("group", "clock"),
    ("meter", "clock"),
    ("logging", "clock"),
    ("logging", "text"),
    ("logging", "machine"),
    ("logging", "job"),
    ("logging", "schedule"),
    ("logging", "paperspace"),
    ("logging", "sim"),
    ("logging", "store"),
];

/// Whether `module` may import `import`.
fn may_import(module: &str, import: &str) -> bool {
    let at = |m: &str| LAYERS.iter().position(|l| *l == m);
    match (at(module), at(import)) {
        (Some(m), Some(i)) => i < m && !NEVER.contains(&(module, import)),
        _ => false,
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under `src/` belongs to (`None` for `lib.rs`
/// and `main.rs`).
fn owner(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// The code of a file without comments and without its `#[cfg(test)]`
/// module (tests may reach anywhere).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every top-level module a piece of code names through `crate::`,
/// including inside `use crate::{a::…, b};` groups.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: the first word after `{` or a
            // `,` at depth 0.
            let mut depth = 0;
            let mut word = String::new();
            let mut expect = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => expect = true,
                    c if expect && (c.is_alphanumeric() || c == '_') => word.push(c),
                    _ => {
                        if !word.is_empty() {
                            found.insert(std::mem::take(&mut word));
                        }
                        if !c.is_whitespace() {
                            expect = false;
                        }
                    }
                }
            }
            if !word.is_empty() {
                found.insert(word);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    for file in &files {
        let Some(module) = owner(&src, file) else {
            continue;
        };
        seen.insert(module.clone());
        if !LAYERS.contains(&module.as_str()) {
            wrong.push(format!(
                "{}: module `{module}` has no place in LAYERS",
                file.display()
            ));
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for import in imports(&code(&text)) {
            if import != module && !may_import(&module, &import) {
                wrong.push(format!(
                    "{}: `{module}` imports `crate::{import}`, which its layer may not",
                    file.display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
    // Every layer names a module that exists, so the table cannot rot.
    for module in LAYERS {
        assert!(
            seen.contains(*module),
            "LAYERS names `{module}`, which is not a module of src/"
        );
    }
}

/// Only the store runs SQL: every other module asks it by name, so that a
/// second database driver is a change inside `store/` alone.
#[test]
fn only_the_store_speaks_to_a_database() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let wrong: Vec<String> = files
        .iter()
        .filter(|f| owner(&src, f).as_deref() != Some("store"))
        .filter(|f| {
            let code = code(&std::fs::read_to_string(f).unwrap());
            code.contains("sqlx::") || code.contains("rusqlite::")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(wrong.is_empty(), "SQL outside src/store: {wrong:?}");
}

/// Inside the store, imports run nouns ← drivers ← the seam ← the handle
/// (src/store/mod.rs): a driver never sees the handle it serves, and the
/// nouns every driver shares import no driver.
#[test]
fn store_layers_only_point_down() {
    let store = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut files = Vec::new();
    rust_files(&store, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&store)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let layer = if rel.starts_with("handle") {
            continue;
        } else if rel == "mod.rs" || rel == "driver.rs" {
            // The re-exports, and the seam that names every driver.
            continue;
        } else if rel.starts_with("sqlite") {
            "a driver"
        } else {
            "a noun"
        };
        let code = code(&std::fs::read_to_string(file).unwrap());
        let mut forbidden = vec![
            "store::handle",
            "super::handle",
            "store::driver",
            "on_driver!",
        ];
        if layer == "a noun" {
            forbidden.extend(["store::sqlite", "super::sqlite"]);
        }
        for path in forbidden {
            if code.contains(path) {
                wrong.push(format!("src/store/{rel}, {layer}, names `{path}`"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "store layering broken:\n{}",
        wrong.join("\n")
    );
}
