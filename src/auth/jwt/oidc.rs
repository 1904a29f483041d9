//! The OIDC authorization-code flow (what `bao login -method=oidc` drives):
//! `oidc/auth_url` makes a `state` and a `nonce`, keeps them server-side
//! for five minutes and answers the provider's authorization URL;
//! `oidc/callback` takes the state back once, exchanges
//! the code at the provider's token endpoint, verifies the ID token (the
//! discovery document's issuer and keys, audience = the client id, the
//! nonce) and grants a token with the same alias and claim rules as
//! `login`.
//!
//! Vault keeps pending states in memory; Strongroom keeps them in the
//! mount's storage (`oidc_state/<created>_<sha256 of the state>`, the state
//! itself never in a key), so that on HA the callback may reach any node:
//! both endpoints write, so a standby forwards them to the active node.
//! The callback deletes the state (conditioned on the bytes it read, so
//! only one of two concurrent callbacks wins) before anything else, and
//! expired states are swept by `auth_url`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::config::{load_config, JwtConfig};
use super::jose::now;
use super::login::grant;
use super::role::load_role;
use super::JwtAuth;
use crate::auth::common::is_condition_failed;
use crate::logical::framework::{Ctx, Field};
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};
use crate::storage::{BatchItem, Condition};

/// How long a state from `auth_url` stays usable.
const STATE_TTL: Duration = Duration::from_secs(300);

pub(super) const AUTH_URL_FIELDS: &[Field] = &[
    Field::string(
        "role",
        "The role to issue an OIDC authorization URL against.",
    ),
    Field::string(
        "redirect_uri",
        "The OAuth redirect_uri to use in the authorization URL.",
    ),
    Field::string(
        "client_nonce",
        "Optional client-provided nonce that must match during callback, if present.",
    ),
];

pub(super) const CALLBACK_FIELDS: &[Field] = &[
    Field::string("state", "The OAuth state."),
    Field::string("code", "The OAuth authorization code."),
    Field::string("id_token", "The ID token (form_post response mode)."),
    Field::string(
        "client_nonce",
        "The client nonce given to auth_url, if any.",
    ),
];

const STATE_PREFIX: &str = "oidc_state/";

/// One pending browser login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingState {
    role: String,
    redirect_uri: String,
    nonce: String,
    client_nonce: String,
}

fn random_id() -> String {
    let mut b = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    hex::encode(b)
}

/// The storage key of a state (`<created>_<random>`), or `None` when the
/// state is not one this mount made.
fn state_key(state: &str) -> Option<(String, i64)> {
    let (created, random) = state.split_once('_')?;
    let created: i64 = created.parse().ok()?;
    if random.len() != 40 || !random.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digest = hex::encode(Sha256::digest(state.as_bytes()));
    Some((format!("{STATE_PREFIX}{created}_{digest}"), created))
}

/// Deletes the states older than [`STATE_TTL`] (their creation time is in
/// the key, so nothing is read).
async fn sweep(view: &StorageView, now: i64) -> Result<(), LogicalError> {
    let cutoff = now - STATE_TTL.as_secs() as i64;
    for k in view.list(STATE_PREFIX).await? {
        let created = k.split('_').next().and_then(|c| c.parse::<i64>().ok());
        if created.is_none_or(|c| c < cutoff) {
            view.delete(&format!("{STATE_PREFIX}{k}")).await?;
        }
    }
    Ok(())
}

/// Stores a new pending login and answers its state.
async fn store_state(
    view: &StorageView,
    p: &PendingState,
    now: i64,
) -> Result<String, LogicalError> {
    let state = format!("{now}_{}", random_id());
    let (key, _) =
        state_key(&state).ok_or_else(|| LogicalError::Internal("malformed OIDC state".into()))?;
    let bytes = serde_json::to_vec(p)
        .map_err(|e| LogicalError::Internal(format!("encoding OIDC state: {e}")))?;
    view.put(&key, &bytes).await?;
    Ok(state)
}

