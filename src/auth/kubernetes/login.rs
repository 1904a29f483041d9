//! `login` with a service-account JWT. The claims are read from the token
//! (legacy secret tokens and projected tokens alike), checked against the
//! role (name and namespace globs, audience, issuer when configured), then
//! the token itself is proven: locally against `pem_keys` when the config
//! has them, otherwise by the API server's TokenReview, whose answer must
//! name the same service account. Refusals are Vault's: 403 with
//! `service account name not authorized` / `namespace not authorized` /
//! the claim error, and a bare `permission denied` when the signature or
//! the review fails.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::config::{load_config, KubeConfig, LOCAL_CA_PATH, LOCAL_JWT_PATH};
use super::review::review;
use super::role::{load_role, KubeRole, SOURCE_NAME};
use super::KubernetesAuth;
use crate::auth::common::addr_allowed;
use crate::auth::jwt::claims::list_contains_glob;
use crate::auth::jwt::jose::{check_claims, now, parse, parse_pem_key, Expected, JoseError};
use crate::logical::auth::Alias;
use crate::logical::framework::{Ctx, Field};
use crate::logical::{Auth, LogicalError, LogicalResult, Response};

pub(super) const LOGIN_FIELDS: &[Field] = &[
    Field::string(
        "role",
        "Name of the role against which the login is being attempted.",
    ),
    Field::string("jwt", "A signed JWT for authenticating a service account."),
];

/// The algorithms service-account tokens are signed with.
const K8S_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512",
];

/// The service account a token names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServiceAccount {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) uid: String,
    pub(crate) secret_name: String,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

