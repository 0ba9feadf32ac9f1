//! Readiness of the backing services.

use async_trait::async_trait;

use crate::error::StoreError;

/// Readiness of a backing service (the database).
#[async_trait]
pub trait HealthCheck: Send + Sync {
    async fn ping(&self) -> Result<(), StoreError>;
}
