//! The role sub-paths that read, write and delete one setting each
//! (`role/:name/token-ttl`, `.../policies`, ...), as Vault's AppRole has
//! them. A read answers with the setting under its field name; a write
//! needs the field (`missing <field>` otherwise); a delete resets the
//! setting to its default. All three share one handler each, which picks
//! the setting from the path's last segment.
//!
//! Unlike Vault, a write or delete that would leave a role without any
//! constraint (no bound secret-id and no CIDR bound) is refused, as the
//! role write is.

use serde_json::{json, Map, Value};

use super::role::check_constraints;
use super::storage::{load_role, role_name, update_role, RoleEntry};
use super::AppRole;
use crate::auth::common::validate_cidrs;
use crate::logical::framework::{unsupported_path, Ctx, Field};
use crate::logical::{LogicalError, LogicalResult, Response};
use crate::policy::normalize_policies;

/// One role setting with a sub-path of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RoleField {
    Policies,
    TokenTtl,
    TokenMaxTtl,
    TokenNumUses,
    Period,
    SecretIdTtl,
    SecretIdNumUses,
    BoundCidrList,
    SecretIdBoundCidrs,
    TokenBoundCidrs,
    BindSecretId,
    LocalSecretIds,
}

/// The sub-paths: pattern, last segment, setting; declared in this order.
pub(super) const SEGMENTS: &[(&str, &str, RoleField)] = &[
    ("role/{role_name}/policies", "policies", RoleField::Policies),
    (
        "role/{role_name}/token-ttl",
        "token-ttl",
        RoleField::TokenTtl,
    ),
    (
        "role/{role_name}/token-max-ttl",
        "token-max-ttl",
        RoleField::TokenMaxTtl,
    ),
    (
        "role/{role_name}/token-num-uses",
        "token-num-uses",
        RoleField::TokenNumUses,
    ),
    ("role/{role_name}/period", "period", RoleField::Period),
    (
        "role/{role_name}/secret-id-ttl",
        "secret-id-ttl",
        RoleField::SecretIdTtl,
    ),
    (
        "role/{role_name}/secret-id-num-uses",
        "secret-id-num-uses",
        RoleField::SecretIdNumUses,
    ),
    (
        "role/{role_name}/bound-cidr-list",
        "bound-cidr-list",
        RoleField::BoundCidrList,
    ),
    (
        "role/{role_name}/secret-id-bound-cidrs",
        "secret-id-bound-cidrs",
        RoleField::SecretIdBoundCidrs,
    ),
    (
        "role/{role_name}/token-bound-cidrs",
        "token-bound-cidrs",
        RoleField::TokenBoundCidrs,
    ),
    (
        "role/{role_name}/bind-secret-id",
        "bind-secret-id",
        RoleField::BindSecretId,
    ),
    (
        "role/{role_name}/local-secret-ids",
        "local-secret-ids",
        RoleField::LocalSecretIds,
    ),
];

/// The fields of the sub-paths; each path declares only its own (see
/// [`RoleField::accepts`]), so others draw the unknown-parameter warning.
pub(super) const FIELDS: &[Field] = &[
    Field::comma_strings("token_policies", "Comma-separated list of policies."),
    Field::comma_strings("policies", "Use \"token_policies\" instead."),
    Field::duration("token_ttl", "The initial ttl of the token to generate."),
    Field::duration("token_max_ttl", "The maximum lifetime of the generated token."),
    Field::int(
        "token_num_uses",
        "The maximum number of times a token may be used, a value of zero means unlimited.",
    ),
    Field::duration(
        "token_period",
        "If set, tokens created via this role will have no max lifetime; instead, their renewal period will be fixed to this value.",
    ),
    Field::duration("period", "Use \"token_period\" instead."),
    Field::duration(
        "secret_id_ttl",
        "Duration in seconds after which the issued SecretID should expire.",
    ),
    Field::int(
        "secret_id_num_uses",
        "Number of times a SecretID can access the role, after which the SecretID will expire.",
    ),
    Field::comma_strings(
        "bound_cidr_list",
        "Deprecated: use \"secret_id_bound_cidrs\" instead.",
    ),
    Field::comma_strings(
        "secret_id_bound_cidrs",
        "Comma separated string or list of CIDR blocks that may perform the login operation.",
    ),
    Field::comma_strings(
        "token_bound_cidrs",
        "Comma separated string or list of CIDR blocks that may use the generated token.",
    ),
    Field::bool(
        "bind_secret_id",
        "Impose secret_id to be presented when logging in using this role.",
    ),
];

