//! What every auth method shares: Vault's `tokenutil` token parameters
//! (`token_ttl`, `token_policies`, ...), the grant they describe, CIDR
//! checks on the caller's address, and the retry budget for
//! read-modify-write races. One module, so approle, userpass, aws and the
//! methods still to come agree on parsing, defaults and error texts.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::barrier::BarrierError;
use crate::logical::framework::{Field, FieldData};
use crate::logical::{Auth, LogicalError};
use crate::policy::normalize_policies;
use crate::storage::StorageError;
use crate::util::cidr_contains;

/// How often a read-modify-write is retried when a concurrent writer won.
pub(crate) const CAS_ATTEMPTS: usize = 64;

// ---------------------------------------------------------------------------
// Shared token settings (Vault's tokenutil)
// ---------------------------------------------------------------------------

/// The `token_*` settings Vault auth methods share (Vault's `tokenutil`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct TokenParams {
    #[serde(default)]
    pub(crate) token_policies: Vec<String>,
    #[serde(default)]
    pub(crate) token_ttl: u64,
    #[serde(default)]
    pub(crate) token_max_ttl: u64,
    #[serde(default)]
    pub(crate) token_explicit_max_ttl: u64,
    #[serde(default)]
    pub(crate) token_period: u64,
    #[serde(default)]
    pub(crate) token_num_uses: u64,
    #[serde(default)]
    pub(crate) token_bound_cidrs: Vec<String>,
    #[serde(default)]
    pub(crate) token_no_default_policy: bool,
    #[serde(default)]
    pub(crate) token_type: String,
}

/// Checks that every entry is an IP address or a CIDR block.
pub(crate) fn validate_cidrs(key: &str, cidrs: &[String]) -> Result<(), LogicalError> {
    for c in cidrs {
        if c.parse::<ipnet::IpNet>().is_err() && c.parse::<IpAddr>().is_err() {
            return Err(LogicalError::bad(format!(
                "{key}: invalid CIDR block {c:?}"
            )));
        }
    }
    Ok(())
}

/// Whether `addr` is inside one of `cidrs` (an unknown address is not).
pub(crate) fn addr_allowed(cidrs: &[String], addr: Option<IpAddr>) -> bool {
    match addr {
        Some(ip) => cidrs.iter().any(|c| cidr_contains(c, ip)),
        None => false,
    }
}

impl TokenParams {
    /// Checks the combination of settings.
    pub(crate) fn validate(&self) -> Result<(), LogicalError> {
        if self.token_max_ttl > 0 && self.token_ttl > self.token_max_ttl {
            return Err(LogicalError::bad(
                "token_ttl should not be greater than token_max_ttl",
            ));
        }
        if self.token_explicit_max_ttl > 0 && self.token_ttl > self.token_explicit_max_ttl {
            return Err(LogicalError::bad(
                "token_ttl should not be greater than token_explicit_max_ttl",
            ));
        }
        Ok(())
    }

    /// Adds the fields to a read response, as Vault shows them.
    pub(crate) fn write_json(&self, out: &mut Map<String, Value>) {
        out.insert("token_policies".into(), json!(self.token_policies));
        out.insert("policies".into(), json!(self.token_policies));
        out.insert("token_ttl".into(), json!(self.token_ttl));
        out.insert("token_max_ttl".into(), json!(self.token_max_ttl));
        out.insert(
            "token_explicit_max_ttl".into(),
            json!(self.token_explicit_max_ttl),
        );
        out.insert("token_period".into(), json!(self.token_period));
        out.insert("token_num_uses".into(), json!(self.token_num_uses));
        out.insert("token_bound_cidrs".into(), json!(self.token_bound_cidrs));
        out.insert(
            "token_no_default_policy".into(),
            json!(self.token_no_default_policy),
        );
        let t = if self.token_type.is_empty() {
            "default"
        } else {
            self.token_type.as_str()
        };
        out.insert("token_type".into(), json!(t));
    }

    /// The grant these settings describe. `token_max_ttl` becomes a cap on
    /// the token's life (the grant has no separate renewal cap), except for
    /// periodic tokens, which Vault lets outlive `token_max_ttl`.
    pub(crate) fn auth(&self) -> Auth {
        let mut cap = self.token_explicit_max_ttl;
        if self.token_period == 0 && self.token_max_ttl > 0 {
            cap = if cap == 0 {
                self.token_max_ttl
            } else {
                cap.min(self.token_max_ttl)
            };
        }
        Auth {
            policies: self.token_policies.clone(),
            ttl: self.token_ttl,
            explicit_max_ttl: cap,
            period: self.token_period,
            num_uses: self.token_num_uses,
            renewable: true,
            no_default_policy: self.token_no_default_policy,
            bound_cidrs: self.token_bound_cidrs.clone(),
            ..Default::default()
        }
    }
}

