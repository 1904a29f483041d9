//! `config`: the Kubernetes API server (`kubernetes_host`, its CA), the
//! JWT Strongroom presents to the TokenReview API, the optional `pem_keys`
//! for local signature checks, and the issuer check. A write replaces the
//! whole configuration, as in Vault; the reviewer JWT is stored but never
//! returned (`token_reviewer_jwt_set` says whether there is one).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map};

use super::KubernetesAuth;
use crate::auth::jwt::jose::parse_pem_key;
use crate::logical::framework::{no_content, Ctx, DefaultValue, Field};
use crate::logical::{LogicalError, LogicalResult, Response, StorageView};

const CONFIG_KEY: &str = "config";

/// Where a pod finds its own service-account token and cluster CA.
pub(super) const LOCAL_JWT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
pub(super) const LOCAL_CA_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

pub(super) const CONFIG_FIELDS: &[Field] = &[
    Field::string("kubernetes_host", "Host must be a host string, a host:port pair, or a URL to the base of the Kubernetes API server."),
    Field::string("kubernetes_ca_cert", "PEM encoded CA cert for use by the TLS client used to talk with the API."),
    Field::string("token_reviewer_jwt", "A service account JWT (or other token) used as a bearer token to access the TokenReview API to validate other JWTs during login. If not set the JWT used for login will be used to access the API."),
    Field::comma_strings("pem_keys", "Optional list of PEM-formated public keys or certificates used to verify the signatures of kubernetes service account JWTs."),
    Field::string("issuer", "Optional JWT issuer. If no issuer is specified, then this plugin will use kubernetes/serviceaccount as the default issuer."),
    Field::bool("disable_iss_validation", "Disable JWT issuer validation.").default(DefaultValue::Bool(true)),
    Field::bool("disable_local_ca_jwt", "Disable defaulting to the local CA cert and service account JWT when running in a Kubernetes pod.").default(DefaultValue::Bool(false)),
    Field::bool("use_annotations_as_alias_metadata", "Use annotations from the client token's associated service account as alias metadata (not supported)."),
];

/// The stored configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct KubeConfig {
    pub(crate) kubernetes_host: String,
    #[serde(default)]
    pub(crate) kubernetes_ca_cert: String,
    #[serde(default)]
    pub(crate) token_reviewer_jwt: String,
    #[serde(default)]
    pub(crate) pem_keys: Vec<String>,
    #[serde(default)]
    pub(crate) issuer: String,
    #[serde(default)]
    pub(crate) disable_iss_validation: bool,
    #[serde(default)]
    pub(crate) disable_local_ca_jwt: bool,
}

pub(super) async fn load_config(view: &StorageView) -> Result<Option<KubeConfig>, LogicalError> {
    match view.get(CONFIG_KEY).await? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| LogicalError::Internal(format!("corrupt kubernetes config: {e}"))),
    }
}

impl KubernetesAuth {
    pub(super) async fn read_config(&self, c: &Ctx<'_>) -> LogicalResult {
        let Some(cfg) = load_config(c.view).await? else {
            return Err(LogicalError::NotFound);
        };
        let mut data = Map::new();
        data.insert(
            "disable_iss_validation".into(),
            json!(cfg.disable_iss_validation),
        );
        data.insert(
            "disable_local_ca_jwt".into(),
            json!(cfg.disable_local_ca_jwt),
        );
        data.insert("issuer".into(), json!(cfg.issuer));
        data.insert("kubernetes_ca_cert".into(), json!(cfg.kubernetes_ca_cert));
        data.insert("kubernetes_host".into(), json!(cfg.kubernetes_host));
        data.insert("pem_keys".into(), json!(cfg.pem_keys));
        data.insert(
            "token_reviewer_jwt_set".into(),
            json!(!cfg.token_reviewer_jwt.is_empty()),
        );
        Ok(Response::data(data))
    }

    pub(super) async fn write_config(&self, c: &Ctx<'_>) -> LogicalResult {
        let d = &c.fields;
        let host = d
            .str("kubernetes_host")
            .trim()
            .trim_end_matches('/')
            .to_string();
        if host.is_empty() {
            return Err(LogicalError::bad("no host provided"));
        }
        if d.flag("use_annotations_as_alias_metadata") {
            return Err(LogicalError::bad(
                "use_annotations_as_alias_metadata is not supported",
            ));
        }
        let pem_keys = d.list("pem_keys");
        for k in &pem_keys {
            parse_pem_key(k)
                .map_err(|e| LogicalError::bad(format!("error parsing pem_keys: {e}")))?;
        }
        let cfg = KubeConfig {
            kubernetes_host: host,
            kubernetes_ca_cert: d.str("kubernetes_ca_cert"),
            token_reviewer_jwt: d.str("token_reviewer_jwt"),
            pem_keys,
            issuer: d.str("issuer"),
            disable_iss_validation: d.flag("disable_iss_validation"),
            disable_local_ca_jwt: d.flag("disable_local_ca_jwt"),
        };
        let bytes = serde_json::to_vec(&cfg)
            .map_err(|e| LogicalError::Internal(format!("encoding kubernetes config: {e}")))?;
        c.view.put(CONFIG_KEY, &bytes).await?;
        no_content()
    }
}
