//! The `stock-tracker` binary: parses the command line, sets up logging, runs the command.
//! A configuration problem ends the process with one line naming the variable and exit code 2.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use stock_tracker::cli::{Action, Cli};
use stock_tracker::config::ConfigError;
use stock_tracker::crypto::rotation;
use stock_tracker::{App, server, telemetry};

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
        Action::Migrate => {
            let app = App::build(config).await?;
            tracing::info!(database = ?app.store.kind(), "migrations applied");
            Ok(())
        }
        Action::RotateCredentialsKey => {
            let key_file = config.secrets.credentials_key.is_none();
            let app = App::build(config).await?;
            let report = if key_file {
                let path = app.config.database.data_dir.join("credentials.key");
                rotation::rotate_key_file(&app.store, &path).await?.0
            } else {
                rotation::reseal_all(&app.store, &app.keyring).await?
            };
            println!(
                "re-sealed {} connection(s) under key {}; {} changed meanwhile; {} unreadable",
                report.resealed,
                if key_file { "(new, in credentials.key)".to_owned() } else { app.keyring.current_key_id().to_owned() },
                report.skipped,
                report.unreadable
            );
            if report.unreadable > 0 {
                anyhow::bail!("{} connection(s) are sealed under a key that is not configured", report.unreadable);
            }
            Ok(())
        }
    }
}
