//! `AttemptStore` in Redis: rate limits shared by every instance, without
//! the database.
//!
//! Each counter is a hash `{prefix}{key}` with `c` (the count) and `l` (the
//! last reserved attempt, microseconds since the epoch, from the domain's
//! clock — never Redis `TIME` — so every store agrees on what "now" is).
//!
//! A reservation is one Lua script, which Redis runs atomically: it applies
//! the domain's admission rule ([`Limit::admission`], passed as arguments,
//! the same comparisons the SQL store puts in its `WHERE`) to the stored
//! counter, and either writes the next counter ([`Limit::next`]: count + 1,
//! or 1 when the window has passed) or answers the counter that refused.
//! So concurrent reservations of one key never admit more than the rule.
//!
//! Keys expire by themselves: each reservation sets a TTL of twice the
//! limit's window plus a minute (a counter idle for longer than its window
//! counts for nothing; the margin covers clocks that differ between
//! instances). [`AttemptStore::purge`] therefore has nothing to do.
//!
//! Redis Cluster is not supported (`clear_prefix` scans one node); a single
//! Redis, or a primary behind Sentinel/a proxy, is.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands as _, Script};
use rolegate_domain::{AttemptStore, Attempts, Limit, Reservation, StoreError};

use crate::redact_url;

/// Reserves one attempt if the admission rule admits it (see the module).
/// KEYS[1] the counter; ARGV: now (µs), TTL (ms), expired_before (µs), max,
/// then per back-off step: count, and_above (1/0), last_at_or_before (µs).
/// Answers {1, count, last} when counted, {0, count, last} when refused.
/// Timestamps are written as the strings given (Lua numbers would print
/// 16-digit values rounded).
const RESERVE: &str = r"
local stored = redis.call('HMGET', KEYS[1], 'c', 'l')
local count = tonumber(stored[1])
local last = tonumber(stored[2])
if count and last then
  local expired_before = tonumber(ARGV[3])
  local admitted = last < expired_before or count < tonumber(ARGV[4])
  local i = 5
  while not admitted and i + 2 <= #ARGV do
    local step = tonumber(ARGV[i])
    if (count == step or (ARGV[i + 1] == '1' and count > step))
        and last <= tonumber(ARGV[i + 2]) then
      admitted = true
    end
    i = i + 3
  end
  if not admitted then
    return {0, count, stored[2]}
  end
  if last < expired_before then count = 1 else count = count + 1 end
else
  count = 1
end
redis.call('HSET', KEYS[1], 'c', count, 'l', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, count, ARGV[1]}
";

/// Gives one attempt back: never below zero, never creating the counter.
const REFUND: &str = r"
local count = tonumber(redis.call('HGET', KEYS[1], 'c'))
if count and count > 0 then
  redis.call('HINCRBY', KEYS[1], 'c', -1)
end
return 0
";

/// Keys deleted per `SCAN` round of `clear_prefix`.
const SCAN_BATCH: usize = 500;

/// How to reach Redis.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). A secret.
    pub url: String,
    /// Put before every key, so that deployments (and tests) can share one Redis.
    pub prefix: String,
    /// Connecting, and each command's answer, give up after this long.
    pub timeout: Duration,
    /// For `rediss://`: a PEM file of the CA(s) that signed Redis's
    /// certificate, instead of the system's roots (a private CA).
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Rate-limit counters in Redis, over a connection manager that reconnects
/// by itself after Redis restarts (commands fail fast meanwhile).
#[derive(Clone)]
pub struct RedisAttempts {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    reserve: Script,
    refund: Script,
}

impl std::fmt::Debug for RedisAttempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAttempts")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A Redis failure as the domain sees it: unreachable (connection refused,
/// dropped, timed out, Redis loading or read-only) or anything else.
fn map_redis_err(e: redis::RedisError) -> StoreError {
    use redis::{ErrorKind, ServerErrorKind};
    let unreachable = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
            )
        );
    if unreachable {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Internal(Box::new(e))
    }
}

/// `raw` with the characters `SCAN MATCH` treats specially escaped.
fn glob_escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 2);
    for c in raw.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Microseconds since the epoch, the form `l` is stored in.
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::internal(format!("a counter's time is out of range: {us}")))
}

