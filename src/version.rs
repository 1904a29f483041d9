//! Version strings, at the bottom of the module graph so every layer (the HA
//! node registry, sys endpoints, the server banner, the CLI) can name them
//! without importing a layer above it.

/// The Vault API level we implement; reported as the server `version` so that
/// clients that gate features on it (Terraform, SDKs) enable them. Build
/// metadata names the real product and version.
pub(crate) const API_VERSION: &str = concat!("1.15.0+strongroom.", env!("CARGO_PKG_VERSION"));

/// What `strongroom version` and the server banner print.
pub(crate) const VERSION_LINE: &str = concat!("Strongroom v", env!("CARGO_PKG_VERSION"));
