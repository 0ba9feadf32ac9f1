//! `/metrics` on its own listener, scraped during a small load and parsed by
//! the Prometheus client's own OpenMetrics parser (Python `prometheus-client`,
//! installed into .venv by `make test-deps`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app_with, unique_name};

use crate::helpers::python;

/// Reads an exposition on stdin; prints its samples as JSON. Fails on
/// anything the parser refuses.
const PARSE: &str = r#"
import json, math, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        v = s.value
        out.append({"family": family.name, "type": family.type, "name": s.name,
                    "labels": s.labels, "value": "+Inf" if math.isinf(v) else v})
print(json.dumps(out))
"#;

#[derive(Debug)]
struct Sample {
    family: String,
    kind: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

struct Scrape(Vec<Sample>);

impl Scrape {
    /// The value of the one sample named `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let hits: Vec<&Sample> = self
            .0
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert!(hits.len() <= 1, "{name} {labels:?} matches {hits:?}");
        hits.first().map(|s| s.value)
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
    }

    fn family_type(&self, family: &str) -> &str {
        &self
            .0
            .iter()
            .find(|s| s.family == family)
            .unwrap_or_else(|| panic!("no family {family}"))
            .kind
    }
}

async fn scrape(app: &TestApp) -> Scrape {
    let url = format!("{}/metrics", app.metrics_address.as_deref().unwrap());
    let res = app.client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    let text = res.text().await.unwrap();
    tokio::task::spawn_blocking(move || parse(&text))
        .await
        .unwrap()
}

fn parse(text: &str) -> Scrape {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(python())
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run `make test-deps` (a .venv with prometheus-client) or set ROLEGATE_TEST_PYTHON",
                python().display()
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    Scrape(
        samples
            .into_iter()
            .map(|s| Sample {
                family: s["family"].as_str().unwrap().to_owned(),
                kind: s["type"].as_str().unwrap().to_owned(),
                name: s["name"].as_str().unwrap().to_owned(),
                labels: serde_json::from_value(s["labels"].clone()).unwrap(),
                value: match &s["value"] {
                    Value::String(inf) if inf == "+Inf" => f64::INFINITY,
                    v => v.as_f64().unwrap(),
                },
            })
            .collect(),
    )
}

