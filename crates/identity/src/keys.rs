//! The signing key ring: which Ed25519 key signs access tokens now, the next one, and
//! rotation.
//!
//! Without configuration, keys are generated and kept in `signing_keys`: one SIGNING, one
//! NEXT (published ahead, so verifiers that cache the key set for `max_cache_age` already
//! know it when it starts signing). When the signing key has signed for the rotation
//! period, the next key takes over, the old one is RETIRED and stays published until no
//! token it signed can still be valid (retirement + access token lifetime), and a new
//! NEXT is generated. Rotation happens lazily on the first signature after it is due, under
//! an advisory lock, so replicas agree; every replica computes "due" from the same stored
//! activation time.
//!
//! With `KJ_IDENTITY_SIGNING_KEY`, that key signs (its seed is not stored), generated keys
//! are retired, and rotation is the operator's: change the configured key. With
//! `KJ_IDENTITY_SIGNING_KEY_FILE` the key (and a next one) comes from a file that every
//! replica reloads when it changes, so the key rotates without a restart: add `next=`
//! (published at once; wait the verifiers' cache age), then make it `signing=` (the old key
//! stays published until no token it signed can still be valid).

use std::sync::RwLock;

use chrono::{DateTime, Duration, Utc};
use kuajing_platform::token::SigningKey;
use sqlx::PgPool;
use uuid::Uuid;

use crate::store::keys::{self as store, KeyRow};

#[derive(Clone, Debug)]
struct Current {
    key: SigningKey,
    activated_at: DateTime<Utc>,
}

/// Configured keys: the one that signs and, ahead of a rotation, the next one (published
/// before it signs). Their seeds are never stored.
#[derive(Clone, Debug)]
pub struct Configured {
    /// Signs access tokens.
    pub signing: SigningKey,
    /// Published, to sign next.
    pub next: Option<SigningKey>,
}

impl Configured {
    /// Just a signing key.
    pub fn signing(key: SigningKey) -> Configured {
        Configured {
            signing: key,
            next: None,
        }
    }

    /// A key file: `signing=<key>` and optionally `next=<key>`, one per line (`#` starts a
    /// comment), or one bare key (it signs; base64 on one line, or a PEM block).
    pub fn parse(text: &str) -> anyhow::Result<Configured> {
        // A PEM key spans several lines and is the signing key.
        if text.trim_start().starts_with("-----BEGIN") {
            let key = SigningKey::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?;
            return Ok(Configured::signing(key));
        }
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let (mut signing, mut next) = (None, None);
        for line in &lines {
            let (slot, key) = match line.split_once('=') {
                Some(("signing", k)) => (&mut signing, k),
                Some(("next", k)) => (&mut next, k),
                // A bare key (base64 may end in '=') alone in the file signs.
                _ if lines.len() == 1 => (&mut signing, *line),
                _ => anyhow::bail!("a line is neither signing=<key> nor next=<key>"),
            };
            anyhow::ensure!(slot.is_none(), "a key is given twice");
            *slot = Some(SigningKey::parse(key).map_err(|e| anyhow::anyhow!("{e}"))?);
        }
        let signing = signing.ok_or_else(|| anyhow::anyhow!("no signing=<key>"))?;
        anyhow::ensure!(
            next.as_ref()
                .is_none_or(|n: &SigningKey| n.kid() != signing.kid()),
            "next is the signing key"
        );
        Ok(Configured { signing, next })
    }
}

/// How long after a configured key is replaced another replica may still sign with it:
/// the kubelet's update of a mounted Secret (about a minute) and the reload interval, with
/// room. The replaced key stays published that much longer than the access token lifetime,
/// so every token it signed verifies for its whole life.
const RELOAD_LAG: Duration = Duration::minutes(5);

/// The signing key ring of one service instance.
#[derive(Debug)]
pub struct KeyRing {
    pool: PgPool,
    configured: RwLock<Option<Configured>>,
    rotation: Duration,
    access_ttl: Duration,
    current: RwLock<Current>,
}

