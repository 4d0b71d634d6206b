//! The `stock-tracker` binary: parses the command line, sets up logging, runs the command.
//! A configuration problem ends the process with one line naming the variable and exit code 2.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use stock_tracker::cli::{Action, Cli};
use stock_tracker::config::ConfigError;
use stock_tracker::crypto::rotation;
use stock_tracker::{App, server, telemetry};

stock_tracker::product_allocator!();

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if err.use_stderr() && err.kind() != clap::error::ErrorKind::MissingSubcommand => {
            // One line naming the flag/variable, not clap's multi-line block.
            let rendered = err.to_string();
            eprintln!("{}", rendered.lines().next().unwrap_or("invalid arguments"));
            return ExitCode::from(2);
        }
        Err(err) => err.exit(),
    };
    let (action, config) = cli.resolve();
    telemetry::init(config.http.log_format);
    // Sentry before the runtime, so that every worker thread starts with the client.
    let _sentry = match telemetry::reporting::init(&config.sentry) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(action, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(config_err) = err.downcast_ref::<ConfigError>() {
                eprintln!("error: {config_err}");
                return ExitCode::from(2);
            }
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(action: Action, config: stock_tracker::Config) -> anyhow::Result<()> {
    match action {
        Action::Serve { demo } => server::serve(config, demo).await,
        Action::Forecast(args) => stock_tracker::forecast::offline::run(&args),
        Action::RestockPlan(args) => stock_tracker::forecast::offline::run_restock(&args),
        Action::PluginCheck(args) => {
            let report = stock_tracker::plugins::check::run(*args, config.plugins).await?;
            match report.failed() {
                0 => Ok(()),
                n => anyhow::bail!("{n} of {} check(s) failed", report.findings.len()),
            }
        }
        Action::Worker => server::worker(config).await,
        Action::Migrate => {
            let app = App::build(config).await?;
            tracing::info!(database = ?app.store.kind(), "migrations applied");
            Ok(())
        }
        Action::RotateCredentialsKey => {
            let app = App::build(config).await?;
            let (key_id, report) = rotation::rotate(&app.store, &app.keyring).await?;
            println!(
                "credential data key {key_id} is now current; re-sealed {} connection(s), {} changed meanwhile, {} unreadable.\n\
                 The previous key stays (retired) so running instances lose nothing; once they have all written \
                 under the new key, run `stock-tracker retire-credentials-keys`.",
                report.resealed, report.skipped, report.unreadable
            );
            if report.unreadable > 0 {
                anyhow::bail!("{} connection(s) are sealed under a key that is not available", report.unreadable);
            }
            Ok(())
        }
        Action::RetireCredentialsKeys => {
            let app = App::build(config).await?;
            let report = rotation::retire(&app.store, &app.keyring).await?;
            println!(
                "re-sealed {} connection(s); deleted {} retired data key(s); removed {} retired master key(s) from the key file",
                report.reseal.resealed, report.deleted_data_keys, report.removed_master_keys
            );
            if !report.unneeded_master_keys.is_empty() {
                println!(
                    "no data key needs the retired master key(s) {} any more: CREDENTIALS_KEYS_RETIRED can be removed",
                    report.unneeded_master_keys.join(", ")
                );
            }
            Ok(())
        }
    }
}
