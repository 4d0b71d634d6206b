//! Loopback fakes of the Ozon Seller API ([`ozon`]) and the Yandex Market Partner API
//! ([`yandex_market`]), for tests, `stock-tracker plugin check` and `serve --demo`.
//!
//! Each speaks its marketplace's protocol as the official spec describes it
//! (`reference/marketplaces/ozon/swagger.json`, `yandex-market/openapi/`): paths, auth headers,
//! request and answer shapes, paging (and its end), error bodies and rate-limit answers. Each
//! holds a deterministic catalogue the tests compare the service's answers with, and faults to
//! inject: rate-limit answers, failures, revoked credentials.

pub mod example;
pub mod ozon;
mod server;
pub mod yandex_market;

pub use server::{Faults, Running, serve};
