//! `login` (unauthenticated): validate the signed request, send it to STS,
//! match the caller's ARN against the role, and describe the grant.

use std::collections::BTreeMap;

use super::arn::{principal_matches, IamEntity};
use super::request::{validate_request, LoginRequest};
use super::storage::{load_config, load_role, role_name};
use super::AwsAuth;
use crate::auth::common::addr_allowed;
use crate::logical::framework::{Ctx, Field};
use crate::logical::{LogicalError, LogicalResult, Response};

pub(super) const LOGIN_FIELDS: &[Field] = &[
    Field::string(
        "role",
        "Name of the role against which the login is being attempted. Defaults to the friendly name of the IAM principal.",
    ),
    Field::string(
        "iam_http_request_method",
        "HTTP method to use for the AWS request when auth_type is iam. This must match what has been signed in the presigned request. Currently, POST is the only supported value.",
    ),
    Field::string(
        "iam_request_url",
        "Base64-encoded full URL against which to make the AWS request when using iam auth_type.",
    ),
    Field::string(
        "iam_request_body",
        "Base64-encoded request body when auth_type is iam. This must match the request body included in the signature.",
    ),
    Field::raw(
        "iam_request_headers",
        "Key/value pairs of headers for use in the sts:GetCallerIdentity HTTP requests headers when auth_type is iam. Can be either a Base64-encoded, JSON-serialized string, or a JSON object of key/value pairs.",
    ),
    Field::string("pkcs7", "Not supported (ec2 auth type)."),
    Field::string("identity", "Not supported (ec2 auth type)."),
    Field::string("signature", "Not supported (ec2 auth type)."),
    Field::string("nonce", "Not supported (ec2 auth type)."),
];

impl AwsAuth {
    pub(super) async fn login(&self, c: &Ctx<'_>) -> LogicalResult {
        let d = &c.fields;
        if ["pkcs7", "identity", "signature"]
            .iter()
            .any(|k| d.get_ok::<String>(k).is_some_and(|v| !v.trim().is_empty()))
        {
            return Err(LogicalError::bad(
                "the ec2 auth type is not supported: log in with the iam auth type (a signed sts:GetCallerIdentity request)",
            ));
        }
        let login = LoginRequest::from_fields(d)?;
        let role_param = d
            .get_ok::<String>("role")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let config = load_config(c.view).await?.unwrap_or_default();
        // Every check that does not need STS, before anything is sent.
        let validated = validate_request(&login, &config, chrono::Utc::now())?;

        let caller = self.sts.get_caller_identity(&validated).await?;
        let entity = IamEntity::parse(&caller.arn)
            .map_err(|e| LogicalError::bad(format!("error parsing arn {:?}: {e}", caller.arn)))?;

        let raw_role = role_param.unwrap_or_else(|| entity.friendly_name.clone());
        let name = role_name(&raw_role)
            .map_err(|_| LogicalError::bad(format!("entry for role {raw_role} not found")))?;
        let role = load_role(c.view, &name)
            .await?
            .ok_or_else(|| LogicalError::bad(format!("entry for role {name} not found")))?;
        if role.auth_type != "iam" {
            return Err(LogicalError::bad(format!(
                "auth method iam not allowed for role {name}"
            )));
        }
        if !principal_matches(&role.bound_iam_principal_arn, &entity) {
            return Err(LogicalError::bad(format!(
                "IAM Principal {:?} does not belong to the role {name:?}",
                caller.arn
            )));
        }
        if !role.token.token_bound_cidrs.is_empty()
            && !addr_allowed(&role.token.token_bound_cidrs, c.req.remote_addr)
        {
            return Err(LogicalError::PermissionDenied);
        }
        // "userID:sessionName" for an assumed role, the user's ID otherwise.
        let user_id = caller
            .user_id
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        let mut auth = role.token.auth();
        auth.metadata = BTreeMap::from([
            ("account_id".to_string(), entity.account.clone()),
            ("auth_type".to_string(), "iam".to_string()),
            ("canonical_arn".to_string(), entity.canonical_arn()),
            ("client_arn".to_string(), caller.arn.clone()),
            ("client_user_id".to_string(), user_id),
            ("inferred_entity_id".to_string(), String::new()),
            ("inferred_entity_type".to_string(), String::new()),
            ("inferred_aws_region".to_string(), String::new()),
            ("role_id".to_string(), role.role_id.clone()),
        ]);
        let identity = super::identity::load_identity(c.view).await?;
        auth.alias = Some(super::identity::iam_alias(
            &identity,
            &role.role_id,
            auth.metadata
                .get("client_user_id")
                .map(String::as_str)
                .unwrap_or_default(),
            &caller.arn,
            &entity.canonical_arn(),
            &auth.metadata,
        ));
        auth.display_name = entity.friendly_name.clone();
        Ok(Response {
            auth: Some(auth),
            ..Default::default()
        })
    }
}
