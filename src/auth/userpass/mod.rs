//! The userpass auth method, compatible with Vault's `auth/userpass` API.
//!
//! Paths (relative to the mount), declared through
//! [`crate::logical::framework`]:
//! - `users` (LIST), `users/:username` (GET, POST, DELETE)
//! - `users/:username/password` (POST), `users/:username/policies` (POST)
//! - `login/:username` (POST `password`, unauthenticated)
//!
//! A user is given a `password` (hashed here) or a `password_hash`: where
//! OpenBao takes a bcrypt hash, Strongroom takes an argon2id PHC string,
//! the format it stores.
//!
//! Storage layout inside the mount's view: `user/<lower-cased username>`
//! holds a JSON [`UserEntry`]: the argon2id PHC hash of the password and the
//! token settings. The password itself is never stored.
//!
//! Hashing (argon2id, m=19456 KiB, t=2, p=1: the OWASP minimum) runs on
//! `spawn_blocking`. A login for an unknown user verifies against a dummy
//! hash made with the same parameters, so the time a login takes does not
//! tell whether the user exists.
//!
//! The `token_*` fields every auth method shares live in
//! [`crate::auth::common`].

use std::collections::BTreeMap;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use serde_json::Map;
use zeroize::Zeroizing;

use crate::auth::common::{
    addr_allowed, is_condition_failed, TokenParams, CAS_ATTEMPTS, LEGACY_TOKEN_FIELDS, TOKEN_FIELDS,
};
use crate::logical::framework::{Ctx, Field, FrameworkBackend, PathSpec, Paths};
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};
use crate::policy::normalize_policies;
use crate::storage::{BatchItem, Condition};
use crate::{existence, handler};

const INVALID_CREDENTIALS: &str = "invalid username or password";
const USER_PREFIX: &str = "user/";
// ---------------------------------------------------------------------------
// Password hashing
// ---------------------------------------------------------------------------

/// The argon2id parameters new hashes are made with.
#[derive(Debug, Clone, Copy)]
struct HashParams {
    m_kib: u32,
    t: u32,
    p: u32,
}

impl HashParams {
    /// OWASP's minimum recommendation for argon2id.
    const DEFAULT: HashParams = HashParams {
        m_kib: 19456,
        t: 2,
        p: 1,
    };

    fn hasher(self) -> Result<Argon2<'static>, LogicalError> {
        let params = Params::new(self.m_kib, self.t, self.p, None)
            .map_err(|e| LogicalError::Internal(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

fn hash_password_blocking(params: HashParams, password: &[u8]) -> Result<String, LogicalError> {
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| LogicalError::Internal(format!("argon2 salt: {e}")))?;
    let hash = params
        .hasher()?
        .hash_password(password, &salt)
        .map_err(|e| LogicalError::Internal(format!("argon2 hash: {e}")))?;
    Ok(hash.to_string())
}

/// Verifies with the parameters recorded in the PHC string; the comparison
/// of the outputs is constant time (argon2's `Output` equality).
fn verify_password_blocking(phc: &str, password: &[u8]) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default().verify_password(password, &parsed).is_ok()
}

async fn hash_password(params: HashParams, password: &str) -> Result<String, LogicalError> {
    let pw = Zeroizing::new(password.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || hash_password_blocking(params, &pw))
        .await
        .map_err(|e| LogicalError::Internal(format!("password hashing task failed: {e}")))?
}

async fn verify_password(phc: String, password: &str) -> Result<bool, LogicalError> {
    let pw = Zeroizing::new(password.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || verify_password_blocking(&phc, &pw))
        .await
        .map_err(|e| LogicalError::Internal(format!("password verification task failed: {e}")))
}

// ---------------------------------------------------------------------------
// The backend
// ---------------------------------------------------------------------------

/// A stored user.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct UserEntry {
    /// argon2id PHC string.
    password_hash: String,
    #[serde(flatten)]
    token: TokenParams,
}

/// The userpass state the handlers share: the hash parameters and the
/// dummy hash that keeps unknown-user logins as slow as real ones.
pub(crate) struct Userpass {
    params: HashParams,
    dummy_hash: tokio::sync::OnceCell<String>,
}

