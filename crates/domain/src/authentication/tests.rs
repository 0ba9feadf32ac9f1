//! The authentication use cases against stub ports.

mod policy {
    use crate::authentication::AuthPolicy;
    use crate::error::Error;
    use crate::roles::RoleName;

    fn roles(names: &[&str]) -> Option<Vec<RoleName>> {
        Some(names.iter().map(|n| RoleName::parse(n).unwrap()).collect())
    }

    #[test]
    fn default_role_is_user() {
        let p = AuthPolicy::default();
        assert_eq!(p.roles_for(None).unwrap(), vec![RoleName::user()]);
        assert_eq!(p.roles_for(Some(vec![])).unwrap(), vec![RoleName::user()]);
    }

    #[test]
    fn closed_policy_refuses_elevated_roles() {
        let p = AuthPolicy {
            open_role_signup: false,
            ..AuthPolicy::default()
        };
        assert!(p.roles_for(roles(&["user"])).is_ok());
        match p.roles_for(roles(&["user", "admin"])) {
            Err(Error::RoleNotAllowed(r)) => assert_eq!(r, vec![RoleName::admin()]),
            other => panic!("expected RoleNotAllowed, got {other:?}"),
        }
    }

    #[test]
    fn open_policy_grants_requested_roles_deduplicated() {
        let p = AuthPolicy {
            open_role_signup: true,
            ..AuthPolicy::default()
        };
        let got = p
            .roles_for(roles(&["admin", "moderator", "admin"]))
            .unwrap();
        assert_eq!(got, vec![RoleName::admin(), RoleName::moderator()]);
    }
}

mod sign_in_reads {
    //! What a sign-in reads: a failed attempt reads the same for a known
    //! and an unknown user (one login look-up), never roles or permissions.
    use std::sync::Mutex;

    use async_trait::async_trait;

    use std::sync::Arc;

    use chrono::{DateTime, Utc};

    use crate::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<&'static str>>);
    impl Recorder {
        fn hit(&self, what: &'static str) {
            self.0.lock().unwrap().push(what);
        }
        fn take(&self) -> Vec<&'static str> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    struct Users(Arc<Recorder>);

    #[async_trait]
    impl UserStore for Users {
        async fn login_by_id(&self, _: UserId) -> Result<Option<LoginRecord>, StoreError> {
            Err(StoreError::internal("unused"))
        }
        async fn create_user(
            &self,
            _: NewUser,
            _: Option<NewAuditEvent>,
        ) -> Result<UserId, StoreError> {
            Err(StoreError::internal("unused"))
        }
        async fn replace_password_hash(
            &self,
            _: UserId,
            _: &PasswordHash,
            _: PasswordHash,
        ) -> Result<bool, StoreError> {
            Err(StoreError::internal("unused"))
        }
        async fn find_conflict(
            &self,
            _: &Username,
            _: &Email,
        ) -> Result<Option<UniqueField>, StoreError> {
            Ok(None)
        }
        async fn find_login(&self, name: &Username) -> Result<Option<LoginRecord>, StoreError> {
            self.0.hit("find_login");
            Ok((name.key() == "ann").then(|| LoginRecord {
                id: UserId(1),
                username: "ann".into(),
                email: "ann@example.com".into(),
                password_hash: PasswordHash::new("right".into()),
                disabled: false,
                email_verified: true,
            }))
        }
        async fn grants_of(
            &self,
            _: UserId,
        ) -> Result<(Vec<RoleName>, Vec<Permission>), StoreError> {
            self.0.hit("grants_of");
            Ok((vec![RoleName::user()], vec![]))
        }
        async fn profile(&self, _: UserId) -> Result<Option<UserProfile>, StoreError> {
            self.0.hit("profile");
            Ok(None)
        }
        async fn missing_roles(&self, _: &[RoleName]) -> Result<Vec<RoleName>, StoreError> {
            Ok(vec![])
        }
    }

