//! The process-wide wasmtime engines: one instance pool that hands every call's pages back to the
//! kernel, and one that keeps a slot's dirtied pages resident between calls.
//!
//! Keeping pages resident pays only for calls that touch more than a few pages: the slot is then
//! reset by zeroing the pages the call dirtied (found with `PAGEMAP_SCAN`) instead of
//! `madvise`-ing them away, so the next call does not fault them in again (10-15 % of a call that
//! parses a 77 KiB to 8 MiB page). For a call that touches almost nothing (`info`, a credential
//! check) the scan costs more than the few faults it saves, and how much more depends on the kernel
//! (5-8 µs of a 35 µs call on one machine, 10-21 µs on another). A wasmtime pool has one
//! keep-resident setting for all its slots, so the runtime keeps two pools and sends each call to
//! the one that pays for it: the resident pool when the same plugin's last call of the same function
//! grew its linear memory beyond the initial heap ([`super::runtime`]; measured in
//! `tests/benches/plugins.rs`, docs/BENCHMARKS.md).

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::PluginConfig;

/// How often the epoch advances: the granularity of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The engines of both pools; `resident` is absent when `PLUGIN_KEEP_RESIDENT_MB` is 0 or the
/// machine cannot reserve a pool's address space.
pub struct Engines {
    pub lean: Engine,
    pub resident: Option<Engine>,
}

/// Builds the engines (pooling allocators sized by config; one on-demand engine when the machine
/// cannot reserve the pools' address space) and starts the epoch ticker thread, which stops by
/// itself when the engines are dropped.
pub fn build(config: &PluginConfig) -> anyhow::Result<Engines> {
    let pooled = |keep_resident_mb: u64| {
        Engine::new(
            base_config().allocation_strategy(InstanceAllocationStrategy::Pooling(pool(config, keep_resident_mb))),
        )
    };
    let engines = match pooled(0) {
        Ok(lean) => {
            let resident = match config.plugin_keep_resident_mb {
                0 => None,
                mb => pooled(mb)
                    .inspect_err(
                        |err| tracing::warn!(error = %err, "no resident instance pool; every call uses the lean one"),
                    )
                    .ok(),
            };
            Engines { lean, resident }
        }
        Err(err) => {
            tracing::warn!(error = %err, "pooling allocator unavailable; falling back to on-demand instance allocation");
            Engines { lean: Engine::new(&base_config())?, resident: None }
        }
    };
    let weak: Vec<_> = std::iter::once(&engines.lean).chain(&engines.resident).map(Engine::weak).collect();
    std::thread::Builder::new().name("wasm-epoch".into()).spawn(move || {
        loop {
            let live: Vec<Engine> = weak.iter().filter_map(|w| w.upgrade()).collect();
            if live.is_empty() {
                return;
            }
            live.iter().for_each(Engine::increment_epoch);
            drop(live);
            std::thread::sleep(EPOCH_TICK);
        }
    })?;
    Ok(engines)
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

fn pool(config: &PluginConfig, keep_resident_mb: u64) -> PoolingAllocationConfig {
    let slots = config.plugin_max_instances;
    let mut pool = PoolingAllocationConfig::new();
    // Rust guests instantiate a few core instances per component (the adapter plus WASI glue).
    pool.total_component_instances(slots)
        .total_core_instances(slots * 4)
        .total_memories(slots * 2)
        .total_tables(slots * 4)
        .total_stacks(slots)
        .max_memory_size((config.plugin_memory_mb as usize) << 20)
        .linear_memory_keep_resident((keep_resident_mb as usize) << 20);
    pool
}

#[cfg(test)]
mod tests {
    use std::hash::{DefaultHasher, Hash, Hasher};

    use super::*;

    fn compatibility(engine: &Engine) -> u64 {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn both_pools_compile_alike_so_a_plugin_is_compiled_once() {
        let engines = build(&PluginConfig { plugin_max_instances: 2, ..PluginConfig::default() }).unwrap();
        let resident = engines.resident.expect("a resident pool by default");
        assert_eq!(compatibility(&engines.lean), compatibility(&resident), "the code cache is shared");
    }

    #[test]
    fn no_resident_pool_when_nothing_is_kept() {
        let config = PluginConfig { plugin_max_instances: 2, plugin_keep_resident_mb: 0, ..PluginConfig::default() };
        assert!(build(&config).unwrap().resident.is_none());
    }
}