/// The userpass auth method: [`Userpass`] behind its declared paths.
pub(crate) type UserpassBackend = FrameworkBackend<Userpass>;

/// The userpass backend core mounts.
pub(crate) fn backend() -> UserpassBackend {
    backend_with_params(HashParams::DEFAULT)
}

fn backend_with_params(params: HashParams) -> UserpassBackend {
    let state = Userpass {
        params,
        dummy_hash: tokio::sync::OnceCell::new(),
    };
    FrameworkBackend::new(state, paths()).unauthenticated(&["login", "login/*"])
}

impl Userpass {
    async fn dummy(&self) -> Result<String, LogicalError> {
        let params = self.params;
        self.dummy_hash
            .get_or_try_init(|| async move {
                let mut pw = Zeroizing::new([0u8; 32]);
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, pw.as_mut());
                let pw = hex::encode(pw.as_ref());
                hash_password(params, &pw).await
            })
            .await
            .cloned()
    }
}

/// Lower-cases and checks a username (Vault's name pattern: word characters,
/// `-`, `.` and `@`).
fn username(raw: &str) -> Result<String, LogicalError> {
    let name = raw.trim().to_lowercase();
    if name.is_empty() {
        return Err(LogicalError::bad("missing username"));
    }
    if name.len() > 4096
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
    {
        return Err(LogicalError::bad(format!("invalid username {raw:?}")));
    }
    Ok(name)
}

fn user_key(name: &str) -> String {
    format!("{USER_PREFIX}{name}")
}

fn parse_user(bytes: &[u8]) -> Result<UserEntry, LogicalError> {
    serde_json::from_slice(bytes)
        .map_err(|e| LogicalError::Internal(format!("corrupt user entry: {e}")))
}

async fn load_user(view: &StorageView, name: &str) -> Result<Option<UserEntry>, LogicalError> {
    match view.get(&user_key(name)).await? {
        None => Ok(None),
        Some(b) => parse_user(&b).map(Some),
    }
}

/// Read-modify-write of a user with a condition on the bytes read, retried
/// when a concurrent write wins. `f` gets `None` for a new user.
async fn update_user<F>(view: &StorageView, name: &str, mut f: F) -> Result<(), LogicalError>
where
    F: FnMut(Option<UserEntry>) -> Result<UserEntry, LogicalError>,
{
    let key = user_key(name);
    for _ in 0..CAS_ATTEMPTS {
        let current = view.get_versioned(&key).await?;
        let (entry, cond) = match &current {
            Some(v) => (
                Some(parse_user(&v.plaintext)?),
                Condition::Equals(v.raw.clone()),
            ),
            None => (None, Condition::Absent),
        };
        let new = f(entry)?;
        let bytes = serde_json::to_vec(&new)
            .map_err(|e| LogicalError::Internal(format!("encoding user entry: {e}")))?;
        match view
            .batch(vec![BatchItem::put(key.clone(), bytes).when(cond)])
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) if is_condition_failed(&e) => tokio::task::yield_now().await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(LogicalError::Unavailable(
        "too many concurrent updates of this user; retry the request".into(),
    ))
}

/// The bounds an imported `password_hash` must keep: weak enough to
/// guess offline below them, a denial of service at every login above.
const IMPORT_M_KIB: std::ops::RangeInclusive<u32> = 8192..=262_144;
const IMPORT_T: std::ops::RangeInclusive<u32> = 1..=16;
const IMPORT_P: std::ops::RangeInclusive<u32> = 1..=8;

/// Checks an imported hash: an argon2id PHC string with sane parameters.
fn imported_hash(phc: &str) -> Result<String, LogicalError> {
    let invalid = || LogicalError::bad("password_hash is not a valid argon2id PHC string");
    let parsed = PasswordHash::new(phc).map_err(|_| invalid())?;
    if parsed.algorithm.as_str() != "argon2id" || parsed.hash.is_none() {
        return Err(invalid());
    }
    let params = Params::try_from(&parsed).map_err(|_| invalid())?;
    if !IMPORT_M_KIB.contains(&params.m_cost())
        || !IMPORT_T.contains(&params.t_cost())
        || !IMPORT_P.contains(&params.p_cost())
    {
        return Err(LogicalError::bad(format!(
            "password_hash parameters must keep m in {}..={} KiB, t in {}..={} and p in {}..={}",
            IMPORT_M_KIB.start(),
            IMPORT_M_KIB.end(),
            IMPORT_T.start(),
            IMPORT_T.end(),
            IMPORT_P.start(),
            IMPORT_P.end()
        )));
    }
    Ok(phc.to_string())
}

