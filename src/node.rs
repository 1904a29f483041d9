//! Building a node: storage, seal, HA and core from a configuration, and
//! the background tasks a node runs. Shared by the HTTP server and Lambda
//! mode so both run the same code.

use std::sync::Arc;

use crate::config::Stanza;
use crate::core::Core;
use crate::seal::{shamir::ShamirSeal, Seal};
use crate::storage::{file::FileStorage, memory::MemoryStorage, Storage};

/// Storage built from a `storage` stanza: the backend, its type name, and
/// HA settings when the backend is shared and `ha_enabled` is set.
pub(crate) struct BuiltStorage {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) kind: String,
    pub(crate) ha: Option<crate::ha::HaConfig>,
}

/// Builds the physical storage backend a `storage` stanza names.
pub(crate) async fn build_storage(stanza: &Stanza, can_lead: bool) -> Result<BuiltStorage, String> {
    match stanza.kind.as_str() {
        "inmem" => Ok(BuiltStorage {
            storage: Arc::new(MemoryStorage::new()),
            kind: "inmem".into(),
            ha: None,
        }),
        "file" | "raft" => {
            let path = stanza
                .get_str("path")
                .ok_or_else(|| format!("storage \"{}\": path is required", stanza.kind))?;
            let options = crate::storage::file::FileOptions::from_options(&stanza.options)
                .map_err(|e| format!("storage \"file\": {e}"))?;
            let s = FileStorage::open_with(std::path::Path::new(&path), &options)
                .map_err(|e| format!("storage \"file\": {e}"))?;
            Ok(BuiltStorage {
                storage: Arc::new(s),
                kind: "file".into(),
                ha: None,
            })
        }
        "dynamodb" => {
            let s = crate::storage::dynamodb::DynamoStorage::from_options(&stanza.options)
                .await
                .map_err(|e| format!("storage \"dynamodb\": {e}"))?;
            let ha = if s.ha_enabled() {
                let ttl = match stanza.get_str("lease_ttl") {
                    Some(t) => crate::logical::parse_duration_str(&t)
                        .map_err(|e| format!("storage \"dynamodb\": lease_ttl: {e}"))?,
                    None => 10,
                };
                if ttl < 2 {
                    return Err("storage \"dynamodb\": lease_ttl must be at least 2s".into());
                }
                Some(crate::ha::HaConfig {
                    lease_ttl: std::time::Duration::from_secs(ttl),
                    can_lead,
                })
            } else {
                None
            };
            Ok(BuiltStorage {
                storage: Arc::new(s),
                kind: "dynamodb".into(),
                ha,
            })
        }
        other => Err(format!(
            "unknown storage type {other:?} (supported: file, dynamodb, inmem)"
        )),
    }
}

/// Builds the seal a `seal` stanza (or `VAULT_SEAL_TYPE`) names.
pub(crate) async fn build_seal(stanza: Option<&Stanza>) -> Result<Arc<dyn Seal>, String> {
    let kind = stanza
        .map(|s| s.kind.clone())
        .or_else(|| std::env::var("VAULT_SEAL_TYPE").ok());
    match kind.as_deref() {
        None | Some("shamir") => Ok(Arc::new(ShamirSeal)),
        Some("awskms") => {
            let empty = serde_json::Map::new();
            let options = stanza.map(|s| &s.options).unwrap_or(&empty);
            let seal = crate::seal::awskms::AwsKmsSeal::from_options(options)
                .await
                .map_err(|e| format!("seal \"awskms\": {e}"))?;
            Ok(Arc::new(seal))
        }
        Some(other) => Err(format!(
            "unsupported seal type {other:?} (supported: shamir, awskms)"
        )),
    }
}

/// A node ready to serve: core, and HA state when storage is shared.
pub(crate) struct Node {
    pub(crate) core: Arc<Core>,
    pub(crate) ha: Option<Arc<crate::ha::HaState>>,
}

/// Builds core over the configured storage and seal. `can_lead` is false for
/// Lambda instances: they never hold the HA lease.
pub(crate) async fn build_node(
    config: &crate::config::ServerConfig,
    api_addr: String,
    can_lead: bool,
) -> Result<Node, String> {
    let stanza = config
        .storage
        .as_ref()
        .ok_or("the configuration has no storage stanza")?;
    let system_ttls =
        crate::core::tune::SystemTtls::from_config(config.default_lease_ttl, config.max_lease_ttl)?;
    if let Some(bytes) = config.kv_write_cache_size {
        crate::engines::kv2::set_write_cache_max_bytes(
            usize::try_from(bytes).unwrap_or(usize::MAX),
        );
    }
    let built = build_storage(stanza, can_lead).await?;
    let seal = build_seal(config.seal.as_ref()).await?;
    let ha = built.ha.map(|cfg| {
        Arc::new(crate::ha::HaState::new(
            built.storage.clone(),
            api_addr.clone(),
            cfg,
        ))
    });
    let core_storage: Arc<dyn Storage> = match &ha {
        Some(ha) => Arc::new(crate::ha::fence::FencedStorage::new(
            built.storage.clone(),
            ha.clone(),
        )),
        None => built.storage.clone(),
    };
    let core = Core::new(
        core_storage,
        seal,
        crate::core::CoreOptions {
            storage_type: built.kind,
            api_addr: Some(api_addr),
            clock: Arc::new(crate::util::SystemClock),
            ha: ha.clone(),
            system_ttls,
        },
    );
    core.configure_audit(config.audit.clone());
    core.operator.disable_unauthed(
        config.disable_unauthed_rekey_endpoints,
        config.disable_unauthed_generate_root_endpoints,
    );
    Ok(Node { core, ha })
}

/// Runs the HA elector for this node.
pub(crate) fn spawn_elector(
    core: Arc<Core>,
    ha: Arc<crate::ha::HaState>,
) -> tokio::task::JoinHandle<()> {
    let contend_core = core.clone();
    let change_core = core;
    tokio::spawn(crate::ha::elector::run(
        ha.storage.clone(),
        ha,
        move || {
            // Only unsealed nodes lead (and any node while uninitialized, so
            // that `sys/init` has an active node to run on).
            !contend_core.is_sealed()
                || !contend_core.initialized_cached()
                || contend_core
                    .initializing
                    .load(std::sync::atomic::Ordering::SeqCst)
        },
        move |active| {
            let core = change_core.clone();
            tokio::spawn(async move { core.on_active_change(active).await });
        },
    ))
}

/// Unseals with the auto seal, retrying with backoff while the seal's
/// service (KMS) is unreachable; re-unseals if the node gets sealed.
pub(crate) async fn auto_unseal_loop(core: Arc<Core>) {
    use backon::{BackoffBuilder, ExponentialBuilder};
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(200))
        .with_max_delay(std::time::Duration::from_secs(10))
        .with_jitter()
        .without_max_times()
        .build();
    loop {
        if !core.is_sealed() {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        match core.is_initialized().await {
            Ok(true) => {}
            Ok(false) => {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the seal configuration; retrying"),
        }
        match core.auto_unseal().await {
            Ok(()) => {
                tracing::info!("auto-unsealed");
                delays = ExponentialBuilder::default()
                    .with_min_delay(std::time::Duration::from_millis(200))
                    .with_max_delay(std::time::Duration::from_secs(10))
                    .with_jitter()
                    .without_max_times()
                    .build();
            }
            Err(e) => {
                let wait = delays.next().unwrap_or(std::time::Duration::from_secs(10));
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "auto-unseal failed; staying sealed");
                tokio::time::sleep(wait).await;
            }
        }
    }
}
