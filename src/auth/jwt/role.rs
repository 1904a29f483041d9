//! Roles: what a token must say to log in (`bound_audiences`,
//! `bound_subject`, `bound_claims`), which claims name the user and its
//! groups, which become alias metadata, the time leeways, and the token the
//! login grants. Stored at `role/<name>` (lower-cased, as Vault does).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::claims::normalize_list;
use super::JwtAuth;
use crate::auth::common::TokenParams;
use crate::logical::framework::{no_content, Ctx, DefaultValue, Field};
use crate::logical::{parse_duration_str, LogicalError, LogicalResult, Response, StorageView};

pub(super) const ROLE_PREFIX: &str = "role/";

pub(super) const ROLE_FIELDS: &[Field] = &[
    Field::string("role_type", "Type of the role, either 'jwt' or 'oidc'."),
    Field::comma_strings("bound_audiences", "Comma-separated list of 'aud' claims that are valid for login; any match is sufficient."),
    Field::string("user_claim", "The claim to use for the Identity entity alias name."),
    Field::bool("user_claim_json_pointer", "If true, the user_claim value will use JSON pointer syntax for referencing claims."),
    Field::string("bound_subject", "The 'sub' claim that is valid for login. Optional."),
    Field::map("bound_claims", "Map of claims/values which must match for login."),
    Field::string("bound_claims_type", "How to interpret values in the map of claims/values (which must match for login): allowed values are 'string' or 'glob'.").default(DefaultValue::Str("string")),
    Field::kv_pairs("claim_mappings", "Mappings of claims (key) that will be copied to a metadata field (value)."),
    Field::string("groups_claim", "The claim to use for the Identity group alias names."),
    Field::comma_strings("oidc_scopes", "Comma-separated list of OIDC scopes."),
    Field::comma_strings("allowed_redirect_uris", "Comma-separated list of allowed values for redirect_uri."),
    Field::string("callback_mode", "OIDC callback mode from Authorization Server: allowed values are 'device', 'client' or 'direct'.").default(DefaultValue::Str("client")),
    Field::raw("clock_skew_leeway", "Duration in seconds of leeway when validating all claims to account for clock skew. Defaults to 60 (1 minute) if set to 0 and can be disabled if set to -1."),
    Field::raw("expiration_leeway", "Duration in seconds of leeway when validating expiration of a token to account for clock skew. Defaults to 150 (2.5 minutes) if set to 0 and can be disabled if set to -1."),
    Field::raw("not_before_leeway", "Duration in seconds of leeway when validating not before values of a token to account for clock skew. Defaults to 150 (2.5 minutes) if set to 0 and can be disabled if set to -1."),
    Field::duration("max_age", "Specifies the allowable elapsed time in seconds since the last time the user was actively authenticated."),
    Field::bool("verbose_oidc_logging", "Log received OIDC tokens and claims when debug-level logging is active."),
    Field::bool("oidc_disable_confirmation", "Skip the confirmation step of the device flow."),
    Field::comma_strings("oauth2_metadata", "Comma-separated list of OIDC metadata to include in the token metadata."),
];

/// A stored role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct JwtRole {
    pub(crate) role_type: String,
    #[serde(default)]
    pub(crate) bound_audiences: Vec<String>,
    #[serde(default)]
    pub(crate) user_claim: String,
    #[serde(default)]
    pub(crate) user_claim_json_pointer: bool,
    #[serde(default)]
    pub(crate) bound_subject: String,
    #[serde(default)]
    pub(crate) bound_claims: Option<Map<String, Value>>,
    #[serde(default)]
    pub(crate) bound_claims_type: String,
    #[serde(default)]
    pub(crate) claim_mappings: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(crate) groups_claim: String,
    #[serde(default)]
    pub(crate) oidc_scopes: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) allowed_redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) callback_mode: String,
    #[serde(default)]
    pub(crate) clock_skew_leeway: i64,
    #[serde(default)]
    pub(crate) expiration_leeway: i64,
    #[serde(default)]
    pub(crate) not_before_leeway: i64,
    #[serde(default)]
    pub(crate) max_age: u64,
    #[serde(default)]
    pub(crate) verbose_oidc_logging: bool,
    #[serde(default)]
    pub(crate) oidc_disable_confirmation: bool,
    #[serde(default)]
    pub(crate) oauth2_metadata: Option<Vec<String>>,
    #[serde(flatten)]
    pub(crate) token: TokenParams,
}

pub(super) fn role_key(name: &str) -> String {
    format!("{ROLE_PREFIX}{}", name.to_lowercase())
}

