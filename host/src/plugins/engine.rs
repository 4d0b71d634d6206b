//! The process-wide wasmtime engine.

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::PluginConfig;

/// How often the epoch advances: the granularity of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds the engine (pooling allocator sized by config; on-demand allocation when the machine
/// cannot reserve the pool's address space) and starts the epoch ticker thread, which stops by
/// itself when the engine is dropped.
pub fn build(config: &PluginConfig) -> anyhow::Result<Engine> {
    let engine = match Engine::new(base_config().allocation_strategy(InstanceAllocationStrategy::Pooling(pool(config))))
    {
        Ok(engine) => engine,
        Err(err) => {
            tracing::warn!(error = %err, "pooling allocator unavailable; falling back to on-demand instance allocation");
            Engine::new(&base_config())?
        }
    };
    let weak = engine.weak();
    std::thread::Builder::new().name("wasm-epoch".into()).spawn(move || {
        while let Some(engine) = weak.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(EPOCH_TICK);
        }
    })?;
    Ok(engine)
}

fn base_config() -> Config {
    let mut c = Config::new();
    c.epoch_interruption(true)
        .consume_fuel(false)
        // The component-model concurrency machinery triples the cost of every call, and no
        // adapter uses async WIT functions.
        .concurrency_support(false)
        .cranelift_opt_level(wasmtime::OptLevel::Speed)
        .memory_init_cow(true);
    c
}

fn pool(config: &PluginConfig) -> PoolingAllocationConfig {
    let slots = config.plugin_max_instances;
    let mut pool = PoolingAllocationConfig::new();
    // Rust guests instantiate a few core instances per component (the adapter plus WASI glue).
    pool.total_component_instances(slots)
        .total_core_instances(slots * 4)
        .total_memories(slots * 2)
        .total_tables(slots * 4)
        .total_stacks(slots)
        .max_memory_size((config.plugin_memory_mb as usize) << 20)
        .linear_memory_keep_resident((config.plugin_keep_resident_mb as usize) << 20);
    pool
}