/// One user's share of the load: sign up, sign in twice, one wrong
/// password, three calls with the same token.
async fn user_load(app: &TestApp) {
    let name = unique_name("metrics");
    let res = app
        .signup(
            &name,
            &format!("{name}@example.com"),
            "correct horse battery",
            None,
        )
        .await;
    assert_eq!(res.status(), 201);
    let mut token = String::new();
    for _ in 0..2 {
        let res = app.signin(&name, "correct horse battery").await;
        assert_eq!(res.status(), 200);
        token = res.json::<Value>().await.unwrap()["accessToken"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    assert_eq!(app.signin(&name, "wrong horse battery").await.status(), 401);
    for _ in 0..3 {
        let res = app.get_with_token("/api/test/user", &token).await;
        assert_eq!(res.status(), 200);
    }
}

#[tokio::test]
async fn metrics_are_scraped_during_load_and_parse_as_openmetrics() {
    let app = spawn_app_with(|s| {
        s.metrics.bind = "127.0.0.1:0".into();
        // Any second presentation of a rotated refresh token is reuse.
        s.auth.refresh_grace_secs = 0;
    })
    .await;
    assert_eq!(
        app.client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "not on the API's listener"
    );
    let before = scrape(&app).await;
    assert_eq!(
        before.get("rolegate_signin_attempts_total", &[("outcome", "success")]),
        0.0
    );
    assert_eq!(
        before.family_type("rolegate_http_request_duration_seconds"),
        "histogram"
    );
    assert_eq!(before.family_type("rolegate_signin_attempts"), "counter");
    assert!(
        before
            .value(
                "rolegate_build_info",
                &[("version", env!("CARGO_PKG_VERSION"))]
            )
            .is_some()
    );

    // Four users at once, scraped while they run.
    let users = 4;
    let load = futures_util::future::join_all((0..users).map(|_| user_load(&app)));
    let scrapes = async {
        let mut n = 0;
        for _ in 0..5 {
            let s = scrape(&app).await;
            assert!(s.value("rolegate_db_pool_max_connections", &[]).is_some());
            n += 1;
        }
        n
    };
    let (_, scraped) = tokio::join!(load, scrapes);
    assert_eq!(scraped, 5);

    // A rotation, then the rotated token again: reuse.
    let name = unique_name("rot");
    let res = app
        .signup(
            &name,
            &format!("{name}@example.com"),
            "correct horse battery",
            None,
        )
        .await;
    assert_eq!(res.status(), 201);
    let (_, refresh) = app.session(&name, "correct horse battery").await;
    assert_eq!(app.refresh(&refresh).await.status(), 200);
    assert_eq!(app.refresh(&refresh).await.status(), 401);
    // Raw paths never become labels.
    let res = app
        .client
        .get(app.url("/api/admin/users/123456789"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
    let res = app
        .client
        .get(app.url("/no/such/987654321"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    let after = scrape(&app).await;
    let signins = |outcome| after.get("rolegate_signin_attempts_total", &[("outcome", outcome)]);
    // `session` signs up and in once more.
    assert_eq!(signins("success"), f64::from(2 * users + 1));
    assert_eq!(signins("wrong_password"), f64::from(users));
    assert_eq!(signins("shed"), 0.0);
    assert_eq!(
        after.get("rolegate_signup_attempts_total", &[("outcome", "created")]),
        f64::from(users + 1)
    );
    let signin_ok = [
        ("method", "POST"),
        ("route", "/api/auth/signin"),
        ("status", "200"),
    ];
    assert_eq!(
        after.get("rolegate_http_requests_total", &signin_ok),
        f64::from(2 * users + 1)
    );
    assert_eq!(
        after.get(
            "rolegate_http_requests_total",
            &[("route", "/api/auth/signin"), ("status", "401")]
        ),
        f64::from(users)
    );
    assert_eq!(
        after.get(
            "rolegate_http_requests_total",
            &[
                ("method", "GET"),
                ("route", "/api/test/user"),
                ("status", "200")
            ]
        ),
        f64::from(3 * users)
    );
    assert!(
        after
            .value(
                "rolegate_http_requests_total",
                &[("route", "/api/admin/users/{id}")]
            )
            .is_some(),
        "the route template"
    );
    assert!(
        after
            .value(
                "rolegate_http_requests_total",
                &[("route", "unmatched"), ("status", "404")]
            )
            .is_some()
    );
    assert!(
        after.0.iter().all(|s| s
            .labels
            .values()
            .all(|v| !v.contains("123456789") && !v.contains("987654321"))),
        "no raw path in a label"
    );
    // The histogram agrees with the counter; buckets are cumulative.
    let duration = "rolegate_http_request_duration_seconds";
    let count = after.get(&format!("{duration}_count"), &signin_ok);
    assert_eq!(count, f64::from(2 * users + 1));
    let buckets: Vec<(f64, f64)> = after
        .0
        .iter()
        .filter(|s| {
            s.name == format!("{duration}_bucket")
                && signin_ok
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| {
            let le = &s.labels["le"];
            (
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                },
                s.value,
            )
        })
        .collect();
    assert_eq!(buckets.len(), 15, "14 bounds and +Inf: {buckets:?}");
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
    );
    assert_eq!(buckets.last().unwrap().1, count);
    assert!(after.get(&format!("{duration}_sum"), &signin_ok) > 0.0);

    // Hashing: every sign-up and sign-in waited for a slot (maybe for 0 s).
    let hashes = f64::from(users + 1) + f64::from(3 * users + 1);
    assert!(after.get("rolegate_password_hash_wait_seconds_count", &[]) >= hashes);
    assert_eq!(after.get("rolegate_password_hashes_shed_total", &[]), 0.0);
    assert_eq!(after.get("rolegate_password_hashes_waiting", &[]), 0.0);
    assert!(after.get("rolegate_password_hash_slots", &[]) >= 1.0);
    // The same token thrice: one miss, then hits.
    assert!(
        after.get("rolegate_token_cache_lookups_total", &[("result", "hit")])
            >= f64::from(2 * users)
    );
    assert!(
        after.get("rolegate_token_cache_lookups_total", &[("result", "miss")]) >= f64::from(users)
    );
    assert_eq!(after.get("rolegate_refresh_rotations_total", &[]), 1.0);
    assert_eq!(after.get("rolegate_refresh_reuse_detected_total", &[]), 1.0);
    // The pool: test.toml's 5 connections at most; something is open.
    assert_eq!(after.get("rolegate_db_pool_max_connections", &[]), 5.0);
    let open = after.get("rolegate_db_pool_connections", &[("state", "in_use")])
        + after.get("rolegate_db_pool_connections", &[("state", "idle")]);
    assert!((1.0..=5.0).contains(&open), "{open}");
    assert!(
        after
            .value("rolegate_db_pool_acquire_timeouts_total", &[])
            .is_some()
    );
    assert_eq!(after.get("rolegate_draining", &[]), 0.0);

    // The welcome mails leave (log transport) and the outbox empties.
    let mut last = after;
    for _ in 0..50 {
        if last.get("rolegate_mail_deliveries_total", &[("result", "sent")]) >= f64::from(users + 1)
            && last.get("rolegate_mail_outbox_pending", &[]) == 0.0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        last = scrape(&app).await;
    }
    assert_eq!(
        last.get("rolegate_mail_deliveries_total", &[("result", "sent")]),
        f64::from(users + 1)
    );
    assert_eq!(last.get("rolegate_mail_outbox_pending", &[]), 0.0);
    assert_eq!(
        last.get("rolegate_mail_deliveries_total", &[("result", "given_up")]),
        0.0
    );
}
