//! Token introspection's authoritative check: the store, not the
//! in-memory revocation set.

use crate::authentication::AuthService;
use crate::error::Error;
use crate::users::UserId;

impl AuthService {
    /// Whether an access token of `user` issued for `session` (its `sid`)
    /// is still honoured, read from the store: the user exists and is not
    /// disabled, and the session was not revoked. `Some(username)` (the
    /// current one) when it is; `None` otherwise. A token without a session
    /// cannot be checked and is not active.
    pub async fn active_session(
        &self,
        user: UserId,
        session: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let Some(session) = session.filter(|s| !s.is_empty() && s.len() <= 128) else {
            return Ok(None);
        };
        let Some(login) = self.deps.users.login_by_id(user).await? else {
            return Ok(None);
        };
        if login.disabled || !self.deps.sessions.session_live(session, user).await? {
            return Ok(None);
        }
        Ok(Some(login.username))
    }
}
