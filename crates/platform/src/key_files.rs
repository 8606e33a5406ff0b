//! Service keys read from files (a Kubernetes Secret mounted as a volume) and reloaded when
//! the files change, so that keys rotate without a restart.
//!
//! A rotation of one caller's key (a service's, an adapter's or the operators'), each step
//! waiting until every replica has reloaded (the reload interval, plus the kubelet's delay
//! in updating a mounted Secret):
//! 1. add the new public key to the trust file: both keys verify everywhere;
//! 2. put the new private key in the caller's key file: it signs with the new key;
//! 3. once every token minted with the old key has expired (10 minutes; 24 hours for an
//!    operator token), remove the old public key from the trust file.
//!
//! A file that does not parse (half written, a typo) leaves the keys in force and is
//! reported, so a bad edit cannot take a service down; replace files atomically (write,
//! then rename), as the kubelet does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{ServiceKeys, Trust, parse_seed};
use crate::metrics::Tally;

static RELOADS: Tally = Tally::new(
    "kuajing.keys.reloads",
    "changed key files seen (service keys, identity's signing keys), by outcome (applied, refused)",
);

/// Where a service's own key and the keys it trusts are kept.
#[derive(Clone, Debug)]
pub struct KeyFiles {
    /// The service's private key: a base64url Ed25519 seed (`KJ_SERVICE_KEY`'s form).
    pub key: PathBuf,
    /// The keys it trusts: `name=base64url-public-key` entries separated by commas or lines
    /// (`KJ_SERVICE_TRUST`'s form); a name listed twice is trusted with both keys.
    pub trust: PathBuf,
}

/// Replaces `path`'s contents atomically (a sibling file renamed over it), readable by its
/// owner only: how `kuajing` writes key files, so a reader never sees half a key.
pub fn replace_file(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
        .map_err(|e| anyhow::anyhow!("cannot replace {}: {e}", path.display()))
}

impl KeyFiles {
    fn paths(&self) -> Vec<PathBuf> {
        vec![self.key.clone(), self.trust.clone()]
    }

    /// The key and the trusted keys from the files' contents, in [`Self::paths`]' order.
    fn parse(&self, contents: &[Vec<u8>]) -> anyhow::Result<([u8; 32], Trust)> {
        let [key, trust] = contents else {
            anyhow::bail!("two files expected");
        };
        let seed = parse_seed(&String::from_utf8_lossy(key))
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.key.display()))?;
        let trust = Trust::parse(&String::from_utf8_lossy(trust))
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.trust.display()))?;
        Ok((seed, trust))
    }

    /// The keys of service `name`, from the files as they are now, kept up to date: the
    /// files are checked every `every` and changed keys put in force, until the runtime
    /// stops (the task is returned).
    pub fn load_and_watch(
        &self,
        name: &str,
        every: Duration,
    ) -> anyhow::Result<(Arc<ServiceKeys>, tokio::task::JoinHandle<()>)> {
        let in_force = read_all(&self.paths())?;
        let (seed, trust) = self.parse(&in_force)?;
        let keys = Arc::new(ServiceKeys::new(name, seed, trust));
        let watcher = self.watch(keys.clone(), in_force, every);
        Ok((keys, watcher))
    }

    fn watch(
        &self,
        keys: Arc<ServiceKeys>,
        in_force: Vec<Vec<u8>>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let files = self.clone();
        on_change(self.paths(), in_force, every, move |contents| {
            let parsed = files.parse(&contents);
            let keys = keys.clone();
            async move {
                let (seed, trust) = parsed?;
                keys.replace(seed, trust);
                Ok(())
            }
        })
    }
}

/// Reads `paths` in order: what [`on_change`] compares.
pub fn read_all(paths: &[PathBuf]) -> anyhow::Result<Vec<Vec<u8>>> {
    paths
        .iter()
        .map(|p| std::fs::read(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display())))
        .collect()
}

/// Calls `apply` with the contents of `paths` whenever they differ from what is in force
/// (`in_force`: the contents the caller loaded, so a change made between that load and this
/// call is not missed), checked every `every`, until the runtime stops: how a secret
/// mounted as files (a Kubernetes Secret volume) takes effect without a restart. A refusal
/// by `apply` (contents that do not parse, a database that cannot record the change) leaves
/// what is in force, is logged and counted in `kuajing.keys.reloads` at every check until
/// it is applied (so an alert on refusals keeps firing while a replica is stuck). Files that
/// cannot be read are read again at the next check (a Secret volume swaps its files by
/// renaming a directory).
pub fn on_change<F, Fut>(
    paths: Vec<PathBuf>,
    in_force: Vec<Vec<u8>>,
    every: Duration,
    mut apply: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut(Vec<Vec<u8>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let mut seen = in_force;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = match read_all(&paths) {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "secret files not readable");
                    continue;
                }
            };
            if seen == now {
                continue;
            }
            match apply(now.clone()).await {
                Ok(()) => {
                    RELOADS.add(1, &[("outcome", "applied")]);
                    seen = now;
                }
                Err(e) => {
                    tracing::error!(
                        error = %e,
                        "changed secret files refused (tried again at the next check): what \
                         is in force stays"
                    );
                    RELOADS.add(1, &[("outcome", "refused")]);
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Keyring;
    use chrono::Utc;

    fn write(path: &Path, text: &str) {
        replace_file(path, text).unwrap();
    }

    #[tokio::test]
    async fn a_rotation_through_the_files_never_refuses_a_current_token() {
        let dir = std::env::temp_dir().join(format!("kj-keys-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = KeyFiles {
            key: dir.join("wallet.key"),
            trust: dir.join("trust"),
        };
        let old = Keyring::generate(&["wallet", "fx"]).unwrap();
        let new = old.rotated().unwrap();
        write(&files.key, &old.seed_text("wallet").unwrap());
        write(&files.trust, &old.trust().text());
        let every = Duration::from_millis(20);
        let (wallet, watcher) = files.load_and_watch("wallet", every).unwrap();
        let settle = || tokio::time::sleep(every * 5);
        let exp = Utc::now() + chrono::Duration::minutes(5);
        let token = |ring: &Keyring| ring.token("fx", "wallet", exp).unwrap();
        let verifies = |t: &str| wallet.verify(t, Utc::now()).is_ok();
        let old_kid = wallet.key_id();

        // 1. Both keys trusted.
        let mut both = old.trust();
        for name in new.names() {
            both.add(name, new.public_key(name).unwrap());
        }
        write(&files.trust, &both.text().replace(',', "\n"));
        settle().await;
        assert!(verifies(&token(&old)) && verifies(&token(&new)));
        // A file that does not parse changes nothing.
        write(&files.trust, "fx=not-a-key");
        settle().await;
        assert!(verifies(&token(&old)) && verifies(&token(&new)));
        write(&files.trust, &both.text());
        // 2. The service signs with its new key.
        write(&files.key, &new.seed_text("wallet").unwrap());
        settle().await;
        assert_ne!(wallet.key_id(), old_kid);
        assert_eq!(
            wallet.key_id(),
            crate::auth::key_id(&new.public_key("wallet").unwrap())
        );
        // 3. The old keys go: a token they signed is refused, even one verified before.
        let remembered = token(&old);
        assert!(verifies(&remembered));
        write(&files.trust, &new.trust().text());
        settle().await;
        assert!(!verifies(&remembered));
        assert_eq!(
            wallet.verify(&remembered, Utc::now()),
            Err("service token signed by a key no longer (or not yet) trusted")
        );
        assert!(verifies(&token(&new)));
        watcher.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
