//! Revocation of access tokens within seconds, on every instance.
//!
//! Access tokens are verified without the database, so a session that ends
//! (sign-out, reuse detection, a password change, an admin disabling or
//! deleting the user…) would otherwise keep working until its access tokens
//! expire. Every change that ends access records a [`Revocation`] in the
//! transaction that makes it; each instance keeps a [`RevocationSet`] fed by
//! a [`RevocationPoller`] that reads the new ones every few seconds through
//! the [`RevocationFeed`] port. Guards ask the set, in memory.
//!
//! What "revoked" means is decided here:
//! - a **session** revocation refuses every access token whose `sid` is that
//!   session, for good (a session never comes back);
//! - a **user** revocation (disabled, deleted) refuses every access token of
//!   that user, whatever its session, until a later **restore** (the user was
//!   enabled again) for that user;
//! - an entry is forgotten once every access token it could refuse has
//!   expired: its time plus the access tokens' lifetime and leeway
//!   ([`RevocationSet::new`]'s `lifetime`). The set stays bounded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::clock::Clock;
use crate::error::StoreError;
use crate::users::UserId;

/// What a revocation ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// One session (refresh-token family): the `sid` of its access tokens.
    Session(String),
    /// Every access token of the user (disabled or deleted).
    User,
    /// The user was enabled again: a former [`Revoked::User`] no longer holds.
    UserRestored,
}

impl Revoked {
    /// The stored form: `session`, `user`, `user_restored`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Session(_) => "session",
            Self::User => "user",
            Self::UserRestored => "user_restored",
        }
    }
}

/// A recorded revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The store's id (orders revocations recorded at the same time).
    pub id: i64,
    pub user: UserId,
    pub what: Revoked,
    /// When it was recorded (by the clock of the instance that recorded it).
    pub at: DateTime<Utc>,
}

/// Where revocations are read from (the database).
#[async_trait]
pub trait RevocationFeed: Send + Sync {
    /// Every revocation recorded at or after `since`, oldest first (by time,
    /// then id).
    async fn revocations_since(&self, since: DateTime<Utc>) -> Result<Vec<Revocation>, StoreError>;

    /// Deletes the revocations recorded before `before`; returns how many.
    async fn purge_revocations(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// How far back each poll reads again before the newest revocation it has
/// seen: a revocation stamped by an instance whose clock is behind, or whose
/// transaction committed late, is still found if it is at most this late.
pub const POLL_OVERLAP: Duration = Duration::seconds(60);

#[derive(Debug, Clone, Copy)]
struct UserMark {
    at: DateTime<Utc>,
    id: i64,
    revoked: bool,
}

#[derive(Debug, Default)]
struct Entries {
    /// Revoked sessions and when.
    sessions: HashMap<String, DateTime<Utc>>,
    /// The latest user-wide revocation or restore of each user.
    users: HashMap<i64, UserMark>,
}

/// The revoked sessions and users an instance knows of, in memory. A look-up
/// ([`is_revoked`](Self::is_revoked)) takes a shared lock and allocates
/// nothing; while the set is empty it takes no lock at all.
#[derive(Debug)]
pub struct RevocationSet {
    lifetime: Duration,
    empty: AtomicBool,
    entries: RwLock<Entries>,
}

impl RevocationSet {
    /// An empty set whose entries live `lifetime`: the longest an access
    /// token can be accepted (its lifetime plus the verifier's leeway).
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            empty: AtomicBool::new(true),
            entries: RwLock::new(Entries::default()),
        }
    }

