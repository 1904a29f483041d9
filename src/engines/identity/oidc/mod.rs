//! Identity tokens (Vault's identity/oidc): named signing keys with
//! rotation, roles that say which key signs and what the token carries, and
//! the token itself: a JWT with the caller's entity as `sub`, the role's
//! `client_id` as `aud`, and the role's template claims. Third parties
//! verify it with the published `.well-known/keys` (unauthenticated).
//!
//! Storage, in the identity mount's view: `oidc/config`, `oidc/key/<name>`
//! (the current private key and the public keys still published),
//! `oidc/role/<name>`. Rotation happens when a key is rotated explicitly or
//! when it is used past its `rotation_period`; a rotated-out public key
//! stays published for `verification_ttl`.

pub(crate) mod jose;
mod template;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::logical::framework::{Ctx, DefaultValue, Field};
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};

use super::Identity;
use jose::{JoseError, PublicKey, SigningKey};

const CONFIG_KEY: &str = "oidc/config";
const KEY_PREFIX: &str = "oidc/key/";
const ROLE_PREFIX: &str = "oidc/role/";
const DAY: u64 = 24 * 3600;
/// Claims a template may not set.
const RESERVED: &[&str] = &["iat", "aud", "exp", "iss", "sub", "namespace"];

pub(crate) const CONFIG_FIELDS: &[Field] = &[Field::string(
    "issuer",
    "Issuer URL to be used in the iss claim of the token. If not set, Strongroom's api_addr will be used.",
)];

pub(crate) const KEY_FIELDS: &[Field] = &[
    Field::duration("rotation_period", "How often to generate a new keypair.")
        .default(DefaultValue::Int(DAY as i64)),
    Field::duration(
        "verification_ttl",
        "Controls how long the public portion of a key will be available for verification after being rotated.",
    )
    .default(DefaultValue::Int(DAY as i64)),
    Field::string("algorithm", "Signing algorithm to use. This will default to RS256.")
        .default(DefaultValue::Str("RS256")),
    Field::comma_strings(
        "allowed_client_ids",
        "Comma separated string or array of role client ids allowed to use this key for signing. If empty no roles are allowed. If \"*\" all roles are allowed.",
    ),
];

pub(crate) const ROTATE_FIELDS: &[Field] = &[Field::duration(
    "verification_ttl",
    "Controls how long the public portion of a key will be available for verification after being rotated. Setting verification_ttl here will override the verification_ttl set on the key.",
)];

pub(crate) const ROLE_FIELDS: &[Field] = &[
    Field::string("key", "The OIDC key to use for generating tokens. The specified key must already exist."),
    Field::string("template", "The template string to use for generating tokens. This may be in string-ified JSON or base64 format."),
    Field::duration("ttl", "TTL of the tokens generated against the role.")
        .default(DefaultValue::Int(DAY as i64)),
    Field::string("client_id", "Optional client_id"),
];

