//! The two-step rules against in-memory stores and open arithmetic
//! (`FakeFactors`: a TOTP code is its step's number).

use std::sync::Arc;

use chrono::{Duration, TimeZone as _, Utc};

use super::*;
use crate::authentication::{AuthDeps, AuthPolicy, AuthService};
use crate::clock::{Clock, ManualClock};
use crate::error::Error;
use crate::sessions::ClientInfo;
use crate::testing::{FakeFactors, FakeSecrets, FakeTokens, InMemory, MemoryMfa, PlainHasher};
use crate::throttle::{Limit, Limits, MemoryAttempts, Throttle};
use crate::users::{Password, UserId};

struct World {
    auth: AuthService,
    mfa: MfaService,
    throttle: Throttle,
    clock: Arc<ManualClock>,
    store: Arc<MemoryMfa>,
    user: UserId,
}

fn world() -> World {
    let users = InMemory::seeded();
    let user = users.add_user("bob", &["user"]);
    // 10 s into a 30-second step.
    let clock = Arc::new(ManualClock::new(
        Utc.timestamp_opt(1_800_000_010, 0).single().unwrap(),
    ));
    let store = Arc::new(MemoryMfa::default());
    let auth = AuthService::new(
        AuthDeps {
            users: Arc::new(users.clone()),
            sessions: Arc::new(users),
            hasher: Arc::new(PlainHasher::default()),
            tokens: Arc::new(FakeTokens),
            refresh: Arc::new(FakeSecrets::default()),
            clock: clock.clone(),
            mfa: store.clone(),
            factors: Arc::new(FakeFactors::default()),
        },
        AuthPolicy::default(),
    );
    let open = Limit {
        max: 1000,
        window_secs: 900,
        backoff_base_secs: 1,
        backoff_max_secs: 1,
    };
    let throttle = Throttle::new(
        Arc::new(MemoryAttempts::default()),
        clock.clone(),
        Limits {
            signin_failures_per_pair: open,
            signin_failures_per_account: open,
            signin_failures_per_client: open,
            signin_per_client: open,
            signin_per_account: open,
            signup_per_client: open,
            refresh_per_client: open,
            mail_per_client: open,
            mail_per_recipient: open,
        },
    );
    let mfa = MfaService::new(auth.clone(), throttle.clone());
    World {
        auth,
        mfa,
        throttle,
        clock,
        store,
        user,
    }
}

fn password() -> Password {
    Password::parse_presented("password").unwrap()
}

impl World {
    fn code(&self) -> String {
        FakeFactors::code_at(self.clock.now())
    }

    async fn enrolled(&self) -> Vec<String> {
        self.mfa
            .enrol_totp(self.user, &password(), "1.2.3.4")
            .await
            .unwrap();
        self.mfa
            .confirm_totp(self.user, &self.code())
            .await
            .unwrap()
    }

    async fn first_step(&self) -> MfaChallenge {
        match self
            .throttle
            .sign_in(&self.auth, "bob", &password(), &ClientInfo::default())
            .await
            .unwrap()
        {
            SignInStep::SecondFactor(c) => c,
            SignInStep::Done(_) => panic!("a second factor was expected"),
        }
    }

    async fn second(&self, token: &str, proof: MfaProof) -> Result<(), Error> {
        self.throttle
            .second_factor(&self.auth, token, &proof, &ClientInfo::default())
            .await
            .map(|_| ())
    }
}

#[tokio::test]
async fn an_unconfirmed_enrolment_changes_nothing_and_a_confirmed_one_asks_for_a_code() {
    let w = world();
    w.mfa
        .enrol_totp(w.user, &password(), "1.2.3.4")
        .await
        .unwrap();
    let step = w
        .throttle
        .sign_in(&w.auth, "bob", &password(), &ClientInfo::default())
        .await
        .unwrap();
    assert!(
        step.into_session().is_some(),
        "not active before confirmation"
    );
    assert!(matches!(
        w.mfa.confirm_totp(w.user, "0").await,
        Err(Error::InvalidMfaCode)
    ));
    let codes = w.mfa.confirm_totp(w.user, &w.code()).await.unwrap();
    assert_eq!(codes.len(), RECOVERY_CODES);
    let challenge = w.first_step().await;
    assert_eq!(
        challenge.methods,
        vec![MfaMethod::Totp, MfaMethod::RecoveryCode]
    );
    assert_eq!(challenge.expires_in, 300);
    assert_eq!(
        w.store.audit_actions(),
        vec!["user.mfa.totp.enable".to_owned()]
    );
}

