//! Request bodies that arrive too slowly. actix cuts a client that is slow to send its
//! request head (`client_request_timeout`, see `startup`) but waits for a body forever, so a
//! client dribbling one byte at a time could hold a connection and a handler open without
//! end. [`guard`] wraps the body in a stream that fails after a pause between pieces or
//! past a total time; [`finish`] then answers 408 (whatever the handler made of the read
//! error) and closes the connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::rt::time::{Instant, Sleep, sleep, sleep_until};
use actix_web::{HttpMessage, ResponseError};
use bytes::Bytes;
use futures_util::Stream;

use crate::config::HttpTimeouts;
use crate::error::ApiError;

/// Set once a request's body timed out.
#[derive(Clone, Default)]
pub struct TimedOut(Arc<AtomicBool>);

impl TimedOut {
    fn fired(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A request body with an idle and a total deadline.
struct TimedPayload {
    inner: Payload,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    total_timer: Pin<Box<Sleep>>,
    timed_out: TimedOut,
}

impl Stream for TimedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.timed_out.fired() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            let next = Instant::now() + this.idle;
            this.idle_timer.as_mut().reset(next);
            return Poll::Ready(item);
        }
        let idle = this.idle_timer.as_mut().poll(cx).is_ready();
        let total = this.total_timer.as_mut().poll(cx).is_ready();
        if idle || total {
            this.timed_out.0.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "request body too slow",
            )))));
        }
        Poll::Pending
    }
}

/// Puts the deadlines of `limits` on the request's body; keep the flag for [`finish`].
pub fn guard(req: &mut ServiceRequest, limits: &HttpTimeouts) -> TimedOut {
    let timed_out = TimedOut::default();
    let idle = Duration::from_millis(limits.body_idle_ms);
    let inner = req.take_payload();
    let timed = TimedPayload {
        inner,
        idle,
        idle_timer: Box::pin(sleep(idle)),
        total_timer: Box::pin(sleep_until(
            Instant::now() + Duration::from_millis(limits.body_total_ms),
        )),
        timed_out: timed_out.clone(),
    };
    req.set_payload(Payload::from(
        Box::pin(timed) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
    ));
    timed_out
}

/// The handler's answer, or 408 with `Connection: close` when the body timed out.
pub fn finish<B: MessageBody>(
    res: ServiceResponse<B>,
    timed_out: &TimedOut,
) -> ServiceResponse<EitherBody<B, BoxBody>> {
    if !timed_out.fired() {
        return res.map_into_left_body();
    }
    let (req, _) = res.into_parts();
    let mut resp = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "请求内容发送过慢，连接已断开，请在网络较好时重试",
    )
    .error_response();
    resp.head_mut().set_connection_type(ConnectionType::Close);
    ServiceResponse::new(req, resp).map_into_right_body()
}