    /// How long entries live.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Revocations recorded before this, at `now`, are needed by no poll
    /// (older than the lifetime and the overlap): the purge deletes them.
    pub fn purge_cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.lifetime - POLL_OVERLAP
    }

    /// Whether an access token of `user` for `session` is refused.
    pub fn is_revoked(&self, user: i64, session: Option<&str>) -> bool {
        if self.empty.load(Ordering::Acquire) {
            return false;
        }
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.users.get(&user).is_some_and(|m| m.revoked)
            || session.is_some_and(|s| entries.sessions.contains_key(s))
    }

    /// How many sessions and users are refused now.
    pub fn len(&self) -> (usize, usize) {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        (
            entries.sessions.len(),
            entries.users.values().filter(|m| m.revoked).count(),
        )
    }

    /// Whether nothing is refused.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

    /// Takes in `revocations` (in any order; the same one twice is harmless)
    /// and forgets entries older than the lifetime at `now`.
    pub fn apply(&self, revocations: &[Revocation], now: DateTime<Utc>) {
        let horizon = now - self.lifetime;
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        for r in revocations.iter().filter(|r| r.at >= horizon) {
            match &r.what {
                Revoked::Session(sid) => {
                    let at = entries.sessions.entry(sid.clone()).or_insert(r.at);
                    *at = (*at).max(r.at);
                }
                Revoked::User | Revoked::UserRestored => {
                    let mark = UserMark {
                        at: r.at,
                        id: r.id,
                        revoked: r.what == Revoked::User,
                    };
                    let slot = entries.users.entry(r.user.0).or_insert(mark);
                    if (mark.at, mark.id) > (slot.at, slot.id) {
                        *slot = mark;
                    }
                }
            }
        }
        entries.sessions.retain(|_, at| *at >= horizon);
        entries.users.retain(|_, m| m.at >= horizon);
        let empty = entries.sessions.is_empty() && !entries.users.values().any(|m| m.revoked);
        self.empty.store(empty, Ordering::Release);
    }
}

/// Feeds a [`RevocationSet`] from a [`RevocationFeed`]: the first poll reads
/// the revocations of the last `lifetime`, each later one those since the
/// newest seen, less [`POLL_OVERLAP`].
pub struct RevocationPoller {
    feed: Arc<dyn RevocationFeed>,
    set: Arc<RevocationSet>,
    clock: Arc<dyn Clock>,
    /// The newest revocation time seen (never ahead of our clock).
    cursor: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for RevocationPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationPoller")
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl RevocationPoller {
    pub fn new(
        feed: Arc<dyn RevocationFeed>,
        set: Arc<RevocationSet>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            feed,
            set,
            clock,
            cursor: None,
        }
    }

    /// The set it feeds.
    pub fn set(&self) -> &Arc<RevocationSet> {
        &self.set
    }

    /// Reads what was revoked since the last poll into the set; returns how
    /// many revocations were read. On an error the set stays as it was and
    /// the next poll reads the same span again.
    pub async fn poll(&mut self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let horizon = now - self.set.lifetime();
        let since = match self.cursor {
            Some(cursor) => (cursor - POLL_OVERLAP).max(horizon),
            None => horizon,
        };
        let read = self.feed.revocations_since(since).await?;
        self.set.apply(&read, now);
        if let Some(newest) = read.iter().map(|r| r.at).max() {
            // A clock ahead of ours must not move the cursor past what
            // instances with a correct clock have yet to write.
            let newest = newest.min(now);
            self.cursor = Some(self.cursor.map_or(newest, |c| c.max(newest)));
        }
        Ok(read.len())
    }

    /// Deletes revocations no instance needs any more.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        let before = self.set.purge_cutoff(self.clock.now());
        self.feed.purge_revocations(before).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::clock::ManualClock;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn rev(id: i64, user: i64, what: Revoked, at: DateTime<Utc>) -> Revocation {
        Revocation {
            id,
            user: UserId(user),
            what,
            at,
        }
    }

    #[derive(Default)]
    struct Feed {
        rows: Mutex<Vec<Revocation>>,
        asked: Mutex<Vec<DateTime<Utc>>>,
    }

    #[async_trait]
    impl RevocationFeed for Feed {
        async fn revocations_since(
            &self,
            since: DateTime<Utc>,
        ) -> Result<Vec<Revocation>, StoreError> {
            self.asked.lock().unwrap().push(since);
            let mut rows: Vec<Revocation> = self
                .rows
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.at >= since)
                .cloned()
                .collect();
            rows.sort_by_key(|r| (r.at, r.id));
            Ok(rows)
        }