    /// "Hashes" compare the password with the stored string; `None` is the dummy.
    struct PlainHasher;
    #[async_trait]
    impl PasswordHasher for PlainHasher {
        async fn hash(&self, p: &Password) -> Result<PasswordHash, HashError> {
            Ok(PasswordHash::new(p.expose().into()))
        }
        async fn verify(&self, p: &Password, h: Option<&PasswordHash>) -> Result<bool, HashError> {
            Ok(h.is_some_and(|h| h.as_str() == p.expose()))
        }
    }

    struct Sessions;
    #[async_trait]
    impl SessionStore for Sessions {
        async fn insert_refresh(&self, _: NewRefreshToken) -> Result<(), StoreError> {
            Ok(())
        }
        async fn find_refresh(&self, _: &str) -> Result<Option<RefreshRecord>, StoreError> {
            Ok(None)
        }
        async fn rotate_refresh(
            &self,
            _: i64,
            _: DateTime<Utc>,
            _: String,
            _: NewRefreshToken,
        ) -> Result<bool, StoreError> {
            Ok(false)
        }
        async fn find_generation(
            &self,
            _: &str,
            _: i32,
        ) -> Result<Option<RefreshRecord>, StoreError> {
            Ok(None)
        }
        async fn session_live(&self, _: &str, _: UserId) -> Result<bool, StoreError> {
            Ok(false)
        }
        async fn revoke_family(&self, _: &str, _: DateTime<Utc>) -> Result<u64, StoreError> {
            Ok(0)
        }
        async fn revoke_user_sessions(
            &self,
            _: UserId,
            _: DateTime<Utc>,
        ) -> Result<u64, StoreError> {
            Ok(0)
        }
        async fn revoke_sessions_beyond(
            &self,
            _: UserId,
            _: u32,
            _: DateTime<Utc>,
        ) -> Result<u64, StoreError> {
            Ok(0)
        }
        async fn purge_expired(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    struct Tokens;
    impl TokenIssuer for Tokens {
        fn issue_access(&self, _: &AccessSubject) -> Result<IssuedToken, TokenError> {
            Ok(IssuedToken {
                token: "t".into(),
                expires_in: 60,
            })
        }
    }

    struct Secrets;
    impl RefreshSecrets for Secrets {
        fn generate(&self) -> String {
            "r".into()
        }
        fn new_family_id(&self) -> String {
            "f".into()
        }
        fn hash(&self, t: &str) -> String {
            t.into()
        }
        fn seal(&self, s: &str, _: &str) -> String {
            s.into()
        }
        fn open(&self, s: &str, _: &str) -> Option<String> {
            Some(s.into())
        }
    }

    #[tokio::test]
    async fn failed_sign_ins_read_the_same_for_known_and_unknown_users() {
        let reads = Arc::new(Recorder::default());
        let auth = AuthService::new(
            AuthDeps {
                users: Arc::new(Users(reads.clone())),
                sessions: Arc::new(Sessions),
                hasher: Arc::new(PlainHasher),
                tokens: Arc::new(Tokens),
                refresh: Arc::new(Secrets),
                clock: Arc::new(SystemClock),
                mfa: Arc::new(crate::testing::MemoryMfa::default()),
                factors: Arc::new(crate::testing::FakeFactors::default()),
            },
            AuthPolicy::default(),
        );
        let wrong = Password::parse("wrong password").unwrap();
        for who in ["ann", "nobody"] {
            assert!(matches!(
                auth.sign_in(who, &wrong, &ClientInfo::default()).await,
                Err(Error::InvalidCredentials)
            ));
            assert_eq!(reads.take(), vec!["find_login"], "{who}");
        }
        let right = Password::parse_presented("right").unwrap();
        let signed_in = auth
            .sign_in("ann", &right, &ClientInfo::default())
            .await
            .unwrap()
            .into_session()
            .unwrap();
        assert_eq!(signed_in.roles, vec![RoleName::user()]);
        assert_eq!(reads.take(), vec!["find_login", "grants_of"]);
    }
}
