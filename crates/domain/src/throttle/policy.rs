//! What the throttle does when its store fails: [`OnStoreError`].

use chrono::{DateTime, Utc};

use super::{Limit, Reservation, Throttle};
use crate::error::Error;

/// What a rate-limited request does when the counters' store fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStoreError {
    /// Refuse it ([`Error::RateLimitUnavailable`]): no attempt goes
    /// uncounted, at the cost of refusing sign-ins while the store is down.
    #[default]
    Deny,
    /// Let it through uncounted: the service stays usable, unlimited, while
    /// the store is down.
    Allow,
}

/// What reserving one counter came to.
pub(super) enum Reserved {
    Counted,
    Blocked(u64),
    /// The store failed and [`OnStoreError::Allow`] let the attempt through.
    Uncounted,
}

/// An error and its causes, `: `-separated, for the log.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

impl Throttle {
    /// Reserves one attempt under `key` at `now`; a store failure is logged
    /// and decided by the [`OnStoreError`] policy.
    pub(super) async fn reserve(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limit: &Limit,
    ) -> Result<Reserved, Error> {
        match self.store.reserve(key, now, limit).await {
            Ok(Reservation::Reserved) => Ok(Reserved::Counted),
            Ok(Reservation::Blocked(wait)) => Ok(Reserved::Blocked(wait)),
            Err(e) => match self.on_store_error {
                OnStoreError::Deny => {
                    tracing::warn!(
                        error = %chain(&e),
                        key,
                        "the rate-limit store failed: the request is refused (rate_limit.on_store_error = \"deny\")"
                    );
                    Err(Error::RateLimitUnavailable(Box::new(e)))
                }
                OnStoreError::Allow => {
                    tracing::warn!(
                        error = %chain(&e),
                        key,
                        "the rate-limit store failed: the request goes through uncounted (rate_limit.on_store_error = \"allow\")"
                    );
                    Ok(Reserved::Uncounted)
                }
            },
        }
    }
}
