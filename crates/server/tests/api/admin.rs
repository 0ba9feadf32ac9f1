//! The admin API and `/api/auth/me`: permission gates, pagination, roles and
//! permissions, last-admin rails, escalation, disabling, deleting, audit.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, captured_logs, claims_of, expect_error, spawn_app, unique_name};

const PASSWORD: &str = "a good long password";

/// A user signed up with `roles` and signed in: (id, access token, refresh token).
async fn member(app: &TestApp, name: &str, roles: &[&str]) -> (i64, String, String) {
    let res = app
        .signup(name, &format!("{name}@example.com"), PASSWORD, Some(roles))
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = app.signin(name, PASSWORD).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    (
        body["id"].as_i64().unwrap(),
        body["accessToken"].as_str().unwrap().to_owned(),
        body["refreshToken"].as_str().unwrap().to_owned(),
    )
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

async fn ok_json(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// `GET /api/admin/users/{id}`, expected to succeed.
async fn get_user(app: &TestApp, token: &str, id: i64) -> Value {
    let path = format!("/api/admin/users/{id}");
    ok_json(call(app, Method::GET, &path, Some(token), None).await, 200).await
}

async fn set_roles(app: &TestApp, token: &str, id: i64, roles: &[&str]) -> reqwest::Response {
    call(
        app,
        Method::PUT,
        &format!("/api/admin/users/{id}/roles"),
        Some(token),
        Some(json!({ "roles": roles })),
    )
    .await
}

async fn set_disabled(app: &TestApp, token: &str, id: i64, disabled: bool) -> reqwest::Response {
    call(
        app,
        Method::PATCH,
        &format!("/api/admin/users/{id}"),
        Some(token),
        Some(json!({ "disabled": disabled })),
    )
    .await
}

#[tokio::test]
async fn me_returns_the_signed_in_users_profile() {
    let app = spawn_app().await;
    let (id, token, _) = member(&app, "mia", &["user", "moderator"]).await;
    let me = ok_json(
        call(&app, Method::GET, "/api/auth/me", Some(&token), None).await,
        200,
    )
    .await;
    assert_eq!(me["id"], id);
    assert_eq!(me["username"], "mia");
    assert_eq!(me["email"], "mia@example.com");
    assert_eq!(me["roles"], json!(["ROLE_USER", "ROLE_MODERATOR"]));
    assert_eq!(
        me["permissions"],
        json!(["content:moderate", "content:read", "users:read"])
    );
    assert!(me["createdAt"].as_str().unwrap().starts_with("20"));
    assert!(me.get("password").is_none() && me.get("passwordHash").is_none());
    let res = call(&app, Method::GET, "/api/auth/me", None, None).await;
    expect_error(res, 401, "no_token").await;
    // the tutorial's header works too
    let res = app
        .client
        .get(app.url("/api/auth/me"))
        .header("x-access-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn every_admin_route_needs_a_token_and_its_permission() {
    let app = spawn_app().await;
    let (_, user, _) = member(&app, "plain", &["user"]).await;
    let (_, moderator, _) = member(&app, "modo", &["moderator"]).await;
    let (admin_id, admin, _) = member(&app, "boss", &["admin"]).await;
    let routes: Vec<(Method, String, Option<Value>, &str)> = vec![
        (Method::GET, "/api/admin/users".into(), None, "users:read"),
        (
            Method::GET,
            format!("/api/admin/users/{admin_id}"),
            None,
            "users:read",
        ),
        (
            Method::PUT,
            format!("/api/admin/users/{admin_id}/roles"),
            Some(json!({"roles": ["admin"]})),
            "users:write",
        ),
        (
            Method::PATCH,
            format!("/api/admin/users/{admin_id}"),
            Some(json!({"disabled": false})),
            "users:write",
        ),
        (
            Method::DELETE,
            "/api/admin/users/999999".into(),
            None,
            "users:write",
        ),
        (
            Method::POST,
            format!("/api/admin/users/{admin_id}/unlock"),
            None,
            "users:write",
        ),
        (Method::GET, "/api/admin/roles".into(), None, "roles:read"),
        (
            Method::POST,
            "/api/admin/roles".into(),
            Some(json!({"name": "gated", "permissions": []})),
            "roles:write",
        ),
        (
            Method::PUT,
            "/api/admin/roles/moderator".into(),
            Some(json!({"permissions": ["content:read", "content:moderate", "users:read"]})),
            "roles:write",
        ),
        (
            Method::DELETE,
            "/api/admin/roles/nosuchrole".into(),
            None,
            "roles:write",
        ),
        (
            Method::GET,
            "/api/admin/permissions".into(),
            None,
            "roles:read",
        ),
        (
            Method::POST,
            "/api/admin/permissions".into(),
            Some(json!({"name": "gated:read"})),
            "roles:write",
        ),
        (Method::GET, "/api/admin/audit".into(), None, "audit:read"),
    ];
    // what the admin gets on each route, in order (404: the route's target does not exist)
    let admin_gets = [
        200, 200, 200, 200, 404, 200, 200, 201, 200, 404, 200, 201, 200,
    ];
    assert_eq!(admin_gets.len(), routes.len());
    for ((method, path, body, permission), expected) in routes.iter().zip(admin_gets) {
        let res = call(&app, method.clone(), path, None, body.clone()).await;
        expect_error(res, 401, "no_token").await;
        let res = call(&app, method.clone(), path, Some("not.a.jwt"), body.clone()).await;
        expect_error(res, 401, "invalid_token").await;
        let res = call(&app, method.clone(), path, Some(&user), body.clone()).await;
        let err = expect_error(res, 403, "missing_permission").await;
        assert_eq!(
            err["message"],
            format!("Require permission {permission}!"),
            "{method} {path}"
        );
        let res = call(&app, method.clone(), path, Some(&moderator), body.clone()).await;
        if *permission == "users:read" {
            assert_eq!(res.status(), 200, "moderators read users: {method} {path}");
        } else {
            expect_error(res, 403, "missing_permission").await;
        }
        let res = call(&app, method.clone(), path, Some(&admin), body.clone()).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(status, expected, "admin on {method} {path}: {text}");
    }
}

/// The usernames of a page of users.
fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

/// `GET /api/admin/users?{query}` as `token`.
async fn list_users(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    let path = format!("/api/admin/users?{query}");
    call(app, Method::GET, &path, Some(token), None).await
}

#[tokio::test]
async fn user_list_is_paginated_searchable_and_bounded() {
    let app = spawn_app().await;
    let (_, admin, _) = member(&app, "chief", &["admin"]).await;
    let tag = unique_name("pg");
    let mail = unique_name("ml");
    for i in 0..5 {
        let name = format!("{tag}{i}");
        let res = app
            .signup(&name, &format!("{mail}{i}@corp.example"), PASSWORD, None)
            .await;
        assert_eq!(res.status(), 201);
    }
    let get = |q: String| {
        let (app, admin) = (&app, admin.clone());
        async move { list_users(app, &admin, &q).await }
    };
    let all = ok_json(get(String::new()).await, 200).await;
    assert_eq!(all["total"], 6);
    assert_eq!(all["totalCapped"], false);
    assert_eq!(all["next"], Value::Null, "everything fits on one page");
    assert_eq!(all["page"], 1);
    assert_eq!(all["perPage"], 20);
    assert_eq!(all["items"][0]["username"], "chief");
    assert_eq!(all["items"][0]["roles"], json!(["admin"]));
    assert!(all["items"][0].get("permissions").is_none());

    // a prefix of the username (case-insensitive) or of the e-mail
    let upper = tag.to_uppercase();
    let page1 = ok_json(get(format!("q={upper}&per_page=2")).await, 200).await;
    assert_eq!(page1["total"], 5);
    assert_eq!(names(&page1), vec![format!("{tag}0"), format!("{tag}1")]);
    assert!(page1["next"].is_string(), "{page1}");
    let page3 = ok_json(get(format!("q={tag}&per_page=2&page=3")).await, 200).await;
    assert_eq!(names(&page3), vec![format!("{tag}4")]);
    assert_eq!(page3["next"], Value::Null);
    let beyond = ok_json(get(format!("q={tag}&per_page=2&page=4")).await, 200).await;
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["total"], 5);
    let by_mail = ok_json(get(format!("q={}", mail.to_uppercase())).await, 200).await;
    assert_eq!(by_mail["total"], 5);
    let one = ok_json(get(format!("q={mail}3%40corp")).await, 200).await;
    assert_eq!(names(&one), vec![format!("{tag}3")]);
    // a prefix, not a substring: the middle of a name or the mail's domain finds nobody
    for middle in [&tag[1..], &mail[3..], "corp.example", "0"] {
        let found = ok_json(get(format!("q={middle}")).await, 200).await;
        assert_eq!(found["total"], 0, "{middle}: {found}");
    }
    // LIKE wildcards in q are literal: `p_` is not `pg`, `pg%` is not `pg_…`
    for wild in ["%25", "_", "p_", "pg%25", &format!("{}%25", &tag[..4])] {
        let found = ok_json(get(format!("q={wild}")).await, 200).await;
        assert_eq!(found["total"], 0, "{wild}: {found}");
    }
    let underscore = ok_json(get(format!("q={}", &tag[..4])).await, 200).await;
    assert_eq!(underscore["total"], 5, "a literal _ matches itself");

    // bounds: numbered pages skip at most 10 000 users; deeper is the cursor's job
    for bad in ["per_page=0", "per_page=101", "page=0", "page=100001"] {
        expect_error(get(bad.into()).await, 400, "validation_failed").await;
    }
    let ok = ok_json(get("page=101&per_page=100".into()).await, 200).await;
    assert_eq!(ok["items"], json!([]), "offset 10 000 is allowed");
    for deep in ["page=102&per_page=100", "page=10002&per_page=1", "page=502"] {
        let body = expect_error(get(deep.into()).await, 400, "validation_failed").await;
        assert!(
            body["fields"]["page"].as_str().unwrap().contains("cursor"),
            "{deep}: {body}"
        );
    }
    for bad in ["page=abc", "per_page=-1", "page=1.5"] {
        let body = expect_error(get(bad.into()).await, 400, "invalid_query").await;
        assert!(!body["message"].as_str().unwrap().contains("abc"));
    }
    let long = "x".repeat(65);
    expect_error(get(format!("q={long}")).await, 400, "validation_failed").await;
    let max = ok_json(get("per_page=100".into()).await, 200).await;
    assert_eq!(max["perPage"], 100);
}

/// One page of `GET /api/admin/users?{query}` from `cursor`: its ids and
/// its `next` cursor.
async fn user_ids_after(
    app: &TestApp,
    token: &str,
    query: &str,
    cursor: Option<&str>,
) -> (Vec<i64>, Option<String>) {
    let q = match cursor {
        Some(c) => format!("{query}&cursor={c}"),
        None => query.to_owned(),
    };
    let body = ok_json(list_users(app, token, &q).await, 200).await;
    if cursor.is_some() {
        assert_eq!(
            body["page"],
            Value::Null,
            "a cursor page has no number: {body}"
        );
    }
    let ids = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    (ids, body["next"].as_str().map(str::to_owned))
}

/// Every id of `GET /api/admin/users?{query}`, walked by cursor.
async fn walk_users(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..50 {
        let (ids, next) = user_ids_after(app, token, query, cursor.as_deref()).await;
        seen.extend(ids);
        match next {
            Some(next) => cursor = Some(next),
            None => return seen,
        }
    }
    panic!("the walk does not end: {seen:?}");
}

#[tokio::test]
async fn a_cursor_walk_sees_every_user_once_in_order_while_users_come_and_go() {
    let app = spawn_app().await;
    let (_, admin, _) = member(&app, "walker", &["admin"]).await;
    let tag = unique_name("kw");
    let mut ids = Vec::new();
    for i in 0..7 {
        let (id, _, _) = member(&app, &format!("{tag}{i}"), &["user"]).await;
        ids.push(id);
    }
    let query = format!("q={tag}&per_page=2");
    // Between pages a new matching user signs up, and after the first page
    // its first user (already seen) is deleted: with offsets that deletion
    // would shift an unseen user onto the page already read (skipped).
    let mut seen = Vec::new();
    let mut added = Vec::new();
    let mut cursor = None;
    for page in 0..20 {
        let (got, next) = user_ids_after(&app, &admin, &query, cursor.as_deref()).await;
        seen.extend(got);
        let Some(next) = next else { break };
        cursor = Some(next);
        let (id, _, _) = member(&app, &format!("{tag}new{page}"), &["user"]).await;
        added.push(id);
        if page == 0 {
            let path = format!("/api/admin/users/{}", ids[0]);
            let res = call(&app, Method::DELETE, &path, Some(&admin), None).await;
            assert_eq!(res.status(), 204);
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, seen, "strictly increasing ids: no user twice");
    for id in &ids {
        assert!(seen.contains(id), "user {id} skipped: {seen:?}");
    }
    // users who signed up during the walk have higher ids: the walk reaches them
    assert!(
        added.iter().all(|id| seen.contains(id)),
        "{seen:?} {added:?}"
    );

    // the whole list walked by cursor agrees with one numbered page
    let walked = walk_users(&app, &admin, "per_page=3").await;
    let (numbered, next) = user_ids_after(&app, &admin, "per_page=100", None).await;
    assert_eq!(next, None);
    assert_eq!(walked, numbered);
}

#[tokio::test]
async fn bad_cursors_are_a_clear_400() {
    let app = spawn_app().await;
    let (_, admin, _) = member(&app, "cursory", &["admin"]).await;
    for i in 0..3 {
        member(&app, &format!("cursory{i}"), &["user"]).await;
    }
    let page = ok_json(list_users(&app, &admin, "per_page=1").await, 200).await;
    let next = page["next"].as_str().unwrap().to_owned();
    let second = ok_json(
        list_users(&app, &admin, &format!("per_page=1&cursor={next}")).await,
        200,
    )
    .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_ne!(second["items"][0]["id"], page["items"][0]["id"]);

    let audit = ok_json(
        call(
            &app,
            Method::GET,
            "/api/admin/audit?per_page=1",
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    let audit_cursor = audit["next"].as_str().map(str::to_owned);
    let mut bad = vec![
        "cursor=garbage!".to_owned(),
        "cursor=".to_owned(),
        "cursor=dXNlcnM6LTE".to_owned(), // users:-1
        "cursor=dXNlcnM6eA".to_owned(),  // users:x
        format!("cursor={}", "A".repeat(200)),
    ];
    if let Some(c) = &audit_cursor {
        bad.push(format!("cursor={c}"));
    }
    for query in &bad {
        let body = expect_error(
            list_users(&app, &admin, query).await,
            400,
            "validation_failed",
        )
        .await;
        assert!(
            body["fields"]["cursor"].as_str().unwrap().contains("next"),
            "{query}: {body}"
        );
    }
    let body = expect_error(
        list_users(&app, &admin, &format!("page=2&cursor={next}")).await,
        400,
        "validation_failed",
    )
    .await;
    assert!(body["fields"]["page"].is_string(), "{body}");
    let res = call(
        &app,
        Method::GET,
        &format!("/api/admin/audit?cursor={next}"),
        Some(&admin),
        None,
    )
    .await;
    expect_error(res, 400, "validation_failed").await;
}

#[tokio::test]
async fn get_user_shows_roles_and_permissions_or_404() {
    let app = spawn_app().await;
    let (_, admin, _) = member(&app, "ada", &["admin"]).await;
    let (bob, _, _) = member(&app, "bob", &["user"]).await;
    let user = get_user(&app, &admin, bob).await;
    assert_eq!(user["username"], "bob");
    assert_eq!(user["roles"], json!(["user"]));
    assert_eq!(user["permissions"], json!(["content:read"]));
    assert_eq!(user["disabled"], false);
    let res = call(
        &app,
        Method::GET,
        "/api/admin/users/987654",
        Some(&admin),
        None,
    )
    .await;
    expect_error(res, 404, "not_found").await;
    for bad in ["abc", "1.5", "99999999999999999999999"] {
        let res = call(
            &app,
            Method::GET,
            &format!("/api/admin/users/{bad}"),
            Some(&admin),
            None,
        )
        .await;
        expect_error(res, 400, "invalid_path").await;
    }
}

#[tokio::test]
async fn setting_roles_replaces_them_and_applies_at_refresh() {
    let app = spawn_app().await;
    let (_, admin, _) = member(&app, "root", &["admin"]).await;
    let (bob, bob_token, bob_refresh) = member(&app, "bob", &["user"]).await;
    let res = app.get_with_token("/api/test/mod", &bob_token).await;
    assert_eq!(res.status(), 403);

    let user = ok_json(
        set_roles(&app, &admin, bob, &["user", "moderator", "user"]).await,
        200,
    )
    .await;
    assert_eq!(user["roles"], json!(["user", "moderator"]));
    assert!(
        user["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("content:moderate"))
    );

    // the next refresh carries the new roles
    let res = app.refresh(&bob_refresh).await;
    let body: Value = res.json().await.unwrap();
    let fresh = body["accessToken"].as_str().unwrap();
    assert_eq!(claims_of(fresh)["roles"], json!(["user", "moderator"]));
    assert_eq!(
        app.get_with_token("/api/test/mod", fresh).await.status(),
        200
    );

    // errors: unknown role, invalid name, unknown user, bad bodies
    let body = expect_error(
        set_roles(&app, &admin, bob, &["user", "wizard"]).await,
        400,
        "unknown_role",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("wizard"));
    expect_error(
        set_roles(&app, &admin, bob, &["no spaces!"]).await,
        400,
        "unknown_role",
    )
    .await;
    expect_error(
        set_roles(&app, &admin, 424242, &["user"]).await,
        404,
        "not_found",
    )
    .await;
    let res = call(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{bob}/roles"),
        Some(&admin),
        Some(json!({"roles": "admin"})),
    )
    .await;
    expect_error(res, 400, "invalid_field").await;
    let res = call(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{bob}/roles"),
        Some(&admin),
        Some(json!({})),
    )
    .await;
    expect_error(res, 400, "invalid_field").await;
    // nothing changed by the failures
    let user = get_user(&app, &admin, bob).await;
    assert_eq!(user["roles"], json!(["user", "moderator"]));
    // no roles at all is allowed: the user keeps an account without permissions
    let user = ok_json(set_roles(&app, &admin, bob, &[]).await, 200).await;
    assert_eq!(user["roles"], json!([]));
    assert_eq!(user["permissions"], json!([]));
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_removed_disabled_or_deleted() {
    let app = spawn_app().await;
    let (first, first_token, _) = member(&app, "first", &["admin"]).await;
    // alone: every way of losing the last admin is refused
    expect_error(
        set_roles(&app, &first_token, first, &["user"]).await,
        409,
        "last_admin",
    )
    .await;
    expect_error(
        set_disabled(&app, &first_token, first, true).await,
        409,
        "last_admin",
    )
    .await;
    let res = call(
        &app,
        Method::DELETE,
        &format!("/api/admin/users/{first}"),
        Some(&first_token),
        None,
    )
    .await;
    expect_error(res, 409, "last_admin").await;

    // a disabled admin does not count
    let (second, _, _) = member(&app, "second", &["admin"]).await;
    ok_json(set_disabled(&app, &first_token, second, true).await, 200).await;
    expect_error(
        set_roles(&app, &first_token, first, &["user"]).await,
        409,
        "last_admin",
    )
    .await;

    // with another active admin it is allowed, and then that one is the last
    ok_json(set_disabled(&app, &first_token, second, false).await, 200).await;
    let user = ok_json(set_roles(&app, &first_token, first, &["user"]).await, 200).await;
    assert_eq!(user["roles"], json!(["user"]));
    let (_, second_token, _) = {
        let res = app.signin("second", PASSWORD).await;
        let b: Value = res.json().await.unwrap();
        (0, b["accessToken"].as_str().unwrap().to_owned(), ())
    };
    expect_error(
        set_disabled(&app, &second_token, second, true).await,
        409,
        "last_admin",
    )
    .await;
    let res = call(
        &app,
        Method::DELETE,
        &format!("/api/admin/users/{second}"),
        Some(&second_token),
        None,
    )
    .await;
    expect_error(res, 409, "last_admin").await;
    let me = ok_json(
        call(&app, Method::GET, "/api/auth/me", Some(&second_token), None).await,
        200,
    )
    .await;
    assert_eq!(me["roles"], json!(["ROLE_ADMIN"]));
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = spawn_app().await;
    let (a, a_token, _) = member(&app, "alpha", &["admin"]).await;
    let (b, b_token, _) = member(&app, "bravo", &["admin"]).await;
    for round in 0..5 {
        let (ra, rb) = tokio::join!(
            set_roles(&app, &a_token, b, &["user"]),
            set_roles(&app, &b_token, a, &["user"])
        );
        let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
        statuses.sort_unstable();
        // One wins; the other either finds no admin left to spare (409) or
        // finds its own admin role gone when its permissions are re-read (403).
        assert!(
            statuses == [200, 403] || statuses == [200, 409],
            "round {round}: {statuses:?}"
        );
        let admins = ok_json(
            call(
                &app,
                Method::GET,
                "/api/admin/users",
                Some(if ra.status() == 200 {
                    &a_token
                } else {
                    &b_token
                }),
                None,
            )
            .await,
            200,
        )
        .await;
        let active_admins = admins["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["roles"].as_array().unwrap().contains(&json!("admin")))
            .count();
        assert_eq!(active_admins, 1, "round {round}: {admins}");
        // restore both for the next round
        let winner = if ra.status() == 200 {
            &a_token
        } else {
            &b_token
        };
        ok_json(set_roles(&app, winner, a, &["admin"]).await, 200).await;
        ok_json(set_roles(&app, winner, b, &["admin"]).await, 200).await;
    }
}

#[tokio::test]
async fn a_demoted_admins_unexpired_token_cannot_administer() {
    let app = spawn_app().await;
    let (_, root, _) = member(&app, "root", &["admin"]).await;
    let (exa, exa_token, _) = member(&app, "exadmin", &["admin"]).await;
    ok_json(set_roles(&app, &root, exa, &["user"]).await, 200).await;
    // the token still says admin, but the database is asked again
    assert!(
        claims_of(&exa_token)["perms"]
            .as_array()
            .unwrap()
            .contains(&json!("users:write"))
    );
    let res = call(
        &app,
        Method::GET,
        "/api/admin/users",
        Some(&exa_token),
        None,
    )
    .await;
    let body = expect_error(res, 403, "missing_permission").await;
    assert_eq!(body["message"], "Require permission users:read!");
    // and a disabled one is refused as such
    let (dis, dis_token, _) = member(&app, "disadmin", &["admin"]).await;
    ok_json(set_disabled(&app, &root, dis, true).await, 200).await;
    let res = call(
        &app,
        Method::GET,
        "/api/admin/roles",
        Some(&dis_token),
        None,
    )
    .await;
    expect_error(res, 403, "account_disabled").await;
}

#[tokio::test]
async fn disabling_refuses_sign_in_and_refresh_and_ends_sessions() {
    let app = spawn_app().await;
    let (_, admin, _) = member(&app, "root", &["admin"]).await;
    let (bob, bob_token, bob_refresh) = member(&app, "bob", &["user"]).await;
    let user = ok_json(set_disabled(&app, &admin, bob, true).await, 200).await;
    assert_eq!(user["disabled"], true);
    expect_error(app.signin("bob", PASSWORD).await, 403, "account_disabled").await;
    let res = app.refresh(&bob_refresh).await;
    assert!(
        matches!(res.status().as_u16(), 401 | 403),
        "{}",
        res.status()
    );
    let res = call(&app, Method::GET, "/api/auth/me", Some(&bob_token), None).await;
    expect_error(res, 403, "account_disabled").await;
    // the session was revoked: enabling again does not revive the old refresh token
    ok_json(set_disabled(&app, &admin, bob, false).await, 200).await;
    expect_error(
        app.refresh(&bob_refresh).await,
        401,
        "refresh_token_revoked",
    )
    .await;
    assert_eq!(app.signin("bob", PASSWORD).await.status(), 200);
    // bad bodies
    for body in [
        json!({}),
        json!({"disabled": "yes"}),
        json!({"disabled": null}),
    ] {
        let res = call(
            &app,
            Method::PATCH,
            &format!("/api/admin/users/{bob}"),
            Some(&admin),
            Some(body),
        )
        .await;
        expect_error(res, 400, "invalid_field").await;
    }
    expect_error(
        set_disabled(&app, &admin, 31337, true).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn deleting_a_user_removes_the_account_and_its_sessions() {
    let app = spawn_app().await;
    let (_, admin, _) = member(&app, "root", &["admin"]).await;
    let (bob, _, bob_refresh) = member(&app, "bob", &["user", "moderator"]).await;
    let res = call(
        &app,
        Method::DELETE,
        &format!("/api/admin/users/{bob}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    let res = call(
        &app,
        Method::GET,
        &format!("/api/admin/users/{bob}"),
        Some(&admin),
        None,
    )
    .await;
    expect_error(res, 404, "not_found").await;
    expect_error(
        app.signin("bob", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    expect_error(
        app.refresh(&bob_refresh).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    let res = call(
        &app,
        Method::DELETE,
        &format!("/api/admin/users/{bob}"),
        Some(&admin),
        None,
    )
    .await;
    expect_error(res, 404, "not_found").await;
    // the name is free again
    let res = app.signup("bob", "bob@example.com", PASSWORD, None).await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn custom_roles_and_permissions_can_be_managed() {
    let app = spawn_app().await;
    let (_, admin, _) = member(&app, "root", &["admin"]).await;
    let (bob, _, bob_refresh) = member(&app, "bob", &["user"]).await;

    // a new permission: admins get it, so they can grant it
    let p = ok_json(
        call(
            &app,
            Method::POST,
            "/api/admin/permissions",
            Some(&admin),
            Some(json!({"name": "articles:write", "description": "Write articles"})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        p,
        json!({"name": "articles:write", "description": "Write articles", "builtIn": false})
    );
    let res = call(
        &app,
        Method::POST,
        "/api/admin/permissions",
        Some(&admin),
        Some(json!({"name": "articles:write"})),
    )
    .await;
    expect_error(res, 409, "permission_exists").await;
    for bad in [
        json!({"name": "nocolon"}),
        json!({"name": "Bad:Case!"}),
        json!({"name": "a:b", "description": "x".repeat(256)}),
    ] {
        let res = call(
            &app,
            Method::POST,
            "/api/admin/permissions",
            Some(&admin),
            Some(bad),
        )
        .await;
        expect_error(res, 400, "validation_failed").await;
    }
    let all = ok_json(
        call(
            &app,
            Method::GET,
            "/api/admin/permissions",
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"articles:write") && names.contains(&"users:read"),
        "{names:?}"
    );
    let builtin = all
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "users:read")
        .unwrap();
    assert_eq!(builtin["builtIn"], true);

    // a custom role
    let role = ok_json(
        call(&app, Method::POST, "/api/admin/roles", Some(&admin),
            Some(json!({"name": "Editor", "description": "Edits articles", "permissions": ["articles:write", "content:read", "articles:write"]}))).await,
        201,
    )
    .await;
    assert_eq!(
        role,
        json!({"name": "editor", "description": "Edits articles", "builtIn": false, "permissions": ["articles:write", "content:read"]})
    );
    let res = call(
        &app,
        Method::POST,
        "/api/admin/roles",
        Some(&admin),
        Some(json!({"name": "editor"})),
    )
    .await;
    expect_error(res, 409, "role_exists").await;
    let res = call(
        &app,
        Method::POST,
        "/api/admin/roles",
        Some(&admin),
        Some(json!({"name": "reviewer", "permissions": ["articles:review"]})),
    )
    .await;
    let body = expect_error(res, 400, "unknown_permission").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("articles:review")
    );
    let res = call(
        &app,
        Method::POST,
        "/api/admin/roles",
        Some(&admin),
        Some(json!({"name": "x"})),
    )
    .await;
    expect_error(res, 400, "validation_failed").await;
    let roles = ok_json(
        call(&app, Method::GET, "/api/admin/roles", Some(&admin), None).await,
        200,
    )
    .await;
    let names: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["user", "moderator", "admin", "editor"]);
    assert!(
        roles
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["builtIn"] == (r["name"] != "editor"))
    );

    // assign it; the next refresh carries its permissions
    ok_json(set_roles(&app, &admin, bob, &["user", "editor"]).await, 200).await;
    let res = app.refresh(&bob_refresh).await;
    let body: Value = res.json().await.unwrap();
    let bob_refresh = body["refreshToken"].as_str().unwrap().to_owned();
    let c = claims_of(body["accessToken"].as_str().unwrap());
    assert_eq!(c["roles"], json!(["user", "editor"]));
    assert_eq!(c["perms"], json!(["articles:write", "content:read"]));

    // change it
    ok_json(
        call(
            &app,
            Method::POST,
            "/api/admin/permissions",
            Some(&admin),
            Some(json!({"name": "articles:publish"})),
        )
        .await,
        201,
    )
    .await;
    let role = ok_json(
        call(&app, Method::PUT, "/api/admin/roles/editor", Some(&admin),
            Some(json!({"permissions": ["articles:publish", "articles:write"], "description": "Writes and publishes"}))).await,
        200,
    )
    .await;
    assert_eq!(
        role["permissions"],
        json!(["articles:publish", "articles:write"])
    );
    assert_eq!(role["description"], "Writes and publishes");
    let res = call(
        &app,
        Method::PUT,
        "/api/admin/roles/ghost",
        Some(&admin),
        Some(json!({"permissions": []})),
    )
    .await;
    expect_error(res, 404, "not_found").await;
    let res = call(
        &app,
        Method::PUT,
        "/api/admin/roles/editor",
        Some(&admin),
        Some(json!({"permissions": ["nope:nope"]})),
    )
    .await;
    expect_error(res, 400, "unknown_permission").await;

    // built-in roles: not deletable; admin keeps what it needs
    for name in ["user", "moderator", "admin"] {
        let res = call(
            &app,
            Method::DELETE,
            &format!("/api/admin/roles/{name}"),
            Some(&admin),
            None,
        )
        .await;
        expect_error(res, 409, "built_in_role").await;
    }
    let res = call(
        &app,
        Method::PUT,
        "/api/admin/roles/admin",
        Some(&admin),
        Some(json!({"permissions": ["users:read", "roles:read", "roles:write", "audit:read"]})),
    )
    .await;
    let body = expect_error(res, 409, "built_in_role").await;
    assert!(body["message"].as_str().unwrap().contains("users:write"));
    // moderator's permissions can change
    let role = ok_json(
        call(
            &app,
            Method::PUT,
            "/api/admin/roles/moderator",
            Some(&admin),
            Some(json!({"permissions": ["content:moderate", "content:read"]})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        role["permissions"],
        json!(["content:moderate", "content:read"])
    );

    // delete the custom role: its users lose it
    let res = call(
        &app,
        Method::DELETE,
        "/api/admin/roles/editor",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    let res = call(
        &app,
        Method::DELETE,
        "/api/admin/roles/editor",
        Some(&admin),
        None,
    )
    .await;
    expect_error(res, 404, "not_found").await;
    let user = get_user(&app, &admin, bob).await;
    assert_eq!(user["roles"], json!(["user"]));
    let res = app.refresh(&bob_refresh).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        claims_of(body["accessToken"].as_str().unwrap())["roles"],
        json!(["user"])
    );
}

#[tokio::test]
async fn nobody_grants_what_they_do_not_hold() {
    let app = spawn_app().await;
    let (_, admin, _) = member(&app, "root", &["admin"]).await;
    create_role(
        &app,
        &admin,
        "helpdesk",
        &["users:read", "users:write", "roles:write"],
    )
    .await;
    let (carol, _, _) = member(&app, "carol", &["user"]).await;
    ok_json(
        set_roles(&app, &admin, carol, &["user", "helpdesk"]).await,
        200,
    )
    .await;
    let carol_token = app.session("carol", PASSWORD).await.0;
    let (dave, _, _) = member(&app, "dave", &["user"]).await;

    // giving admin (which grants what carol lacks) is refused, to others and herself
    let body = expect_error(
        set_roles(&app, &carol_token, dave, &["user", "admin"]).await,
        403,
        "escalation",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("admin"),
        "{body}"
    );
    expect_error(
        set_roles(&app, &carol_token, carol, &["user", "helpdesk", "admin"]).await,
        403,
        "escalation",
    )
    .await;
    // a role whose permissions she holds is fine
    ok_json(
        set_roles(&app, &carol_token, dave, &["user", "helpdesk"]).await,
        200,
    )
    .await;
    // and a role with a permission she lacks cannot be created or extended
    let res = call(
        &app,
        Method::POST,
        "/api/admin/roles",
        Some(&carol_token),
        Some(json!({"name": "sneaky", "permissions": ["audit:read"]})),
    )
    .await;
    expect_error(res, 403, "escalation").await;
    let res = call(
        &app,
        Method::PUT,
        "/api/admin/roles/helpdesk",
        Some(&carol_token),
        Some(json!({"permissions": ["users:read", "users:write", "roles:write", "audit:read"]})),
    )
    .await;
    expect_error(res, 403, "escalation").await;
    let user = get_user(&app, &admin, dave).await;
    assert_eq!(user["roles"], json!(["user", "helpdesk"]));
}

#[tokio::test]
async fn every_admin_change_is_audited_in_the_database_and_the_log() {
    let app = spawn_app().await;
    let (root_id, admin, _) = member(&app, "auditor", &["admin"]).await;
    let (bob, _, _) = member(&app, "bobaudit", &["user"]).await;
    ok_json(
        set_roles(&app, &admin, bob, &["user", "moderator"]).await,
        200,
    )
    .await;
    ok_json(set_disabled(&app, &admin, bob, true).await, 200).await;
    ok_json(
        call(
            &app,
            Method::POST,
            "/api/admin/permissions",
            Some(&admin),
            Some(json!({"name": "audit:probe"})),
        )
        .await,
        201,
    )
    .await;
    create_role(&app, &admin, "prober", &["audit:probe"]).await;
    ok_json(
        call(
            &app,
            Method::PUT,
            "/api/admin/roles/prober",
            Some(&admin),
            Some(json!({"permissions": []})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            "/api/admin/roles/prober",
            Some(&admin),
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/api/admin/users/{bob}"),
            Some(&admin),
            None
        )
        .await
        .status(),
        204
    );
    // refused changes are not recorded
    expect_error(
        set_roles(&app, &admin, root_id, &[]).await,
        409,
        "last_admin",
    )
    .await;

    let log = ok_json(
        call(&app, Method::GET, "/api/admin/audit", Some(&admin), None).await,
        200,
    )
    .await;
    assert_eq!(log["total"], 7);
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    let all_actions: Vec<String> = actions.iter().map(|a| (*a).to_owned()).collect();
    assert_eq!(
        actions,
        vec![
            "user.delete",
            "role.delete",
            "role.update",
            "role.create",
            "permission.create",
            "user.disable",
            "user.roles.set"
        ]
    );
    let roles_set = &log["items"][6];
    assert_eq!(roles_set["actor"], "auditor");
    assert_eq!(roles_set["actorId"], root_id);
    assert_eq!(roles_set["target"], format!("user:{bob}"));
    assert_eq!(roles_set["detail"]["before"], json!(["user"]));
    assert_eq!(roles_set["detail"]["after"], json!(["user", "moderator"]));
    assert_eq!(roles_set["detail"]["username"], "bobaudit");
    assert!(roles_set["at"].as_str().unwrap().starts_with("20"));
    assert_eq!(log["items"][0]["detail"]["username"], "bobaudit");

    let page = ok_json(
        call(
            &app,
            Method::GET,
            "/api/admin/audit?per_page=2&page=2",
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    let actions: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["role.update", "role.create"]);
    // the same log by cursor, newest first, each event once
    let mut walked: Vec<String> = Vec::new();
    let mut path = "/api/admin/audit?per_page=3".to_owned();
    loop {
        let page = ok_json(
            call(&app, Method::GET, &path, Some(&admin), None).await,
            200,
        )
        .await;
        assert_eq!(page["total"], 7);
        walked.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["action"].as_str().unwrap().to_owned()),
        );
        let Some(next) = page["next"].as_str() else {
            break;
        };
        assert!(walked.len() < 7, "a page after the last: {page}");
        path = format!("/api/admin/audit?per_page=3&cursor={next}");
    }
    assert_eq!(walked, all_actions);
    let res = call(
        &app,
        Method::GET,
        "/api/admin/audit?per_page=1000",
        Some(&admin),
        None,
    )
    .await;
    expect_error(res, 400, "validation_failed").await;

    // the log is shared by the tests running in parallel: look for this test's actor
    let logs = captured_logs();
    let logged = |what: &str, detail: &str| {
        logs.lines()
            .any(|l| l.contains(what) && l.contains("actor=auditor") && l.contains(detail))
    };
    assert!(
        logged("audit: user roles set", &format!("user_id={bob}")),
        "audit lines are logged"
    );
    assert!(logged("audit: user status set", "disabled=true"));
    assert!(logged(
        "audit: permission created",
        "permission=audit:probe"
    ));
    assert!(logged("audit: role deleted", "role=prober"));
    assert!(logged("audit: user deleted", &format!("user_id={bob}")));
}

async fn create_role(app: &TestApp, token: &str, name: &str, permissions: &[&str]) {
    let res = call(
        app,
        Method::POST,
        "/api/admin/roles",
        Some(token),
        Some(json!({"name": name, "permissions": permissions})),
    )
    .await;
    ok_json(res, 201).await;
}

#[tokio::test]
async fn nobody_acts_on_an_account_holding_more_than_they_do() {
    let app = spawn_app().await;
    let (_, admin, _) = member(&app, "root", &["admin"]).await;
    create_role(&app, &admin, "helpdesk", &["users:read", "users:write"]).await;
    let (carol, _, _) = member(&app, "carol", &["user"]).await;
    ok_json(
        set_roles(&app, &admin, carol, &["user", "helpdesk"]).await,
        200,
    )
    .await;
    let carol_token = app.session("carol", PASSWORD).await.0;
    let (other_admin, _, _) = member(&app, "otheradmin", &["admin"]).await;
    let (moderator, _, _) = member(&app, "mod", &["moderator"]).await;
    let (dave, _, _) = member(&app, "dave", &["user"]).await;

    // not an admin, not a moderator (she lacks content:moderate)
    for target in [other_admin, moderator] {
        let body = expect_error(
            set_disabled(&app, &carol_token, target, true).await,
            403,
            "escalation",
        )
        .await;
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("You cannot change"),
            "{body}"
        );
        expect_error(
            set_roles(&app, &carol_token, target, &["user"]).await,
            403,
            "escalation",
        )
        .await;
        let res = call(
            &app,
            Method::DELETE,
            &format!("/api/admin/users/{target}"),
            Some(&carol_token),
            None,
        )
        .await;
        expect_error(res, 403, "escalation").await;
    }
    // but a plain user, yes
    ok_json(set_disabled(&app, &carol_token, dave, true).await, 200).await;
    ok_json(set_disabled(&app, &carol_token, dave, false).await, 200).await;
    let res = call(
        &app,
        Method::DELETE,
        &format!("/api/admin/users/{dave}"),
        Some(&carol_token),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    // the admin and the moderator are untouched
    for target in [other_admin, moderator] {
        let user = get_user(&app, &admin, target).await;
        assert_eq!(user["disabled"], false);
        assert_ne!(user["roles"], json!(["user"]));
    }
}

#[tokio::test]
async fn stripping_a_role_to_take_it_is_refused() {
    let app = spawn_app().await;
    let (_, admin, _) = member(&app, "root", &["admin"]).await;
    // every administrative permission, but not the content ones admin also grants
    create_role(
        &app,
        &admin,
        "almostadmin",
        &[
            "users:read",
            "users:write",
            "roles:read",
            "roles:write",
            "audit:read",
        ],
    )
    .await;
    let (eve, _, _) = member(&app, "eve", &["user"]).await;
    ok_json(
        set_roles(&app, &admin, eve, &["user", "almostadmin"]).await,
        200,
    )
    .await;
    let eve_token = app.session("eve", PASSWORD).await.0;

    // strip admin down to what she holds...
    let res = call(
        &app,
        Method::PUT,
        "/api/admin/roles/admin",
        Some(&eve_token),
        Some(json!({"permissions": ["users:read", "users:write", "roles:read", "roles:write", "audit:read"]})),
    )
    .await;
    let body = expect_error(res, 403, "escalation").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("content:moderate"),
        "{body}"
    );
    // ...or take it as it is: both refused
    expect_error(
        set_roles(&app, &eve_token, eve, &["user", "almostadmin", "admin"]).await,
        403,
        "escalation",
    )
    .await;
    // nor can she delete a role granting more than she holds
    create_role(&app, &admin, "moderators2", &["content:moderate"]).await;
    let res = call(
        &app,
        Method::DELETE,
        "/api/admin/roles/moderators2",
        Some(&eve_token),
        None,
    )
    .await;
    expect_error(res, 403, "escalation").await;
    let roles = ok_json(
        call(&app, Method::GET, "/api/admin/roles", Some(&admin), None).await,
        200,
    )
    .await;
    let admin_role = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "admin")
        .unwrap();
    assert!(
        admin_role["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("content:moderate"))
    );
    assert!(
        roles
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "moderators2")
    );
    // a role within her reach she can change
    create_role(&app, &admin, "reader", &["users:read"]).await;
    let res = call(
        &app,
        Method::PUT,
        "/api/admin/roles/reader",
        Some(&eve_token),
        Some(json!({"permissions": ["users:read", "audit:read"]})),
    )
    .await;
    ok_json(res, 200).await;
}

#[tokio::test]
async fn the_user_role_never_gets_administrative_permissions() {
    let app = spawn_app().await;
    let (_, admin, _) = member(&app, "root", &["admin"]).await;
    for p in [
        "users:read",
        "users:write",
        "roles:read",
        "roles:write",
        "audit:read",
    ] {
        let res = call(
            &app,
            Method::PUT,
            "/api/admin/roles/user",
            Some(&admin),
            Some(json!({"permissions": ["content:read", p]})),
        )
        .await;
        let body = expect_error(res, 409, "built_in_role").await;
        assert!(body["message"].as_str().unwrap().contains(p), "{body}");
    }
    ok_json(
        call(
            &app,
            Method::PUT,
            "/api/admin/roles/user",
            Some(&admin),
            Some(json!({"permissions": ["content:read", "content:moderate"]})),
        )
        .await,
        200,
    )
    .await;
}