impl RoleField {
    /// The names of the fields this setting's path accepts.
    pub(super) fn accepts(self) -> &'static [&'static str] {
        match self {
            RoleField::Policies => &["token_policies", "policies"],
            RoleField::TokenTtl => &["token_ttl"],
            RoleField::TokenMaxTtl => &["token_max_ttl"],
            RoleField::TokenNumUses => &["token_num_uses"],
            RoleField::Period => &["token_period", "period"],
            RoleField::SecretIdTtl => &["secret_id_ttl"],
            RoleField::SecretIdNumUses => &["secret_id_num_uses"],
            RoleField::BoundCidrList => &["bound_cidr_list"],
            RoleField::SecretIdBoundCidrs => &["secret_id_bound_cidrs"],
            RoleField::TokenBoundCidrs => &["token_bound_cidrs"],
            RoleField::BindSecretId => &["bind_secret_id"],
            RoleField::LocalSecretIds => &[],
        }
    }

    /// This setting's field declarations.
    pub(super) fn fields(self) -> Vec<Field> {
        FIELDS
            .iter()
            .filter(|f| self.accepts().contains(&f.name))
            .copied()
            .collect()
    }

    /// The setting a request's path names (its last segment).
    fn of(c: &Ctx<'_>) -> Result<RoleField, LogicalError> {
        let last = c
            .req
            .relative_path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("");
        SEGMENTS
            .iter()
            .find(|(_, s, _)| *s == last)
            .map(|(_, _, f)| *f)
            .ok_or_else(unsupported_path)
    }

    /// The read response: the setting under Vault's field names.
    fn read(self, e: &RoleEntry) -> Response {
        let t = &e.token;
        let v = match self {
            RoleField::Policies => {
                json!({"token_policies": t.token_policies, "policies": t.token_policies})
            }
            RoleField::TokenTtl => json!({"token_ttl": t.token_ttl}),
            RoleField::TokenMaxTtl => json!({"token_max_ttl": t.token_max_ttl}),
            RoleField::TokenNumUses => json!({"token_num_uses": t.token_num_uses}),
            RoleField::Period => json!({"token_period": t.token_period, "period": t.token_period}),
            RoleField::SecretIdTtl => json!({"secret_id_ttl": e.secret_id_ttl}),
            RoleField::SecretIdNumUses => json!({"secret_id_num_uses": e.secret_id_num_uses}),
            RoleField::BoundCidrList => json!({"bound_cidr_list": e.secret_id_bound_cidrs}),
            RoleField::SecretIdBoundCidrs => {
                json!({"secret_id_bound_cidrs": e.secret_id_bound_cidrs})
            }
            RoleField::TokenBoundCidrs => json!({"token_bound_cidrs": t.token_bound_cidrs}),
            RoleField::BindSecretId => json!({"bind_secret_id": e.bind_secret_id}),
            RoleField::LocalSecretIds => json!({"local_secret_ids": e.local_secret_ids}),
        };
        let data = match v {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let mut resp = Response::data(data);
        if self == RoleField::BoundCidrList {
            resp.warnings.push(
                "The \"bound_cidr_list\" field is deprecated and will be removed. Please use \"secret_id_bound_cidrs\" instead.".into(),
            );
        }
        resp
    }
}

