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
//! are retired, and rotation is the operator's: change the configured key.

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

/// The signing key ring of one service instance.
#[derive(Debug)]
pub struct KeyRing {
    pool: PgPool,
    configured: Option<SigningKey>,
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
        configured: Option<SigningKey>,
        rotation: Duration,
        access_ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<KeyRing> {
        let current = ensure(&pool, configured.as_ref(), rotation, access_ttl, now).await?;
        Ok(KeyRing {
            pool,
            configured,
            rotation,
            access_ttl,
            current: RwLock::new(current),
        })
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
        if self.configured.is_some() || now < current.activated_at + self.rotation {
            return Ok(current.key);
        }
        let fresh = ensure(
            &self.pool,
            self.configured.as_ref(),
            self.rotation,
            self.access_ttl,
            now,
        )
        .await?;
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
        if let Some(k) = self.configured.as_ref().filter(|k| k.kid() == kid) {
            return Ok(Some(k.clone()));
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
    configured: Option<&SigningKey>,
    rotation: Duration,
    access_ttl: Duration,
    now: DateTime<Utc>,
) -> anyhow::Result<Current> {
    let mut tx = pool.begin().await?;
    store::lock(&mut tx).await?;
    let rows = store::all(&mut tx).await?;
    let signing = rows.iter().find(|r| r.state == "SIGNING");

    let current = if let Some(key) = configured {
        match signing {
            Some(row) if row.kid == key.kid() => Current {
                key: key.clone(),
                activated_at: row.activated_at.unwrap_or(now),
            },
            _ => {
                store::withdraw_next(&mut tx, now).await?;
                store::retire_signing(&mut tx, now, now + access_ttl).await?;
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
        }
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
