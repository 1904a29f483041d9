//! `strongroom server`: builds storage, seal and core from the configuration
//! (or dev defaults), opens the listeners, and runs until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use tokio::net::TcpListener;

use crate::config::{Listener, ServerConfig};
use crate::core::{Core, CoreOptions};
use crate::http::{handler::DEFAULT_MAX_REQUEST_SIZE, ListenerOptions};
use crate::node::{auto_unseal_loop, build_node, spawn_elector};
use crate::seal::{shamir::ShamirSeal, Seal};
use crate::storage::{memory::MemoryStorage, Storage};

#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ServerArgs {
    /// Configuration file or directory (HCL or JSON); may be repeated.
    #[arg(long = "config")]
    pub(crate) config: Vec<PathBuf>,
    /// Dev mode: in-memory, initialized, unsealed, KV v2 at secret/.
    #[arg(long = "dev")]
    pub(crate) dev: bool,
    /// Dev mode: the root token to create.
    #[arg(long = "dev-root-token-id", env = "VAULT_DEV_ROOT_TOKEN_ID")]
    pub(crate) dev_root_token_id: Option<String>,
    /// Dev mode: the address to listen on.
    #[arg(
        long = "dev-listen-address",
        env = "VAULT_DEV_LISTEN_ADDRESS",
        default_value = "127.0.0.1:8200"
    )]
    pub(crate) dev_listen_address: String,
    /// Log level: trace, debug, info, warn, error.
    #[arg(long = "log-level", env = "VAULT_LOG_LEVEL")]
    pub(crate) log_level: Option<String>,
    /// Log format: standard or json.
    #[arg(long = "log-format", env = "VAULT_LOG_FORMAT")]
    pub(crate) log_format: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Other(String),
}

/// The runtime the server runs on. With one CPU (a pinned process, a
/// one-vCPU container) a current-thread runtime: everything runs on the main
/// thread, without the multi-thread scheduler's cross-thread wake-ups and
/// parking for a single worker (bench/PROFILE.md). Otherwise one worker per
/// CPU. Blocking work (`spawn_blocking`) has its own threads either way.
fn server_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    if one_cpu {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    }
}

pub(crate) fn run(args: ServerArgs) -> ExitCode {
    let runtime = match server_runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run_async(args));
    // Requests still stuck on unreachable storage must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(300));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn bind(l: &Listener) -> Result<(TcpListener, Option<tokio_rustls::TlsAcceptor>), String> {
    let tls = if l.tls_disable {
        None
    } else {
        match (&l.tls_cert_file, &l.tls_key_file) {
            (Some(c), Some(k)) => Some(crate::http::tls::acceptor(c, k, &l.client_certs)?),
            _ => return Err("TLS is enabled but tls_cert_file/tls_key_file are missing".into()),
        }
    };
    let listener = TcpListener::bind(&l.address)
        .await
        .map_err(|e| format!("listening on {}: {e}", l.address))?;
    Ok((listener, tls))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// SIGHUP (logrotate): every audit device reopens its file.
