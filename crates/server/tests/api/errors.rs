use crate::helpers::{expect_error, spawn_app};

async fn post_raw(
    app: &crate::helpers::TestApp,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut req = app.client.post(app.url("/api/auth/signup")).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let body = expect_error(
        post_raw(&app, Some("application/json"), "{\"username\": ").await,
        400,
        "malformed_json",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Malformed JSON")
    );
    expect_error(
        post_raw(&app, Some("application/json"), r#"{"username": "a",, }"#).await,
        400,
        "malformed_json",
    )
    .await;
}

#[tokio::test]
async fn wrong_content_type_is_400_naming_the_problem() {
    let app = spawn_app().await;
    let body = expect_error(
        post_raw(&app, Some("text/plain"), "{}").await,
        400,
        "unsupported_content_type",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    expect_error(
        post_raw(&app, None, "{}").await,
        400,
        "unsupported_content_type",
    )
    .await;
}

#[tokio::test]
async fn empty_body_is_400() {
    let app = spawn_app().await;
    expect_error(
        post_raw(&app, Some("application/json"), "").await,
        400,
        "empty_body",
    )
    .await;
}

#[tokio::test]
async fn missing_or_mistyped_field_is_named() {
    let app = spawn_app().await;
    let body = expect_error(
        post_raw(
            &app,
            Some("application/json"),
            r#"{"username":"olga","email":"olga@example.com"}"#,
        )
        .await,
        400,
        "invalid_field",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("password"),
        "{body}"
    );
    let body = expect_error(
        post_raw(&app, Some("application/json"), r#"{"username":"olga","email":"olga@example.com","password":"correct horse","roles":"admin"}"#).await,
        400,
        "invalid_field",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("sequence"),
        "{body}"
    );
    expect_error(
        post_raw(&app, Some("application/json"), "42").await,
        400,
        "invalid_field",
    )
    .await;
}

#[tokio::test]
async fn invalid_utf8_and_nul_bytes_are_400() {
    let app = spawn_app().await;
    let mut bytes = br#"{"username":"pa"#.to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(br#"t","email":"p@example.com","password":"correct horse"}"#);
    let res = post_raw(&app, Some("application/json"), bytes).await;
    assert_eq!(res.status(), 400);
    let res = post_raw(
        &app,
        Some("application/json"),
        r#"{"username":"pa\u0000t","email":"p@example.com","password":"correct horse"}"#,
    )
    .await;
    let body = expect_error(res, 400, "validation_failed").await;
    assert!(body["fields"]["username"].is_string());
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let app = spawn_app().await;
    let res = post_raw(
        &app,
        Some("application/json"),
        r#"{"username":"quinn","email":"quinn@example.com","password":"correct horse","isAdmin":true,"id":1}"#,
    )
    .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn oversized_body_is_413_json() {
    let app = spawn_app().await;
    let big = format!(
        r#"{{"username":"rob","email":"rob@example.com","password":"correct horse","pad":"{}"}}"#,
        "x".repeat(20_000)
    );
    expect_error(
        post_raw(&app, Some("application/json"), big).await,
        413,
        "payload_too_large",
    )
    .await;
}

#[tokio::test]
async fn deeply_nested_json_is_400_not_a_crash() {
    let app = spawn_app().await;
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let res = post_raw(&app, Some("application/json"), nested).await;
    assert_eq!(res.status(), 400);
    // the server is still there
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn unknown_route_is_404_json() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/api/nope")).send().await.unwrap();
    expect_error(res, 404, "not_found").await;
    let res = app
        .client
        .delete(app.url("/api/auth/signin"))
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "not_found").await;
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let app = spawn_app().await;
    let responses = [
        app.client
            .get(app.url("/api/test/all"))
            .send()
            .await
            .unwrap(),
        app.client
            .get(app.url("/api/test/user"))
            .send()
            .await
            .unwrap(),
        app.client.get(app.url("/nope")).send().await.unwrap(),
        app.signin("nobody", "whatever pw").await,
    ];
    for res in responses {
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        assert!(
            h.get("strict-transport-security").is_none(),
            "HSTS only when configured"
        );
    }
}

#[tokio::test]
async fn hsts_when_configured() {
    let app = crate::helpers::spawn_app_with(|s| s.http.hsts = true).await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(
        res.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
}

#[tokio::test]
async fn cors_allows_local_frontends_only() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/test/user"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header(
                "access-control-request-headers",
                "x-access-token, content-type",
            )
            .send()
    };
    let ok = preflight("http://localhost:8081").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://localhost:8081"
    );
    let allowed = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("x-access-token") && allowed.contains("content-type"),
        "{allowed}"
    );
    let evil = preflight("http://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn mistyped_values_are_not_echoed() {
    let app = spawn_app().await;
    let res = post_raw(
        &app,
        Some("application/json"),
        r#"{"username":"pia","email":"pia@example.com","password":987654321}"#,
    )
    .await;
    let body = expect_error(res, 400, "invalid_field").await;
    let message = body["message"].as_str().unwrap();
    assert!(!message.contains("987654321"), "{message}");
    assert!(message.contains("expected a string"), "{message}");
}

#[tokio::test]
async fn oversized_tokens_are_refused_unparsed() {
    let app = spawn_app().await;
    for len in [8 * 1024 + 1, 100_000] {
        for header in ["x-access-token", "authorization"] {
            let value = if header == "authorization" {
                format!("Bearer {}", "a".repeat(len))
            } else {
                "a".repeat(len)
            };
            let res = app
                .client
                .get(app.url("/api/test/user"))
                .header(header, value)
                .send()
                .await
                .unwrap();
            expect_error(res, 401, "invalid_token").await;
        }
    }
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
