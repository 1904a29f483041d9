//! `role/{role}` (read, write, delete) and the `role` / `roles` lists.
//!
//! Only the `iam` auth type exists: the `ec2` type and the fields that only
//! apply to it or to inferred EC2 entities are declared (so clients sending
//! them get a clear refusal, not an "ignored parameters" warning) and
//! refused when set.

use serde_json::{json, Map};

use super::arn::validate_binding;
use super::storage::{load_role, role_key, role_name, update_entry, RoleEntry, ROLE_PREFIX};
use super::AwsAuth;
use crate::auth::common::TokenParams;
use crate::logical::framework::{no_content, Ctx, DefaultValue, Field};
use crate::logical::{LogicalError, LogicalResult, Response};

/// Role fields that only make sense for the `ec2` auth type or for inferred
/// EC2 entities, which Strongroom does not implement.
const UNSUPPORTED_ROLE_FIELDS: &[&str] = &[
    "bound_ami_id",
    "bound_account_id",
    "bound_region",
    "bound_vpc_id",
    "bound_subnet_id",
    "bound_iam_role_arn",
    "bound_iam_instance_profile_arn",
    "bound_ec2_instance_id",
    "inferred_entity_type",
    "inferred_aws_region",
    "role_tag",
];

/// The `ec2`-only list bindings, shown empty on read.
const EC2_BINDINGS: &[&str] = &[
    "bound_ami_id",
    "bound_account_id",
    "bound_region",
    "bound_vpc_id",
    "bound_subnet_id",
    "bound_iam_role_arn",
    "bound_iam_instance_profile_arn",
    "bound_ec2_instance_id",
];

pub(super) const ROLE_FIELDS: &[Field] = &[
    Field::string(
        "auth_type",
        "The auth_type permitted to authenticate to this role. Only \"iam\" is supported.",
    ),
    Field::comma_strings(
        "bound_iam_principal_arn",
        "ARN of the IAM principals to bind to this role. Only applicable when auth_type is iam.",
    ),
    Field::bool(
        "resolve_aws_unique_ids",
        "If set, resolve all AWS IAM ARNs into AWS's internal unique IDs. Not supported: stored as false.",
    ),
    Field::comma_strings("bound_ami_id", "Not supported (ec2 auth type)."),
    Field::comma_strings("bound_account_id", "Not supported (ec2 auth type)."),
    Field::comma_strings("bound_region", "Not supported (ec2 auth type)."),
    Field::comma_strings("bound_vpc_id", "Not supported (ec2 auth type)."),
    Field::comma_strings("bound_subnet_id", "Not supported (ec2 auth type)."),
    Field::comma_strings("bound_iam_role_arn", "Not supported (ec2 auth type)."),
    Field::comma_strings(
        "bound_iam_instance_profile_arn",
        "Not supported (ec2 auth type).",
    ),
    Field::comma_strings("bound_ec2_instance_id", "Not supported (ec2 auth type)."),
    Field::string("inferred_entity_type", "Not supported (inferred EC2 entities)."),
    Field::string("inferred_aws_region", "Not supported (inferred EC2 entities)."),
    Field::string("role_tag", "Not supported (ec2 auth type)."),
    Field::bool(
        "allow_instance_migration",
        "Accepted for compatibility; applies to the ec2 auth type only.",
    )
    .default(DefaultValue::Bool(false)),
    Field::bool(
        "disallow_reauthentication",
        "Accepted for compatibility; applies to the ec2 auth type only.",
    )
    .default(DefaultValue::Bool(false)),
];

impl AwsAuth {
    pub(super) async fn role_exists(&self, c: &Ctx<'_>) -> Result<bool, LogicalError> {
        match role_name(c.path("role")) {
            Ok(n) => Ok(c.view.get(&role_key(&n)).await?.is_some()),
            Err(_) => Ok(true),
        }
    }