pub(super) async fn load_role(
    view: &StorageView,
    name: &str,
) -> Result<Option<JwtRole>, LogicalError> {
    match view.get(&role_key(name)).await? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| LogicalError::Internal(format!("corrupt jwt role: {e}"))),
    }
}

/// A leeway: seconds (negative: none), as a number or a duration string.
fn leeway(name: &str, v: &Value) -> Result<i64, LogicalError> {
    let bad = |e: String| {
        LogicalError::bad(format!(
            "Field validation failed: error converting input for field {name:?}: {e}"
        ))
    };
    match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| bad(format!("invalid duration {n}"))),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(i) = s.parse::<i64>() {
                return Ok(i);
            }
            if let Some(rest) = s.strip_prefix('-') {
                return parse_duration_str(rest)
                    .map(|u| -(i64::try_from(u).unwrap_or(i64::MAX)))
                    .map_err(bad);
            }
            parse_duration_str(s)
                .map(|u| i64::try_from(u).unwrap_or(i64::MAX))
                .map_err(bad)
        }
        Value::Null => Ok(0),
        other => Err(bad(format!("invalid duration {other}"))),
    }
}

impl JwtAuth {
    pub(super) async fn role_exists(&self, c: &Ctx<'_>) -> Result<bool, LogicalError> {
        Ok(c.view.get(&role_key(c.path("name"))).await?.is_some())
    }

