//! Compiles every `.proto` under `proto/` with protox (pure Rust, so no system `protoc`),
//! writes the encoded descriptor set for server reflection, and generates tonic code.
//! RPCs a service has not built yet get tonic's default stub, which answers UNIMPLEMENTED.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read proto dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
}

/// Who may call a method, read from the "Callers:" paragraph of its doc comment, so the
/// enforced table can never drift from the contract. Names: the six services, "operator"
/// (operators with an operator token), "auditor" (auditors, with theirs), "bank" and "logistics" (adapters). Each caller comes
/// with the parenthetical right after its name, if any ("edge (for the owner)"): the
/// qualifier, kept so the credential check can enforce what it says about `kj-subject`.
fn callers_of(comment: &str) -> Vec<(&'static str, String)> {
    let Some(start) = comment.find("Callers:") else {
        return Vec::new();
    };
    // The paragraph runs until the next blank line or the next "Word:" heading.
    let mut text = String::new();
    for (i, line) in comment[start + "Callers:".len()..].lines().enumerate() {
        let line = line.trim();
        let heading = line.split_once(':').is_some_and(|(h, _)| {
            !h.is_empty() && !h.contains(' ') && h.chars().next().is_some_and(char::is_uppercase)
        });
        if i > 0 && (line.is_empty() || heading) {
            break;
        }
        text.push(' ');
        text.push_str(line);
    }
    // Split into plain words and parentheticals: a parenthetical qualifies the caller named
    // just before it, it does not add one.
    let mut words: Vec<(String, String)> = Vec::new(); // (word, qualifier after it)
    let mut depth = 0;
    let mut word = String::new();
    let mut inner = String::new();
    for c in text.chars() {
        match c {
            '(' => {
                depth += 1;
                if depth == 1 {
                    if !word.is_empty() {
                        words.push((std::mem::take(&mut word).to_lowercase(), String::new()));
                    }
                    continue;
                }
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    if let Some(last) = words.last_mut() {
                        last.1 = std::mem::take(&mut inner).trim().to_owned();
                    }
                    inner.clear();
                    continue;
                }
            }
            _ => {}
        }
        if depth > 0 {
            inner.push(c);
        } else if c.is_ascii_alphanumeric() {
            word.push(c);
        } else if !word.is_empty() {
            words.push((std::mem::take(&mut word).to_lowercase(), String::new()));
        }
    }
    if !word.is_empty() {
        words.push((word.to_lowercase(), String::new()));
    }
    let plain = words
        .iter()
        .map(|(w, _)| w.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let qualifier = |name: &str| {
        words
            .iter()
            .find(|(w, q)| w == name && !q.is_empty())
            .map(|(_, q)| q.clone())
            .unwrap_or_default()
    };
    // "not exposed through edge" names edge only to exclude it.
    let plain = plain.replace("not exposed through edge", "");
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let services = ["edge", "identity", "wallet", "authorization", "order", "fx"];
    if plain.contains("every internal service") {
        for s in ["identity", "wallet", "authorization", "order", "fx"] {
            out.push((s, String::new()));
        }
    }
    for word in plain.split(' ') {
        if let Some(s) = services.iter().find(|s| **s == word) {
            out.push((*s, qualifier(s)));
        }
        if word == "operators" || word == "operator" {
            out.push(("operator", qualifier(word)));
        }
        if word == "auditors" || word == "auditor" {
            out.push(("auditor", qualifier(word)));
        }
    }
    if plain.contains("bank adapter") {
        out.push(("bank", qualifier("adapter")));
    }
    if plain.contains("logistics adapter") {
        out.push(("logistics", qualifier("adapter")));
    }
    out.sort_by(|a, b| a.0.cmp(b.0).then(b.1.len().cmp(&a.1.len())));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

fn callers_table(fds: &prost_types::FileDescriptorSet) -> String {
    let mut rows = String::new();
    let mut qualified = String::new();
    for file in &fds.file {
        // The sandbox's simulated bank and mailbox take no service credential: not in the table.
        let Some(package) = file
            .package
            .as_deref()
            .filter(|p| p.starts_with("kuajing.") && !p.starts_with("kuajing.sandbox."))
        else {
            continue;
        };
        let locations = file
            .source_code_info
            .as_ref()
            .map(|s| s.location.as_slice())
            .unwrap_or_default();
        for (si, service) in file.service.iter().enumerate() {
            for (mi, method) in service.method.iter().enumerate() {
                let path = [6, si as i32, 2, mi as i32];
                let comment = locations
                    .iter()
                    .find(|l| l.path == path)
                    .and_then(|l| l.leading_comments.as_deref())
                    .unwrap_or_default();
                let callers = callers_of(comment);
                let list = callers
                    .iter()
                    .map(|(c, _)| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let path = format!("/{package}.{}/{}", service.name(), method.name());
                rows.push_str(&format!("    ({path:?}, &[{list}]),\n"));
                for (caller, qualifier) in callers.iter().filter(|(_, q)| !q.is_empty()) {
                    let qualifier = qualifier.split_whitespace().collect::<Vec<_>>().join(" ");
                    qualified.push_str(&format!("    ({path:?}, {caller:?}, {qualifier:?}),\n"));
                }
            }
        }
    }
    format!(
        "/// Every method of every Kuajing service (gRPC path) and the callers its contract allows.\n\
         pub const CALLERS: &[(&str, &[&str])] = &[\n{rows}];\n\
         /// The qualifier the contract writes after a caller (method path, caller, qualifier).\n\
         pub const QUALIFIERS: &[(&str, &str, &str)] = &[\n{qualified}];\n"
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    println!("cargo:rerun-if-changed={}", root.display());
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let relative: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(&root).expect("under proto/").to_path_buf())
        .collect();

    let fds = protox::Compiler::new([&root])?
        .include_imports(true)
        .include_source_info(true)
        .open_files(relative)?
        .file_descriptor_set();

    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("kuajing_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    std::fs::write(out.join("callers.rs"), callers_table(&fds))?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}
