//! The in-process attempt store: one instance's counters, bounded in size.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{AttemptStore, Attempts};
use crate::error::StoreError;

/// The in-process store: one instance's counters, bounded in size.
#[derive(Debug, Default)]
pub struct MemoryAttempts {
    entries: Mutex<HashMap<String, Attempts>>,
}

/// Keys kept at most; beyond, the oldest half is dropped.
const MAX_KEYS: usize = 100_000;

#[async_trait]
impl AttemptStore for MemoryAttempts {
    async fn record(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<Attempts, StoreError> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| StoreError::internal("attempt counters poisoned"))?;
        if entries.len() >= MAX_KEYS && !entries.contains_key(key) {
            let mut lasts: Vec<DateTime<Utc>> = entries.values().map(|a| a.last).collect();
            lasts.sort();
            let cutoff = lasts[lasts.len() / 2];
            entries.retain(|_, a| a.last > cutoff);
        }
        let window = chrono::Duration::seconds(window_secs);
        let entry = entries.entry(key.to_owned()).or_insert(Attempts {
            count: 0,
            last: now,
        });
        if now - entry.last > window {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        Ok(*entry)
    }

    async fn get(&self, key: &str) -> Result<Option<Attempts>, StoreError> {
        let entries = self
            .entries
            .lock()
            .map_err(|_| StoreError::internal("attempt counters poisoned"))?;
        Ok(entries.get(key).copied())
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
        Ok(())
    }
}