    pub(super) async fn list_roles(&self, c: &Ctx<'_>) -> LogicalResult {
        let keys = c.view.list(ROLE_PREFIX).await?;
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    pub(super) async fn delete_role(&self, c: &Ctx<'_>) -> LogicalResult {
        c.view.delete(&role_key(c.path("name"))).await?;
        no_content()
    }

    pub(super) async fn read_role(&self, c: &Ctx<'_>) -> LogicalResult {
        let Some(r) = load_role(c.view, c.path("name")).await? else {
            return Err(LogicalError::NotFound);
        };
        let mut data = Map::new();
        data.insert(
            "allowed_redirect_uris".into(),
            json!(r.allowed_redirect_uris),
        );
        data.insert("bound_audiences".into(), json!(r.bound_audiences));
        data.insert("bound_claims".into(), json!(r.bound_claims));
        data.insert("bound_claims_type".into(), json!(r.bound_claims_type));
        data.insert("bound_subject".into(), json!(r.bound_subject));
        data.insert("callback_mode".into(), json!(r.callback_mode));
        data.insert("claim_mappings".into(), json!(r.claim_mappings));
        data.insert("clock_skew_leeway".into(), json!(r.clock_skew_leeway));
        data.insert("expiration_leeway".into(), json!(r.expiration_leeway));
        data.insert("groups_claim".into(), json!(r.groups_claim));
        data.insert("max_age".into(), json!(r.max_age));
        data.insert("not_before_leeway".into(), json!(r.not_before_leeway));
        data.insert("oauth2_metadata".into(), json!(r.oauth2_metadata));
        data.insert(
            "oidc_disable_confirmation".into(),
            json!(r.oidc_disable_confirmation),
        );
        data.insert("oidc_scopes".into(), json!(r.oidc_scopes));
        data.insert("role_type".into(), json!(r.role_type));
        r.token.write_json(&mut data);
        data.remove("policies");
        data.insert("token_policies_template_claims".into(), json!(false));
        data.insert("token_strictly_bind_ip".into(), json!(false));
        data.insert("user_claim".into(), json!(r.user_claim));
        data.insert(
            "user_claim_json_pointer".into(),
            json!(r.user_claim_json_pointer),
        );
        data.insert("verbose_oidc_logging".into(), json!(r.verbose_oidc_logging));
        Ok(Response::data(data))
    }

    pub(super) async fn write_role(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("name").to_lowercase();
        let d = &c.fields;
        let mut r = load_role(c.view, &name).await?.unwrap_or_default();
        let role_type = match d.get_ok::<String>("role_type") {
            Some(t) if !t.is_empty() => t.to_lowercase(),
            _ if !r.role_type.is_empty() => r.role_type.clone(),
            _ => "oidc".to_string(),
        };
        if role_type != "jwt" && role_type != "oidc" {
            return Err(LogicalError::bad(format!(
                "invalid 'role_type': {role_type}"
            )));
        }
        r.role_type = role_type;
        r.token.update_from_fields(d, false)?;
        if let Some(v) = d.get_ok::<Vec<String>>("bound_audiences") {
            r.bound_audiences = v;
        }
        if let Some(v) = d.get_ok::<String>("bound_subject") {
            r.bound_subject = v;
        }
        for (field, slot) in [
            ("clock_skew_leeway", &mut r.clock_skew_leeway),
            ("expiration_leeway", &mut r.expiration_leeway),
            ("not_before_leeway", &mut r.not_before_leeway),
        ] {
            if let Some(v) = d.get_ok::<Value>(field) {
                *slot = leeway(field, &v)?;
            }
        }
        if let Some(v) = d.get_ok::<u64>("max_age") {
            r.max_age = v;
        }
        if let Some(v) = d.get_ok::<bool>("verbose_oidc_logging") {
            r.verbose_oidc_logging = v;
        }
        if let Some(v) = d.get_ok::<bool>("oidc_disable_confirmation") {
            r.oidc_disable_confirmation = v;
        }
        if let Some(v) = d.get_ok::<String>("callback_mode") {
            r.callback_mode = v;
        } else if r.callback_mode.is_empty() {
            r.callback_mode = "client".into();
        }
        if !matches!(r.callback_mode.as_str(), "client" | "direct" | "device") {
            return Err(LogicalError::bad(format!(
                "invalid 'callback_mode': {}",
                r.callback_mode
            )));
        }
        let bct = d.str("bound_claims_type");
        if bct != "string" && bct != "glob" {
            return Err(LogicalError::bad(format!(
                "invalid 'bound_claims_type': {bct}"
            )));
        }
        r.bound_claims_type = bct.clone();
        if let Some(bc) = d.get_ok::<Map<String, Value>>("bound_claims") {
            if bct == "glob" {
                for v in bc.values() {
                    let Some(list) = normalize_list(v) else {
                        return Err(LogicalError::bad(format!(
                            "claim is not a string or list: {v}"
                        )));
                    };
                    if list
                        .iter()
                        .any(|s| !matches!(s, Some(super::claims::Scalar::Str(_))))
                    {
                        return Err(LogicalError::bad(format!("claim is not a string: {v}")));
                    }
                }
            }
            r.bound_claims = if bc.is_empty() { None } else { Some(bc) };
        }
        if let Some(m) = d.get_ok::<BTreeMap<String, String>>("claim_mappings") {
            let mut seen = std::collections::BTreeSet::new();
            for target in m.values() {
                if target == "role" {
                    return Err(LogicalError::bad(format!(
                        "metadata key {target:?} is reserved and may not be a mapping destination"
                    )));
                }
                if !seen.insert(target.clone()) {
                    return Err(LogicalError::bad(format!(
                        "multiple keys are mapped to metadata key {target:?}"
                    )));
                }
            }
            r.claim_mappings = Some(m);
        }
        if let Some(v) = d.get_ok::<Vec<String>>("oauth2_metadata") {
            r.oauth2_metadata = Some(v);
        }
        if let Some(v) = d.get_ok::<String>("user_claim") {
            r.user_claim = v;
        }
        if r.user_claim.is_empty() {
            return Err(LogicalError::bad(
                "a user claim must be defined on the role",
            ));
        }
        if let Some(v) = d.get_ok::<bool>("user_claim_json_pointer") {
            r.user_claim_json_pointer = v;
        }
        if let Some(v) = d.get_ok::<String>("groups_claim") {
            r.groups_claim = v;
        }
        if let Some(v) = d.get_ok::<Vec<String>>("oidc_scopes") {
            r.oidc_scopes = Some(v);
        }
        if let Some(v) = d.get_ok::<Vec<String>>("allowed_redirect_uris") {
            r.allowed_redirect_uris = Some(v);
        }
        if r.role_type == "oidc"
            && r.allowed_redirect_uris
                .as_ref()
                .is_none_or(|v| v.is_empty())
        {
            return Err(LogicalError::bad(
                "'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified.",
            ));
        }
        if r.role_type != "oidc"
            && r.bound_audiences.is_empty()
            && r.token.token_bound_cidrs.is_empty()
            && r.bound_subject.is_empty()
            && r.bound_claims.is_none()
        {
            return Err(LogicalError::bad(
                "must have at least one bound constraint when creating/updating a role",
            ));
        }
        if r.token.token_max_ttl > 0 && r.token.token_ttl > r.token.token_max_ttl {
            return Err(LogicalError::bad("ttl should not be greater than max ttl"));
        }
        r.token.validate()?;
        let bytes = serde_json::to_vec(&r)
            .map_err(|e| LogicalError::Internal(format!("encoding jwt role: {e}")))?;
        c.view.put(&role_key(&name), &bytes).await?;
        no_content()
    }
}
