//! Running the process: `serve` (the HTTP API with background jobs beside it) and `worker`
//! (background jobs with only health and metrics over HTTP). Both stop on Ctrl-C or SIGTERM in
//! the same order: stop accepting requests and claiming jobs, let running jobs finish for up to
//! `SHUTDOWN_GRACE_SECS`, hand back the claims of those still running, close the pool.

use std::sync::Arc;

use anyhow::Context;

use crate::background::Background;
use crate::config::{Config, ConfigError};
use crate::{App, router};

/// Builds the app from `config` and serves until a shutdown signal; with `demo`, first sets up
/// the demo (see [`crate::demo`]).
pub async fn serve(mut config: Config, demo: bool) -> anyhow::Result<()> {
    let bind_addr = config.http.bind_addr;
    let fakes = if demo { Some(crate::demo::prepare(&mut config).await?) } else { None };
    let app = Arc::new(App::build(config).await?);
    let listener = bind(bind_addr).await?;
    let background = Background::start(&app);
    if let Some(fakes) = &fakes {
        crate::demo::seed(&app, fakes).await?;
    }
    tracing::info!(addr = %bind_addr, database = ?app.store.kind(), "stock-tracker listening on http://{bind_addr}");
    run(app.clone(), listener, router::router(app), background).await
}

/// Builds the app from `config` and runs background jobs only, serving health and metrics.
pub async fn worker(config: Config) -> anyhow::Result<()> {
    let bind_addr = config.http.bind_addr;
    let app = Arc::new(App::build(config).await?);
    let listener = bind(bind_addr).await?;
    let background = Background::start(&app);
    tracing::info!(addr = %bind_addr, database = ?app.store.kind(), "stock-tracker worker: health and metrics on http://{bind_addr}");
    run(app.clone(), listener, router::worker_router(app), background).await
}

async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, ConfigError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ConfigError::new("BIND_ADDR", format!("cannot listen on {addr}: {e}")))
}

/// Serves until a shutdown signal, then shuts down in order (see the module docs).
async fn run(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    routes: router::Stack,
    background: Background,
) -> anyhow::Result<()> {
    let (stop, mut stopping) = tokio::sync::watch::channel(false);
    let stop = Arc::new(stop);
    let service =
        axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<std::net::SocketAddr>(routes);
    let server = {
        let stop = stop.clone();
        async move {
            let served = axum::serve(listener, service)
                .with_graceful_shutdown({
                    let stop = stop.clone();
                    async move {
                        shutdown_signal().await;
                        let _ = stop.send(true);
                    }
                })
                .await;
            // The server may also end on its own (an error): the jobs stop with it.
            let _ = stop.send(true);
            served
        }
    };
    let jobs = async move {
        let _ = stopping.wait_for(|s| *s).await;
        tracing::info!("shutting down: no new jobs; waiting for running ones");
        background.shutdown(app.config.jobs.shutdown_grace()).await;
        app
    };
    let (served, app) = tokio::join!(server, jobs);
    served.context("server error")?;
    tracing::info!("shut down");
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
