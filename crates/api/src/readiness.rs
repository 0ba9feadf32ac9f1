//! Draining before a shutdown: once the server is told to stop, `/readyz`
//! answers 503 (load balancers stop sending new requests) and every response
//! closes its connection (clients reconnect, to another instance), while
//! requests keep being served until the listener closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web;

/// Whether this instance is draining; clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// From now on: not ready, and connections close after each response.
    pub fn drain(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// While draining, no connection is kept alive after its response.
pub(crate) async fn close_when_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let draining = req
        .app_data::<web::Data<Readiness>>()
        .is_some_and(|r| r.is_draining());
    let mut res = next.call(req).await?;
    if draining {
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}