/// Takes a state once: deleted with a condition on the bytes read, so of
/// two concurrent callbacks only one gets it.
async fn take_state(
    view: &StorageView,
    state: &str,
    now: i64,
) -> Result<Option<PendingState>, LogicalError> {
    let Some((key, created)) = state_key(state) else {
        return Ok(None);
    };
    let Some(v) = view.get_versioned(&key).await? else {
        return Ok(None);
    };
    match view
        .batch(vec![BatchItem::delete(key).when(Condition::Equals(v.raw))])
        .await
    {
        Ok(()) => {}
        Err(e) if is_condition_failed(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    if now - created > STATE_TTL.as_secs() as i64 {
        return Ok(None);
    }
    serde_json::from_slice(&v.plaintext)
        .map(Some)
        .map_err(|e| LogicalError::Internal(format!("corrupt OIDC state: {e}")))
}

fn oidc_configured(cfg: &JwtConfig) -> bool {
    !cfg.oidc_discovery_url.is_empty() && !cfg.oidc_client_id.is_empty()
}

impl JwtAuth {
    pub(super) async fn auth_url(&self, c: &Ctx<'_>) -> LogicalResult {
        let Some(cfg) = load_config(c.view).await? else {
            return Err(LogicalError::bad("could not load configuration"));
        };
        if !oidc_configured(&cfg) {
            return Err(LogicalError::bad(
                "OIDC login is not configured for this mount",
            ));
        }
        let (name, role) = self.login_role(c, &cfg).await?;
        if role.role_type != "oidc" {
            return Err(LogicalError::bad(format!(
                "role {name:?} is not an OIDC role"
            )));
        }
        let redirect_uri = c.fields.str("redirect_uri");
        if redirect_uri.is_empty() {
            return Err(LogicalError::bad("missing redirect_uri"));
        }
        let allowed = role.allowed_redirect_uris.clone().unwrap_or_default();
        if !allowed.iter().any(|u| u == &redirect_uri) {
            return Err(LogicalError::bad(format!(
                "unauthorized redirect_uri: {redirect_uri}"
            )));
        }
        let d = self
            .keys
            .discovery(
                &self.http,
                &cfg.oidc_discovery_url,
                &cfg.oidc_discovery_ca_pem,
                false,
            )
            .await
            .map_err(|e| {
                LogicalError::Unavailable(format!(
                    "error getting provider for login operation: {e}"
                ))
            })?;
        if d.authorization_endpoint.is_empty() {
            return Err(LogicalError::Unavailable(
                "the provider's discovery document has no authorization_endpoint".into(),
            ));
        }
        let nonce = random_id();
        let t = now();
        sweep(c.view, t).await?;
        let state = store_state(
            c.view,
            &PendingState {
                role: name,
                redirect_uri: redirect_uri.clone(),
                nonce: nonce.clone(),
                client_nonce: c.fields.str("client_nonce"),
            },
            t,
        )
        .await?;
        let mut scopes = vec!["openid".to_string()];
        for s in role.oidc_scopes.clone().unwrap_or_default() {
            if s != "openid" {
                scopes.push(s);
            }
        }
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("client_id", &cfg.oidc_client_id)
            .append_pair("nonce", &nonce)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair(
                "response_type",
                if cfg.oidc_response_types.iter().any(|t| t == "id_token") {
                    "id_token"
                } else {
                    "code"
                },
            )
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &state);
        if !cfg.oidc_response_mode.is_empty() {
            q.append_pair("response_mode", &cfg.oidc_response_mode);
        }
        if role.max_age > 0 {
            q.append_pair("max_age", &role.max_age.to_string());
        }
        let sep = if d.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{sep}{}", d.authorization_endpoint, q.finish());
        Ok(Response::json(json!({ "auth_url": url })))
    }

    pub(super) async fn callback(&self, c: &Ctx<'_>) -> LogicalResult {
        let Some(cfg) = load_config(c.view).await? else {
            return Err(LogicalError::bad("could not load configuration"));
        };
        if !oidc_configured(&cfg) {
            return Err(LogicalError::bad(
                "OIDC login is not configured for this mount",
            ));
        }
        let Some(pending) = take_state(c.view, &c.fields.str("state"), now()).await? else {
            return Err(LogicalError::bad("Expired or missing OAuth state."));
        };
        let client_nonce = c.fields.str("client_nonce");
        if !pending.client_nonce.is_empty()
            && !bool::from(subtle::ConstantTimeEq::ct_eq(
                pending.client_nonce.as_bytes(),
                client_nonce.as_bytes(),
            ))
        {
            return Err(LogicalError::bad("invalid client_nonce"));
        }
        let Some(role) = load_role(c.view, &pending.role).await? else {
            return Err(LogicalError::bad(format!(
                "role {:?} could not be found",
                pending.role
            )));
        };
        let d = self
            .keys
            .discovery(
                &self.http,
                &cfg.oidc_discovery_url,
                &cfg.oidc_discovery_ca_pem,
                false,
            )
            .await
            .map_err(|e| {
                LogicalError::Unavailable(format!(
                    "error getting provider for login operation: {e}"
                ))
            })?;
        let mut id_token = c.fields.str("id_token");
        let code = c.fields.str("code");
        if id_token.is_empty() {
            if code.is_empty() {
                return Err(LogicalError::bad("No code or id_token received."));
            }
            id_token = self
                .exchange_code(&cfg, &d.token_endpoint, &code, &pending.redirect_uri)
                .await?;
        }
        let claims = self
            .validate_token(
                &cfg,
                &role,
                &id_token,
                Some(&d.issuer),
                Some(&cfg.oidc_client_id),
            )
            .await
            .map_err(|e| LogicalError::bad(format!("error validating token: {e}")))?;
        let aud = super::jose::audiences(&claims).unwrap_or_default();
        if !aud.contains(&cfg.oidc_client_id) {
            return Err(LogicalError::bad(
                "error validating token: invalid audience (aud) claim: audience claim does not match any expected audience",
            ));
        }
        let nonce = claims
            .get("nonce")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            nonce.as_bytes(),
            pending.nonce.as_bytes(),
        )) {
            return Err(LogicalError::bad("invalid ID token nonce."));
        }
        let auth = grant(&pending.role, &role, &claims).map_err(LogicalError::bad)?;
        Ok(Response {
            auth: Some(auth),
            ..Default::default()
        })
    }

    /// The authorization code for an ID token, at the token endpoint
    /// (client credentials in the form, as `client_secret_post`).
    async fn exchange_code(
        &self,
        cfg: &JwtConfig,
        token_endpoint: &str,
        code: &str,
        redirect_uri: &str,
    ) -> Result<String, LogicalError> {
        if token_endpoint.is_empty() {
            return Err(LogicalError::Unavailable(
                "the provider's discovery document has no token_endpoint".into(),
            ));
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("client_id", &cfg.oidc_client_id)
            .append_pair("client_secret", &cfg.oidc_client_secret)
            .finish();
        let answer = self
            .http
            .send(
                &cfg.oidc_discovery_ca_pem,
                http::Method::POST,
                token_endpoint,
                &[
                    ("content-type", "application/x-www-form-urlencoded".into()),
                    ("accept", "application/json".into()),
                ],
                Some(body.into_bytes()),
            )
            .await
            .and_then(|a| a.json())
            .map_err(|e| LogicalError::bad(format!("Error exchanging oidc code: {e}")))?;
        answer
            .get("id_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| LogicalError::bad("No id_token found in response."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support::setup;

    fn pending() -> PendingState {
        PendingState {
            role: "r".into(),
            redirect_uri: "u".into(),
            nonce: "n".into(),
            client_nonce: String::new(),
        }
    }

    #[tokio::test]
    async fn a_state_is_taken_once_and_expires() {
        let (_s, view) = setup().await;
        let t = 1_000_000;
        let st = store_state(&view, &pending(), t).await.unwrap();
        assert!(take_state(&view, &st, t + 1).await.unwrap().is_some());
        assert!(take_state(&view, &st, t + 1).await.unwrap().is_none());
        assert!(take_state(&view, "made-up", t).await.unwrap().is_none());
        let old = store_state(&view, &pending(), t).await.unwrap();
        assert!(take_state(&view, &old, t + 301).await.unwrap().is_none());
        // Sweeping removes expired states without reading them.
        let a = store_state(&view, &pending(), t).await.unwrap();
        let b = store_state(&view, &pending(), t + 400).await.unwrap();
        sweep(&view, t + 401).await.unwrap();
        assert_eq!(view.list(STATE_PREFIX).await.unwrap().len(), 1);
        assert!(take_state(&view, &a, t + 401).await.unwrap().is_none());
        assert!(take_state(&view, &b, t + 401).await.unwrap().is_some());
    }

    #[test]
    fn the_state_never_appears_in_its_key() {
        let st = format!("5_{}", "ab".repeat(20));
        let (key, created) = state_key(&st).unwrap();
        assert_eq!(created, 5);
        assert!(!key.contains(&"ab".repeat(20)));
        assert!(state_key("5_short").is_none());
    }
}
