//! Rekeying: `sys/rekey/*` (the Shamir unseal key shares) and
//! `sys/rekey-recovery-key/*` (the recovery key shares of an auto seal).
//!
//! A quorum of the current shares proves operator authority; then a new
//! operator key is split into the requested shares. Under Shamir the root key
//! is re-wrapped under the new unseal key: the root key and the barrier
//! keyring stay the same, so nothing behind the barrier is re-encrypted. For
//! recovery keys only the stored hash changes. Either way the change is one
//! conditional batch that also checks the records it replaces, so a
//! concurrent rekey (or init) can never be half applied.
//!
//! The operations live in memory on the active node, as in Vault: a standby
//! forwards every request, reads included, before looking at anything.
//!
//! Not implemented: PGP-encrypted shares (`pgp_keys`, and so `backup`),
//! refused with 400; `sys/rekey/backup` therefore never holds keys. Vault
//! lets `sys/rekey` rotate the root key of an auto seal (authorized by the
//! recovery keys, shares forced to 1); we refuse it and point at
//! `sys/rekey-recovery-key`.

use std::sync::atomic::{AtomicBool, Ordering};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::lifecycle::RECOVERY_KEY_HASH_PATH;
use super::{lock_err, Core};
use crate::barrier::{random_key, BarrierError};
use crate::logical::{
    field_bool, field_str, field_u64, LogicalError, Operation, Request, Response,
};
use crate::seal::{shamir, SealConfig, SealError, ROOT_KEY_PATH, SEAL_CONFIG_PATH};
use crate::storage::{BatchItem, Condition, StorageError};

/// Vault's key length bounds for a typed share: its barrier key lengths
/// (16 to 32 bytes) plus the one byte of Shamir overhead.
const MIN_KEY_LEN: usize = 16;
const MAX_KEY_LEN: usize = 33;

/// The in-memory operator operations of this node (rekey, recovery rekey,
/// root generation) and the switches that refuse their unauthenticated
/// endpoints.
#[derive(Default)]
pub(crate) struct OperatorState {
    rekey_disabled: AtomicBool,
    generate_root_disabled: AtomicBool,
    barrier: tokio::sync::Mutex<Option<RekeyOp>>,
    recovery: tokio::sync::Mutex<Option<RekeyOp>>,
    pub(super) generate_root: tokio::sync::Mutex<Option<super::generate_root::Attempt>>,
}

impl OperatorState {
    /// Server config `disable_unauthed_rekey_endpoints` and
    /// `disable_unauthed_generate_root_endpoints` (OpenBao's names): the
    /// endpoints answer 405 `unsupported operation`, as OpenBao 2.5+ does.
    pub(crate) fn disable_unauthed(&self, rekey: bool, generate_root: bool) {
        self.rekey_disabled.store(rekey, Ordering::Relaxed);
        self.generate_root_disabled
            .store(generate_root, Ordering::Relaxed);
    }

    pub(super) fn generate_root_disabled(&self) -> bool {
        self.generate_root_disabled.load(Ordering::Relaxed)
    }
}

/// OpenBao's answer for a disabled endpoint: 405 with the message (unlike
/// an unknown operation, whose `errors` list is empty).
pub(super) fn disabled_response() -> Response {
    Response::raw_with_status(405, json!({"errors": ["unsupported operation"]}))
}

/// Key shares typed so far towards one operation; zeroized on drop.
#[derive(Default)]
pub(super) struct Shares(Vec<Zeroizing<Vec<u8>>>);

impl Shares {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// Adds a share, refusing one typed before (compared in constant time).
    pub(super) fn add(
        &mut self,
        share: Zeroizing<Vec<u8>>,
        duplicate: &str,
    ) -> Result<(), LogicalError> {
        if self
            .0
            .iter()
            .any(|p| bool::from(p.as_slice().ct_eq(share.as_slice())))
        {
            return Err(LogicalError::bad(duplicate));
        }
        self.0.push(share);
        Ok(())
    }

    /// Combines the shares and forgets them, whatever the outcome: a wrong
    /// quorum starts over, as in Vault.
    pub(super) fn take_combined(&mut self, threshold: u8) -> Result<Zeroizing<Vec<u8>>, String> {
        let parts = std::mem::take(&mut self.0);
        shamir::combine(&parts, threshold)
    }
}

