//! `config`: where keys come from (exactly one of static PEM keys, a JWKS
//! URL, an OIDC discovery URL), the issuer every token must name, the
//! default role, the allowed algorithms, and the OIDC client for the
//! browser flow. A write replaces the whole configuration, as in Vault, and
//! checks a JWKS or discovery URL by fetching it.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::jose::{parse_pem_key, ALLOWED_ALGS};
use super::JwtAuth;
use crate::logical::framework::{no_content, Ctx, DefaultValue, Field};
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};

pub(super) const CONFIG_KEY: &str = "config";

pub(super) const CONFIG_FIELDS: &[Field] = &[
    Field::string("oidc_discovery_url", "OIDC Discovery URL, without any .well-known component (base path)."),
    Field::string("oidc_discovery_ca_pem", "The CA certificate or chain of certificates, in PEM format, to use to validate connections to the OIDC Discovery URL."),
    Field::string("oidc_client_id", "The OAuth Client ID configured with your OIDC provider."),
    Field::string("oidc_client_secret", "The OAuth Client Secret configured with your OIDC provider."),
    Field::string("oidc_response_mode", "The response mode to be used in the OAuth2 request: query or form_post."),
    Field::comma_strings("oidc_response_types", "The response types to request: code (default) or id_token."),
    Field::string("jwks_url", "JWKS URL to use to authenticate signatures. Cannot be used with \"oidc_discovery_url\" or \"jwt_validation_pubkeys\"."),
    Field::string("jwks_ca_pem", "The CA certificate or chain of certificates, in PEM format, to use to validate connections to the JWKS URL."),
    Field::raw("jwks_pairs", "Set of JWKS URL and optional CA certificate pairs (not supported)."),
    Field::comma_strings("jwt_validation_pubkeys", "A list of PEM-encoded public keys to use to authenticate signatures locally."),
    Field::comma_strings("jwt_supported_algs", "A list of supported signing algorithms. Defaults to RS256."),
    Field::string("bound_issuer", "The value against which to match the 'iss' claim in a JWT. Optional."),
    Field::string("default_role", "The default role to use if none is provided during login. If not set, a role is required during login."),
    Field::map("provider_config", "Provider-specific configuration (not supported)."),
    Field::bool("namespace_in_state", "Pass namespace in the OIDC state parameter instead of as a separate query parameter.").default(DefaultValue::Bool(true)),
    Field::comma_strings("override_allowed_server_names", "A list of hostnames to accept when performing TLS validation."),
];

/// The stored configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct JwtConfig {
    #[serde(default)]
    pub(crate) oidc_discovery_url: String,
    #[serde(default)]
    pub(crate) oidc_discovery_ca_pem: String,
    #[serde(default)]
    pub(crate) oidc_client_id: String,
    #[serde(default)]
    pub(crate) oidc_client_secret: String,
    #[serde(default)]
    pub(crate) oidc_response_mode: String,
    #[serde(default)]
    pub(crate) oidc_response_types: Vec<String>,
    #[serde(default)]
    pub(crate) jwks_url: String,
    #[serde(default)]
    pub(crate) jwks_ca_pem: String,
    #[serde(default)]
    pub(crate) jwt_validation_pubkeys: Vec<String>,
    #[serde(default)]
    pub(crate) jwt_supported_algs: Vec<String>,
    #[serde(default)]
    pub(crate) bound_issuer: String,
    #[serde(default)]
    pub(crate) default_role: String,
    #[serde(default)]
    pub(crate) namespace_in_state: bool,
    #[serde(default)]
    pub(crate) override_allowed_server_names: Vec<String>,
}

pub(super) async fn load_config(view: &StorageView) -> Result<Option<JwtConfig>, LogicalError> {
    match view.get(CONFIG_KEY).await? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| LogicalError::Internal(format!("corrupt jwt config: {e}"))),
    }
}

impl JwtAuth {
    pub(super) async fn read_config(&self, c: &Ctx<'_>) -> LogicalResult {
        let Some(cfg) = load_config(c.view).await? else {
            return Err(LogicalError::NotFound);
        };
        let pubkeys: Vec<String> = cfg
            .jwt_validation_pubkeys
            .iter()
            .map(|k| k.trim().to_string())
            .collect();
        let mut data = Map::new();
        data.insert("bound_issuer".into(), json!(cfg.bound_issuer));
        data.insert("default_role".into(), json!(cfg.default_role));
        data.insert("jwks_ca_pem".into(), json!(cfg.jwks_ca_pem));
        data.insert("jwks_url".into(), json!(cfg.jwks_url));
        data.insert("jwt_supported_algs".into(), json!(cfg.jwt_supported_algs));
        data.insert("jwt_validation_pubkeys".into(), json!(pubkeys));
        data.insert("namespace_in_state".into(), json!(cfg.namespace_in_state));
        data.insert("oidc_client_id".into(), json!(cfg.oidc_client_id));
        data.insert(
            "oidc_discovery_ca_pem".into(),
            json!(cfg.oidc_discovery_ca_pem),
        );
        data.insert("oidc_discovery_url".into(), json!(cfg.oidc_discovery_url));
        data.insert("oidc_response_mode".into(), json!(cfg.oidc_response_mode));
        data.insert("oidc_response_types".into(), json!(cfg.oidc_response_types));
        data.insert(
            "override_allowed_server_names".into(),
            json!(cfg.override_allowed_server_names),
        );
        data.insert("provider_config".into(), json!({}));
        data.insert("status".into(), json!("valid"));
        Ok(Response::data(data))
    }