pub(crate) const INTROSPECT_FIELDS: &[Field] = &[
    Field::string("token", "Token to verify"),
    Field::string("client_id", "Optional client_id to verify"),
];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct OidcConfig {
    #[serde(default)]
    issuer: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NamedKey {
    algorithm: String,
    rotation_period: u64,
    verification_ttl: u64,
    #[serde(default)]
    allowed_client_ids: Vec<String>,
    signing: SigningKey,
    /// Unix seconds when the key is next rotated on use.
    next_rotation: i64,
    /// Public keys still published: the current one and rotated-out ones
    /// until their expiry (unix seconds, 0: current).
    published: Vec<(PublicKey, i64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Role {
    key: String,
    #[serde(default)]
    template: String,
    ttl: u64,
    client_id: String,
}

fn jose_err(e: JoseError) -> LogicalError {
    match e {
        JoseError::UnknownAlgorithm(_) => LogicalError::bad(e.to_string()),
        other => LogicalError::Internal(other.to_string()),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn load<T: serde::de::DeserializeOwned>(
    view: &StorageView,
    key: &str,
) -> Result<Option<T>, LogicalError> {
    match view.get(key).await? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| LogicalError::Internal(format!("corrupt {key}: {e}"))),
    }
}

async fn store<T: Serialize>(view: &StorageView, key: &str, v: &T) -> Result<(), LogicalError> {
    let b = serde_json::to_vec(v).map_err(|e| LogicalError::Internal(e.to_string()))?;
    view.put(key, &b).await?;
    Ok(())
}

impl NamedKey {
    fn new(
        algorithm: &str,
        rotation_period: u64,
        verification_ttl: u64,
    ) -> Result<Self, LogicalError> {
        let signing = SigningKey::generate(algorithm).map_err(jose_err)?;
        let public = signing.public().map_err(jose_err)?;
        Ok(Self {
            algorithm: algorithm.to_string(),
            rotation_period,
            verification_ttl,
            allowed_client_ids: Vec::new(),
            signing,
            next_rotation: now() + rotation_period as i64,
            published: vec![(public, 0)],
        })
    }

    /// A new current key; the old public key stays published for `ttl`.
    fn rotate(&mut self, ttl: u64) -> Result<(), LogicalError> {
        let t = now();
        let signing = SigningKey::generate(&self.algorithm).map_err(jose_err)?;
        let public = signing.public().map_err(jose_err)?;
        for (_, expiry) in self.published.iter_mut() {
            if *expiry == 0 {
                *expiry = t + ttl as i64;
            }
        }
        self.published.retain(|(_, e)| *e == 0 || *e > t);
        self.published.push((public, 0));
        self.signing = signing;
        self.next_rotation = t + self.rotation_period as i64;
        Ok(())
    }

    fn live_keys(&self) -> impl Iterator<Item = &PublicKey> {
        let t = now();
        self.published
            .iter()
            .filter(move |(_, e)| *e == 0 || *e > t)
            .map(|(k, _)| k)
    }
}

fn issuer(id: &Identity, c: &Ctx<'_>, config: &OidcConfig) -> String {
    if !config.issuer.is_empty() {
        return format!("{}/v1/identity/oidc", config.issuer.trim_end_matches('/'));
    }
    let base = id.store.api_addr().unwrap_or_else(|| {
        let host = c.req.header("host").unwrap_or("127.0.0.1:8200");
        format!("http://{host}")
    });
    format!("{}/v1/identity/oidc", base.trim_end_matches('/'))
}

impl Identity {
    pub(super) async fn oidc_config_read(&self, c: &Ctx<'_>) -> LogicalResult {
        let cfg: OidcConfig = load(c.view, CONFIG_KEY).await?.unwrap_or_default();
        Ok(Response::json(json!({"issuer": cfg.issuer})))
    }

    pub(super) async fn oidc_config_write(&self, c: &Ctx<'_>) -> LogicalResult {
        let mut cfg: OidcConfig = load(c.view, CONFIG_KEY).await?.unwrap_or_default();
        if let Some(i) = c.fields.get_ok::<String>("issuer") {
            if !(i.is_empty() || i.starts_with("http://") || i.starts_with("https://")) {
                return Err(LogicalError::bad(format!("invalid issuer, which must include only a scheme, host, and optional port (e.g. https://example.com:8200): {i}")));
            }
            cfg.issuer = i;
        }
        store(c.view, CONFIG_KEY, &cfg).await?;
        Ok(Response::empty())
    }

    pub(super) async fn oidc_key_write(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("name").to_string();
        let key_path = format!("{KEY_PREFIX}{name}");
        let existing: Option<NamedKey> = load(c.view, &key_path).await?;
        let d = &c.fields;
        let algorithm = d
            .get_ok::<String>("algorithm")
            .or_else(|| existing.as_ref().map(|k| k.algorithm.clone()))
            .unwrap_or_else(|| "RS256".into());
        if !jose::ALGORITHMS.contains(&algorithm.as_str()) {
            return Err(LogicalError::bad(format!(
                "unknown signing algorithm {algorithm:?}"
            )));
        }
        let rotation = d
            .get_ok::<u64>("rotation_period")
            .or_else(|| existing.as_ref().map(|k| k.rotation_period))
            .unwrap_or(DAY);
        let verification = d
            .get_ok::<u64>("verification_ttl")
            .or_else(|| existing.as_ref().map(|k| k.verification_ttl))
            .unwrap_or(DAY);
        if rotation < 60 {
            return Err(LogicalError::bad(
                "rotation_period must be at least one minute",
            ));
        }
        let mut key = match existing {
            Some(mut k) if k.algorithm == algorithm => {
                k.rotation_period = rotation;
                k.verification_ttl = verification;
                k
            }
            Some(mut k) => {
                // A new algorithm: rotate into a key of that kind.
                k.algorithm = algorithm.clone();
                k.rotation_period = rotation;
                k.verification_ttl = verification;
                k.rotate(verification)?;
                k
            }
            None => NamedKey::new(&algorithm, rotation, verification)?,
        };
        if let Some(ids) = d.get_ok::<Vec<String>>("allowed_client_ids") {
            key.allowed_client_ids = ids;
        }
        store(c.view, &key_path, &key).await?;
        Ok(Response::empty())
    }

    pub(super) async fn oidc_key_read(&self, c: &Ctx<'_>) -> LogicalResult {
        let key: NamedKey = load(c.view, &format!("{KEY_PREFIX}{}", c.path("name")))
            .await?
            .ok_or(LogicalError::NotFound)?;
        Ok(Response::json(json!({
            "algorithm": key.algorithm,
            "allowed_client_ids": key.allowed_client_ids,
            "rotation_period": key.rotation_period,
            "verification_ttl": key.verification_ttl,
        })))
    }

    pub(super) async fn oidc_key_delete(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("name").to_string();
        let mut users = Vec::new();
        for r in c.view.list(ROLE_PREFIX).await? {
            if let Some(role) = load::<Role>(c.view, &format!("{ROLE_PREFIX}{r}")).await? {
                if role.key == name {
                    users.push(r);
                }
            }
        }
        if !users.is_empty() {
            return Err(LogicalError::bad(format!(
                "unable to delete key {name:?} because it is currently referenced by these roles: {}",
                users.join(", ")
            )));
        }
        c.view.delete(&format!("{KEY_PREFIX}{name}")).await?;
        Ok(Response::empty())
    }

    pub(super) async fn oidc_key_list(&self, c: &Ctx<'_>) -> LogicalResult {
        let keys = c.view.list(KEY_PREFIX).await?;
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    pub(super) async fn oidc_key_rotate(&self, c: &Ctx<'_>) -> LogicalResult {
        let path = format!("{KEY_PREFIX}{}", c.path("name"));
        let mut key: NamedKey = load(c.view, &path)
            .await?
            .ok_or_else(|| LogicalError::bad("no named key found"))?;
        let ttl = c
            .fields
            .get_ok::<u64>("verification_ttl")
            .unwrap_or(key.verification_ttl);
        key.rotate(ttl)?;
        store(c.view, &path, &key).await?;
        Ok(Response::empty())
    }

    pub(super) async fn oidc_role_write(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("name").to_string();
        let path = format!("{ROLE_PREFIX}{name}");
        let existing: Option<Role> = load(c.view, &path).await?;
        let d = &c.fields;
        let key = d
            .get_ok::<String>("key")
            .or_else(|| existing.as_ref().map(|r| r.key.clone()))
            .unwrap_or_default();
        if key.is_empty() {
            return Err(LogicalError::bad("the key parameter is required"));
        }
        if load::<NamedKey>(c.view, &format!("{KEY_PREFIX}{key}"))
            .await?
            .is_none()
        {
            return Err(LogicalError::bad(format!("key {key:?} does not exist")));
        }
        let template = d
            .get_ok::<String>("template")
            .or_else(|| existing.as_ref().map(|r| r.template.clone()))
            .unwrap_or_default();
        let template = template::decode(&template)?;
        template::check_reserved(&template, RESERVED)?;
        let ttl = d
            .get_ok::<u64>("ttl")
            .or_else(|| existing.as_ref().map(|r| r.ttl))
            .unwrap_or(DAY);
        let client_id = existing
            .as_ref()
            .map(|r| r.client_id.clone())
            .or_else(|| d.get_ok::<String>("client_id").filter(|s| !s.is_empty()))
            .unwrap_or_else(random_client_id);
        let role = Role {
            key,
            template,
            ttl,
            client_id,
        };
        store(c.view, &path, &role).await?;
        Ok(Response::empty())
    }

    pub(super) async fn oidc_role_read(&self, c: &Ctx<'_>) -> LogicalResult {
        let role: Role = load(c.view, &format!("{ROLE_PREFIX}{}", c.path("name")))
            .await?
            .ok_or(LogicalError::NotFound)?;
        Ok(Response::json(json!({
            "client_id": role.client_id,
            "key": role.key,
            "template": role.template,
            "ttl": role.ttl,
        })))
    }

    pub(super) async fn oidc_role_delete(&self, c: &Ctx<'_>) -> LogicalResult {
        c.view
            .delete(&format!("{ROLE_PREFIX}{}", c.path("name")))
            .await?;
        Ok(Response::empty())
    }

    pub(super) async fn oidc_role_list(&self, c: &Ctx<'_>) -> LogicalResult {
        let keys = c.view.list(ROLE_PREFIX).await?;
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    /// `oidc/token/:name`: a signed identity token for the caller's entity.
    pub(super) async fn oidc_token(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("name");
        if c.req.entity_id.is_empty() {
            return Err(LogicalError::bad(
                "no entity associated with the request's token",
            ));
        }
        let role: Role = load(c.view, &format!("{ROLE_PREFIX}{name}"))
            .await?
            .ok_or_else(|| LogicalError::bad(format!("role {name:?} not found")))?;
        let key_path = format!("{KEY_PREFIX}{}", role.key);
        let mut key: NamedKey = load(c.view, &key_path)
            .await?
            .ok_or_else(|| LogicalError::bad(format!("key {:?} not found", role.key)))?;
        if !key
            .allowed_client_ids
            .iter()
            .any(|id| id == "*" || *id == role.client_id)
        {
            return Err(LogicalError::bad(format!(
                "the key {:?} does not list the client ID of the role {name:?} as an allowed client ID",
                role.key
            )));
        }
        let snap = self.store.snapshot(c.view).await?;
        let entity = snap
            .entity(&c.req.entity_id)
            .ok_or_else(|| LogicalError::bad("entity not found"))?;
        if entity.disabled {
            return Err(LogicalError::PermissionDeniedPolicy);
        }
        if now() >= key.next_rotation {
            key.rotate(key.verification_ttl)?;
            store(c.view, &key_path, &key).await?;
        }
        let cfg: OidcConfig = load(c.view, CONFIG_KEY).await?.unwrap_or_default();
        let iat = now();
        let mut claims = Map::new();
        let extra = template::render(&role.template, entity, &snap, &self.store.mounts())?;
        for (k, v) in extra {
            if !RESERVED.contains(&k.as_str()) {
                claims.insert(k, v);
            }
        }
        claims.insert("iss".into(), json!(issuer(self, c, &cfg)));
        claims.insert("sub".into(), json!(entity.id));
        claims.insert("aud".into(), json!(role.client_id));
        claims.insert("iat".into(), json!(iat));
        claims.insert("exp".into(), json!(iat + role.ttl as i64));
        claims.insert("namespace".into(), json!("root"));
        let token = key.signing.sign(&Value::Object(claims)).map_err(jose_err)?;
        Ok(Response::json(json!({
            "client_id": role.client_id,
            "token": token,
            "ttl": role.ttl,
        })))
    }

    pub(super) async fn oidc_introspect(&self, c: &Ctx<'_>) -> LogicalResult {
        let token = c.fields.str("token");
        if token.is_empty() {
            return Err(LogicalError::bad("missing token"));
        }
        let inactive = |why: &str| Ok(Response::json(json!({"active": false, "error": why})));
        let Ok(kid) = jose::token_kid(&token) else {
            return inactive("error parsing token");
        };
        let mut found = None;
        for name in c.view.list(KEY_PREFIX).await? {
            if let Some(k) = load::<NamedKey>(c.view, &format!("{KEY_PREFIX}{name}")).await? {
                if let Some(p) = k.live_keys().find(|p| p.kid == kid) {
                    found = Some(p.clone());
                    break;
                }
            }
        }
        let Some(public) = found else {
            return inactive("unable to find a key to verify the token");
        };
        let Ok(claims) = jose::verify(&token, &public) else {
            return inactive("error validating signature");
        };
        let cfg: OidcConfig = load(c.view, CONFIG_KEY).await?.unwrap_or_default();
        if claims["iss"].as_str() != Some(issuer(self, c, &cfg).as_str()) {
            return inactive("invalid issuer");
        }
        if claims["exp"].as_i64().unwrap_or(0) <= now() {
            return inactive("token is expired");
        }
        let client_id = c.fields.str("client_id");
        if !client_id.is_empty() && claims["aud"].as_str() != Some(client_id.as_str()) {
            return inactive("token audience does not match the client ID");
        }
        let snap = self.store.snapshot(c.view).await?;
        match claims["sub"].as_str().and_then(|s| snap.entity(s)) {
            Some(e) if !e.disabled => Ok(Response::json(json!({"active": true}))),
            Some(_) => inactive("entity is disabled"),
            None => inactive("entity was not found"),
        }
    }

    pub(super) async fn oidc_discovery(&self, c: &Ctx<'_>) -> LogicalResult {
        let cfg: OidcConfig = load(c.view, CONFIG_KEY).await?.unwrap_or_default();
        let iss = issuer(self, c, &cfg);
        Ok(Response::raw(json!({
            "issuer": iss,
            "jwks_uri": format!("{iss}/.well-known/keys"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": jose::ALGORITHMS,
        })))
    }

    pub(super) async fn oidc_jwks(&self, c: &Ctx<'_>) -> LogicalResult {
        let mut keys = Vec::new();
        for name in c.view.list(KEY_PREFIX).await? {
            if let Some(k) = load::<NamedKey>(c.view, &format!("{KEY_PREFIX}{name}")).await? {
                keys.extend(k.live_keys().map(|p| p.jwk.clone()));
            }
        }
        Ok(Response::raw(json!({ "keys": keys })))
    }
}

fn random_client_id() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..32)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}
