//! `login` with a signed JWT: the role (or `default_role`), the token's
//! signature against the configured key source, cap's claim checks with
//! the role's leeways, `bound_claims`, then the grant: the `user_claim` as
//! the identity alias name, `claim_mappings` as alias and token metadata,
//! the `groups_claim` values as group aliases. Error texts are Vault's.

use serde_json::{Map, Value};

use super::claims::{extract_metadata, get_claim, groups, validate_bound_claims};
use super::config::{load_config, JwtConfig};
use super::jose::{check_claims, now, parse, parse_pem_key, Expected, JoseError};
use super::role::{load_role, JwtRole};
use super::JwtAuth;
use crate::auth::common::addr_allowed;
use crate::logical::auth::Alias;
use crate::logical::framework::{Ctx, Field};
use crate::logical::{Auth, LogicalError, LogicalResult, Response};

pub(super) const LOGIN_FIELDS: &[Field] = &[
    Field::string("role", "The role to log in against."),
    Field::string("jwt", "The signed JWT to validate."),
    Field::string(
        "distributed_claim_access_token",
        "An optional token used to fetch group memberships (not supported).",
    ),
];

impl JwtAuth {
    /// Verifies the signature with the configured key source and checks
    /// the registered claims; `extra_audience` is the OIDC client id the
    /// browser flow's ID tokens must be issued to.
    pub(super) async fn validate_token(
        &self,
        cfg: &JwtConfig,
        role: &JwtRole,
        jwt: &str,
        issuer_override: Option<&str>,
        extra_audience: Option<&str>,
    ) -> Result<Map<String, Value>, JoseError> {
        let token = parse(jwt)?;
        if !cfg.jwt_validation_pubkeys.is_empty() {
            let keys: Vec<_> = cfg
                .jwt_validation_pubkeys
                .iter()
                .filter_map(|p| parse_pem_key(p).ok())
                .collect();
            token.verify(&keys)?;
        } else if !cfg.jwks_url.is_empty() {
            self.keys
                .verify_remote(&self.http, &cfg.jwks_url, &cfg.jwks_ca_pem, &token)
                .await?;
        } else if !cfg.oidc_discovery_url.is_empty() {
            let d = self
                .keys
                .discovery(
                    &self.http,
                    &cfg.oidc_discovery_url,
                    &cfg.oidc_discovery_ca_pem,
                    false,
                )
                .await
                .map_err(JoseError::KeySource)?;
            self.keys
                .verify_remote(&self.http, &d.jwks_uri, &cfg.oidc_discovery_ca_pem, &token)
                .await?;
        } else {
            return Err(JoseError::KeySource("no key source is configured".into()));
        }
        token.check_alg(&cfg.jwt_supported_algs)?;
        let mut audiences = role.bound_audiences.clone();
        if let Some(a) = extra_audience {
            if audiences.is_empty() {
                audiences.push(a.to_string());
            }
        }
        let expected = Expected {
            issuer: issuer_override.unwrap_or(&cfg.bound_issuer).to_string(),
            subject: role.bound_subject.clone(),
            audiences,
            not_before_leeway: role.not_before_leeway,
            expiration_leeway: role.expiration_leeway,
            clock_skew_leeway: role.clock_skew_leeway,
            allow_missing_times: false,
        };
        check_claims(&token.claims, &expected, now())?;
        Ok(token.claims)
    }

    /// The role a login names, or the configured default.
    pub(super) async fn login_role(
        &self,
        c: &Ctx<'_>,
        cfg: &JwtConfig,
    ) -> Result<(String, JwtRole), LogicalError> {
        let mut name = c.fields.str("role").to_lowercase();
        if name.is_empty() {
            name = cfg.default_role.clone();
        }
        if name.is_empty() {
            return Err(LogicalError::bad("missing role"));
        }
        match load_role(c.view, &name).await? {
            Some(r) => Ok((name, r)),
            None => Err(LogicalError::bad(format!(
                "role {name:?} could not be found"
            ))),
        }
    }

    pub(super) async fn login(&self, c: &Ctx<'_>) -> LogicalResult {
        let Some(cfg) = load_config(c.view).await? else {
            return Err(LogicalError::bad("could not load configuration"));
        };
        let (name, role) = self.login_role(c, &cfg).await?;
        if role.role_type == "oidc" {
            return Err(LogicalError::bad("role with oidc role_type is not allowed"));
        }
        let jwt = c.fields.str("jwt");
        if jwt.is_empty() {
            return Err(LogicalError::bad("missing token"));
        }
        if !role.token.token_bound_cidrs.is_empty()
            && !addr_allowed(&role.token.token_bound_cidrs, c.req.remote_addr)
        {
            return Err(LogicalError::PermissionDenied);
        }
        let claims = self
            .validate_token(&cfg, &role, &jwt, None, None)
            .await
            .map_err(|e| LogicalError::bad(format!("error validating token: {e}")))?;
        if role.bound_audiences.is_empty() {
            let aud = super::jose::audiences(&claims).unwrap_or_default();
            if aud.iter().any(|a| !a.is_empty()) {
                return Err(LogicalError::bad(
                    "audience claim found in JWT but no audiences bound to the role",
                ));
            }
        }
        let auth = grant(&name, &role, &claims).map_err(LogicalError::bad)?;
        Ok(Response {
            auth: Some(auth),
            ..Default::default()
        })
    }
}

/// The grant for verified `claims` (Vault's `createIdentity`, then the
/// bound-claim check, then the token fields).
pub(super) fn grant(
    role_name: &str,
    role: &JwtRole,
    claims: &Map<String, Value>,
) -> Result<Auth, String> {
    let user = if role.user_claim_json_pointer {
        get_claim(claims, &role.user_claim)
    } else {
        claims.get(&role.user_claim).filter(|v| !v.is_null())
    };
    let Some(user) = user else {
        return Err(format!("claim {:?} not found in token", role.user_claim));
    };
    let Value::String(user) = user else {
        return Err(format!(
            "claim {:?} could not be converted to string",
            role.user_claim
        ));
    };
    let mut metadata = extract_metadata(claims, &role.claim_mappings.clone().unwrap_or_default())?;
    metadata.insert("role".into(), role_name.to_string());
    let group_aliases = if role.groups_claim.is_empty() {
        Vec::new()
    } else {
        groups(claims, &role.groups_claim)?
    };
    if let Some(bound) = &role.bound_claims {
        validate_bound_claims(role.bound_claims_type == "glob", bound, claims)
            .map_err(|e| format!("error validating claims: {e}"))?;
    }
    let mut auth = role.token.auth();
    auth.display_name = user.clone();
    auth.metadata = metadata.clone();
    auth.alias = Some(Alias {
        name: user.clone(),
        metadata,
    });
    auth.group_aliases = group_aliases;
    Ok(auth)
}
