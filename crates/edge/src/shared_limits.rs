//! Rate limits shared by every edge replica, kept in Redis: the same generic cell rate
//! algorithm as the in-process buckets (`domain::rate`), run atomically by the store (one
//! Lua script per admission, reading the store's own clock, so replicas' clocks don't
//! matter). The client is the few lines of RESP it needs, over a small pool of
//! connections.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::domain::rate::Rate;

/// The admission: KEYS[1] the bucket; ARGV interval and tolerance in microseconds.
/// Returns 0 when admitted, else the microseconds until one would be.
const SCRIPT: &str = "local t = redis.call('TIME') \
local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) \
local tat = tonumber(redis.call('GET', KEYS[1]) or now) \
if tat < now then tat = now end \
local interval = tonumber(ARGV[1]) \
local tolerance = tonumber(ARGV[2]) \
if tat > now + tolerance then return tat - tolerance - now end \
local new = tat + interval \
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.floor((new - now) / 1000) + 1) \
return 0";

/// Connections kept open to the store.
const POOL: usize = 8;
/// Longest an admission may wait for the store before the local buckets decide.
const TIMEOUT: Duration = Duration::from_millis(250);

/// The `host:port` of a `redis://host:port[/...]` URL.
pub fn address_of(url: &str) -> Result<String, String> {
    let rest = url
        .trim()
        .strip_prefix("redis://")
        .ok_or_else(|| format!("{url:?}: expected redis://host:port"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "{url:?}: expected redis://host:port (no credentials)"
        ));
    }
    Ok(if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:6379")
    })
}

/// Buckets kept in the store.
#[derive(Debug)]
pub struct Shared {
    address: String,
    prefix: String,
    idle: Mutex<Vec<BufReader<TcpStream>>>,
}

impl Shared {
    /// Buckets at `address` (`host:port`), keys under `prefix`.
    pub fn new(address: String, prefix: String) -> Shared {
        Shared {
            address,
            prefix,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Admits one request of `key` in bucket `bucket` at `rate`: `Ok(None)` admitted,
    /// `Ok(Some(wait))` refused until then, `Err` when the store did not answer.
    pub async fn admit(
        &self,
        bucket: &str,
        key: &str,
        rate: Rate,
    ) -> Result<Option<Duration>, String> {
        if rate.count == 0 {
            return Ok(None);
        }
        let interval = rate.period.as_micros() / u128::from(rate.count.max(1));
        let tolerance = interval * u128::from(rate.burst.max(1) - 1);
        let full_key = format!("{}:rl:{bucket}:{key}", self.prefix);
        let args = [
            "EVAL".to_owned(),
            SCRIPT.to_owned(),
            "1".to_owned(),
            full_key,
            interval.to_string(),
            tolerance.to_string(),
        ];
        let wait = tokio::time::timeout(TIMEOUT, self.command(&args))
            .await
            .map_err(|_| "the rate-limit store did not answer in time".to_owned())??;
        Ok((wait > 0).then(|| Duration::from_micros(u64::try_from(wait).unwrap_or(u64::MAX))))
    }

    async fn command(&self, args: &[String]) -> Result<i64, String> {
        let pooled = self.idle.lock().await.pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => BufReader::new(
                TcpStream::connect(&self.address)
                    .await
                    .map_err(|e| format!("connecting to {}: {e}", self.address))?,
            ),
        };
        let answer = exchange(&mut conn, args).await;
        if answer.is_ok() {
            let mut idle = self.idle.lock().await;
            if idle.len() < POOL {
                idle.push(conn);
            }
        }
        answer
    }
}

/// Sends one command and reads its integer reply.
async fn exchange(conn: &mut BufReader<TcpStream>, args: &[String]) -> Result<i64, String> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    conn.get_mut()
        .write_all(&out)
        .await
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    conn.read_line(&mut line).await.map_err(|e| e.to_string())?;
    let line = line.trim_end();
    match line.split_at_checked(1) {
        Some((":", n)) => n.parse().map_err(|_| format!("bad reply {line:?}")),
        Some(("-", e)) => Err(format!("the store refused: {e}")),
        Some(("$", n)) => {
            // A bulk string (not expected from the script): read it off the wire.
            let n: i64 = n.parse().map_err(|_| format!("bad reply {line:?}"))?;
            if n >= 0 {
                let mut skip = vec![0u8; usize::try_from(n).unwrap_or(0) + 2];
                conn.read_exact(&mut skip)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Err(format!("unexpected reply {line:?}"))
        }
        _ => Err(format!("unexpected reply {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            address_of("redis://127.0.0.1:6379").unwrap(),
            "127.0.0.1:6379"
        );
        assert_eq!(address_of("redis://cache/0").unwrap(), "cache:6379");
        assert!(address_of("http://x").is_err());
        assert!(address_of("redis://user:pw@x:1").is_err());
    }
}