fn generated_row(key: &SigningKey, state: &str, now: DateTime<Utc>) -> KeyRow {
    KeyRow {
        key_id: Uuid::now_v7(),
        kid: key.kid().to_owned(),
        public_key: key.public().to_bytes().to_vec(),
        seed: Some(key.seed().to_vec()),
        state: state.to_owned(),
        created_at: now,
        activated_at: (state == "SIGNING").then_some(now),
        retired_at: None,
        not_after: None,
    }
}

fn key_of(row: &KeyRow) -> Option<SigningKey> {
    let seed: [u8; 32] = row.seed.as_deref()?.try_into().ok()?;
    let key = SigningKey::from_seed(&seed);
    (key.kid() == row.kid).then_some(key)
}

impl KeyRing {
    /// Loads (creating or rotating as needed) the keys.
    pub async fn start(
        pool: PgPool,
        configured: Option<Configured>,
        rotation: Duration,
        access_ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<KeyRing> {
        let current = ensure(&pool, configured.as_ref(), rotation, access_ttl, now).await?;
        Ok(KeyRing {
            pool,
            configured: RwLock::new(configured),
            rotation,
            access_ttl,
            current: RwLock::new(current),
        })
    }

    fn configured(&self) -> Option<Configured> {
        self.configured
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts newly configured keys in force (a changed key file): the next key is published,
    /// a new signing key signs from now on and the one before stays published until no
    /// token it signed can still be valid.
    pub async fn reconfigure(
        &self,
        configured: Configured,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let fresh = ensure(
            &self.pool,
            Some(&configured),
            self.rotation,
            self.access_ttl,
            now,
        )
        .await?;
        tracing::info!(
            kid = fresh.key.kid(),
            next = configured.next.as_ref().map(|k| k.kid().to_owned()),
            "signing keys reloaded"
        );
        *self.configured.write().unwrap_or_else(|p| p.into_inner()) = Some(configured);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    fn snapshot(&self) -> Current {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The key that signs at `now`, rotating first when rotation is due.
    pub async fn signing_key(&self, now: DateTime<Utc>) -> anyhow::Result<SigningKey> {
        let current = self.snapshot();
        if self.configured().is_some() || now < current.activated_at + self.rotation {
            return Ok(current.key);
        }
        let fresh = ensure(&self.pool, None, self.rotation, self.access_ttl, now).await?;
        let key = fresh.key.clone();
        match self.current.write() {
            Ok(mut c) => *c = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(key)
    }

    /// The private key named `kid`, to re-sign a token for a replayed request; `None` when
    /// it is gone (a configured key that is no longer configured).
    pub async fn key_for_kid(&self, kid: &str) -> anyhow::Result<Option<SigningKey>> {
        let current = self.snapshot();
        if current.key.kid() == kid {
            return Ok(Some(current.key));
        }
        if let Some(c) = self.configured() {
            for k in std::iter::once(c.signing).chain(c.next) {
                if k.kid() == kid {
                    return Ok(Some(k));
                }
            }
        }
        let mut conn = self.pool.acquire().await?;
        Ok(store::by_kid(&mut conn, kid)
            .await?
            .as_ref()
            .and_then(key_of))
    }
}

/// Brings the stored keys in line with the configuration and the rotation schedule at
/// `now`, and returns the signing key.
async fn ensure(
    pool: &PgPool,
    configured: Option<&Configured>,
    rotation: Duration,
    access_ttl: Duration,
    now: DateTime<Utc>,
) -> anyhow::Result<Current> {
    let mut tx = pool.begin().await?;
    store::lock(&mut tx).await?;
    let rows = store::all(&mut tx).await?;
    let signing = rows.iter().find(|r| r.state == "SIGNING");

    let current = if let Some(config) = configured {
        let key = &config.signing;
        let current = match signing {
            Some(row) if row.kid == key.kid() => Current {
                key: key.clone(),
                activated_at: row.activated_at.unwrap_or(now),
            },
            _ => {
                store::withdraw_next(&mut tx, None, now).await?;
                store::retire_signing(&mut tx, now, now + access_ttl + RELOAD_LAG).await?;
                if rows.iter().any(|r| r.kid == key.kid()) {
                    store::activate(&mut tx, key.kid(), now).await?;
                } else {
                    let mut row = generated_row(key, "SIGNING", now);
                    row.seed = None; // configuration holds it
                    store::insert(&mut tx, &row).await?;
                }
                tracing::info!(kid = key.kid(), "configured signing key in use");
                Current {
                    key: key.clone(),
                    activated_at: now,
                }
            }
        };
        // The configured next key is published (its public part only); any other waiting
        // next key is withdrawn.
        if let Some(next) = &config.next {
            store::withdraw_next(&mut tx, Some(next.kid()), now).await?;
            let listed = store::all(&mut tx).await?;
            if !listed.iter().any(|r| r.kid == next.kid()) {
                let mut row = generated_row(next, "NEXT", now);
                row.seed = None;
                store::insert(&mut tx, &row).await?;
            } else if !listed
                .iter()
                .any(|r| r.kid == next.kid() && (r.state == "NEXT" || r.state == "SIGNING"))
            {
                store::publish_next(&mut tx, next.kid()).await?;
            }
        } else {
            // A rotation given up (next= removed): its key is no longer published.
            store::withdraw_next(&mut tx, None, now).await?;
        }
        current
    } else {
        let usable = signing.and_then(|row| Some((key_of(row)?, row.activated_at?)));
        let (current, rotated) = match usable {
            Some((key, activated_at)) if now < activated_at + rotation => {
                (Current { key, activated_at }, false)
            }
            _ => {
                // Due (or no usable signing key): the next key takes over.
                store::retire_signing(&mut tx, now, now + access_ttl).await?;
                let next = rows.iter().filter(|r| r.state == "NEXT").find_map(key_of);
                let key = match next {
                    Some(k) => {
                        store::activate(&mut tx, k.kid(), now).await?;
                        k
                    }
                    None => {
                        let k = SigningKey::generate()?;
                        store::insert(&mut tx, &generated_row(&k, "SIGNING", now)).await?;
                        k
                    }
                };
                tracing::info!(kid = key.kid(), "signing key activated");
                (
                    Current {
                        key,
                        activated_at: now,
                    },
                    true,
                )
            }
        };
        let has_next = !rotated && rows.iter().any(|r| r.state == "NEXT");
        if !has_next {
            let next = SigningKey::generate()?;
            store::insert(&mut tx, &generated_row(&next, "NEXT", now)).await?;
        }
        current
    };
    tx.commit().await?;
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn text(k: &SigningKey) -> String {
        base64::engine::general_purpose::STANDARD.encode(k.seed())
    }

    #[test]
    fn a_key_file_names_the_signing_key_and_perhaps_the_next() {
        let (a, b) = (
            SigningKey::generate().unwrap(),
            SigningKey::generate().unwrap(),
        );
        let bare = Configured::parse(&format!("{}\n", text(&a))).unwrap();
        assert_eq!((bare.signing.kid(), bare.next.is_none()), (a.kid(), true));
        // A PKCS#8 PEM block (several lines) is a bare key too.
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&a.seed());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n{}\n-----END PRIVATE KEY-----\n",
            &b64[..32],
            &b64[32..]
        );
        assert_eq!(Configured::parse(&pem).unwrap().signing.kid(), a.kid());
        let both = Configured::parse(&format!(
            "# rotating\nsigning={}\nnext={}\n",
            text(&a),
            text(&b)
        ))
        .unwrap();
        assert_eq!(both.signing.kid(), a.kid());
        assert_eq!(
            both.next.map(|n| n.kid().to_owned()),
            Some(b.kid().to_owned())
        );
        for bad in [
            String::new(),
            format!("next={}", text(&b)),
            format!("signing={}\nsigning={}", text(&a), text(&b)),
            format!("signing={}\nnext={}", text(&a), text(&a)),
            format!("signing={}\nlater={}", text(&a), text(&b)),
            "signing=not-a-key".to_owned(),
        ] {
            assert!(Configured::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