/// Decodes the `key` of an update body: hex when it decodes to a plausible
/// length, base64 otherwise (Vault's rule), then checks the length.
pub(super) fn decode_share(
    data: &Map<String, Value>,
    missing: &str,
) -> Result<Zeroizing<Vec<u8>>, LogicalError> {
    let key = field_str(data, "key").map(str::trim).unwrap_or("");
    if key.is_empty() {
        return Err(LogicalError::bad(missing));
    }
    let bytes = match hex::decode(key) {
        Ok(b) if (MIN_KEY_LEN..=MAX_KEY_LEN).contains(&b.len()) => b,
        _ => B64
            .decode(key)
            .map_err(|_| LogicalError::bad("'key' must be a valid hex or base64 string"))?,
    };
    let bytes = Zeroizing::new(bytes);
    if bytes.len() < MIN_KEY_LEN {
        return Err(LogicalError::bad(format!(
            "key is shorter than minimum {MIN_KEY_LEN} bytes"
        )));
    }
    if bytes.len() > MAX_KEY_LEN {
        return Err(LogicalError::bad(format!(
            "key is longer than maximum {MAX_KEY_LEN} bytes"
        )));
    }
    Ok(bytes)
}

/// What a correct operator key proved, kept to apply the change: the records
/// the conditional batch must still find.
pub(super) enum Proof {
    /// The stored wrapped root key and the root key it holds.
    Shamir {
        blob: Vec<u8>,
        root_key: Zeroizing<Vec<u8>>,
    },
    /// The raw (encrypted) recovery-key hash record.
    Recovery { raw_hash: Vec<u8> },
}

/// Checks a combined operator key: under Shamir it must open the stored root
/// key, under an auto seal it must match the recovery-key hash. The inner
/// `Err` is the reason a wrong key was refused.
pub(super) async fn prove(
    core: &Core,
    config: &SealConfig,
    key: &[u8],
) -> Result<Result<Proof, String>, LogicalError> {
    if core.seal.is_auto() {
        use sha2::Digest;
        let Some(stored) = core.barrier.get_versioned(RECOVERY_KEY_HASH_PATH).await? else {
            return Ok(Err("no recovery key is stored".into()));
        };
        let hashed = hex::encode(sha2::Sha256::digest(key));
        if !bool::from(hashed.as_bytes().ct_eq(&stored.plaintext)) {
            return Ok(Err("recovery key does not match".into()));
        }
        return Ok(Ok(Proof::Recovery {
            raw_hash: stored.raw,
        }));
    }
    let blob = core.stored_root_blob().await?;
    match core.seal.unwrap_root_key(config, &blob, Some(key)).await {
        Ok(root_key) => Ok(Ok(Proof::Shamir { blob, root_key })),
        Err(SealError::Unavailable(m)) => Err(LogicalError::Unavailable(m)),
        Err(SealError::WrongKey(m) | SealError::Config(m)) => Ok(Err(m)),
    }
}

impl Core {
    /// Reads the seal configuration from storage, refreshing the cache:
    /// another node may have rekeyed since it was cached (rekeys are rare,
    /// so one physical read per rekey or unseal ceremony is cheap).
    pub(crate) async fn reload_seal_config(&self) -> Result<Option<SealConfig>, LogicalError> {
        let Some(bytes) = self.barrier.storage().get(SEAL_CONFIG_PATH).await? else {
            return self.seal_config().await;
        };
        let cfg: SealConfig = serde_json::from_slice(&bytes)
            .map_err(|e| LogicalError::Internal(format!("seal configuration is corrupt: {e}")))?;
        *self.seal_config.write().map_err(|_| lock_err())? = Some(cfg.clone());
        Ok(Some(cfg))
    }
}

/// Which shares an endpoint rekeys.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    /// `sys/rekey`: the Shamir unseal key.
    Barrier,
    /// `sys/rekey-recovery-key`: an auto seal's recovery key.
    Recovery,
}

