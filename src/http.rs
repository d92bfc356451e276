//! The daemon's HTTP server: `/metrics`, `/healthz`, `/readyz` and `/status`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::engine::daemon::Liveness;
use crate::engine::status::StatusStore;
use crate::metrics::Metrics;

/// How long `/healthz` waits for the run loop to answer.
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(5);

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    pub status: Arc<StatusStore>,
    pub liveness: Liveness,
}

/// The routes, for [`serve`] and for tests.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .with_state(state)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding the metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot encode the metrics\n",
            )
                .into_response()
        }
    }
}

/// 200 while the run loop answers; 503 when it does not within 5 s.
async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.liveness.check(LIVENESS_TIMEOUT).await {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the reconcile loop does not answer\n",
        )
    }
}

/// 200 once the first full pass has completed; 503 before and while stopping.
async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let r = state.status.readiness();
    if r.stopping {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping\n")
    } else if r.ready {
        (StatusCode::OK, "ready\n")
    } else if r.desired_invalid {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the desired state is invalid (see /status)\n",
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the first pass has not completed\n",
        )
    }
}

async fn status(State(state): State<AppState>) -> Json<crate::engine::status::Status> {
    Json(state.status.snapshot())
}