/// Reads the service account from legacy (`kubernetes.io/serviceaccount/*`)
/// or projected (`kubernetes.io: {namespace, serviceaccount}`) claims,
/// preferring the projected ones, as Vault does.
pub(crate) fn service_account(claims: &Map<String, Value>) -> ServiceAccount {
    let root = Value::Object(claims.clone());
    let legacy = |k: &str| {
        claims
            .get(&format!("kubernetes.io/serviceaccount/{k}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let projected = root.get("kubernetes.io");
    let (name, uid) = match projected.and_then(|p| p.get("serviceaccount")) {
        Some(sa) => (
            str_at(sa, &["name"]).unwrap_or_default().to_string(),
            str_at(sa, &["uid"]).unwrap_or_default().to_string(),
        ),
        None => (
            legacy("service-account.name"),
            legacy("service-account.uid"),
        ),
    };
    let namespace = match projected {
        Some(p) => str_at(p, &["namespace"]).unwrap_or_default().to_string(),
        None => legacy("namespace"),
    };
    ServiceAccount {
        name,
        namespace,
        uid,
        secret_name: legacy("secret.name"),
    }
}

/// The role's name and namespace bindings.
pub(crate) fn check_bindings(role: &KubeRole, sa: &ServiceAccount) -> Result<(), LogicalError> {
    let names = &role.bound_service_account_names;
    let any_name = names.len() == 1 && names[0] == "*";
    if !any_name && !list_contains_glob(names, &sa.name) {
        return Err(LogicalError::Forbidden(
            "service account name not authorized".into(),
        ));
    }
    let nss = &role.bound_service_account_namespaces;
    let ns_ok = !nss.is_empty() && (nss[0] == "*" || list_contains_glob(nss, &sa.namespace));
    if !ns_ok {
        return Err(LogicalError::Forbidden("namespace not authorized".into()));
    }
    Ok(())
}

/// The identity alias name per `alias_name_source`.
pub(crate) fn alias_name(role: &KubeRole, sa: &ServiceAccount) -> Result<String, LogicalError> {
    if role.alias_name_source == SOURCE_NAME {
        if sa.namespace.is_empty() || sa.name.is_empty() {
            return Err(LogicalError::bad(
                "service account namespace and name must be set",
            ));
        }
        return Ok(format!("{}/{}", sa.namespace, sa.name));
    }
    if sa.uid.is_empty() {
        return Err(LogicalError::bad("could not parse UID from claims"));
    }
    Ok(sa.uid.clone())
}

/// The grant for an accepted service account.
pub(crate) fn grant(
    role_name: &str,
    role: &KubeRole,
    sa: &ServiceAccount,
) -> Result<Auth, LogicalError> {
    let name = alias_name(role, sa)?;
    let metadata = BTreeMap::from([
        ("service_account_uid".to_string(), sa.uid.clone()),
        ("service_account_name".to_string(), sa.name.clone()),
        (
            "service_account_namespace".to_string(),
            sa.namespace.clone(),
        ),
        (
            "service_account_secret_name".to_string(),
            sa.secret_name.clone(),
        ),
    ]);
    let mut auth = role.token.auth();
    auth.display_name = format!("{}-{}", sa.namespace, sa.name);
    auth.metadata = metadata.clone();
    auth.metadata.insert("role".into(), role_name.to_string());
    auth.alias = Some(Alias { name, metadata });
    Ok(auth)
}

fn local_file(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .filter(|s| !s.trim().is_empty())
}

impl KubernetesAuth {
    /// Parses the token and checks its claims and bindings; with
    /// `pem_keys`, also its signature.
    fn validate(
        &self,
        cfg: &KubeConfig,
        role: &KubeRole,
        jwt: &str,
    ) -> Result<ServiceAccount, LogicalError> {
        let token = parse(jwt).map_err(|e| LogicalError::Forbidden(e.to_string()))?;
        if !cfg.pem_keys.is_empty() {
            let keys: Vec<_> = cfg
                .pem_keys
                .iter()
                .filter_map(|p| parse_pem_key(p).ok())
                .collect();
            if let Err(e) = token.verify(&keys) {
                tracing::debug!(error = %e, "kubernetes login unauthorized");
                return Err(LogicalError::PermissionDenied);
            }
        }
        let algs: Vec<String> = K8S_ALGS.iter().map(|s| s.to_string()).collect();
        token
            .check_alg(&algs)
            .map_err(|e| LogicalError::Forbidden(e.to_string()))?;
        let mut expected = Expected {
            allow_missing_times: true,
            ..Default::default()
        };
        if !cfg.disable_iss_validation && !cfg.issuer.is_empty() {
            expected.issuer = cfg.issuer.clone();
        }
        if !role.audience.trim().is_empty() {
            expected.audiences = vec![role.audience.clone()];
        }
        check_claims(&token.claims, &expected, now())
            .map_err(|e: JoseError| LogicalError::Forbidden(e.to_string()))?;
        let sa = service_account(&token.claims);
        check_bindings(role, &sa)?;
        Ok(sa)
    }

    pub(super) async fn login(&self, c: &Ctx<'_>) -> LogicalResult {
        let role_name = c.fields.str("role").to_lowercase();
        if role_name.is_empty() {
            return Err(LogicalError::bad("missing role"));
        }
        let jwt = c.fields.str("jwt");
        if jwt.is_empty() {
            return Err(LogicalError::bad("missing jwt"));
        }
        let Some(role) = load_role(c.view, &role_name).await? else {
            return Err(LogicalError::bad(format!(
                "invalid role name {role_name:?}"
            )));
        };
        if !role.token.token_bound_cidrs.is_empty()
            && !addr_allowed(&role.token.token_bound_cidrs, c.req.remote_addr)
        {
            return Err(LogicalError::PermissionDenied);
        }
        let Some(cfg) = load_config(c.view).await? else {
            return Err(LogicalError::Internal(
                "could not load backend configuration".into(),
            ));
        };
        let sa = self.validate(&cfg, &role, &jwt)?;
        // Checked before the review, as Vault does: a role that cannot name
        // the alias refuses without calling the API server.
        alias_name(&role, &sa)?;
        if cfg.pem_keys.is_empty() {
            let local = !cfg.disable_local_ca_jwt;
            let bearer = if !cfg.token_reviewer_jwt.is_empty() {
                cfg.token_reviewer_jwt.clone()
            } else if let Some(t) = local.then(|| local_file(LOCAL_JWT_PATH)).flatten() {
                t.trim().to_string()
            } else {
                jwt.clone()
            };
            let ca = if !cfg.kubernetes_ca_cert.trim().is_empty() {
                cfg.kubernetes_ca_cert.clone()
            } else {
                local
                    .then(|| local_file(LOCAL_CA_PATH))
                    .flatten()
                    .unwrap_or_default()
            };
            let token_aud = crate::auth::jwt::jose::audiences(
                &parse(&jwt).map(|t| t.claims).unwrap_or_default(),
            )
            .unwrap_or_default();
            let audiences = if role.audience.is_empty() {
                token_aud
            } else {
                vec![role.audience.clone()]
            };
            let reviewed = review(
                &self.http,
                &cfg.kubernetes_host,
                &ca,
                &bearer,
                &jwt,
                &audiences,
            )
            .await
            .and_then(|r| {
                if r.name != sa.name {
                    Err("JWT names did not match".to_string())
                } else if r.uid != sa.uid {
                    Err("JWT UIDs did not match".to_string())
                } else if r.namespace != sa.namespace {
                    Err("JWT namespaces did not match".to_string())
                } else {
                    Ok(r)
                }
            });
            if let Err(e) = reviewed {
                tracing::warn!(error = %e, "kubernetes login refused by the TokenReview");
                return Err(LogicalError::PermissionDenied);
            }
        }
        let auth = grant(&role_name, &role, &sa)?;
        Ok(Response {
            auth: Some(auth),
            ..Default::default()
        })
    }
}