/// One rekey in progress.
pub(super) struct RekeyOp {
    nonce: String,
    shares: u8,
    threshold: u8,
    require_verification: bool,
    progress: Shares,
    /// Set once the quorum was met with `require_verification`: the new key,
    /// applied only after a quorum of the new shares is typed back.
    verification: Option<Verification>,
}

struct Verification {
    nonce: String,
    new_key: Zeroizing<Vec<u8>>,
    proof: Proof,
    progress: Shares,
}

/// Whether `path` is one of the unauthenticated operator-key endpoints
/// (rekey and root generation), which [`handle_unauthenticated`] serves.
pub(crate) fn is_operator_path(path: &str) -> bool {
    matches!(
        path,
        "sys/rekey/init"
            | "sys/rekey/update"
            | "sys/rekey/verify"
            | "sys/rekey-recovery-key/init"
            | "sys/rekey-recovery-key/update"
            | "sys/rekey-recovery-key/verify"
            | "sys/generate-root/attempt"
            | "sys/generate-root/update"
    )
}

/// Serves the unauthenticated rekey and generate-root endpoints.
pub(crate) async fn handle_unauthenticated(
    core: &Core,
    req: &Request,
) -> Result<Response, LogicalError> {
    let path = req.path.as_str();
    if let Some(rest) = path.strip_prefix("sys/generate-root/") {
        return super::generate_root::handle_unauthenticated(core, req, rest).await;
    }
    if core.operator.rekey_disabled.load(Ordering::Relaxed) {
        return Ok(disabled_response());
    }
    let (target, rest) = match path.strip_prefix("sys/rekey/") {
        Some(rest) => (Target::Barrier, rest),
        None => (
            Target::Recovery,
            path.strip_prefix("sys/rekey-recovery-key/").unwrap_or(""),
        ),
    };
    let op = req.operation;
    let write = matches!(op, Operation::Update | Operation::Create);
    let body = match (rest, op) {
        ("init", Operation::Read) => status(core, target).await?,
        ("init", _) if write => {
            init(core, target, &req.data).await?;
            status(core, target).await?
        }
        ("init", Operation::Delete) => {
            cancel(core, target, field_str(&req.data, "nonce")).await?;
            return Ok(Response::empty());
        }
        ("update", _) if write => update(core, target, &req.data).await?,
        ("verify", Operation::Read) => verify_status(core, target).await?,
        ("verify", _) if write => verify(core, target, &req.data).await?,
        ("verify", Operation::Delete) => {
            verify_restart(core, target).await?;
            verify_status(core, target).await?
        }
        _ => return Err(LogicalError::UnsupportedOperation),
    };
    Ok(Response::raw(body))
}

/// `sys/rekey/backup` and `sys/rekey/recovery-key-backup` (authenticated,
/// sudo). Backups exist only for PGP-encrypted shares, which we do not make,
/// so there is never one to read; deleting succeeds, as in Vault.
pub(crate) fn handle_backup(req: &Request) -> Result<Response, LogicalError> {
    match req.operation {
        Operation::Read => Err(LogicalError::bad("no backed-up keys found")),
        Operation::Delete => Ok(Response::empty()),
        _ => Err(LogicalError::UnsupportedOperation),
    }
}

/// The checks every rekey request passes first, in Vault's order.
pub(super) async fn ready(core: &Core) -> Result<SealConfig, LogicalError> {
    let config = core
        .reload_seal_config()
        .await?
        .ok_or_else(|| LogicalError::bad("server is not yet initialized"))?;
    if core.is_sealed() {
        return Err(LogicalError::Sealed);
    }
    if !core.is_active() {
        return Err(LogicalError::Standby(
            "operator key operations run on the active node".into(),
        ));
    }
    Ok(config)
}

fn slot(core: &Core, target: Target) -> &tokio::sync::Mutex<Option<RekeyOp>> {
    match target {
        Target::Barrier => &core.operator.barrier,
        Target::Recovery => &core.operator.recovery,
    }
}

/// Refuses the target the seal cannot rekey.
fn check_target(core: &Core, target: Target) -> Result<(), LogicalError> {
    match (target, core.seal.is_auto()) {
        (Target::Recovery, false) => Err(LogicalError::bad("recovery keys not supported")),
        (Target::Barrier, true) => Err(LogicalError::bad(
            "rekeying the unseal key is not supported with an auto seal; rekey the recovery keys with sys/rekey-recovery-key",
        )),
        _ => Ok(()),
    }
}

