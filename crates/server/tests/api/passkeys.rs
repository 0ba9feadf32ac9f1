//! Passkeys over the real HTTP API, driven by a software authenticator
//! (`tests/soft_authenticator.py`, on Yubico's fido2): registration,
//! passwordless sign-in, and what must be refused.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::helpers::{TestApp, captured_logs, expect_error, python, spawn_app, unique_name};

/// The origin the suite's pages "run" on: `webauthn.origins` of the test settings.
pub(crate) const ORIGIN: &str = "http://localhost:8080";
const PASSWORD: &str = "a good long password";

/// One software authenticator holding one credential (after `create`).
pub struct SoftAuthenticator {
    state: PathBuf,
    origin: String,
}

impl SoftAuthenticator {
    pub fn new() -> Self {
        let state = std::env::temp_dir().join(format!(
            "rolegate-passkey-{}.json",
            uuid::Uuid::new_v4().simple()
        ));
        Self {
            state,
            origin: ORIGIN.into(),
        }
    }

    /// The same authenticator, answering as a page on `origin`.
    fn on(mut self, origin: &str) -> Self {
        self.origin = origin.into();
        self
    }

    /// A copy of this authenticator's key and counter, as they are now.
    fn clone_now(&self) -> Self {
        let copy = Self::new();
        std::fs::copy(&self.state, &copy.state).unwrap();
        copy
    }

    async fn run(&self, command: &str, options: &Value) -> Value {
        use std::io::Write as _;
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/soft_authenticator.py");
        let args = [
            script.display().to_string(),
            command.to_owned(),
            self.state.display().to_string(),
            self.origin.clone(),
        ];
        let input = options.to_string();
        tokio::task::spawn_blocking(move || {
            let mut child = std::process::Command::new(python())
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run the software authenticator (make test-deps installs fido2)");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "soft authenticator: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .await
        .unwrap()
    }

    pub async fn create(&self, options: &Value) -> Value {
        self.run("create", options).await
    }

    pub async fn get(&self, options: &Value) -> Value {
        self.run("get", options).await
    }
}

impl Drop for SoftAuthenticator {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.state);
    }
}

