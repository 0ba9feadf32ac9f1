//! A bare actix-web server: `GET /api/test/all` answers `Public Content.`
//! as rolegate does (same body, same Content-Type, same worker count),
//! without rolegate's middleware. `make bench` measures it in the same run as
//! rolegate, so rolegate's public and guarded routes are shown as a ratio of
//! what this machine can do with actix-web at all.
//!
//! Usage: `bench-bare PORT` (127.0.0.1 only).

use actix_web::http::header::ContentType;
use actix_web::{App, HttpResponse, HttpServer, get};

#[get("/api/test/all")]
async fn all() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::plaintext())
        .body("Public Content.")
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1).map(|p| p.parse()) {
        Some(Ok(port)) => port,
        _ => {
            eprintln!("usage: bench-bare PORT");
            std::process::exit(2);
        }
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    HttpServer::new(|| App::new().service(all).service(healthz))
        .workers(workers)
        .bind(("127.0.0.1", port))?
        .run()
        .await
}