async fn reopen_audit_on_sighup(core: Arc<Core>) {
    #[cfg(unix)]
    {
        let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while s.recv().await.is_some() {
            tracing::info!("SIGHUP: reopening audit devices");
            core.audit.broker.reopen().await;
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await
}

async fn run_async(args: ServerArgs) -> Result<(), StartError> {
    let config = if args.config.is_empty() {
        ServerConfig::default()
    } else {
        ServerConfig::load(&args.config)?
    };
    let level = args
        .log_level
        .clone()
        .or(config.log_level.clone())
        .unwrap_or_else(|| "info".into());
    let format = args
        .log_format
        .clone()
        .or(config.log_format.clone())
        .unwrap_or_default();
    let format = crate::logging::LogFormat::parse(&format).map_err(StartError::Other)?;
    crate::logging::init(&format!("strongroom={level},warn"), format, true);
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    if !args.dev && args.config.is_empty() {
        return Err(StartError::Other(
            "a configuration file must be given with -config, or use -dev for a development server"
                .into(),
        ));
    }

    let listeners = if args.dev {
        vec![Listener {
            address: args.dev_listen_address.clone(),
            tls_disable: true,
            tls_cert_file: None,
            tls_key_file: None,
            max_request_size: None,
            x_forwarded_for: None,
            client_certs: Default::default(),
        }]
    } else if config.listeners.is_empty() {
        return Err(StartError::Other(
            "the configuration has no listener \"tcp\" stanza".into(),
        ));
    } else {
        config.listeners.clone()
    };

    let mut bound = Vec::new();
    for l in &listeners {
        bound.push((bind(l).await.map_err(StartError::Other)?, l.clone()));
    }
    let first = &bound[0];
    let scheme = if first.0 .1.is_some() {
        "https"
    } else {
        "http"
    };
    let local = first
        .0
         .0
        .local_addr()
        .map_err(|e| StartError::Other(e.to_string()))?;
    let api_addr = crate::addr::api_addr(config.api_addr.as_deref(), scheme, local)
        .await
        .map_err(StartError::Other)?;
    let cluster_addr =
        crate::addr::cluster_addr(config.cluster_addr.as_deref()).map_err(StartError::Other)?;

    let (core, ha) = if args.dev {
        // Dev mode keeps Vault's defaults (768h) unless a -config sets them.
        let system_ttls = crate::core::tune::SystemTtls::from_config(
            config.default_lease_ttl,
            config.max_lease_ttl,
        )
        .map_err(StartError::Other)?;
        let core = Core::new(
            Arc::new(MemoryStorage::new()) as Arc<dyn Storage>,
            Arc::new(ShamirSeal) as Arc<dyn Seal>,
            CoreOptions {
                storage_type: "inmem".into(),
                api_addr: Some(api_addr.clone()),
                clock: Arc::new(crate::util::SystemClock),
                ha: None,
                system_ttls,
            },
        );
        core.configure_audit(config.audit.clone());
        (core, None)
    } else {
        let node = build_node(&config, api_addr.clone(), true)
            .await
            .map_err(StartError::Other)?;
        (node.core, node.ha)
    };

    if args.dev {
        let result = core
            .dev_setup(args.dev_root_token_id.clone())
            .await
            .map_err(|e| StartError::Other(format!("dev setup failed: {e}")))?;
        print_dev_banner(&api_addr, &result);
    } else {
        match core.is_initialized().await {
            Ok(true) if core.seal.is_auto() => {
                tracing::info!("storage is initialized; unsealing with the auto seal");
            }
            Ok(true) => {
                tracing::info!("storage is initialized; the server is sealed until unsealed")
            }
            Ok(false) => {
                tracing::info!("storage is not initialized; run `strongroom operator init`")
            }
            Err(e) => return Err(StartError::Other(format!("reading storage: {e}"))),
        }
    }

    let elector = ha
        .as_ref()
        .map(|ha| spawn_elector(core.clone(), ha.clone()));
    let auto_unseal = core
        .seal
        .is_auto()
        .then(|| tokio::spawn(auto_unseal_loop(core.clone())));
    let expiration = tokio::spawn(core.clone().run_expiration(expiration_interval()));
    let hangup = tokio::spawn(reopen_audit_on_sighup(core.clone()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for ((listener, tls), l) in bound {
        let opts = ListenerOptions {
            max_request_size: l.max_request_size.unwrap_or(DEFAULT_MAX_REQUEST_SIZE),
            x_forwarded_for: l.x_forwarded_for.clone().map(Arc::new),
        };
        tracing::info!(address = %l.address, tls = tls.is_some(), "listening");
        tasks.push(tokio::spawn(crate::http::serve(
            listener,
            tls,
            core.clone(),
            opts,
            stop_rx.clone(),
        )));
    }
    eprintln!("==> Strongroom server started! Log data will stream in below:");
    eprintln!("             Api Address: {api_addr}");
    if let Some(c) = &cluster_addr {
        eprintln!("         Cluster Address: {c}");
    }
    eprintln!("                 Storage: {}", core.options.storage_type);
    eprintln!("                 Version: {}", crate::version::VERSION_LINE);
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    expiration.abort();
    hangup.abort();
    if let Some(t) = auto_unseal {
        t.abort();
    }
    if let Some(t) = elector {
        t.abort();
    }
    // Seal first (it persists the encryption count, which needs the lease),
    // then hand the lease over so another node takes over at once. Each step
    // is bounded, so the process exits within a few seconds even when
    // storage is unreachable: the count is persisted ahead of use anyway
    // (a crash over-counts), and an unreleased lease expires by itself.
    if tokio::time::timeout(SHUTDOWN_SEAL_TIMEOUT, core.seal())
        .await
        .is_err()
    {
        tracing::warn!("sealing did not finish in time (storage unreachable?); exiting anyway");
    }
    if let Some(ha) = &ha {
        if tokio::time::timeout(
            SHUTDOWN_RELEASE_TIMEOUT,
            crate::ha::elector::release(&ha.storage, ha),
        )
        .await
        .is_err()
        {
            tracing::warn!("releasing the HA lease did not finish in time; it will expire");
        }
    }
    Ok(())
}

/// Bounds on the shutdown steps that need storage (SIGTERM must end within
/// 5 s even when storage is unreachable).
const SHUTDOWN_SEAL_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);
const SHUTDOWN_RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1000);

fn print_dev_banner(api_addr: &str, result: &crate::core::lifecycle::InitResult) {
    use base64::Engine;
    let unseal = result
        .shares
        .first()
        .map(|s| base64::engine::general_purpose::STANDARD.encode(s.as_slice()))
        .unwrap_or_default();
    println!(
        "WARNING! dev mode is enabled! In this mode, Strongroom runs entirely in-memory
and starts unsealed with a single unseal key. The root token is already
authenticated to the CLI, so you can immediately begin using it.

You may need to set the following environment variables:

    $ export VAULT_ADDR='{api_addr}'

The unseal key and root token are displayed below in case you want to
seal/unseal the server or re-authenticate.

Unseal Key: {unseal}
Root Token: {}

Development mode should NOT be used in production installations!
",
        result.root_token
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

/// How often the active node sweeps expired tokens (default 10 s). Expired
/// tokens are refused at lookup on every node regardless; the sweep only
/// reclaims storage and cascades to children, so it need not be frequent —
/// each sweep costs a storage list (a DynamoDB `Query`).
fn expiration_interval() -> std::time::Duration {
    let secs = std::env::var("STRONGROOM_EXPIRATION_INTERVAL_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(10);
    std::time::Duration::from_secs(secs)
}