pub(crate) async fn post_auth(
    app: &TestApp,
    path: &str,
    token: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Starts a registration: (ceremony id, options).
pub(crate) async fn start_registration(app: &TestApp, token: &str) -> (String, Value) {
    let res = post_auth(app, "/api/auth/passkeys/register/start", token, &json!({})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    (
        body["ceremonyId"].as_str().unwrap().to_owned(),
        body["options"].clone(),
    )
}

/// Registers the authenticator's credential for the token's user; returns the passkey.
pub(crate) async fn register(
    app: &TestApp,
    token: &str,
    key: &SoftAuthenticator,
    name: &str,
) -> Value {
    let (ceremony, options) = start_registration(app, token).await;
    let credential = key.create(&options).await;
    let res = post_auth(
        app,
        "/api/auth/passkeys/register/finish",
        token,
        &json!({"ceremonyId": ceremony, "credential": credential, "name": name}),
    )
    .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

/// Starts a passkey sign-in: (ceremony id, options).
pub(crate) async fn start_signin(app: &TestApp, username: Option<&str>) -> (String, Value) {
    let body = username.map_or(json!({}), |u| json!({"username": u}));
    let res = app.post_json("/api/auth/passkeys/login/start", &body).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    (
        body["ceremonyId"].as_str().unwrap().to_owned(),
        body["options"].clone(),
    )
}

pub(crate) async fn finish_signin(
    app: &TestApp,
    ceremony: &str,
    credential: &Value,
) -> reqwest::Response {
    app.post_json(
        "/api/auth/passkeys/login/finish",
        &json!({"ceremonyId": ceremony, "credential": credential}),
    )
    .await
}

/// A whole passkey sign-in.
pub(crate) async fn passkey_signin(
    app: &TestApp,
    key: &SoftAuthenticator,
    username: Option<&str>,
) -> reqwest::Response {
    let (ceremony, options) = start_signin(app, username).await;
    let credential = key.get(&options).await;
    finish_signin(app, &ceremony, &credential).await
}

async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app.get_with_token("/api/auth/passkeys", token).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn delete(app: &TestApp, token: &str, id: i64, password: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/api/auth/passkeys/{id}")))
        .bearer_auth(token)
        .json(&json!({"password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn passkey_registration_and_passwordless_sign_in() {
    let app = spawn_app().await;
    let name = unique_name("pk");
    let token = app.user_token(&name, &["user"]).await;
    let key = SoftAuthenticator::new();

    let (_, options) = start_registration(&app, &token).await;
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required", "{options}");
    assert_eq!(selection["userVerification"], "required", "{options}");
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost");

    let passkey = register(&app, &token, &key, "  Laptop ").await;
    assert_eq!(passkey["name"], "Laptop");
    assert!(passkey["lastUsedAt"].is_null());
    let listed = list(&app, &token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], passkey["id"]);
    assert!(listed[0]["createdAt"].is_string());

    // Discoverable: no username, no credential listed in the options.
    let (_, options) = start_signin(&app, None).await;
    assert_eq!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .map_or(0, Vec::len),
        0
    );
    for username in [None, Some(name.as_str())] {
        let res = passkey_signin(&app, &key, username).await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["username"], name.as_str());
        assert!(body["refreshToken"].is_string());
        assert_eq!(
            crate::helpers::claims_of(body["accessToken"].as_str().unwrap())["amr"],
            json!(["hwk"]),
            "a passkey sign-in is a hardware-bound key"
        );
        let me = app
            .get_with_token("/api/auth/me", body["accessToken"].as_str().unwrap())
            .await;
        assert_eq!(me.status(), 200);
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["username"], name.as_str());
    }
    let listed = list(&app, &token).await;
    assert!(listed[0]["lastUsedAt"].is_string(), "{listed:?}");

    // A new registration asks the authenticator not to register this one again.
    let (_, options) = start_registration(&app, &token).await;
    assert_eq!(
        options["publicKey"]["excludeCredentials"][0]["id"],
        passkey_credential_id(&app, passkey["id"].as_i64().unwrap()).await
    );
}

async fn passkey_credential_id(app: &TestApp, id: i64) -> String {
    app.scalar(&format!(
        "SELECT credential_id FROM passkeys WHERE id = {id}"
    ))
    .await
}

#[tokio::test]
async fn a_cloned_authenticator_is_refused_and_logged() {
    let app = spawn_app().await;
    let name = unique_name("pkclone");
    let token = app.user_token(&name, &["user"]).await;
    let key = SoftAuthenticator::new();
    register(&app, &token, &key, "Key").await;
    assert_eq!(passkey_signin(&app, &key, None).await.status(), 200);
    let clone = key.clone_now();
    assert_eq!(passkey_signin(&app, &key, None).await.status(), 200);
    // The clone's counter (2) is not above the last one seen (2).
    let res = passkey_signin(&app, &clone, Some(&name)).await;
    expect_error(res, 401, "invalid_passkey").await;
    let logs = captured_logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("WARN") && l.contains("sign counter went backwards")),
        "a WARN line about the counter"
    );
    // The original goes on working.
    assert_eq!(passkey_signin(&app, &key, None).await.status(), 200);
}

#[tokio::test]
async fn a_passkey_answering_another_origin_is_refused() {
    let app = spawn_app().await;
    let token = app.user_token(&unique_name("pkorigin"), &["user"]).await;
    // Registration made on a look-alike page.
    let phished = SoftAuthenticator::new().on("http://localhost:9999");
    let (ceremony, options) = start_registration(&app, &token).await;
    let credential = phished.create(&options).await;
    let res = post_auth(
        &app,
        "/api/auth/passkeys/register/finish",
        &token,
        &json!({"ceremonyId": ceremony, "credential": credential, "name": "x"}),
    )
    .await;
    expect_error(res, 401, "invalid_passkey").await;

    // A sign-in assertion made on another origin.
    let key = SoftAuthenticator::new();
    register(&app, &token, &key, "Key").await;
    let key = key.on("https://rolegate.evil.example");
    let res = passkey_signin(&app, &key, None).await;
    expect_error(res, 401, "invalid_passkey").await;
}

