//! Stock Tracker host: a multi-tenant service for marketplace sellers.
//!
//! It keeps each seller's (tenant's) products and per-warehouse stock, the history of every change
//! and the runs that brought it in, and serves them through a REST API under `/api/v1`.
//!
//! Where to find things (one module per concern):
//! - [`config`]: every environment variable and flag, with defaults.
//! - [`app`]: the shared state handed to every handler.
//! - [`router`]: the one route table; handlers live in [`api`].
//! - [`auth`]: passwords, JWT access tokens, rotating refresh tokens, the request extractor.
//! - [`crypto`]: sealing marketplace credentials at rest.
//! - [`store`]: the database (SQLite by default, PostgreSQL in production), one code path.
//! - [`health`]: liveness and readiness probes.
//! - [`error`]: the one JSON error envelope.
//! - [`telemetry`]: logging set-up.
//! - [`cli`]: the `stock-tracker` command line.
// `unsafe` is denied everywhere but `plugins::cache`, which loads compiled plugin code it wrote.
#![deny(unsafe_code)]

pub mod api;
pub mod app;
pub mod auth;
pub mod background;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod error;
pub mod events;
pub mod forecast;
pub mod health;
pub mod jobs;
pub mod plugins;
pub mod ratelimit;
pub mod router;
pub mod server;
pub mod store;
pub mod sync;
pub mod telegram;
pub mod telemetry;
pub mod webhooks;

pub use app::App;
pub use config::Config;

/// The allocator the service runs with (mimalloc: a request's many small allocations cost less
/// than with glibc's malloc; docs/BENCHMARKS.md, "Middleware stack"). A library cannot choose
/// the global allocator, so the `stock-tracker` binary and the benchmarks that measure the service
/// each declare it with [`product_allocator!`].
pub use mimalloc::MiMalloc as Allocator;

/// Declares [`Allocator`] the global allocator of the binary that invokes it.
#[macro_export]
macro_rules! product_allocator {
    () => {
        #[global_allocator]
        static GLOBAL_ALLOCATOR: $crate::Allocator = $crate::Allocator;
    };
}