async fn status(core: &Core, target: Target) -> Result<Value, LogicalError> {
    let config = ready(core).await?;
    let guard = slot(core, target).lock().await;
    let mut v = json!({
        "nonce": "",
        "started": false,
        "t": 0,
        "n": 0,
        "progress": 0,
        "required": config.secret_threshold,
        "pgp_fingerprints": null,
        "backup": false,
        "verification_required": false,
    });
    if let Some(op) = guard.as_ref() {
        v["nonce"] = Value::from(op.nonce.clone());
        v["started"] = Value::Bool(true);
        v["t"] = Value::from(op.threshold);
        v["n"] = Value::from(op.shares);
        v["progress"] = Value::from(op.progress.len());
        v["verification_required"] = Value::Bool(op.require_verification);
        if let Some(ver) = &op.verification {
            v["verification_nonce"] = Value::from(ver.nonce.clone());
        }
    }
    Ok(v)
}

/// Vault's `SealConfig.Validate`, with its texts.
fn validate(shares: u64, threshold: u64) -> Result<(), &'static str> {
    if shares < 1 {
        return Err("shares must be at least one");
    }
    if threshold < 1 {
        return Err("threshold must be at least one");
    }
    if shares > 1 && threshold == 1 {
        return Err("threshold must be greater than one for multiple shares");
    }
    if shares > 255 {
        return Err("shares must be less than 256");
    }
    if threshold > 255 {
        return Err("threshold must be less than 256");
    }
    if threshold > shares {
        return Err("threshold cannot be larger than shares");
    }
    Ok(())
}

async fn init(core: &Core, target: Target, data: &Map<String, Value>) -> Result<(), LogicalError> {
    let shares = field_u64(data, "secret_shares")?.unwrap_or(0);
    let threshold = field_u64(data, "secret_threshold")?.unwrap_or(0);
    let pgp = crate::logical::string_list(data, "pgp_keys")?.unwrap_or_default();
    let backup = field_bool(data, "backup")?.unwrap_or(false);
    let require_verification = field_bool(data, "require_verification")?.unwrap_or(false);
    if backup && pgp.is_empty() {
        return Err(LogicalError::bad(
            "cannot request a backup of the new keys without providing PGP keys for encryption",
        ));
    }
    if !pgp.is_empty() {
        return Err(LogicalError::bad(
            "PGP-encrypted key shares are not supported",
        ));
    }
    if threshold > shares {
        return Err(LogicalError::bad(
            "provided threshold greater than the total shares",
        ));
    }
    if let Err(m) = validate(shares, threshold) {
        let what = match target {
            Target::Barrier => "invalid rekey seal configuration",
            Target::Recovery => "invalid recovery configuration",
        };
        return Err(LogicalError::bad(format!("{what}: {m}")));
    }
    check_target(core, target)?;
    ready(core).await?;
    let mut guard = slot(core, target).lock().await;
    if guard.is_some() {
        return Err(LogicalError::bad("rekey already in progress"));
    }
    *guard = Some(RekeyOp {
        nonce: uuid::Uuid::new_v4().to_string(),
        shares: shares as u8,
        threshold: threshold as u8,
        require_verification,
        progress: Shares::default(),
        verification: None,
    });
    tracing::info!(target = ?target, shares, threshold, "rekey started");
    Ok(())
}

async fn cancel(core: &Core, target: Target, nonce: Option<&str>) -> Result<(), LogicalError> {
    ready(core).await?;
    let mut guard = slot(core, target).lock().await;
    // Vault 1.17.18+ checks a nonce when one is given; older Vault and
    // OpenBao (and their CLIs) send none.
    if let (Some(op), Some(n)) = (guard.as_ref(), nonce.filter(|n| !n.is_empty())) {
        if n != op.nonce {
            return Err(LogicalError::bad(format!(
                "incorrect nonce supplied; nonce for this rekey operation is {:?}",
                op.nonce
            )));
        }
    }
    *guard = None;
    Ok(())
}

