//! Running the HTTP server: bind, serve, shut down gracefully on Ctrl-C or SIGTERM.

use std::sync::Arc;

use anyhow::Context;

use crate::config::{Config, ConfigError};
use crate::{App, router};

/// Builds the app from `config` and serves until a shutdown signal; with `demo`, first sets up
/// the demo (see [`crate::demo`]).
pub async fn serve(mut config: Config, demo: bool) -> anyhow::Result<()> {
    let bind_addr = config.http.bind_addr;
    let fake = if demo { Some(crate::demo::prepare(&mut config).await?) } else { None };
    let app = Arc::new(App::build(config).await?);
    let listener = tokio::net::TcpListener::bind(bind_addr)
        .await
        .map_err(|e| ConfigError::new("BIND_ADDR", format!("cannot listen on {bind_addr}: {e}")))?;
    if let Some(fake) = &fake {
        crate::demo::seed(&app, fake).await?;
    }
    tracing::info!(addr = %bind_addr, database = ?app.store.kind(), "stock-tracker listening on http://{bind_addr}");
    let service = router::router(app.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown_signal()).await.context("server error")?;
    tracing::info!("shutting down");
    app.store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