    pub(super) async fn list_roles(&self, c: &Ctx<'_>) -> LogicalResult {
        let keys = c.view.list(ROLE_PREFIX).await?;
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    pub(super) async fn delete_role(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = role_name(c.path("role"))?;
        c.view.delete(&role_key(&name)).await?;
        no_content()
    }

    pub(super) async fn write_role(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = role_name(c.path("role"))?;
        let d = &c.fields;
        let auth_type = match d.get_ok::<String>("auth_type").as_deref().map(str::trim) {
            None | Some("") => None,
            Some("iam") => Some("iam"),
            Some("ec2") => return Err(LogicalError::bad(
                "auth_type \"ec2\" is not supported: Strongroom implements only the iam auth type",
            )),
            Some(other) => {
                return Err(LogicalError::bad(format!(
                    "unrecognized auth_type {other:?}: only \"iam\" is supported"
                )))
            }
        };
        for key in UNSUPPORTED_ROLE_FIELDS {
            let set = d.get_ok::<Vec<String>>(key).is_some_and(|v| !v.is_empty())
                || d.get_ok::<String>(key)
                    .is_some_and(|s| !s.trim().is_empty());
            if set {
                return Err(LogicalError::bad(format!(
                    "{key} is not supported: it applies to the ec2 auth type or to inferred EC2 \
                     entities, and Strongroom implements only the iam auth type"
                )));
            }
        }
        let bound = d.get_ok::<Vec<String>>("bound_iam_principal_arn");
        if let Some(list) = &bound {
            for arn in list {
                validate_binding(arn)?;
            }
        }
        let mut warnings = Vec::new();
        if d.get_ok::<bool>("resolve_aws_unique_ids") == Some(true) {
            warnings.push(
                "resolve_aws_unique_ids is not supported (it needs IAM API calls) and is stored as \
                 false: principals are matched by ARN, so a principal deleted and re-created under \
                 the same ARN still matches this role"
                    .to_string(),
            );
        }
        // Reject malformed token fields before touching storage.
        TokenParams::default().update_from_fields(d, false)?;
        update_entry(c.view, &role_key(&name), |current: Option<RoleEntry>| {
            let mut role = current.unwrap_or_else(|| RoleEntry {
                auth_type: "iam".into(),
                role_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            });
            if let Some(t) = auth_type {
                role.auth_type = t.to_string();
            }
            if let Some(list) = &bound {
                role.bound_iam_principal_arn = list.clone();
            }
            if role.bound_iam_principal_arn.is_empty() {
                return Err(LogicalError::bad(
                    "at least one bound parameter should be specified on the role: \
                     set bound_iam_principal_arn",
                ));
            }
            role.token.update_from_fields(d, false)?;
            role.token.validate()?;
            Ok(role)
        })
        .await?;
        Ok(Response {
            warnings,
            ..Default::default()
        })
    }

    pub(super) async fn read_role(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = role_name(c.path("role"))?;
        let Some(role) = load_role(c.view, &name).await? else {
            return Err(LogicalError::NotFound);
        };
        let mut data = Map::new();
        data.insert("auth_type".into(), json!(role.auth_type));
        data.insert(
            "bound_iam_principal_arn".into(),
            json!(role.bound_iam_principal_arn),
        );
        data.insert("bound_iam_principal_id".into(), json!([]));
        data.insert("resolve_aws_unique_ids".into(), json!(false));
        data.insert("role_id".into(), json!(role.role_id));
        for key in EC2_BINDINGS {
            data.insert((*key).into(), json!([]));
        }
        data.insert("inferred_entity_type".into(), json!(""));
        data.insert("inferred_aws_region".into(), json!(""));
        data.insert("role_tag".into(), json!(""));
        data.insert("allow_instance_migration".into(), json!(false));
        data.insert("disallow_reauthentication".into(), json!(false));
        role.token.write_json(&mut data);
        Ok(Response::data(data))
    }
}
