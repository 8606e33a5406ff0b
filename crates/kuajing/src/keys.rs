//! Service credentials as files, in the layout the manifests mount and the services reload
//! (`kuajing_platform::key_files`), and their rotation in three steps (`kuajing keys
//! rotate`):
//!
//! - `<name>.key`: the private key (base64url Ed25519 seed) of each caller: the six
//!   services, the bank and logistics adapters, the operators;
//! - `trust`: every caller's public key, one `name=key` per line, shared by all services;
//! - `<name>.next`: a caller's next key, between the `trust` and `sign` steps.
//!
//! Each step is applied to the Secrets (or to the directory the services read, in tests)
//! and given time to reach every replica before the next: `trust` (the next keys are trusted
//! beside the current ones), `sign` (every caller signs with its next key), `retire` (only
//! the keys in use stay trusted; wait out the old keys' tokens first: 10 minutes, 1 hour
//! for an operator token).

use std::path::{Path, PathBuf};

use anyhow::Context;
use kuajing_platform::auth::{Keyring, Trust};
use kuajing_platform::key_files::{KeyFiles, replace_file};

/// The shared trust file of a set.
pub const TRUST: &str = "trust";

/// A step of a rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Step {
    /// Make a next key for every caller and trust it beside the current one.
    Trust,
    /// Every caller signs with its next key from now on.
    Sign,
    /// Trust only the keys in use.
    Retire,
}

/// The files service `name` reads in a set kept in `dir`.
pub fn files(dir: &Path, name: &str) -> KeyFiles {
    KeyFiles {
        key: dir.join(format!("{name}.key")),
        trust: dir.join(TRUST),
    }
}

/// Writes every caller's key in `ring`, and the trust of all of them, into `dir`.
pub fn write_set(dir: &Path, ring: &Keyring) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for name in ring.names() {
        let seed = ring.seed_text(name).context("a key per caller")?;
        replace_file(&files(dir, name).key, &seed)?;
    }
    write_trust(dir, &ring.trust())
}

/// The trust file of the set in `dir`.
fn read_trust(dir: &Path) -> anyhow::Result<Trust> {
    let path = dir.join(TRUST);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Trust::parse(&text).with_context(|| format!("{}", path.display()))
}

fn write_trust(dir: &Path, trust: &Trust) -> anyhow::Result<()> {
    replace_file(&dir.join(TRUST), &(trust.text().replace(',', "\n") + "\n"))
}

/// The keys with extension `ext` in `dir`, by caller name.
fn read_keys(dir: &Path, ext: &str) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) == Some(ext)
            && let Some(name) = path.file_stem().and_then(|s| s.to_str())
        {
            found.push((name.to_owned(), path));
        }
    }
    found.sort();
    Ok(found)
}

fn ring_of(keys: &[(String, PathBuf)]) -> anyhow::Result<Keyring> {
    let texts = keys
        .iter()
        .map(|(n, p)| {
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))
                .map(|t| (n.as_str(), t))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Keyring::from_seeds(texts.iter().map(|(n, t)| (*n, t.as_str())))
}

/// The keys in use in `dir` (its `<name>.key` files).
pub fn read_set(dir: &Path) -> anyhow::Result<Keyring> {
    let keys = read_keys(dir, "key")?;
    anyhow::ensure!(
        !keys.is_empty(),
        "{} holds no keys (`kuajing keys --out {}` writes a set)",
        dir.display(),
        dir.display()
    );
    ring_of(&keys)
}

/// Applies `step` of a rotation to the set in `dir`; says what it did.
pub fn rotate(dir: &Path, step: Step) -> anyhow::Result<String> {
    let current = read_set(dir)?;
    let next = read_keys(dir, "next")?;
    match step {
        Step::Trust => {
            let fresh = current.rotated()?;
            for name in current.names() {
                let path = dir.join(format!("{name}.next"));
                if !path.exists() {
                    replace_file(&path, &fresh.seed_text(name).context("a fresh key")?)?;
                }
            }
            let next = ring_of(&read_keys(dir, "next")?)?;
            // Added to what is trusted now: keys still to be retired stay until `retire`.
            let mut trust = read_trust(dir)?;
            for name in current.names() {
                trust.add(name, current.public_key(name).context("a key in use")?);
            }
            for name in next.names() {
                trust.add(name, next.public_key(name).context("a next key")?);
            }
            write_trust(dir, &trust)?;
            Ok(format!(
                "trusted a next key beside the current one for {} callers; once every replica \
                 has it, run the `sign` step",
                next.names().count()
            ))
        }
        Step::Sign => {
            anyhow::ensure!(
                !next.is_empty(),
                "no rotation in progress in {}: run the `trust` step first",
                dir.display()
            );
            // A key nobody trusts yet would be refused everywhere.
            let trusted = read_trust(dir)?;
            let pending = ring_of(&next)?;
            for name in pending.names() {
                let public = pending.public_key(name).context("a next key")?;
                anyhow::ensure!(
                    trusted.trusts(name, &public),
                    "the next key of {name} is not in {}: run the `trust` step first",
                    dir.join(TRUST).display()
                );
            }
            for (name, path) in &next {
                std::fs::rename(path, dir.join(format!("{name}.key")))
                    .with_context(|| format!("cannot move {}", path.display()))?;
            }
            Ok(format!(
                "{} callers sign with their next key; once every replica has it and the old \
                 keys' tokens have expired (10 minutes; 1 hour for operator tokens), run the \
                 `retire` step",
                next.len()
            ))
        }
        Step::Retire => {
            anyhow::ensure!(
                next.is_empty(),
                "{} callers have a next key not yet in use: run the `sign` step first",
                next.len()
            );
            write_trust(dir, &current.trust())?;
            Ok(format!(
                "only the keys in use are trusted now ({} callers)",
                current.names().count()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_steps_move_every_caller_to_a_new_key_in_order() {
        let dir = std::env::temp_dir().join(format!("kj-keyset-{}", uuid::Uuid::now_v7()));
        let ring = Keyring::generate(&["wallet"]).unwrap();
        write_set(&dir, &ring).unwrap();
        let trusted = || Trust::parse(&std::fs::read_to_string(dir.join(TRUST)).unwrap()).unwrap();
        assert_eq!(trusted(), ring.trust());
        assert!(
            rotate(&dir, Step::Sign).is_err(),
            "nothing to sign with yet"
        );

        rotate(&dir, Step::Trust).unwrap();
        assert!(rotate(&dir, Step::Retire).is_err(), "sign first");
        let next = ring_of(&read_keys(&dir, "next").unwrap()).unwrap();
        let mut both = ring.trust();
        for name in next.names() {
            both.add(name, next.public_key(name).unwrap());
        }
        assert_eq!(trusted(), both);
        // Repeating the step keeps the next keys it made.
        rotate(&dir, Step::Trust).unwrap();
        assert_eq!(trusted(), both);

        rotate(&dir, Step::Sign).unwrap();
        assert_eq!(read_set(&dir).unwrap().trust(), next.trust());
        assert_eq!(trusted(), both, "signing changes no trust");
        // A next key the trust file lacks is never put in use.
        std::fs::write(
            dir.join("wallet.next"),
            Keyring::generate(&[])
                .unwrap()
                .seed_text("operator")
                .unwrap(),
        )
        .unwrap();
        assert!(rotate(&dir, Step::Sign).is_err(), "untrusted next key");
        std::fs::remove_file(dir.join("wallet.next")).unwrap();
        rotate(&dir, Step::Retire).unwrap();
        assert_eq!(trusted(), next.trust());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