    pub(super) async fn write_config(&self, c: &Ctx<'_>) -> LogicalResult {
        let d = &c.fields;
        let cfg = JwtConfig {
            oidc_discovery_url: d.str("oidc_discovery_url").trim().to_string(),
            oidc_discovery_ca_pem: d.str("oidc_discovery_ca_pem"),
            oidc_client_id: d.str("oidc_client_id"),
            oidc_client_secret: d.str("oidc_client_secret"),
            oidc_response_mode: d.str("oidc_response_mode"),
            oidc_response_types: d.list("oidc_response_types"),
            jwks_url: d.str("jwks_url").trim().to_string(),
            jwks_ca_pem: d.str("jwks_ca_pem"),
            jwt_validation_pubkeys: d.list("jwt_validation_pubkeys"),
            jwt_supported_algs: d.list("jwt_supported_algs"),
            bound_issuer: d.str("bound_issuer"),
            default_role: d.str("default_role").to_lowercase(),
            namespace_in_state: d.flag("namespace_in_state"),
            override_allowed_server_names: d.list("override_allowed_server_names"),
        };
        let jwks_pairs_set = match d.get_ok::<Value>("jwks_pairs") {
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Null) | None => false,
            Some(_) => true,
        };
        let provider_set = d
            .get_ok::<Map<String, Value>>("provider_config")
            .is_some_and(|m| !m.is_empty());
        let methods = [
            !cfg.jwt_validation_pubkeys.is_empty(),
            !cfg.jwks_url.is_empty(),
            jwks_pairs_set,
            !cfg.oidc_discovery_url.is_empty(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if methods != 1 {
            return Err(LogicalError::bad(
                "exactly one of 'jwt_validation_pubkeys', 'jwks_url', 'jwks_pairs', 'oidc_discovery_url', or 'provider_config' must be set",
            ));
        }
        if jwks_pairs_set {
            return Err(LogicalError::bad(
                "'jwks_pairs' is not supported: set 'jwks_url' (and 'jwks_ca_pem')",
            ));
        }
        if provider_set {
            return Err(LogicalError::bad(
                "'provider_config' is not supported: custom providers are not implemented",
            ));
        }
        if cfg.oidc_client_id.is_empty() != cfg.oidc_client_secret.is_empty() {
            return Err(LogicalError::bad(
                "both 'oidc_client_id' and 'oidc_client_secret' must be set for OIDC",
            ));
        }
        if !cfg.oidc_client_id.is_empty() && cfg.oidc_discovery_url.is_empty() {
            return Err(LogicalError::bad(
                "'oidc_discovery_url' must be set for OIDC",
            ));
        }
        if !cfg.oidc_discovery_url.is_empty() {
            self.keys
                .discovery(
                    &self.http,
                    &cfg.oidc_discovery_url,
                    &cfg.oidc_discovery_ca_pem,
                    true,
                )
                .await
                .map_err(|e| {
                    LogicalError::bad(format!("error checking oidc discovery URL: {e}"))
                })?;
        } else if !cfg.jwks_url.is_empty() {
            if !cfg.jwks_ca_pem.trim().is_empty() {
                super::fetch::parse_ca_pem(&cfg.jwks_ca_pem)
                    .map_err(|e| LogicalError::bad(format!("error checking jwks_ca_pem: {e}")))?;
            }
            self.keys
                .jwks(&self.http, &cfg.jwks_url, &cfg.jwks_ca_pem, true)
                .await
                .map_err(|e| LogicalError::bad(format!("error checking jwks URL: {e}")))?;
        } else {
            for k in &cfg.jwt_validation_pubkeys {
                parse_pem_key(k)
                    .map_err(|e| LogicalError::bad(format!("error parsing public key: {e}")))?;
            }
        }
        for a in &cfg.jwt_supported_algs {
            if !ALLOWED_ALGS.contains(&a.as_str()) {
                return Err(LogicalError::bad(format!(
                    "Invalid supported algorithm: {a}"
                )));
            }
        }
        for t in &cfg.oidc_response_types {
            if t != "code" && t != "id_token" {
                return Err(LogicalError::bad(format!(
                    "invalid response_types {:?}. 'code' and 'id_token' are allowed",
                    cfg.oidc_response_types
                )));
            }
        }
        match cfg.oidc_response_mode.as_str() {
            "" | "query" => {
                if cfg.oidc_response_types.iter().any(|t| t == "id_token") {
                    return Err(LogicalError::bad(
                        "query response_mode may not be used with an id_token response_type",
                    ));
                }
            }
            "form_post" => {}
            other => {
                return Err(LogicalError::bad(format!(
                    "invalid response_mode: {other:?}"
                )))
            }
        }
        let bytes = serde_json::to_vec(&cfg)
            .map_err(|e| LogicalError::Internal(format!("encoding jwt config: {e}")))?;
        c.view.put(CONFIG_KEY, &bytes).await?;
        no_content()
    }
}
