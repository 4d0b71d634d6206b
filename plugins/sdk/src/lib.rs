//! Guest SDK for Stock Tracker marketplace adapters.
//!
//! An adapter is a `cdylib` crate built for `wasm32-wasip2`. It implements [`Adapter`] and
//! registers itself with [`register_adapter!`]; the SDK turns that into the
//! `stock-tracker:marketplace@0.2.0` world (`wit/adapter.wit`) so an adapter never touches
//! generated bindings:
//!
//! ```ignore
//! use stock_tracker_plugin_sdk::{Account, Adapter, AdapterError, AdapterInfo, Context, PageRequest, ProductPage, StockPage};
//!
//! struct MyMarket;
//! impl Adapter for MyMarket {
//!     fn info() -> AdapterInfo { /* id, name, version, marketplace, credential fields, capabilities, settings */ }
//!     fn verify_credentials(ctx: &Context) -> Result<Account, AdapterError> { /* one cheap call */ }
//!     fn list_products(ctx: &Context, page: PageRequest) -> Result<ProductPage, AdapterError> { … }
//!     fn fetch_stocks(ctx: &Context, page: PageRequest) -> Result<StockPage, AdapterError> { … }
//!     // fetch_prices and fetch_sales answer `unsupported` unless implemented (and declared in
//!     // `info().capabilities`).
//! }
//! stock_tracker_plugin_sdk::register_adapter!(MyMarket);
//! ```
//!
//! Outbound HTTP goes through [`http`] (the host performs it and enforces the plugin's allowed
//! origins); [`client`] wraps it for JSON APIs (base URL, headers, refusals mapped to adapter
//! errors with the marketplace's message and the wait its [`ratelimit`] headers give); [`paging`]
//! keeps typed cursors between calls; [`money`] turns prices into minor units; a body too big
//! for the call's memory is spooled by the host and read in pieces ([`spool`]); [`log`] writes
//! to the host log. Keep mapping code in plain functions that do not
//! call the host, so it can be unit-tested natively with recorded JSON.

mod alloc;
pub mod client;
pub mod http;
pub mod json;
pub mod log;
pub mod money;
pub mod paging;
pub mod ratelimit;
pub mod spool;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "adapter-plugin",
        pub_export_macro: true,
        additional_derives: [PartialEq, Eq],
        default_bindings_module: "stock_tracker_plugin_sdk::bindings",
    });
}

pub use bindings::stock_tracker::marketplace::types::{
    Account, AdapterError, AdapterInfo, CallContext, Capability, CredentialField, PageRequest, Price, PricePage,
    Product, ProductPage, ProductPrice, ProductRef, ProductTransit, RateLimit, SaleEvent, SaleKind, SalePage,
    SettingField, StockLevel, StockPage, WarehouseKind,
};

/// Version of the WIT package this SDK targets.
pub const WIT_VERSION: &str = "0.2.0";

/// `rate-limited`: wait `retry_after_secs`, then call again with `resume` in `page.resume`.
pub fn rate_limited(retry_after_secs: u64, resume: Option<String>) -> AdapterError {
    AdapterError::RateLimited(RateLimit { retry_after_secs, resume })
}

/// A call's credentials and settings, with lookups.
#[derive(Debug, Clone)]
pub struct Context {
    credentials: Vec<(String, String)>,
    settings: Vec<(String, String)>,
}

impl Context {
    /// Builds a context (the glue does this; tests may too).
    pub fn new(credentials: Vec<(String, String)>, settings: Vec<(String, String)>) -> Self {
        Self { credentials, settings }
    }

    /// A credential value, or `invalid-credentials` naming the missing field.
    pub fn credential(&self, name: &str) -> Result<&str, AdapterError> {
        self.credentials
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| AdapterError::InvalidCredentials(format!("missing credential field `{name}`")))
    }

    /// A connection setting, if set.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl From<CallContext> for Context {
    fn from(ctx: CallContext) -> Self {
        Self { credentials: ctx.credentials, settings: ctx.settings }
    }
}

