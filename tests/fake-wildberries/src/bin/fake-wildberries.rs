//! `fake-wildberries [--port P] [--products N] [--warehouses M] [--token T]`: runs the fake WB
//! seller API on 127.0.0.1 until Ctrl-C, for trying the adapter by hand.

use fake_wildberries::{FakeConfig, FakeWildberries};

#[tokio::main]
async fn main() {
    let mut config = FakeConfig { port: 9100, ..FakeConfig::default() };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        let bad = |what: &str| -> ! {
            eprintln!("fake-wildberries: {what} needs a number, got `{value}`");
            std::process::exit(2)
        };
        match pair[0].as_str() {
            "--port" => config.port = value.parse().unwrap_or_else(|_| bad("--port")),
            "--products" => config.products = value.parse().unwrap_or_else(|_| bad("--products")),
            "--warehouses" => config.warehouses = value.parse().unwrap_or_else(|_| bad("--warehouses")),
            "--token" => config.token = value,
            other => {
                eprintln!(
                    "usage: fake-wildberries [--port P] [--products N] [--warehouses M] [--token T] (unknown `{other}`)"
                );
                std::process::exit(2);
            }
        }
    }
    let fake = FakeWildberries::start(config.clone()).await.expect("bind 127.0.0.1");
    println!(
        "fake Wildberries on {} (token `{}`, {} products x {} warehouses)",
        fake.base_url(),
        fake.token(),
        config.products,
        config.warehouses
    );
    let _ = tokio::signal::ctrl_c().await;
}