/// A non-negative count, or Vault's message for a negative one.
fn count(v: i64, name: &str) -> Result<u64, LogicalError> {
    u64::try_from(v).map_err(|_| LogicalError::bad(format!("{name} cannot be negative")))
}

/// What a write sets: the new value parsed from the request, applied to
/// the role inside the conditioned read-modify-write.
enum Change {
    Policies(Vec<String>),
    TokenTtl(u64),
    TokenMaxTtl(u64),
    TokenNumUses(u64),
    Period(u64),
    SecretIdTtl(u64),
    SecretIdNumUses(u64),
    SecretIdCidrs(Vec<String>),
    TokenCidrs(Vec<String>),
    BindSecretId(bool),
}

impl Change {
    /// Parses the write of `field`; Vault's `missing <field>` when absent.
    fn parse(field: RoleField, c: &Ctx<'_>) -> Result<Option<Change>, LogicalError> {
        let d = &c.fields;
        let missing = |n: &str| LogicalError::bad(format!("missing {n}"));
        Ok(Some(match field {
            RoleField::Policies => {
                let p = d
                    .get_ok::<Vec<String>>("token_policies")
                    .or_else(|| d.get_ok("policies"))
                    .ok_or_else(|| missing("token_policies"))?;
                Change::Policies(normalize_policies(p, false))
            }
            RoleField::TokenTtl => {
                Change::TokenTtl(d.get_ok("token_ttl").ok_or_else(|| missing("token_ttl"))?)
            }
            RoleField::TokenMaxTtl => Change::TokenMaxTtl(
                d.get_ok("token_max_ttl")
                    .ok_or_else(|| missing("token_max_ttl"))?,
            ),
            RoleField::TokenNumUses => Change::TokenNumUses(count(
                d.get_ok("token_num_uses")
                    .ok_or_else(|| missing("token_num_uses"))?,
                "token_num_uses",
            )?),
            RoleField::Period => Change::Period(
                d.get_ok("token_period")
                    .or_else(|| d.get_ok("period"))
                    .ok_or_else(|| missing("period"))?,
            ),
            RoleField::SecretIdTtl => Change::SecretIdTtl(
                d.get_ok("secret_id_ttl")
                    .ok_or_else(|| missing("secret_id_ttl"))?,
            ),
            RoleField::SecretIdNumUses => Change::SecretIdNumUses(count(
                d.get_ok("secret_id_num_uses")
                    .ok_or_else(|| missing("secret_id_num_uses"))?,
                "secret_id_num_uses",
            )?),
            RoleField::BoundCidrList | RoleField::SecretIdBoundCidrs => {
                let name = if field == RoleField::BoundCidrList {
                    "bound_cidr_list"
                } else {
                    "secret_id_bound_cidrs"
                };
                // Vault leaves the role alone when the field is absent and
                // refuses an empty list.
                let Some(cidrs) = d.get_ok::<Vec<String>>(name) else {
                    return Ok(None);
                };
                if cidrs.is_empty() {
                    return Err(missing("bound_cidr_list"));
                }
                validate_cidrs(name, &cidrs)?;
                Change::SecretIdCidrs(cidrs)
            }
            RoleField::TokenBoundCidrs => {
                let Some(cidrs) = d.get_ok::<Vec<String>>("token_bound_cidrs") else {
                    return Ok(None);
                };
                validate_cidrs("token_bound_cidrs", &cidrs)?;
                Change::TokenCidrs(cidrs)
            }
            RoleField::BindSecretId => Change::BindSecretId(
                d.get_ok("bind_secret_id")
                    .ok_or_else(|| missing("bind_secret_id"))?,
            ),
            RoleField::LocalSecretIds => return Err(LogicalError::UnsupportedOperation),
        }))
    }

