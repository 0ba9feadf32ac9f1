//! A deadline for request bodies.
//!
//! actix-web times out a request's head (`client_request_timeout`, 5 s) but
//! not its body: a client that sends `Content-Length: 100` and then 10
//! bytes holds a connection and a worker's attention forever. This
//! middleware gives every request body a deadline, counted from the moment
//! the head was read; a body still incomplete then ends with a
//! `TimedOut` I/O error, which the JSON extractor's error handler
//! ([`crate::extract::json_error`]) answers with 408 `request_timeout` and
//! `Connection: close`.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::rt::time::{Instant, Sleep, sleep_until};
use actix_web::web::Bytes;
use futures_util::Stream;

/// How long a request body may take (app data read by [`body_deadline`]).
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// Wraps the body of every request that has one in a [`Deadline`].
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let timeout = req
        .app_data::<BodyTimeout>()
        .map_or(Duration::from_secs(15), |t| t.0);
    let payload = req.take_payload();
    if matches!(payload, Payload::None) {
        req.set_payload(payload);
    } else {
        let deadline = Deadline {
            inner: payload,
            deadline: Instant::now() + timeout,
            sleep: None,
            expired: false,
        };
        let boxed: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(deadline);
        req.set_payload(Payload::from(boxed));
    }
    next.call(req).await
}

/// Is this payload error the body deadline's?
pub fn is_body_timeout(err: &PayloadError) -> bool {
    matches!(err, PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

/// A body stream that fails with `TimedOut` once its deadline passes.
struct Deadline {
    inner: Payload,
    deadline: Instant,
    /// Made at the first wait: a body that is already complete when read
    /// (the usual case) never sets a timer.
    sleep: Option<Pin<Box<Sleep>>>,
    expired: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired = true;
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body was not received in time",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