        async fn purge_revocations(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
            let mut rows = self.rows.lock().unwrap();
            let n = rows.len();
            rows.retain(|r| r.at >= before);
            Ok((n - rows.len()) as u64)
        }
    }

    #[test]
    fn sessions_and_users_are_refused_until_their_tokens_expired() {
        let set = RevocationSet::new(Duration::seconds(930));
        assert!(!set.is_revoked(1, Some("s1")));
        set.apply(
            &[
                rev(1, 1, Revoked::Session("s1".into()), t0()),
                rev(2, 2, Revoked::User, t0()),
            ],
            t0(),
        );
        assert!(set.is_revoked(1, Some("s1")));
        assert!(
            !set.is_revoked(1, Some("s2")),
            "another session of the user"
        );
        assert!(!set.is_revoked(1, None));
        assert!(set.is_revoked(2, Some("any")) && set.is_revoked(2, None));
        assert_eq!(set.len(), (1, 1));
        // every token they could refuse has expired: forgotten
        set.apply(&[], t0() + Duration::seconds(931));
        assert!(!set.is_revoked(1, Some("s1")) && !set.is_revoked(2, None));
        assert!(set.is_empty());
        // too old to matter: not taken in
        set.apply(
            &[rev(3, 3, Revoked::User, t0())],
            t0() + Duration::seconds(931),
        );
        assert!(!set.is_revoked(3, None));
    }

    #[test]
    fn a_restore_lifts_a_user_revocation_in_any_order_but_not_its_sessions() {
        let set = RevocationSet::new(Duration::seconds(930));
        let disabled = rev(1, 7, Revoked::User, t0());
        let session = rev(2, 7, Revoked::Session("old".into()), t0());
        let restored = rev(3, 7, Revoked::UserRestored, t0() + Duration::seconds(1));
        set.apply(&[disabled.clone(), session.clone()], t0());
        assert!(set.is_revoked(7, Some("new")));
        set.apply(std::slice::from_ref(&restored), t0() + Duration::seconds(1));
        assert!(!set.is_revoked(7, Some("new")), "enabled again");
        assert!(
            set.is_revoked(7, Some("old")),
            "the old session stays ended"
        );
        // read again out of order (a poll's overlap): the restore still wins
        set.apply(&[restored, disabled], t0() + Duration::seconds(2));
        assert!(!set.is_revoked(7, Some("new")));
        // disabled again later
        set.apply(
            &[rev(4, 7, Revoked::User, t0() + Duration::seconds(3))],
            t0() + Duration::seconds(3),
        );
        assert!(set.is_revoked(7, Some("new")));
    }

    #[tokio::test]
    async fn the_poller_reads_from_the_newest_seen_less_the_overlap() {
        let clock = Arc::new(ManualClock::new(t0()));
        let feed = Arc::new(Feed::default());
        let set = Arc::new(RevocationSet::new(Duration::seconds(930)));
        let mut poller = RevocationPoller::new(feed.clone(), set.clone(), clock.clone());
        assert_eq!(poller.poll().await.unwrap(), 0);
        assert_eq!(
            feed.asked.lock().unwrap()[0],
            t0() - Duration::seconds(930),
            "the first poll reads the whole lifetime"
        );
        feed.rows
            .lock()
            .unwrap()
            .push(rev(1, 1, Revoked::Session("s".into()), t0()));
        clock.advance(Duration::seconds(5));
        assert_eq!(poller.poll().await.unwrap(), 1);
        assert!(set.is_revoked(1, Some("s")));
        // an instance whose clock is 30 s behind records one late: still found
        feed.rows
            .lock()
            .unwrap()
            .push(rev(2, 2, Revoked::User, t0() - Duration::seconds(30)));
        clock.advance(Duration::seconds(5));
        poller.poll().await.unwrap();
        assert_eq!(
            *feed.asked.lock().unwrap().last().unwrap(),
            t0() - POLL_OVERLAP
        );
        assert!(set.is_revoked(2, None));
        // a clock far ahead does not move the cursor past ours
        feed.rows
            .lock()
            .unwrap()
            .push(rev(3, 3, Revoked::User, t0() + Duration::hours(1)));
        poller.poll().await.unwrap();
        poller.poll().await.unwrap();
        assert_eq!(
            *feed.asked.lock().unwrap().last().unwrap(),
            t0() + Duration::seconds(10) - POLL_OVERLAP
        );
        // the purge keeps what a poll may still need
        clock.advance(Duration::seconds(930 + 60));
        assert_eq!(poller.purge().await.unwrap(), 2);
        assert_eq!(feed.rows.lock().unwrap().len(), 1);
    }
}