#[tokio::test]
async fn a_ceremony_finishes_once() {
    let app = spawn_app().await;
    let token = app.user_token(&unique_name("pkonce"), &["user"]).await;
    let key = SoftAuthenticator::new();
    register(&app, &token, &key, "Key").await;
    let (ceremony, options) = start_signin(&app, None).await;
    let credential = key.get(&options).await;
    assert_eq!(
        finish_signin(&app, &ceremony, &credential).await.status(),
        200
    );
    let replay = finish_signin(&app, &ceremony, &credential).await;
    expect_error(replay, 401, "invalid_passkey").await;
    // A fresh assertion does not revive the used ceremony.
    let again = key.get(&options).await;
    expect_error(
        finish_signin(&app, &ceremony, &again).await,
        401,
        "invalid_passkey",
    )
    .await;
    expect_error(
        finish_signin(&app, "no-such-ceremony", &again).await,
        401,
        "invalid_passkey",
    )
    .await;
    // A registration cannot be finished twice either.
    let (ceremony, options) = start_registration(&app, &token).await;
    let credential = SoftAuthenticator::new().create(&options).await;
    let body = json!({"ceremonyId": ceremony, "credential": credential, "name": "Second"});
    let first = post_auth(&app, "/api/auth/passkeys/register/finish", &token, &body).await;
    assert_eq!(first.status(), 201);
    let second = post_auth(&app, "/api/auth/passkeys/register/finish", &token, &body).await;
    expect_error(second, 401, "invalid_passkey").await;
}

