//! The one service layout (docs/ARCHITECTURE.md), checked on the sources: every back-end
//! service has `domain/`, `store/`, `ops/` and its gRPC mapping; `domain` uses nothing else
//! of the service, `store` nothing but `domain`; and no two modules of a service import each
//! other, directly or round a longer loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SERVICES: [&str; 5] = ["identity", "wallet", "authorization", "order", "fx"];

fn crate_src(service: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates")
        .join(service)
        .join("src")
}

/// Every module of a crate by path (`ops::holds`, `store`, ...; the crate root is ""), with
/// its source (tests cut off).
fn modules(src: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("a source directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(&path, root, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(root).expect("under the root");
            let mut parts: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] {
                parts.clear();
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let text = match text.find("#[cfg(test)]") {
                Some(i) => &text[..i],
                None => &text,
            };
            // Comments name modules without using them.
            let text: String = text
                .lines()
                .map(|l| l.find("//").map_or(l, |i| &l[..i]))
                .collect::<Vec<_>>()
                .join("\n");
            out.insert(parts.join("::"), text);
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The module of the crate a path (`crate::store::holds::get`, `super::Ctx`) names: its
/// longest prefix that is a module.
fn resolve(modules: &BTreeMap<String, String>, from: &str, path: &[&str]) -> Option<String> {
    let mut base: Vec<&str> = if from.is_empty() {
        Vec::new()
    } else {
        from.split("::").collect()
    };
    let mut rest = path;
    match rest.first() {
        Some(&"crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some(&"super") => {
            while rest.first() == Some(&"super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        Some(&"self") => rest = &rest[1..],
        _ => return None,
    }
    (0..=rest.len()).rev().find_map(|n| {
        let mut candidate = base.clone();
        candidate.extend_from_slice(&rest[..n]);
        let name = candidate.join("::");
        modules.contains_key(&name).then_some(name)
    })
}

/// What each module uses of the crate's other modules (not its own children or parents).
fn edges(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, text) in modules {
        let mut targets = BTreeSet::new();
        let mut paths: Vec<Vec<String>> = Vec::new();
        let bytes = text.as_bytes();
        for (i, _) in text.match_indices("::") {
            // A path ending here: walk back over `ident::ident::`.
            let mut start = i;
            while start > 0
                && (bytes[start - 1].is_ascii_alphanumeric()
                    || bytes[start - 1] == b'_'
                    || bytes[start - 1] == b':')
            {
                start -= 1;
            }
            let mut end = i + 2;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_' || bytes[end] == b':')
            {
                end += 1;
            }
            let path: Vec<String> = text[start..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(head) = path.first()
                && ["crate", "super", "self"].contains(&head.as_str())
            {
                // `use super::{a, b}`: each name in the braces is a path of its own.
                if text[end..].starts_with('{')
                    && let Some(close) = text[end..].find('}')
                {
                    for item in text[end + 1..end + close].split(',') {
                        let item = item.trim().split([' ', ':']).next().unwrap_or("");
                        if !item.is_empty() {
                            let mut p = path.clone();
                            p.push(item.to_owned());
                            paths.push(p);
                        }
                    }
                }
                paths.push(path);
            }
        }
        for path in paths {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            if let Some(target) = resolve(modules, name, &path) {
                let family =
                    |a: &str, b: &str| a == b || a.starts_with(&format!("{b}::")) || b.is_empty();
                if !family(name, &target) && !family(&target, name) {
                    targets.insert(target);
                }
            }
        }
        out.insert(name.clone(), targets);
    }
    out
}

/// The loops among `edges` (strongly connected groups of more than one module).
fn loops(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Two modules are in one loop when each reaches the other.
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(m) = todo.pop() {
            for next in edges.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|m| (m, reach(m))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for (m, from_m) in &reached {
        let group: Vec<String> = from_m
            .iter()
            .filter(|o| *o != *m && reached.get(o).is_some_and(|r| r.contains(*m)))
            .cloned()
            .chain(std::iter::once((*m).clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if group.len() > 1 && !out.contains(&group) {
            out.push(group);
        }
    }
    out
}

#[test]
fn every_service_has_the_one_layout_and_no_import_loops() {
    let mut problems = Vec::new();
    for service in SERVICES {
        let modules = modules(&crate_src(service));
        for layer in ["domain", "store", "ops", "api"] {
            if !modules.contains_key(layer) {
                problems.push(format!("{service}: no `{layer}` module"));
            }
        }
        let edges = edges(&modules);
        let layer_of = |m: &str| m.split("::").next().unwrap_or("").to_owned();
        for (from, targets) in &edges {
            let allowed: &[&str] = match layer_of(from).as_str() {
                "domain" => &["domain"],
                "store" => &["store", "domain"],
                _ => continue,
            };
            for target in targets {
                if !allowed.contains(&layer_of(target).as_str()) {
                    problems.push(format!("{service}: `{from}` uses `{target}`"));
                }
            }
        }
        for group in loops(&edges) {
            problems.push(format!("{service}: an import loop among {group:?}"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_loop_finder_finds_a_loop() {
    let modules: BTreeMap<String, String> = [
        ("ops::a", "use super::b::thing;"),
        ("ops::b", "use crate::ops::a::other;"),
        ("ops::c", "use super::a;"),
        ("ops", ""),
    ]
    .into_iter()
    .map(|(m, t)| (m.to_owned(), t.to_owned()))
    .collect();
    let found = loops(&edges(&modules));
    assert_eq!(found, vec![vec!["ops::a".to_owned(), "ops::b".to_owned()]]);
}
