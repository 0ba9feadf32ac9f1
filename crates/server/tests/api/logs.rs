//! What the log shows of user input.

use crate::helpers::{captured_logs, expect_error, spawn_app, unique_name};

const PW: &str = "a good long password";

/// In the human-readable log a newline in an echoed value started a line
/// of its own that could pass for a log entry.
#[tokio::test]
async fn a_newline_in_an_echoed_value_cannot_forge_a_log_line() {
    let app = spawn_app().await;
    let marker = unique_name("FORGED");
    let role = format!("nosuchrole\n{marker} ERROR rolegate: db down");
    let res = app
        .signup(
            &unique_name("echo"),
            &format!("{}@example.com", unique_name("echo")),
            PW,
            Some(&[role.as_str()]),
        )
        .await;
    expect_error(res, 400, "unknown_role").await;
    let token = app.user_token(&unique_name("root"), &["admin"]).await;
    let res = app
        .client
        .delete(app.url(&format!("/api/admin/roles/x%0D%0A{marker}-path")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "not_found").await;

    let logs = captured_logs();
    assert!(logs.contains(&marker), "the value is logged, escaped");
    let forged: Vec<&str> = logs
        .lines()
        .filter(|line| line.trim_start().starts_with(&marker))
        .collect();
    assert!(forged.is_empty(), "forged log lines: {forged:?}");
}
