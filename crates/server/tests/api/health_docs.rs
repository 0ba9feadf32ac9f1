use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ready");
}

#[tokio::test]
async fn openapi_documents_every_route_with_bearer_auth() {
    let app = spawn_app().await;
    let spec: Value = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, method) in [
        ("/api/auth/signup", "post"),
        ("/api/auth/signin", "post"),
        ("/api/test/all", "get"),
        ("/api/test/user", "get"),
        ("/api/test/mod", "get"),
        ("/api/test/admin", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ] {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["x-access-token"]["name"],
        "x-access-token"
    );
    assert!(spec["paths"]["/api/test/admin"]["get"]["security"].is_array());
    for schema in [
        "SignupRequest",
        "SigninRequest",
        "SigninResponse",
        "ErrorBody",
        "MessageResponse",
    ] {
        assert!(
            spec["components"]["schemas"][schema].is_object(),
            "{schema}"
        );
    }
    // the served document is the one `rolegate openapi` prints
    assert_eq!(
        spec,
        serde_json::to_value(rolegate_api::openapi_spec()).unwrap()
    );
}

#[tokio::test]
async fn swagger_ui_is_served_offline() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/swagger-ui")).send().await.unwrap();
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()["location"], "/swagger-ui/");
    let res = app
        .client
        .get(app.url("/swagger-ui/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'"),
        "Swagger UI gets a CSP that lets it run: {csp}"
    );
    assert!(res.text().await.unwrap().contains("swagger"));
    let res = app
        .client
        .get(app.url("/swagger-ui/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the bundle is vendored into the binary");
}

#[tokio::test]
async fn swagger_ui_can_be_turned_off() {
    let app = crate::helpers::spawn_app_with(|s| s.http.swagger_ui = false).await;
    for path in ["/swagger-ui/", "/swagger-ui", "/api-docs/openapi.json"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    let res = app
        .client
        .get(app.url("/api/test/all"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the API itself stays");
}
