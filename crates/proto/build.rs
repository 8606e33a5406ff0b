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

/// The gRPC status code names, as the contracts write them at the start of an error listing.
const CODES: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The status codes an error listing's line starts with ("UNAVAILABLE, DEADLINE_EXCEEDED",
/// "UNAVAILABLE / DEADLINE_EXCEEDED"), and the rest of the line; `None` for another line.
fn listing(line: &str) -> Option<(usize, Vec<&'static str>, &str)> {
    let indent = line.len() - line.trim_start().len();
    let mut rest = line.trim_start();
    let mut codes = Vec::new();
    loop {
        let code = CODES.iter().find(|c| {
            rest.starts_with(**c)
                && !rest[c.len()..].starts_with(|ch: char| ch.is_ascii_alphanumeric() || ch == '_')
        })?;
        codes.push(*code);
        rest = rest[code.len()..].trim_start();
        match rest.strip_prefix(',').or_else(|| rest.strip_prefix('/')) {
            Some(more) => rest = more.trim_start(),
            None => break,
        }
    }
    (indent > 0).then_some((indent, codes, rest))
}

/// The reasons a contract documents, each with the status codes of its listing. An error
/// listing is a comment line that starts with status codes ("//   FAILED_PRECONDITION
/// INSUFFICIENT_FUNDS: ...") and the lines indented under it; split into clauses at `;` and
/// at the end of a sentence, a clause that opens with an UPPER_SNAKE name (after an optional
/// "Reasons:") names a reason, unless a lowercase word follows it ("CROSS_BORDER_PAY without
/// agreement_accepted"). Names further into a clause are descriptions (metadata values,
/// purposes, programs), not reasons; a status code's own name is a reason only written as
/// one ("DEADLINE_EXCEEDED: ...").
fn reasons_of(contract: &str) -> std::collections::BTreeMap<String, Vec<&'static str>> {
    let comments: Vec<&str> = contract
        .lines()
        .map(|l| l.trim_start().strip_prefix("//").unwrap_or("\u{0}"))
        .collect();
    let mut out: std::collections::BTreeMap<String, Vec<&'static str>> = Default::default();
    let mut i = 0;
    while i < comments.len() {
        let Some((indent, codes, first)) = listing(comments[i]) else {
            i += 1;
            continue;
        };
        let mut text = first.to_owned();
        i += 1;
        while let Some(line) = comments.get(i) {
            let lead = line.len() - line.trim_start().len();
            if line.trim().is_empty() || lead <= indent || listing(line).is_some() {
                break;
            }
            text.push(' ');
            text.push_str(line.trim());
            i += 1;
        }
        for clause in clauses(&text) {
            let clause = clause.trim();
            let clause = clause
                .strip_prefix("Reasons:")
                .unwrap_or(clause)
                .trim_start();
            let end = clause
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(clause.len());
            let (name, after) = clause.split_at(end);
            let as_reason = after.starts_with(':');
            if name.contains('_')
                && name.starts_with(|c: char| c.is_ascii_uppercase())
                && !name.ends_with('_')
                && !name.starts_with("KJ_")
                && !after
                    .trim_start_matches(' ')
                    .starts_with(|c: char| c.is_ascii_lowercase())
                && (as_reason || !CODES.contains(&name))
            {
                let entry = out.entry(name.to_owned()).or_default();
                for code in &codes {
                    if !entry.contains(code) {
                        entry.push(code);
                    }
                }
            }
        }
    }
    out
}

/// A listing's text split at `;` and at a full stop that ends a sentence (". " before a
/// capital letter).
fn clauses(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let sentence_end = *b == b'.'
            && bytes.get(i + 1) == Some(&b' ')
            && bytes.get(i + 2).is_some_and(u8::is_ascii_uppercase);
        if *b == b';' || sentence_end {
            out.push(&text[start..i]);
            start = i + 1;
        }
    }
    out.push(&text[start..]);
    out
}

/// One module of reason constants per service contract, and `internal` for the reasons
/// every back-end service's contract documents (what `platform` answers for any of them).
fn reasons_table(root: &Path) -> std::io::Result<String> {
    let services = ["identity", "wallet", "authorization", "order", "fx", "edge"];
    let mut out = String::new();
    let mut internal: Option<std::collections::BTreeMap<String, Vec<&'static str>>> = None;
    let mut texts = Vec::new();
    for service in services {
        texts.push(std::fs::read_to_string(
            root.join(format!("kuajing/{service}/v1/{service}.proto")),
        )?);
    }
    let module =
        |name: &str, doc: &str, reasons: &std::collections::BTreeMap<String, Vec<&'static str>>| {
            let mut m = format!("/// {doc}\npub mod {name} {{\n");
            for (reason, codes) in reasons {
                m.push_str(&format!(
                    "    /// Answered with {}.\n    pub const {reason}: &str = {reason:?};\n",
                    codes.join(" or ")
                ));
            }
            let all: Vec<String> = reasons.keys().map(|r| format!("{r:?}")).collect();
            m.push_str(&format!(
                "    /// Every reason above.\n    pub const ALL: &[&str] = &[{}];\n}}\n",
                all.join(", ")
            ));
            m
        };
    for (service, text) in services.iter().zip(&texts) {
        let reasons = reasons_of(text);
        if *service != "edge" {
            internal = Some(match internal {
                None => reasons.clone(),
                Some(mut common) => {
                    common.retain(|r, _| reasons.contains_key(r));
                    common
                }
            });
        }
        out.push_str(&module(
            service,
            &format!("The reasons `kuajing.{service}.v1`'s error listings document."),
            &reasons,
        ));
    }
    out.push_str(&module(
        "internal",
        "The reasons every back-end service's contract documents: what `platform` answers for any of them.",
        &internal.unwrap_or_default(),
    ));
    Ok(out)
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
    std::fs::write(out.join("reasons.rs"), reasons_table(&root)?)?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}