fn encode_shares(shares: &[Zeroizing<Vec<u8>>]) -> (Vec<String>, Vec<String>) {
    (
        shares.iter().map(|s| hex::encode(s.as_slice())).collect(),
        shares.iter().map(|s| B64.encode(s.as_slice())).collect(),
    )
}

async fn update(
    core: &Core,
    target: Target,
    data: &Map<String, Value>,
) -> Result<Value, LogicalError> {
    let key = decode_share(data, "'key' must be specified in request body as JSON")?;
    let nonce = field_str(data, "nonce").unwrap_or("");
    let config = ready(core).await?;
    check_target(core, target)?;
    let mut guard = slot(core, target).lock().await;
    let Some(op) = guard.as_mut() else {
        return Err(LogicalError::bad(match target {
            Target::Barrier => "no barrier rekey in progress",
            Target::Recovery => "no recovery rekey in progress",
        }));
    };
    if let Some(v) = &op.verification {
        return Err(LogicalError::bad(format!(
            "rekey operation already finished; verification must be performed; nonce for the verification operation is {:?}",
            v.nonce
        )));
    }
    if !bool::from(nonce.as_bytes().ct_eq(op.nonce.as_bytes())) {
        return Err(LogicalError::bad(format!(
            "incorrect nonce supplied; nonce for this rekey operation is {:?}",
            op.nonce
        )));
    }
    op.progress.add(
        key,
        "given key has already been provided during this generation operation",
    )?;
    if op.progress.len() < config.secret_threshold as usize {
        drop(guard);
        return status(core, target).await;
    }
    let current = op
        .progress
        .take_combined(config.secret_threshold)
        .map_err(|m| LogicalError::bad(format!("failed to compute root key: {m}")))?;
    let proof = match prove(core, &config, &current).await? {
        Ok(p) => p,
        Err(m) => {
            let what = match target {
                Target::Barrier => "root key verification failed",
                Target::Recovery => "recovery key verification failed",
            };
            return Err(LogicalError::bad(format!("{what}: {m}")));
        }
    };
    let new_key = Zeroizing::new(random_key().to_vec());
    let shares = shamir::split(&new_key, op.shares, op.threshold);
    let (keys, keys_b64) = encode_shares(&shares);
    let mut body = json!({
        "nonce": op.nonce,
        "complete": true,
        "keys": keys,
        "keys_base64": keys_b64,
        "pgp_fingerprints": null,
        "backup": false,
        "verification_required": op.require_verification,
    });
    if op.require_verification {
        let vnonce = uuid::Uuid::new_v4().to_string();
        body["verification_nonce"] = Value::from(vnonce.clone());
        op.verification = Some(Verification {
            nonce: vnonce,
            new_key,
            proof,
            progress: Shares::default(),
        });
        return Ok(body);
    }
    let (n, t) = (op.shares, op.threshold);
    apply(core, n, t, &new_key, proof).await?;
    *guard = None;
    tracing::info!(target = ?target, shares = n, threshold = t, "rekey complete");
    Ok(body)
}

async fn verify_status(core: &Core, target: Target) -> Result<Value, LogicalError> {
    ready(core).await?;
    let guard = slot(core, target).lock().await;
    let op = guard
        .as_ref()
        .ok_or_else(|| LogicalError::bad("no rekey configuration found"))?;
    let (nonce, started, progress) = match &op.verification {
        Some(v) => (v.nonce.clone(), true, v.progress.len()),
        None => (String::new(), false, 0),
    };
    Ok(json!({
        "nonce": nonce,
        "started": started,
        "t": op.threshold,
        "n": op.shares,
        "progress": progress,
    }))
}

async fn verify_restart(core: &Core, target: Target) -> Result<(), LogicalError> {
    ready(core).await?;
    let mut guard = slot(core, target).lock().await;
    let op = guard
        .as_mut()
        .ok_or_else(|| LogicalError::bad("no rekey in progress"))?;
    if let Some(v) = op.verification.as_mut() {
        v.nonce = uuid::Uuid::new_v4().to_string();
        v.progress = Shares::default();
    }
    Ok(())
}