#[tokio::test]
async fn a_code_is_never_accepted_twice() {
    let w = world();
    w.enrolled().await;
    let c = w.first_step().await;
    // the step that confirmed the enrolment is spent
    assert!(matches!(
        w.second(&c.token, MfaProof::Totp(w.code())).await,
        Err(Error::InvalidMfaCode)
    ));
    w.clock.advance(Duration::seconds(30));
    w.second(&c.token, MfaProof::Totp(w.code())).await.unwrap();
    // the token is used up, and the code too
    assert!(matches!(
        w.second(&c.token, MfaProof::Totp(w.code())).await,
        Err(Error::InvalidMfaToken)
    ));
    let c = w.first_step().await;
    assert!(matches!(
        w.second(&c.token, MfaProof::Totp(w.code())).await,
        Err(Error::InvalidMfaCode)
    ));
}

#[tokio::test]
async fn the_session_says_how_it_was_opened() {
    let w = world();
    let codes = w.enrolled().await;
    let c = w.first_step().await;
    let signed_in = w
        .auth
        .finish_second_factor(
            &w.auth.mfa_challenge(&c.token).await.unwrap(),
            &MfaProof::RecoveryCode(codes[0].to_uppercase()),
            &ClientInfo::default(),
        )
        .await
        .unwrap();
    assert!(
        signed_in.access.token.ends_with(":amr=pwd otp"),
        "{}",
        signed_in.access.token
    );
    let refreshed = w.auth.refresh(&signed_in.refresh.token).await.unwrap();
    assert!(
        refreshed.access.token.ends_with(":amr=pwd otp"),
        "{}",
        refreshed.access.token
    );
    // a used recovery code is spent
    let c = w.first_step().await;
    assert!(matches!(
        w.second(&c.token, MfaProof::RecoveryCode(codes[0].clone()))
            .await,
        Err(Error::InvalidMfaCode)
    ));
    w.second(&c.token, MfaProof::RecoveryCode(codes[1].clone()))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_challenge_lives_five_minutes_and_five_wrong_codes() {
    let w = world();
    w.enrolled().await;
    w.clock.advance(Duration::seconds(30));
    let c = w.first_step().await;
    for _ in 0..MFA_TOKEN_MAX_FAILURES {
        assert!(matches!(
            w.second(&c.token, MfaProof::Totp("1".into())).await,
            Err(Error::InvalidMfaCode)
        ));
    }
    assert!(matches!(
        w.second(&c.token, MfaProof::Totp(w.code())).await,
        Err(Error::InvalidMfaToken)
    ));
    let c = w.first_step().await;
    w.clock.advance(Duration::seconds(MFA_TOKEN_TTL_SECS + 1));
    assert!(matches!(
        w.second(&c.token, MfaProof::Totp(w.code())).await,
        Err(Error::InvalidMfaToken)
    ));
}

#[test]
fn amr_round_trips_and_knows_a_second_factor() {
    use AuthMethod::*;
    assert_eq!(
        AuthMethod::split(Some(&AuthMethod::join(&[Pwd, Otp]))),
        vec![Pwd, Otp]
    );
    assert_eq!(AuthMethod::split(None), vec![Pwd]);
    assert_eq!(AuthMethod::split(Some("junk")), vec![Pwd]);
    assert!(!AuthMethod::is_multi_factor(&[Pwd]));
    assert!(AuthMethod::is_multi_factor(&[Pwd, Otp]));
    assert!(AuthMethod::is_multi_factor(&[Hwk]));
}