impl RedisAttempts {
    /// Prepares the connection manager; the connection itself is made at
    /// the first command (Redis may be down when rolegate starts: requests
    /// then meet `rate_limit.on_store_error`). Fails only for a URL that is
    /// not a Redis URL.
    pub fn connect(config: &RedisConfig) -> Result<Self, StoreError> {
        let not_redis = |_| {
            StoreError::internal(format!(
                "rate_limit.redis_url {} is not a Redis URL (redis://host:port or rediss://host:port)",
                redact_url(&config.url)
            ))
        };
        if config.url.starts_with("rediss:") {
            // TLS over the build's rustls: several crypto providers are
            // compiled in, so the process needs a default (aws-lc-rs, as
            // everywhere else in rolegate); one installed already stays.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        let client = match &config.ca_file {
            None => redis::Client::open(config.url.as_str()).map_err(not_redis)?,
            Some(path) => {
                let root_cert = std::fs::read(path).map_err(|e| {
                    StoreError::internal(format!(
                        "reading rate_limit.redis_ca_file {}: {e}",
                        path.display()
                    ))
                })?;
                redis::Client::build_with_tls(
                    config.url.as_str(),
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert),
                    },
                )
                .map_err(not_redis)?
            }
        };
        let timeout = config.timeout.max(Duration::from_millis(1));
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // One quick retry per (re)connection: a request waits at most
            // about two timeouts while Redis is down, then the policy decides.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(250));
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config)
            .map_err(map_redis_err)?;
        Ok(Self {
            conn,
            prefix: config.prefix.clone(),
            timeout,
            reserve: Script::new(RESERVE),
            refund: Script::new(REFUND),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `op` on a connection, bounded by a few timeouts in all (the
    /// manager's own bounds cover connecting and each answer; this covers
    /// the retries in between).
    async fn run<T, F>(&self, op: impl FnOnce(ConnectionManager) -> F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(self.timeout * 4, op(self.conn.clone())).await {
            Ok(result) => result.map_err(map_redis_err),
            Err(_) => Err(StoreError::Unavailable(
                format!("Redis did not answer within {:?}", self.timeout * 4).into(),
            )),
        }
    }

    /// Seconds a counter lives after its last reservation.
    fn ttl_ms(limit: &Limit) -> i64 {
        limit
            .window_secs
            .max(1)
            .saturating_mul(2)
            .saturating_add(60)
            .saturating_mul(1000)
    }
}

#[async_trait]
impl AttemptStore for RedisAttempts {
    async fn reserve(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limit: &Limit,
    ) -> Result<Reservation, StoreError> {
        let rule = limit.admission(now);
        let mut call = self.reserve.key(self.key(key));
        call.arg(micros(now).to_string())
            .arg(Self::ttl_ms(limit))
            .arg(micros(rule.expired_before).to_string())
            .arg(rule.max);
        for step in &rule.steps {
            call.arg(step.count)
                .arg(if step.and_above { "1" } else { "0" })
                .arg(micros(step.last_at_or_before).to_string());
        }
        let (counted, count, last): (i64, i64, String) = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        if counted == 1 {
            return Ok(Reservation::Reserved);
        }
        let last = last
            .parse::<i64>()
            .map_err(|_| StoreError::internal(format!("a counter's time is not a number: {last}")))
            .and_then(from_micros)?;
        let current = Attempts {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            last,
        };
        // The script refused on this very counter: the rule's wait (at least
        // a second, as the other stores answer).
        Ok(Reservation::Blocked(
            limit.retry_after(Some(&current), now).unwrap_or(1),
        ))
    }

    async fn refund(&self, key: &str) -> Result<(), StoreError> {
        let call = self.refund.key(self.key(key));
        self.run(|mut conn| async move { call.invoke_async::<i64>(&mut conn).await })
            .await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Attempts>, StoreError> {
        let key = self.key(key);
        let (count, last): (Option<i64>, Option<i64>) = self
            .run(|mut conn| async move {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg("c")
                    .arg("l")
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        match (count, last) {
            (Some(count), Some(last)) => Ok(Some(Attempts {
                count: u32::try_from(count.max(0)).unwrap_or(u32::MAX),
                last: from_micros(last)?,
            })),
            _ => Ok(None),
        }
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        let key = self.key(key);
        self.run(|mut conn| async move { conn.del::<_, i64>(&key).await })
            .await?;
        Ok(())
    }

    /// `SCAN … MATCH` in rounds, deleting each round's keys with one `DEL`
    /// (never `KEYS`, which blocks Redis while it walks every key).
    async fn clear_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let pattern = format!("{}*", glob_escape(&self.key(prefix)));
        let mut cursor: u64 = 0;
        let mut deleted: u64 = 0;
        loop {
            let pattern = pattern.as_str();
            let (next, keys): (u64, Vec<String>) = self
                .run(|mut conn| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(SCAN_BATCH)
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            if !keys.is_empty() {
                let n: u64 = self
                    .run(|mut conn| async move { conn.del(&keys).await })
                    .await?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// Nothing to do: every counter carries a TTL (see the module).
    async fn purge(&self, _before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns_escape_the_prefix() {
        assert_eq!(glob_escape("rl:a*b?[c]\\"), "rl:a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn the_config_never_shows_the_password() {
        let config = RedisConfig {
            url: "redis://:hunter2@cache:6379/0".into(),
            prefix: "rl:".into(),
            timeout: Duration::from_secs(1),
            ca_file: None,
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("cache:6379"), "{shown}");
    }
}
