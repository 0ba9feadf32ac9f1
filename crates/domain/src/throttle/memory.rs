//! The in-process attempt store: one instance's counters, bounded in size.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{AttemptStore, Attempts, Limit, Reservation};
use crate::error::StoreError;

/// The in-process store: one instance's counters, bounded in size. Each
/// operation holds one lock, so a reservation is atomic.
#[derive(Debug, Default)]
pub struct MemoryAttempts {
    entries: Mutex<HashMap<String, Attempts>>,
}

/// Keys kept at most; beyond, the oldest half is dropped.
const MAX_KEYS: usize = 100_000;

impl MemoryAttempts {
    fn lock(&self) -> Result<MutexGuard<'_, HashMap<String, Attempts>>, StoreError> {
        self.entries
            .lock()
            .map_err(|_| StoreError::internal("attempt counters poisoned"))
    }
}

#[async_trait]
impl AttemptStore for MemoryAttempts {
    async fn reserve(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limit: &Limit,
    ) -> Result<Reservation, StoreError> {
        let mut entries = self.lock()?;
        if let Some(wait) = limit.retry_after(entries.get(key), now) {
            return Ok(Reservation::Blocked(wait));
        }
        if entries.len() >= MAX_KEYS && !entries.contains_key(key) {
            let mut lasts: Vec<DateTime<Utc>> = entries.values().map(|a| a.last).collect();
            lasts.sort();
            let cutoff = lasts[lasts.len() / 2];
            entries.retain(|_, a| a.last > cutoff);
        }
        let next = limit.next(entries.get(key), now);
        entries.insert(key.to_owned(), next);
        Ok(Reservation::Reserved)
    }

    async fn refund(&self, key: &str) -> Result<(), StoreError> {
        if let Some(a) = self.lock()?.get_mut(key) {
            a.count = a.count.saturating_sub(1);
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Attempts>, StoreError> {
        Ok(self.lock()?.get(key).copied())
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        self.lock()?.remove(key);
        Ok(())
    }

    async fn clear_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let mut entries = self.lock()?;
        let before = entries.len();
        entries.retain(|k, _| !k.starts_with(prefix));
        Ok((before - entries.len()) as u64)
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut entries = self.lock()?;
        let n = entries.len();
        entries.retain(|_, a| a.last >= before);
        Ok((n - entries.len()) as u64)
    }
}