/// The `token_*` fields of Vault's `tokenutil`, for every auth method's role
/// (or user) paths. Their type errors carry no `Field validation failed:`
/// prefix, as in Vault, where `tokenutil` parses them itself.
pub(crate) const TOKEN_FIELDS: &[Field] = &[
    Field::comma_strings("token_policies", "Comma-separated list of policies.").bare_errors(),
    Field::duration("token_ttl", "The initial ttl of the token to generate.").bare_errors(),
    Field::duration("token_max_ttl", "The maximum lifetime of the generated token.").bare_errors(),
    Field::duration(
        "token_explicit_max_ttl",
        "If set, tokens created via this role carry an explicit maximum TTL.",
    )
    .bare_errors(),
    Field::duration(
        "token_period",
        "If set, tokens created via this role will have no max lifetime; instead, their renewal period will be fixed to this value.",
    )
    .bare_errors(),
    Field::int(
        "token_num_uses",
        "The maximum number of times a token may be used, a value of zero means unlimited.",
    )
    .bare_errors(),
    Field::comma_strings(
        "token_bound_cidrs",
        "Comma separated string or JSON list of CIDR blocks. If set, specifies the blocks of IP addresses which are allowed to use the generated token.",
    )
    .bare_errors(),
    Field::bool(
        "token_no_default_policy",
        "If true, the 'default' policy will not automatically be added to generated tokens.",
    )
    .bare_errors(),
    Field::string("token_type", "The type of token to generate, service or batch.").bare_errors(),
    Field::comma_strings("policies", "Use \"token_policies\" instead.").bare_errors(),
    Field::duration("period", "Use \"token_period\" instead.").bare_errors(),
];

/// The pre-`token_` names userpass still accepts (Vault keeps them too).
pub(crate) const LEGACY_TOKEN_FIELDS: &[Field] = &[
    Field::duration("ttl", "Use \"token_ttl\" instead.").bare_errors(),
    Field::duration("max_ttl", "Use \"token_max_ttl\" instead.").bare_errors(),
    Field::comma_strings("bound_cidrs", "Use \"token_bound_cidrs\" instead.").bare_errors(),
];

impl TokenParams {
    /// Applies the token fields a framework request set; unset fields keep
    /// their value. `legacy` also reads [`LEGACY_TOKEN_FIELDS`].
    pub(crate) fn update_from_fields(
        &mut self,
        d: &FieldData,
        legacy: bool,
    ) -> Result<(), LogicalError> {
        if let Some(p) = d.get_ok::<Vec<String>>("token_policies") {
            self.token_policies = normalize_policies(p, false);
        } else if let Some(p) = d.get_ok::<Vec<String>>("policies") {
            self.token_policies = normalize_policies(p, false);
        }
        let duration = |name: &str, legacy_name: &str| {
            d.get_ok::<u64>(name).or_else(|| {
                if legacy && !legacy_name.is_empty() {
                    d.get_ok::<u64>(legacy_name)
                } else {
                    None
                }
            })
        };
        if let Some(v) = duration("token_ttl", "ttl") {
            self.token_ttl = v;
        }
        if let Some(v) = duration("token_max_ttl", "max_ttl") {
            self.token_max_ttl = v;
        }
        if let Some(v) = d.get_ok::<u64>("token_explicit_max_ttl") {
            self.token_explicit_max_ttl = v;
        }
        if let Some(v) = d
            .get_ok::<u64>("token_period")
            .or_else(|| d.get_ok("period"))
        {
            self.token_period = v;
        }
        if let Some(v) = d.get_ok::<i64>("token_num_uses") {
            self.token_num_uses = u64::try_from(v)
                .map_err(|_| LogicalError::bad("token_num_uses cannot be negative"))?;
        }
        if let Some(c) = d.get_ok::<Vec<String>>("token_bound_cidrs") {
            validate_cidrs("token_bound_cidrs", &c)?;
            self.token_bound_cidrs = c;
        } else if legacy {
            if let Some(c) = d.get_ok::<Vec<String>>("bound_cidrs") {
                validate_cidrs("bound_cidrs", &c)?;
                self.token_bound_cidrs = c;
            }
        }
        if let Some(b) = d.get_ok::<bool>("token_no_default_policy") {
            self.token_no_default_policy = b;
        }
        if let Some(t) = d.get_ok::<String>("token_type") {
            self.token_type = parse_token_type(&t)?;
        }
        Ok(())
    }
}

/// Validates a `token_type`. Only service tokens are issued, so `batch` and
/// `default-batch` are refused rather than silently upgraded.
pub(crate) fn parse_token_type(t: &str) -> Result<String, LogicalError> {
    match t {
        "" => Ok("default".into()),
        "default" | "service" | "default-service" => Ok(t.into()),
        other => Err(LogicalError::bad(format!(
            "token_type {other:?} is not supported: only service tokens can be issued"
        ))),
    }
}

/// Whether a barrier error is a failed batch condition (a lost race).
pub(crate) fn is_condition_failed(e: &BarrierError) -> bool {
    matches!(e, BarrierError::Storage(StorageError::ConditionFailed(_)))
}
