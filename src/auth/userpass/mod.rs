//! The userpass auth method, compatible with Vault's `auth/userpass` API.
//!
//! Paths (relative to the mount):
//! - `users` (LIST), `users/:username` (GET, POST, DELETE)
//! - `users/:username/password` (POST), `users/:username/policies` (POST)
//! - `login/:username` (POST `password`, unauthenticated)
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
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use zeroize::Zeroizing;

use crate::auth::common::{addr_allowed, is_condition_failed, TokenParams, CAS_ATTEMPTS};
use crate::logical::{
    field_str, string_list, Backend, LogicalError, LogicalResult, Operation,
    Request, Response, StorageView,
};
use crate::policy::normalize_policies;
use crate::storage::{BatchItem, Condition};

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

/// The userpass auth method. Stateless apart from the dummy hash used to
/// keep unknown-user logins as slow as real ones.
#[allow(dead_code)]
pub(crate) struct UserpassBackend {
    params: HashParams,
    dummy_hash: tokio::sync::OnceCell<String>,
}

#[allow(dead_code)]
impl UserpassBackend {
    pub(crate) fn new() -> Self {
        Self::with_params(HashParams::DEFAULT)
    }

    fn with_params(params: HashParams) -> Self {
        Self {
            params,
            dummy_hash: tokio::sync::OnceCell::new(),
        }
    }

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

impl Default for UserpassBackend {
    fn default() -> Self {
        Self::new()
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

impl UserpassBackend {
    async fn write_user(&self, req: &Request, view: &StorageView, name: &str) -> LogicalResult {
        // Reject malformed fields before spending time on hashing.
        TokenParams::default().update_from(&req.data, true)?;
        let new_hash = match field_str(&req.data, "password") {
            Some(p) if !p.is_empty() => Some(hash_password(self.params, p).await?),
            _ => None,
        };
        update_user(view, name, |current| {
            let mut entry = match current {
                Some(e) => e,
                None if new_hash.is_none() => return Err(LogicalError::bad("missing password")),
                None => UserEntry::default(),
            };
            if let Some(h) = &new_hash {
                entry.password_hash = h.clone();
            }
            entry.token.update_from(&req.data, true)?;
            entry.token.validate()?;
            Ok(entry)
        })
        .await?;
        Ok(Response::empty())
    }

    async fn read_user(&self, view: &StorageView, name: &str) -> LogicalResult {
        let Some(entry) = load_user(view, name).await? else {
            return Err(LogicalError::NotFound);
        };
        let mut data = Map::new();
        entry.token.write_json(&mut data);
        Ok(Response::data(data))
    }

    async fn change_password(
        &self,
        req: &Request,
        view: &StorageView,
        name: &str,
    ) -> LogicalResult {
        let password = match field_str(&req.data, "password") {
            Some(p) if !p.is_empty() => p,
            _ => return Err(LogicalError::bad("missing password")),
        };
        if load_user(view, name).await?.is_none() {
            return Err(LogicalError::bad("username does not exist"));
        }
        let hash = hash_password(self.params, password).await?;
        update_user(view, name, |current| {
            let mut entry = current.ok_or_else(|| LogicalError::bad("username does not exist"))?;
            entry.password_hash = hash.clone();
            Ok(entry)
        })
        .await?;
        Ok(Response::empty())
    }

    async fn set_policies(&self, req: &Request, view: &StorageView, name: &str) -> LogicalResult {
        let policies = match string_list(&req.data, "token_policies")? {
            Some(p) => p,
            None => string_list(&req.data, "policies")?.unwrap_or_default(),
        };
        let policies = normalize_policies(policies, false);
        update_user(view, name, |current| {
            let mut entry = current.ok_or_else(|| LogicalError::bad("username does not exist"))?;
            entry.token.token_policies = policies.clone();
            Ok(entry)
        })
        .await?;
        Ok(Response::empty())
    }

    async fn login(&self, req: &Request, view: &StorageView, raw_name: &str) -> LogicalResult {
        let password = match field_str(&req.data, "password") {
            Some(p) if !p.is_empty() => p,
            _ => return Err(LogicalError::bad("missing password")),
        };
        // Both paths make sure the dummy exists first, so the one-time cost
        // of making it does not single out unknown users either.
        let dummy = self.dummy().await?;
        let name = username(raw_name).ok();
        let user = match &name {
            Some(n) => load_user(view, n).await?,
            None => None,
        };
        let phc = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or(dummy);
        let ok = verify_password(phc, password).await?;
        let (Some(name), Some(user), true) = (name, user, ok) else {
            return Err(LogicalError::bad(INVALID_CREDENTIALS));
        };
        if !user.token.token_bound_cidrs.is_empty()
            && !addr_allowed(&user.token.token_bound_cidrs, req.remote_addr)
        {
            return Err(LogicalError::PermissionDenied);
        }
        let mut auth = user.token.auth();
        auth.metadata = BTreeMap::from([("username".to_string(), name.clone())]);
        auth.display_name = name;
        Ok(Response {
            auth: Some(auth),
            ..Default::default()
        })
    }
}

#[async_trait]
impl Backend for UserpassBackend {
    async fn handle(&self, req: &Request, view: &StorageView) -> LogicalResult {
        let path = req.relative_path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        let write = matches!(req.operation, Operation::Create | Operation::Update);
        match (parts.as_slice(), req.operation) {
            (["users"], Operation::List) => {
                let keys = view.list(USER_PREFIX).await?;
                if keys.is_empty() {
                    return Err(LogicalError::NotFound);
                }
                Ok(Response::list(keys))
            }
            (["users"], _) => Err(LogicalError::UnsupportedOperation),
            (["users", name], op) => {
                let name = username(name)?;
                match op {
                    Operation::Read => self.read_user(view, &name).await,
                    Operation::Create | Operation::Update => {
                        self.write_user(req, view, &name).await
                    }
                    Operation::Delete => {
                        view.delete(&user_key(&name)).await?;
                        Ok(Response::empty())
                    }
                    _ => Err(LogicalError::UnsupportedOperation),
                }
            }
            (["users", name, "password"], _) if write => {
                self.change_password(req, view, &username(name)?).await
            }
            (["users", name, "policies"], _) if write => {
                self.set_policies(req, view, &username(name)?).await
            }
            (["users", _, "password" | "policies"], _) => Err(LogicalError::UnsupportedOperation),
            (["login", name], _) if write => self.login(req, view, name).await,
            (["login", _], _) => Err(LogicalError::UnsupportedOperation),
            _ => Err(LogicalError::NoRoute(format!(
                "unsupported path: {:?}",
                req.relative_path
            ))),
        }
    }

    async fn exists(&self, req: &Request, view: &StorageView) -> Result<bool, LogicalError> {
        let path = req.relative_path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            ["users", name] => match username(name) {
                Ok(n) => Ok(view.get(&user_key(&n)).await?.is_some()),
                Err(_) => Ok(true),
            },
            _ => Ok(true),
        }
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        &["login", "login/*"]
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use serde_json::{json, Value};

    use super::*;
    use crate::storage::memory::MemoryStorage;
    use crate::storage::Storage;

    /// Cheap parameters so tests that do many hashes stay fast in debug
    /// builds; one test uses the real ones.
    const FAST: HashParams = HashParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    pub(crate) async fn setup() -> (Arc<MemoryStorage>, StorageView) {
        let storage = Arc::new(MemoryStorage::new());
        let barrier = Arc::new(crate::barrier::Barrier::new(storage.clone()));
        barrier
            .initialize(&crate::barrier::random_key())
            .await
            .unwrap();
        (storage, StorageView::new(barrier, "logical/test/"))
    }

    pub(crate) async fn call<B: Backend>(
        b: &B,
        view: &StorageView,
        op: Operation,
        path: &str,
        body: Value,
    ) -> LogicalResult {
        let mut req = Request::new(op, format!("auth/test/{path}"));
        req.mount_point = "auth/test/".into();
        req.relative_path = path.into();
        if let Value::Object(m) = body {
            req.data = m;
        }
        b.handle(&req, view).await
    }

    /// Every plaintext and raw value under the view and the storage, as bytes.
    pub(crate) async fn all_bytes(storage: &MemoryStorage, view: &StorageView) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(dir) = stack.pop() {
            for child in Storage::list(storage, &dir).await.unwrap() {
                let key = format!("{dir}{child}");
                if key.ends_with('/') {
                    stack.push(key);
                } else {
                    out.push(key.clone().into_bytes());
                    out.push(Storage::get(storage, &key).await.unwrap().unwrap());
                }
            }
        }
        let mut stack = vec![String::new()];
        while let Some(dir) = stack.pop() {
            for child in view.list(&dir).await.unwrap() {
                let key = format!("{dir}{child}");
                if key.ends_with('/') {
                    stack.push(key);
                } else {
                    out.push(view.get(&key).await.unwrap().unwrap());
                }
            }
        }
        out
    }

    pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    fn backend() -> UserpassBackend {
        UserpassBackend::with_params(FAST)
    }

    fn login_auth(r: LogicalResult) -> crate::logical::Auth {
        r.unwrap().auth.expect("login grants auth")
    }

    #[tokio::test]
    async fn user_crud_and_login_with_real_params() {
        let (_s, view) = setup().await;
        let b = UserpassBackend::new();
        let r = call(
            &b,
            &view,
            Operation::Create,
            "users/Alice",
            json!({"password": "s3cret!", "token_policies": "dev, Ops", "token_ttl": "1h",
                   "token_max_ttl": "2h", "token_num_uses": 5}),
        )
        .await
        .unwrap();
        assert!(r.data.is_none());
        assert!(b
            .exists(
                &{
                    let mut q = Request::new(Operation::Update, "x");
                    q.relative_path = "users/alice".into();
                    q
                },
                &view
            )
            .await
            .unwrap());

        let d = call(&b, &view, Operation::Read, "users/alice", json!({}))
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!(d["token_policies"], json!(["dev", "ops"]));
        assert_eq!(d["token_ttl"], json!(3600));
        assert_eq!(d["token_max_ttl"], json!(7200));
        assert_eq!(d["token_num_uses"], json!(5));
        assert!(!d.contains_key("password"));
        assert!(!d.contains_key("password_hash"));

        let stored = load_user(&view, "alice").await.unwrap().unwrap();
        assert!(stored
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));

        let auth = login_auth(
            call(
                &b,
                &view,
                Operation::Update,
                "login/ALICE",
                json!({"password": "s3cret!"}),
            )
            .await,
        );
        assert_eq!(auth.policies, vec!["dev", "ops"]);
        assert_eq!(
            auth.metadata.get("username").map(String::as_str),
            Some("alice")
        );
        assert_eq!(auth.display_name, "alice");
        assert_eq!(auth.ttl, 3600);
        assert_eq!(auth.explicit_max_ttl, 7200);
        assert_eq!(auth.num_uses, 5);
        assert!(auth.renewable);
        assert!(auth.client_token.is_empty());

        let e = call(
            &b,
            &view,
            Operation::Update,
            "login/alice",
            json!({"password": "nope"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(e.to_string(), "invalid username or password");

        call(&b, &view, Operation::Delete, "users/alice", json!({}))
            .await
            .unwrap();
        let e = call(&b, &view, Operation::Read, "users/alice", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(e, LogicalError::NotFound));
        let e = call(
            &b,
            &view,
            Operation::Update,
            "login/alice",
            json!({"password": "s3cret!"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.to_string(), "invalid username or password");
    }

    #[tokio::test]
    async fn unknown_user_and_bad_input() {
        let (_s, view) = setup().await;
        let b = backend();
        let e = call(
            &b,
            &view,
            Operation::Update,
            "login/ghost",
            json!({"password": "x"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(e.to_string(), INVALID_CREDENTIALS);
        // The unknown user was checked against the dummy hash (same cost).
        assert!(b
            .dummy_hash
            .get()
            .is_some_and(|h| h.starts_with("$argon2id$")));
        // An impossible username answers the same way.
        let e = call(
            &b,
            &view,
            Operation::Update,
            "login/a%b",
            json!({"password": "x"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.to_string(), INVALID_CREDENTIALS);
        let e = call(&b, &view, Operation::Update, "login/ghost", json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "missing password");
        let e = call(
            &b,
            &view,
            Operation::Update,
            "login/ghost",
            json!({"password": 12}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400);
        // Creating without a password fails; bad field types fail cleanly.
        let e = call(&b, &view, Operation::Create, "users/bob", json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "missing password");
        let e = call(
            &b,
            &view,
            Operation::Create,
            "users/bob",
            json!({"password": "p", "token_ttl": "soon"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400);
        let e = call(
            &b,
            &view,
            Operation::Create,
            "users/bob",
            json!({"password": "p", "token_ttl": "2h", "token_max_ttl": "1h"}),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "token_ttl should not be greater than token_max_ttl"
        );
        let e = call(
            &b,
            &view,
            Operation::Create,
            "users/bob",
            json!({"password": "p", "token_bound_cidrs": ["not a cidr"]}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400);
        let e = call(&b, &view, Operation::Read, "nothing/here", json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.status(), 404);
        let e = call(&b, &view, Operation::Read, "login/bob", json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.status(), 405);
    }

    #[tokio::test]
    async fn password_change_policies_and_list() {
        let (_s, view) = setup().await;
        let b = backend();
        for name in ["carol", "dave"] {
            call(
                &b,
                &view,
                Operation::Create,
                &format!("users/{name}"),
                json!({"password": "old", "policies": ["a"]}),
            )
            .await
            .unwrap();
        }
        let keys = call(&b, &view, Operation::List, "users", json!({}))
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!(keys["keys"], json!(["carol", "dave"]));

        call(
            &b,
            &view,
            Operation::Update,
            "users/carol/password",
            json!({"password": "new"}),
        )
        .await
        .unwrap();
        assert!(call(
            &b,
            &view,
            Operation::Update,
            "login/carol",
            json!({"password": "old"})
        )
        .await
        .is_err());
        login_auth(
            call(
                &b,
                &view,
                Operation::Update,
                "login/carol",
                json!({"password": "new"}),
            )
            .await,
        );
        let e = call(
            &b,
            &view,
            Operation::Update,
            "users/nobody/password",
            json!({"password": "x"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.status(), 400);
        let e = call(
            &b,
            &view,
            Operation::Update,
            "users/carol/password",
            json!({}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.to_string(), "missing password");

        call(
            &b,
            &view,
            Operation::Update,
            "users/carol/policies",
            json!({"token_policies": ["x", "y"]}),
        )
        .await
        .unwrap();
        let auth = login_auth(
            call(
                &b,
                &view,
                Operation::Update,
                "login/carol",
                json!({"password": "new"}),
            )
            .await,
        );
        assert_eq!(auth.policies, vec!["x", "y"]);

        // An update without a password keeps the password and other fields.
        call(
            &b,
            &view,
            Operation::Update,
            "users/carol",
            json!({"token_ttl": 60}),
        )
        .await
        .unwrap();
        let auth = login_auth(
            call(
                &b,
                &view,
                Operation::Update,
                "login/carol",
                json!({"password": "new"}),
            )
            .await,
        );
        assert_eq!(auth.policies, vec!["x", "y"]);
        assert_eq!(auth.ttl, 60);
    }

    #[tokio::test]
    async fn bound_cidrs_checked_at_login() {
        let (_s, view) = setup().await;
        let b = backend();
        call(
            &b,
            &view,
            Operation::Create,
            "users/erin",
            json!({"password": "pw", "token_bound_cidrs": "10.0.0.0/8"}),
        )
        .await
        .unwrap();
        let mut req = Request::new(Operation::Update, "auth/test/login/erin");
        req.relative_path = "login/erin".into();
        req.data = json!({"password": "pw"}).as_object().cloned().unwrap();
        let e = b.handle(&req, &view).await.unwrap_err();
        assert_eq!(e.status(), 403);
        req.remote_addr = Some("192.168.1.1".parse().unwrap());
        assert_eq!(b.handle(&req, &view).await.unwrap_err().status(), 403);
        req.remote_addr = Some("10.1.2.3".parse().unwrap());
        let auth = b.handle(&req, &view).await.unwrap().auth.unwrap();
        assert_eq!(auth.bound_cidrs, vec!["10.0.0.0/8"]);
    }

    #[tokio::test]
    async fn password_never_stored() {
        let (storage, view) = setup().await;
        let b = backend();
        let pw = "Correct-Horse-Battery-Staple-42";
        call(
            &b,
            &view,
            Operation::Create,
            "users/frank",
            json!({"password": pw}),
        )
        .await
        .unwrap();
        call(
            &b,
            &view,
            Operation::Update,
            "users/frank/password",
            json!({"password": pw}),
        )
        .await
        .unwrap();
        login_auth(
            call(
                &b,
                &view,
                Operation::Update,
                "login/frank",
                json!({"password": pw}),
            )
            .await,
        );
        let blobs = all_bytes(&storage, &view).await;
        assert!(blobs.len() > 2);
        for blob in blobs {
            assert!(!contains(&blob, pw.as_bytes()));
        }
    }

    #[test]
    fn unauthenticated_paths() {
        assert_eq!(backend().unauthenticated_paths(), &["login", "login/*"]);
    }
}