#[tokio::test]
async fn another_users_credential_is_refused() {
    let app = spawn_app().await;
    let alice = unique_name("alice");
    let alice_token = app.user_token(&alice, &["user"]).await;
    let bob_token = app.user_token(&unique_name("bob"), &["user"]).await;
    let alice_key = SoftAuthenticator::new();
    let bob_key = SoftAuthenticator::new();
    register(&app, &alice_token, &alice_key, "Alice's").await;
    register(&app, &bob_token, &bob_key, "Bob's").await;

    // A sign-in bound to alice, answered with bob's passkey.
    let res = passkey_signin(&app, &bob_key, Some(&alice)).await;
    expect_error(res, 401, "invalid_passkey").await;

    // Bob finishing a registration that alice started.
    let (ceremony, options) = start_registration(&app, &alice_token).await;
    let credential = SoftAuthenticator::new().create(&options).await;
    let res = post_auth(
        &app,
        "/api/auth/passkeys/register/finish",
        &bob_token,
        &json!({"ceremonyId": ceremony, "credential": credential, "name": "x"}),
    )
    .await;
    expect_error(res, 401, "invalid_passkey").await;

    // An unknown username: the same options, and a refusal at the end.
    let (_, unknown) = start_signin(&app, Some("nobody_here")).await;
    let (_, known) = start_signin(&app, Some(&alice)).await;
    let shape = |o: &Value| {
        let mut keys: Vec<String> = o["publicKey"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        (keys, o["publicKey"]["allowCredentials"].clone())
    };
    assert_eq!(shape(&unknown), shape(&known));
    let res = passkey_signin(&app, &alice_key, Some("nobody_here")).await;
    expect_error(res, 401, "invalid_passkey").await;
}

#[tokio::test]
async fn removing_a_passkey_needs_the_password() {
    let app = spawn_app().await;
    let token = app.user_token(&unique_name("pkdel"), &["user"]).await;
    let other = app.user_token(&unique_name("pkother"), &["user"]).await;
    let key = SoftAuthenticator::new();
    let id = register(&app, &token, &key, "Key").await["id"]
        .as_i64()
        .unwrap();

    expect_error(
        delete(&app, &token, id, "not the password").await,
        401,
        "invalid_credentials",
    )
    .await;
    expect_error(delete(&app, &other, id, PASSWORD).await, 404, "not_found").await;
    assert_eq!(passkey_signin(&app, &key, None).await.status(), 200);

    let res = delete(&app, &token, id, PASSWORD).await;
    assert_eq!(res.status(), 204);
    assert!(list(&app, &token).await.is_empty());
    expect_error(
        passkey_signin(&app, &key, None).await,
        401,
        "invalid_passkey",
    )
    .await;
    expect_error(delete(&app, &token, id, PASSWORD).await, 404, "not_found").await;
}

#[tokio::test]
async fn bad_passkey_requests_are_clear_errors() {
    let app = spawn_app().await;
    let name = unique_name("pkbad");
    let token = app.user_token(&name, &["user"]).await;

    let res = app
        .post_json("/api/auth/passkeys/register/start", &json!({}))
        .await;
    assert_eq!(res.status(), 401);

    let (ceremony, options) = start_registration(&app, &token).await;
    let credential = SoftAuthenticator::new().create(&options).await;
    for (body, field) in [
        (
            json!({"ceremonyId": ceremony, "credential": credential, "name": " "}),
            "name",
        ),
        (
            json!({"ceremonyId": ceremony, "credential": {"id": 1}, "name": "x"}),
            "credential",
        ),
    ] {
        let res = post_auth(&app, "/api/auth/passkeys/register/finish", &token, &body).await;
        let err = expect_error(res, 400, "validation_failed").await;
        assert!(err["fields"][field].is_string(), "{err}");
    }
    let res = app
        .post_json(
            "/api/auth/passkeys/login/finish",
            &json!({"ceremonyId": "x", "credential": "not an object"}),
        )
        .await;
    assert_eq!(res.status().as_u16() / 100, 4);
    let res = app
        .post_json("/api/auth/passkeys/login/finish", &json!({"ceremonyId": 1}))
        .await;
    assert_eq!(res.status(), 400);
    let res = app
        .client
        .delete(app.url("/api/auth/passkeys/abc"))
        .bearer_auth(&token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    // A disabled account is refused like a password sign-in.
    let key = SoftAuthenticator::new();
    register(&app, &token, &key, "Key").await;
    app.sql(&format!(
        "UPDATE users SET disabled = TRUE WHERE username_key = '{}'",
        name.to_lowercase()
    ))
    .await;
    expect_error(
        passkey_signin(&app, &key, None).await,
        403,
        "account_disabled",
    )
    .await;
}

#[tokio::test]
async fn an_admin_reset_of_second_factors_removes_passkeys() {
    let app = spawn_app().await;
    let admin = app
        .user_token(&unique_name("pkadmin"), &["user", "admin"])
        .await;
    let token = app.user_token(&unique_name("pkreset"), &["user"]).await;
    let key = SoftAuthenticator::new();
    register(&app, &token, &key, "Key").await;
    let me: Value = app
        .get_with_token("/api/auth/me", &token)
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/api/admin/users/{}/mfa", me["id"])))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert!(list(&app, &token).await.is_empty());
    expect_error(
        passkey_signin(&app, &key, None).await,
        401,
        "invalid_passkey",
    )
    .await;
}

/// The first step of a password sign-in that asks for a second factor.
async fn mfa_token_of(app: &TestApp, username: &str) -> Value {
    let res = app.signin(username, PASSWORD).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["mfaRequired"], true, "{body}");
    body
}

async fn passkey_step(
    app: &TestApp,
    mfa_token: &str,
    key: &SoftAuthenticator,
) -> reqwest::Response {
    let res = app
        .post_json(
            "/api/auth/signin/mfa/passkey/start",
            &json!({"mfaToken": mfa_token}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let started: Value = res.json().await.unwrap();
    let credential = key.get(&started["options"]).await;
    app.post_json(
        "/api/auth/signin/mfa/passkey/finish",
        &json!({"mfaToken": mfa_token, "ceremonyId": started["ceremonyId"], "credential": credential}),
    )
    .await
}

#[tokio::test]
async fn a_passkey_is_the_second_step_of_a_password_sign_in() {
    let app = spawn_app().await;
    let name = unique_name("pk2");
    let token = app.user_token(&name, &["user"]).await;
    let key = SoftAuthenticator::new();
    register(&app, &token, &key, "Laptop").await;

    // the password alone is no longer enough
    let first = mfa_token_of(&app, &name).await;
    assert_eq!(first["methods"], json!(["passkey"]));
    let mfa = first["mfaToken"].as_str().unwrap();

    // another user's passkey is refused and counts against the mfaToken
    let other = unique_name("pk2other");
    let other_token = app.user_token(&other, &["user"]).await;
    let other_key = SoftAuthenticator::new();
    register(&app, &other_token, &other_key, "Theirs").await;
    expect_error(
        passkey_step(&app, mfa, &other_key).await,
        401,
        "invalid_passkey",
    )
    .await;

    let res = passkey_step(&app, mfa, &key).await;
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let body: Value = res.json().await.unwrap();
    let access = body["accessToken"].as_str().unwrap();
    assert_eq!(
        crate::helpers::claims_of(access)["amr"],
        json!(["pwd", "hwk"])
    );
    assert_eq!(
        app.get_with_token("/api/auth/me", access).await.status(),
        200
    );
    // the mfaToken is used up
    let res = app
        .post_json(
            "/api/auth/signin/mfa/passkey/start",
            &json!({"mfaToken": mfa}),
        )
        .await;
    expect_error(res, 401, "invalid_mfa_token").await;
    // passwordless sign-in keeps its own amr
    let res = passkey_signin(&app, &key, None).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        crate::helpers::claims_of(body["accessToken"].as_str().unwrap())["amr"],
        json!(["hwk"])
    );
}