    fn apply(&self, e: &mut RoleEntry) -> Result<(), LogicalError> {
        let t = &mut e.token;
        match self {
            Change::Policies(p) => t.token_policies = p.clone(),
            Change::TokenTtl(v) => {
                if t.token_max_ttl > 0 && *v > t.token_max_ttl {
                    return Err(LogicalError::bad(
                        "token_ttl should not be greater than token_max_ttl",
                    ));
                }
                t.token_ttl = *v;
            }
            Change::TokenMaxTtl(v) => {
                if *v > 0 && t.token_ttl > *v {
                    return Err(LogicalError::bad(
                        "token_max_ttl should be greater than or equal to token_ttl",
                    ));
                }
                t.token_max_ttl = *v;
            }
            Change::TokenNumUses(v) => t.token_num_uses = *v,
            Change::Period(v) => t.token_period = *v,
            Change::SecretIdTtl(v) => e.secret_id_ttl = *v,
            Change::SecretIdNumUses(v) => e.secret_id_num_uses = *v,
            Change::SecretIdCidrs(v) => e.secret_id_bound_cidrs = v.clone(),
            Change::TokenCidrs(v) => t.token_bound_cidrs = v.clone(),
            Change::BindSecretId(v) => e.bind_secret_id = *v,
        }
        Ok(())
    }

    /// The default a delete restores.
    fn reset(field: RoleField) -> Option<Change> {
        Some(match field {
            RoleField::Policies => Change::Policies(Vec::new()),
            RoleField::TokenTtl => Change::TokenTtl(0),
            RoleField::TokenMaxTtl => Change::TokenMaxTtl(0),
            RoleField::TokenNumUses => Change::TokenNumUses(0),
            RoleField::Period => Change::Period(0),
            RoleField::SecretIdTtl => Change::SecretIdTtl(0),
            RoleField::SecretIdNumUses => Change::SecretIdNumUses(0),
            RoleField::BoundCidrList | RoleField::SecretIdBoundCidrs => {
                Change::SecretIdCidrs(Vec::new())
            }
            RoleField::TokenBoundCidrs => Change::TokenCidrs(Vec::new()),
            RoleField::BindSecretId => Change::BindSecretId(true),
            RoleField::LocalSecretIds => return None,
        })
    }
}

impl AppRole {
    /// Reads one setting; 404 for a missing role.
    pub(super) async fn read_field(&self, c: &Ctx<'_>) -> LogicalResult {
        let field = RoleField::of(c)?;
        let Some(e) = load_role(c.view, &role_name(c.path("role_name"))?).await? else {
            return Err(LogicalError::NotFound);
        };
        Ok(field.read(&e))
    }

    /// Writes one setting; a missing role is Vault's 404 `unsupported path`.
    pub(super) async fn write_field(&self, c: &Ctx<'_>) -> LogicalResult {
        let field = RoleField::of(c)?;
        let name = role_name(c.path("role_name"))?;
        let change = Change::parse(field, c)?;
        update_role(c.view, &name, false, |e| {
            if let Some(ch) = &change {
                ch.apply(e)?;
            }
            check_constraints(e)
        })
        .await?;
        Ok(Response::empty())
    }

    /// Resets one setting to its default; nothing to do for a missing role.
    pub(super) async fn delete_field(&self, c: &Ctx<'_>) -> LogicalResult {
        let field = RoleField::of(c)?;
        let name = role_name(c.path("role_name"))?;
        let Some(change) = Change::reset(field) else {
            return Err(LogicalError::UnsupportedOperation);
        };
        if load_role(c.view, &name).await?.is_none() {
            return Ok(Response::empty());
        }
        let apply = |e: &mut RoleEntry| {
            change.apply(e)?;
            check_constraints(e)
        };
        match update_role(c.view, &name, false, apply).await {
            Ok(_) => Ok(Response::empty()),
            // Deleted meanwhile: as if it never existed.
            Err(LogicalError::NoRoute(_)) => Ok(Response::empty()),
            Err(e) => Err(e),
        }
    }
}