async fn verify(
    core: &Core,
    target: Target,
    data: &Map<String, Value>,
) -> Result<Value, LogicalError> {
    let key = decode_share(data, "'key' must be specified in request body as JSON")?;
    let nonce = field_str(data, "nonce").unwrap_or("");
    ready(core).await?;
    let mut guard = slot(core, target).lock().await;
    let op = guard
        .as_mut()
        .ok_or_else(|| LogicalError::bad("no rekey in progress"))?;
    let (n, t) = (op.shares, op.threshold);
    let Some(v) = op.verification.as_mut() else {
        return Err(LogicalError::bad("no rekey verification in progress"));
    };
    if !bool::from(nonce.as_bytes().ct_eq(v.nonce.as_bytes())) {
        return Err(LogicalError::bad(format!(
            "incorrect nonce supplied; nonce for this verify operation is {:?}",
            v.nonce
        )));
    }
    v.progress.add(
        key,
        "given key has already been provided during this verify operation",
    )?;
    if v.progress.len() < t as usize {
        drop(guard);
        return verify_status(core, target).await;
    }
    let typed = v
        .progress
        .take_combined(t)
        .map_err(|m| LogicalError::bad(format!("failed to compute key for verification: {m}")))?;
    if !bool::from(typed.as_slice().ct_eq(v.new_key.as_slice())) {
        return Err(LogicalError::bad(
            "recovered key does not match verification key",
        ));
    }
    let vnonce = v.nonce.clone();
    let Some(Verification { new_key, proof, .. }) = op.verification.take() else {
        return Err(LogicalError::Internal("verification state vanished".into()));
    };
    apply(core, n, t, &new_key, proof).await?;
    *guard = None;
    tracing::info!(target = ?target, shares = n, threshold = t, "rekey verified and complete");
    Ok(json!({"nonce": vnonce, "complete": true}))
}

/// Writes the new operator key: one conditional batch replacing the seal
/// configuration and the wrapped root key (Shamir) or the recovery-key hash.
async fn apply(
    core: &Core,
    shares: u8,
    threshold: u8,
    new_key: &[u8],
    proof: Proof,
) -> Result<(), LogicalError> {
    let _guard = core.lifecycle_lock.lock().await;
    let old_bytes = core
        .barrier
        .storage()
        .get(SEAL_CONFIG_PATH)
        .await?
        .ok_or_else(|| LogicalError::bad("server is not yet initialized"))?;
    let old: SealConfig = serde_json::from_slice(&old_bytes)
        .map_err(|e| LogicalError::Internal(format!("seal configuration is corrupt: {e}")))?;
    let config = SealConfig {
        secret_shares: shares,
        secret_threshold: threshold,
        ..old
    };
    let config_bytes =
        serde_json::to_vec(&config).map_err(|e| LogicalError::Internal(e.to_string()))?;
    let config_item =
        BatchItem::put(SEAL_CONFIG_PATH, config_bytes).when(Condition::Equals(old_bytes));
    let written = match proof {
        Proof::Shamir { blob, root_key } => {
            let wrapped = core
                .seal
                .wrap_root_key(&config, &root_key, Some(new_key))
                .await
                .map_err(|e| LogicalError::Internal(format!("wrapping the root key: {e}")))?;
            core.barrier
                .storage()
                .batch(vec![
                    BatchItem::put(ROOT_KEY_PATH, wrapped).when(Condition::Equals(blob)),
                    config_item,
                ])
                .await
                .map_err(BarrierError::from)
        }
        Proof::Recovery { raw_hash } => {
            use sha2::Digest;
            let hashed = hex::encode(sha2::Sha256::digest(new_key));
            core.barrier
                .batch_with_physical(
                    vec![BatchItem::put(RECOVERY_KEY_HASH_PATH, hashed.into_bytes())
                        .when(Condition::Equals(raw_hash))],
                    vec![config_item],
                )
                .await
        }
    };
    written.map_err(|e| match e {
        BarrierError::Storage(StorageError::ConditionFailed(_)) => LogicalError::bad(
            "the seal configuration changed while rekeying; cancel and start the rekey again",
        ),
        other => other.into(),
    })?;
    *core.seal_config.write().map_err(|_| lock_err())? = Some(config);
    Ok(())
}

#[cfg(test)]
mod tests;
