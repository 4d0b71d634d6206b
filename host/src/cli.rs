//! The `stock-tracker` command line. Every flag has an environment variable of the same meaning
//! (listed by `--help`); see [`crate::config`] for the table.

use clap::{Parser, Subcommand};

use crate::config::Config;

/// Stock Tracker: marketplace stock tracking for sellers. Without a subcommand, `serve`.
#[derive(Debug, Parser)]
#[command(
    name = "stock-tracker",
    version,
    about,
    args_conflicts_with_subcommands = true,
    after_help = "Logging: RUST_LOG sets the log filter (default `info,sqlx=warn`).\n\
                  Every flag can also be set through the environment variable shown beside it."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Start fakes of Wildberries, Ozon and Yandex Market in-process, a demo tenant connected to
    /// each, sync, and print a login.
    #[arg(long)]
    pub demo: bool,
    #[command(flatten)]
    pub config: Config,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default), applying pending migrations first.
    Serve(ServeArgs),
    /// Run background jobs only (syncs, the scheduler), serving just health and metrics on
    /// BIND_ADDR; as many as needed beside `serve` instances, on the same database.
    Worker(ConfigArgs),
    /// Apply pending database migrations and exit.
    Migrate(ConfigArgs),
    /// Make a new credential data key current and re-seal every stored credential under it
    /// (safe while instances run; the old key stays, retired, until retire-credentials-keys).
    RotateCredentialsKey(ConfigArgs),
    /// Delete retired credential keys no stored credential needs; refuses while any still does.
    RetireCredentialsKeys(ConfigArgs),
    /// Tools for plugin authors.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Days of cover, stock-out and ship-by dates and shipment sizes from a CSV of stock history
    /// (offline: no database, no service); one JSON object per SKU×warehouse.
    Forecast(crate::forecast::offline::ForecastArgs),
    /// Split the seller's stock of each SKU across its warehouses by equal projected cover, from
    /// the same CSV and options as `forecast`.
    RestockPlan(crate::forecast::offline::RestockArgs),
}

/// `stock-tracker plugin …`
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Load a component in the real sandbox and check the adapter contract against a marketplace
    /// fake (built in for wildberries, ozon, yandex_market and example): a report, and a non-zero
    /// exit code when a check fails.
    Check {
        #[command(flatten)]
        check: crate::plugins::check::CheckArgs,
        /// The sandbox's limits (PLUGIN_MEMORY_MB, PLUGIN_TIMEOUT_MS, …) as the service has them.
        #[command(flatten)]
        plugins: crate::plugins::PluginConfig,
    },
}

/// `serve` flags.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Start fakes of Wildberries, Ozon and Yandex Market in-process, a demo tenant connected to
    /// each, sync, and print a login.
    #[arg(long)]
    pub demo: bool,
    #[command(flatten)]
    pub config: Config,
}

/// The configuration flags, accepted after a subcommand too.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub config: Config,
}

/// A parsed command with its configuration.
#[derive(Debug, Clone)]
pub enum Action {
    Serve {
        demo: bool,
    },
    Worker,
    Migrate,
    RotateCredentialsKey,
    RetireCredentialsKeys,
    /// `plugin check` (the sandbox's limits are the configuration's `plugins`).
    PluginCheck(Box<crate::plugins::check::CheckArgs>),
    /// `forecast`, offline.
    Forecast(Box<crate::forecast::offline::ForecastArgs>),
    /// `restock-plan`, offline.
    RestockPlan(Box<crate::forecast::offline::RestockArgs>),
}

impl Cli {
    /// What to run, and with which configuration.
    pub fn resolve(self) -> (Action, Config) {
        match self.command {
            None => (Action::Serve { demo: self.demo }, self.config),
            Some(Command::Serve(a)) => (Action::Serve { demo: a.demo }, a.config),
            Some(Command::Worker(a)) => (Action::Worker, a.config),
            Some(Command::Migrate(a)) => (Action::Migrate, a.config),
            Some(Command::RotateCredentialsKey(a)) => (Action::RotateCredentialsKey, a.config),
            Some(Command::RetireCredentialsKeys(a)) => (Action::RetireCredentialsKeys, a.config),
            Some(Command::Forecast(args)) => {
                (Action::Forecast(Box::new(args)), Config::embedded(std::env::temp_dir(), None))
            }
            Some(Command::RestockPlan(args)) => {
                (Action::RestockPlan(Box::new(args)), Config::embedded(std::env::temp_dir(), None))
            }
            Some(Command::Plugin(PluginCommand::Check { check, plugins })) => {
                let config = Config { plugins, ..Config::embedded(std::env::temp_dir(), None) };
                (Action::PluginCheck(Box::new(check)), config)
            }
        }
    }
}