/// The `password` and `password_hash` fields; non-empty ones only (OpenBao
/// treats an empty string as absent).
fn password_input(c: &Ctx<'_>) -> (Option<String>, Option<String>) {
    let get = |n: &str| c.fields.get_ok::<String>(n).filter(|s| !s.is_empty());
    (get("password"), get("password_hash"))
}

impl Userpass {
    /// The new PHC string a write sets, if it sets one.
    async fn new_hash(
        &self,
        password: Option<String>,
        imported: Option<String>,
    ) -> Result<Option<String>, LogicalError> {
        match (password, imported) {
            (Some(_), Some(_)) => Err(LogicalError::bad(
                "only one of password or password_hash may be provided",
            )),
            (Some(p), None) => {
                let p = Zeroizing::new(p);
                Ok(Some(hash_password(self.params, &p).await?))
            }
            (None, Some(h)) => imported_hash(&h).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// `users` (LIST).
    async fn list_users(&self, c: &Ctx<'_>) -> LogicalResult {
        let keys = c.view.list(USER_PREFIX).await?;
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    /// Whether `users/:username` exists (Create vs Update).
    async fn user_exists(&self, c: &Ctx<'_>) -> Result<bool, LogicalError> {
        match username(c.path("username")) {
            Ok(n) => Ok(c.view.get(&user_key(&n)).await?.is_some()),
            Err(_) => Ok(true),
        }
    }

    async fn write_user(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = username(c.path("username"))?;
        // Reject malformed fields before spending time on hashing.
        TokenParams::default().update_from_fields(&c.fields, true)?;
        let (password, imported) = password_input(c);
        let new_hash = self.new_hash(password, imported).await?;
        update_user(c.view, &name, |current| {
            let mut entry = match current {
                Some(e) => e,
                None if new_hash.is_none() => {
                    return Err(LogicalError::bad(
                        "must provide either password or password_hash",
                    ))
                }
                None => UserEntry::default(),
            };
            if let Some(h) = &new_hash {
                entry.password_hash = h.clone();
            }
            entry.token.update_from_fields(&c.fields, true)?;
            entry.token.validate()?;
            Ok(entry)
        })
        .await?;
        Ok(Response::empty())
    }

    async fn read_user(&self, c: &Ctx<'_>) -> LogicalResult {
        let Some(entry) = load_user(c.view, &username(c.path("username"))?).await? else {
            return Err(LogicalError::NotFound);
        };
        let mut data = Map::new();
        entry.token.write_json(&mut data);
        Ok(Response::data(data))
    }

    async fn delete_user(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = username(c.path("username"))?;
        c.view.delete(&user_key(&name)).await?;
        Ok(Response::empty())
    }

    /// `users/:username/password`.
    async fn change_password(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = username(c.path("username"))?;
        let (password, imported) = password_input(c);
        if password.is_none() && imported.is_none() {
            return Err(LogicalError::bad("missing password"));
        }
        if load_user(c.view, &name).await?.is_none() {
            return Err(LogicalError::bad("username does not exist"));
        }
        let Some(hash) = self.new_hash(password, imported).await? else {
            return Err(LogicalError::bad("missing password"));
        };
        update_user(c.view, &name, |current| {
            let mut entry = current.ok_or_else(|| LogicalError::bad("username does not exist"))?;
            entry.password_hash = hash.clone();
            Ok(entry)
        })
        .await?;
        Ok(Response::empty())
    }

    /// `users/:username/policies`.
    async fn set_policies(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = username(c.path("username"))?;
        let policies = c
            .fields
            .get_ok::<Vec<String>>("token_policies")
            .or_else(|| c.fields.get_ok("policies"))
            .unwrap_or_default();
        let policies = normalize_policies(policies, false);
        update_user(c.view, &name, |current| {
            let mut entry = current.ok_or_else(|| LogicalError::bad("username does not exist"))?;
            entry.token.token_policies = policies.clone();
            Ok(entry)
        })
        .await?;
        Ok(Response::empty())
    }

    /// `login/:username`. OpenBao answers a missing password with a 500;
    /// it is bad input, so Strongroom answers 400 with the same text.
    async fn login(&self, c: &Ctx<'_>) -> LogicalResult {
        let password = Zeroizing::new(c.fields.str("password"));
        if password.is_empty() {
            return Err(LogicalError::bad("missing password"));
        }
        // Both paths make sure the dummy exists first, so the one-time cost
        // of making it does not single out unknown users either.
        let dummy = self.dummy().await?;
        let name = username(c.path("username")).ok();
        let user = match &name {
            Some(n) => load_user(c.view, n).await?,
            None => None,
        };
        let phc = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or(dummy);
        let ok = verify_password(phc, &password).await?;
        let (Some(name), Some(user), true) = (name, user, ok) else {
            return Err(LogicalError::bad(INVALID_CREDENTIALS));
        };
        if !user.token.token_bound_cidrs.is_empty()
            && !addr_allowed(&user.token.token_bound_cidrs, c.req.remote_addr)
        {
            return Err(LogicalError::PermissionDenied);
        }
        let mut auth = user.token.auth();
        auth.metadata = BTreeMap::from([("username".to_string(), name.clone())]);
        // Vault's alias: the (lower-cased) username under this mount.
        auth.alias = Some(crate::logical::auth::Alias {
            name: name.clone(),
            metadata: BTreeMap::new(),
        });
        auth.display_name = name;
        Ok(Response {
            auth: Some(auth),
            ..Default::default()
        })
    }
}

const PASSWORD_FIELDS: &[Field] = &[
    Field::string("password", "Password for this user."),
    Field::string(
        "password_hash",
        "Pre-hashed password for this user, an argon2id PHC string; use instead of password.",
    ),
];

const POLICY_FIELDS: &[Field] = &[
    Field::comma_strings("token_policies", "Comma-separated list of policies."),
    Field::comma_strings("policies", "Use \"token_policies\" instead."),
];

const LOGIN_FIELDS: &[Field] = &[Field::string("password", "Password for this user.")];

const HELP: &str = "The \"userpass\" credential provider allows authentication using a combination of a username and password. No additional factors are supported.";

fn paths() -> Paths<Userpass> {
    Paths::new(
        HELP,
        vec![
            PathSpec::new("users")
                .list(handler!(Userpass::list_users))
                .help("Manage users allowed to authenticate.", "This endpoint lists the users."),
            PathSpec::new("users/{username}")
                .fields(PASSWORD_FIELDS)
                .fields(TOKEN_FIELDS)
                .fields(LEGACY_TOKEN_FIELDS)
                .read(handler!(Userpass::read_user))
                .write(handler!(Userpass::write_user))
                .delete(handler!(Userpass::delete_user))
                .exists(existence!(Userpass::user_exists))
                .help(
                    "Manage users allowed to authenticate.",
                    "This endpoint allows you to create, read, update, and delete users that are allowed to authenticate. Deleting a user will not revoke auth for prior authenticated users with that name.",
                ),
            PathSpec::new("users/{username}/password")
                .fields(PASSWORD_FIELDS)
                .write(handler!(Userpass::change_password))
                .help(
                    "Reset user's password.",
                    "This endpoint allows resetting the user's password.",
                ),
            PathSpec::new("users/{username}/policies")
                .fields(POLICY_FIELDS)
                .write(handler!(Userpass::set_policies))
                .help(
                    "Update the policies associated with the username.",
                    "This endpoint allows updating the policies associated with the username.",
                ),
            PathSpec::new("login/{username}")
                .fields(LOGIN_FIELDS)
                .write(handler!(Userpass::login))
                .help(
                    "Log in with a username and password.",
                    "This endpoint authenticates using a username and password.",
                ),
        ],
    )
}

#[cfg(test)]
pub(crate) mod tests;
