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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::daemon::liveness;
    use crate::kinds::Mode;

    fn state() -> (AppState, crate::engine::daemon::LivenessProbes) {
        let (liveness, probes) = liveness();
        let state = AppState {
            metrics: Arc::new(Metrics::new().unwrap()),
            status: Arc::new(StatusStore::new(std::path::Path::new("desired-state"))),
            liveness,
        };
        (state, probes)
    }

    #[tokio::test]
    async fn readiness_follows_the_first_pass_the_files_and_the_stop() {
        let (s, _probes) = state();
        let (code, text) = readyz(State(s.clone())).await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(text.contains("first pass"), "{text}");

        let at = std::time::SystemTime::now();
        s.status.desired_invalid(&[], at);
        let (code, text) = readyz(State(s.clone())).await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(text.contains("invalid"), "{text}");

        s.status.desired_loaded(
            &[(
                crate::engine::scheduler::Key::new("default", crate::kinds::Kind::Topic, "t"),
                Mode::Enforce,
            )],
            at,
        );
        s.status.pass_completed(at, Duration::from_secs(1), at);
        assert_eq!(readyz(State(s.clone())).await.0, StatusCode::OK);

        s.status.set_stopping();
        assert_eq!(readyz(State(s)).await.0, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test(start_paused = true)]
    async fn health_fails_when_the_loop_does_not_answer() {
        let (s, mut probes) = state();
        // A loop that answers one probe, then hangs.
        let answered = tokio::spawn(async move {
            let reply = probes.0.recv().await.unwrap();
            reply.send(()).unwrap();
            let _hung = probes.0.recv().await;
            std::future::pending::<()>().await;
        });
        assert_eq!(healthz(State(s.clone())).await.0, StatusCode::OK);
        assert_eq!(healthz(State(s)).await.0, StatusCode::SERVICE_UNAVAILABLE);
        answered.abort();
    }

    #[tokio::test]
    async fn metrics_are_served_in_the_text_format() {
        let (s, _probes) = state();
        let response = metrics(State(s)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
    }
}