/// What an adapter implements.
pub trait Adapter {
    /// Static description; must not use [`http`].
    fn info() -> AdapterInfo;
    /// Checks credentials for what the connection's settings use them for.
    fn verify_credentials(ctx: &Context) -> Result<Account, AdapterError>;
    /// One page of products.
    fn list_products(ctx: &Context, page: PageRequest) -> Result<ProductPage, AdapterError>;
    /// One page of stock levels.
    fn fetch_stocks(ctx: &Context, page: PageRequest) -> Result<StockPage, AdapterError>;
    /// Stock of the seller's own warehouses for up to 1,000 products (declare
    /// [`Capability::SellerStock`]).
    fn fetch_seller_stocks(
        _ctx: &Context,
        _page: PageRequest,
        _products: Vec<ProductRef>,
    ) -> Result<StockPage, AdapterError> {
        Err(AdapterError::Unsupported("this adapter reports no seller warehouses".into()))
    }
    /// One page of prices (declare [`Capability::Prices`]).
    fn fetch_prices(_ctx: &Context, _page: PageRequest) -> Result<PricePage, AdapterError> {
        Err(AdapterError::Unsupported("this adapter reports no prices".into()))
    }
    /// Sale events since the cursor (declare [`Capability::Sales`]).
    fn fetch_sales(_ctx: &Context, _page: PageRequest) -> Result<SalePage, AdapterError> {
        Err(AdapterError::Unsupported("this adapter reports no sales".into()))
    }
}

/// Exports an [`Adapter`] implementation as the component's `adapter` interface.
#[macro_export]
macro_rules! register_adapter {
    ($adapter:ty) => {
        // Only the wasm build exports anything: export names such as
        // `stock-tracker:marketplace/adapter@0.2.0#info` are not valid native symbols, and the
        // native build (for unit tests of the mapping code) needs none.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        pub struct __StockTrackerAdapterGlue;

        #[cfg(target_arch = "wasm32")]
        impl $crate::bindings::exports::stock_tracker::marketplace::adapter::Guest for __StockTrackerAdapterGlue {
            fn info() -> $crate::AdapterInfo {
                <$adapter as $crate::Adapter>::info()
            }
            fn verify_credentials(ctx: $crate::CallContext) -> Result<$crate::Account, $crate::AdapterError> {
                <$adapter as $crate::Adapter>::verify_credentials(&ctx.into())
            }
            fn list_products(
                ctx: $crate::CallContext,
                page: $crate::PageRequest,
            ) -> Result<$crate::ProductPage, $crate::AdapterError> {
                <$adapter as $crate::Adapter>::list_products(&ctx.into(), page)
            }
            fn fetch_stocks(
                ctx: $crate::CallContext,
                page: $crate::PageRequest,
            ) -> Result<$crate::StockPage, $crate::AdapterError> {
                <$adapter as $crate::Adapter>::fetch_stocks(&ctx.into(), page)
            }
            fn fetch_seller_stocks(
                ctx: $crate::CallContext,
                page: $crate::PageRequest,
                products: Vec<$crate::ProductRef>,
            ) -> Result<$crate::StockPage, $crate::AdapterError> {
                <$adapter as $crate::Adapter>::fetch_seller_stocks(&ctx.into(), page, products)
            }
            fn fetch_prices(
                ctx: $crate::CallContext,
                page: $crate::PageRequest,
            ) -> Result<$crate::PricePage, $crate::AdapterError> {
                <$adapter as $crate::Adapter>::fetch_prices(&ctx.into(), page)
            }
            fn fetch_sales(
                ctx: $crate::CallContext,
                page: $crate::PageRequest,
            ) -> Result<$crate::SalePage, $crate::AdapterError> {
                <$adapter as $crate::Adapter>::fetch_sales(&ctx.into(), page)
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!(__StockTrackerAdapterGlue with_types_in $crate::bindings);
    };
}
