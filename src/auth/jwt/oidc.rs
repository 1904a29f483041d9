//! The OIDC authorization-code flow (what `bao login -method=oidc` drives):
//! `oidc/auth_url` makes a `state` and a `nonce`, keeps them server-side
//! (in memory, for five minutes, as Vault does) and answers the provider's
//! authorization URL; `oidc/callback` takes the state back once, exchanges
//! the code at the provider's token endpoint, verifies the ID token (the
//! discovery document's issuer and keys, audience = the client id, the
//! nonce) and grants a token with the same alias and claim rules as
//! `login`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::config::{load_config, JwtConfig};
use super::login::grant;
use super::role::load_role;
use super::JwtAuth;
use crate::logical::framework::{Ctx, Field};
use crate::logical::{LogicalError, LogicalResult, Response};

/// How long a state from `auth_url` stays usable.
const STATE_TTL: Duration = Duration::from_secs(300);
/// States kept at most (old ones are dropped first when full).
const MAX_STATES: usize = 10_000;

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

/// One pending browser login.
#[derive(Debug, Clone)]
pub(crate) struct PendingState {
    role: String,
    redirect_uri: String,
    nonce: String,
    client_nonce: String,
    created: Instant,
}

/// The pending logins of one mount.
#[derive(Default)]
pub(crate) struct States {
    map: std::sync::Mutex<HashMap<String, PendingState>>,
}

impl States {
    fn insert(&self, state: String, p: PendingState) {
        if let Ok(mut m) = self.map.lock() {
            m.retain(|_, v| v.created.elapsed() < STATE_TTL);
            if m.len() >= MAX_STATES {
                if let Some(oldest) = m
                    .iter()
                    .min_by_key(|(_, v)| v.created)
                    .map(|(k, _)| k.clone())
                {
                    m.remove(&oldest);
                }
            }
            m.insert(state, p);
        }
    }

    /// Takes a state (once).
    fn take(&self, state: &str) -> Option<PendingState> {
        let mut m = self.map.lock().ok()?;
        m.remove(state).filter(|p| p.created.elapsed() < STATE_TTL)
    }
}

fn random_id() -> String {
    let mut b = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    hex::encode(b)
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
        let state = random_id();
        let nonce = random_id();
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
        self.states.insert(
            state,
            PendingState {
                role: name,
                redirect_uri,
                nonce,
                client_nonce: c.fields.str("client_nonce"),
                created: Instant::now(),
            },
        );
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
        let Some(pending) = self.states.take(&c.fields.str("state")) else {
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

    #[test]
    fn a_state_is_taken_once() {
        let s = States::default();
        s.insert(
            "st".into(),
            PendingState {
                role: "r".into(),
                redirect_uri: "u".into(),
                nonce: "n".into(),
                client_nonce: String::new(),
                created: Instant::now(),
            },
        );
        assert!(s.take("st").is_some());
        assert!(s.take("st").is_none());
        assert!(s.take("other").is_none());
    }
}
