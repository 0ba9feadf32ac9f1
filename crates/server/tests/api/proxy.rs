//! Behind a real reverse proxy: HAProxy (Debian's `haproxy`; `.ci/run`
//! installs it). Without it the test is skipped, loudly.

use std::net::IpAddr;

use serde_json::json;

use crate::helpers::spawn_app_with;
use crate::processes::{HaProxy, find_haproxy};

const PW: &str = "a good long password";

/// A client whose connections come from `source` (any 127/8 address is
/// loopback on Linux), so that it is not the proxy's own address.
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// HAProxy's `option forwardfor` adds its own `X-Forwarded-For` line after
/// the client's: a forged first line must not pick the rate-limit bucket.
#[tokio::test]
async fn behind_haproxy_a_forged_forwarded_for_does_not_escape_the_limit() {
    let Some(bin) = find_haproxy() else {
        eprintln!(
            "\n!!! SKIPPED behind_haproxy_a_forged_forwarded_for_does_not_escape_the_limit: \
             haproxy is not installed (apt-get install -y haproxy) !!!\n"
        );
        return;
    };
    let app = spawn_app_with(|s| {
        s.rate_limit.signup_per_client = 2;
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let app_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = HaProxy::start(&bin, app_port);

    let signup = |client: &reqwest::Client, i: usize, forged: String| {
        client
            .post(proxy.url("/api/auth/signup"))
            .header("x-forwarded-for", forged)
            .json(&json!({
                "username": format!("proxied{i}"),
                "email": format!("proxied{i}@example.com"),
                "password": PW,
            }))
            .send()
    };
    let mallory = client_from("127.0.0.2");
    for i in 0..3 {
        let res = signup(&mallory, i, format!("1.2.3.{i}")).await.unwrap();
        let expected = if i < 2 { 201 } else { 429 };
        assert_eq!(
            res.status(),
            expected,
            "sign-up {i} through HAProxy with a forged X-Forwarded-For: {}",
            res.text().await.unwrap()
        );
    }
    // Another client behind the same proxy has its own count: the limit is
    // per client, not per proxy.
    let other = client_from("127.0.0.3");
    let res = signup(&other, 9, "1.2.3.0".into()).await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
}
