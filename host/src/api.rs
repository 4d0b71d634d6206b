//! HTTP handlers, one module per resource, named verb_noun; the routes are in [`crate::router`].
//!
//! Request bodies come in through [`Json`] and query strings through [`Query`], which answer
//! bad input with the error envelope naming the offending field. Lists page with an opaque
//! `cursor` ([`pagination`]).

pub mod admin;
pub mod auth;
pub mod connections;
pub mod events;
pub mod forecasts;
pub mod invitations;
pub mod members;
pub mod openapi;
pub mod pagination;
pub mod products;
pub mod sales;
pub mod stocks;
pub mod sync;
pub mod sync_runs;
pub mod telegram;
pub mod tenant;
pub mod webhooks;

mod extract;

pub use extract::{Json, MAX_BODY_BYTES, PathId, PathIds, Query, nullable};
