//! A limit, the counter it applies to, and the admission rule that stores
//! apply atomically when they reserve an attempt.

use chrono::{DateTime, Duration, Utc};

/// Attempts counted under one key (an account, a client address, a pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    pub count: u32,
    /// The last attempt reserved.
    pub last: DateTime<Utc>,
}

/// What a store answers when asked to reserve an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Counted: the attempt may go ahead.
    Reserved,
    /// Refused, nothing counted: retry after this many seconds (≥ 1).
    Blocked(u64),
}

/// A limit: `max` attempts per `window_secs` (a window that slides with the
/// last attempt); past it, one attempt per back-off of
/// `backoff_base_secs` × 2^(attempts − max), at most `backoff_max_secs`
/// (and never longer than the window, after which the count starts over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window_secs: i64,
    pub backoff_base_secs: i64,
    pub backoff_max_secs: i64,
}

/// Doublings considered at most (2^30 × any base exceeds any sane cap).
const MAX_DOUBLINGS: u32 = 30;

impl Limit {
    /// How long `count` attempts (≥ `max`) block the next one, in seconds.
    pub fn backoff_secs(&self, count: u32) -> i64 {
        let over = count.saturating_sub(self.max).min(MAX_DOUBLINGS);
        self.backoff_base_secs
            .max(0)
            .saturating_mul(1i64 << over)
            .min(self.backoff_max_secs.max(0))
            .min(self.window_secs.max(0))
    }

    /// Whether the counter has expired at `now` (the next attempt starts over).
    pub fn expired(&self, attempts: &Attempts, now: DateTime<Utc>) -> bool {
        now - attempts.last > Duration::seconds(self.window_secs)
    }

    /// Seconds until one more attempt is admitted; `None`: admitted now.
    pub fn retry_after(&self, attempts: Option<&Attempts>, now: DateTime<Utc>) -> Option<u64> {
        let a = attempts?;
        if self.expired(a, now) || a.count < self.max {
            return None;
        }
        let until = a.last + Duration::seconds(self.backoff_secs(a.count));
        (now < until).then(|| {
            let ms = (until - now).num_milliseconds();
            u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1)
        })
    }

    /// The counter after one more attempt at `now`.
    pub fn next(&self, attempts: Option<&Attempts>, now: DateTime<Utc>) -> Attempts {
        match attempts {
            Some(a) if !self.expired(a, now) => Attempts {
                count: a.count.saturating_add(1),
                last: now,
            },
            _ => Attempts {
                count: 1,
                last: now,
            },
        }
    }

    /// The admission rule at `now` as comparisons a database can evaluate
    /// in one conditional `UPDATE` (no arithmetic on stored timestamps).
    pub fn admission(&self, now: DateTime<Utc>) -> Admission {
        let mut steps = Vec::new();
        let mut over = 0;
        loop {
            let count = self.max.saturating_add(over);
            let backoff = self.backoff_secs(count);
            let capped = over >= MAX_DOUBLINGS
                || count == u32::MAX
                || self.backoff_secs(count.saturating_add(1)) == backoff;
            steps.push(BackoffStep {
                count,
                and_above: capped,
                last_at_or_before: now - Duration::seconds(backoff),
            });
            if capped {
                break;
            }
            over += 1;
        }
        Admission {
            expired_before: now - Duration::seconds(self.window_secs),
            max: self.max,
            steps,
        }
    }
}

/// When one more attempt is admitted, for a counter (`count`, `last`):
/// `last < expired_before` (it starts over), or `count < max`, or for some
/// step, `count` is the step's (or above, for the last step) and
/// `last <= last_at_or_before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub expired_before: DateTime<Utc>,
    pub max: u32,
    pub steps: Vec<BackoffStep>,
}

/// One back-off step of an [`Admission`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffStep {
    pub count: u32,
    /// This step also covers every higher count (the back-off is capped).
    pub and_above: bool,
    pub last_at_or_before: DateTime<Utc>,
}

impl Admission {
    /// The rule applied to a counter (what a store's condition must agree with).
    pub fn admits(&self, a: &Attempts) -> bool {
        a.last < self.expired_before
            || a.count < self.max
            || self.steps.iter().any(|s| {
                (a.count == s.count || (s.and_above && a.count > s.count))
                    && a.last <= s.last_at_or_before
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit() -> Limit {
        Limit {
            max: 3,
            window_secs: 900,
            backoff_base_secs: 30,
            backoff_max_secs: 600,
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped_by_the_maximum_and_the_window() {
        let l = limit();
        let got: Vec<i64> = (3..10).map(|c| l.backoff_secs(c)).collect();
        assert_eq!(got, [30, 60, 120, 240, 480, 600, 600]);
        let short = Limit {
            window_secs: 100,
            ..l
        };
        assert_eq!(short.backoff_secs(20), 100);
        assert_eq!(l.backoff_secs(u32::MAX), 600);
    }

    #[test]
    fn the_sql_admission_rule_agrees_with_retry_after() {
        let now = Utc::now();
        for l in [
            limit(),
            Limit {
                max: 1,
                window_secs: 60,
                backoff_base_secs: 60,
                backoff_max_secs: 60,
            },
            Limit {
                max: 5,
                window_secs: 900,
                backoff_base_secs: 0,
                backoff_max_secs: 0,
            },
        ] {
            let rule = l.admission(now);
            for count in 0..16 {
                for ago in (0..1000).step_by(7) {
                    let a = Attempts {
                        count,
                        last: now - Duration::seconds(ago),
                    };
                    assert_eq!(
                        rule.admits(&a),
                        l.retry_after(Some(&a), now).is_none(),
                        "{l:?} count {count}, {ago} s ago"
                    );
                }
            }
        }
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one() {
        let now = Utc::now();
        let l = limit();
        let a = Attempts {
            count: 3,
            last: now - Duration::milliseconds(29_500),
        };
        assert_eq!(l.retry_after(Some(&a), now), Some(1));
        let a = Attempts {
            count: 4,
            last: now,
        };
        assert_eq!(l.retry_after(Some(&a), now), Some(60));
        assert_eq!(l.retry_after(None, now), None);
    }
}
