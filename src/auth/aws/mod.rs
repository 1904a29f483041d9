//! The AWS auth method, `iam` login type, compatible with Vault's `auth/aws`
//! API (what Vault clients use from Lambda, ECS and EC2 instance roles).
//!
//! Paths (relative to the mount):
//! - `config/client` (GET, POST, DELETE; [`config`]): the STS endpoint and
//!   the `X-Vault-AWS-IAM-Server-ID` value; `secret_key` is stored but never
//!   returned (Strongroom calls no AWS API that needs credentials).
//! - `config/identity` (GET, POST; [`identity`]): the entity alias a login
//!   gets (`iam_alias`) and the metadata it carries (`iam_metadata`).
//! - `role/{role}` (GET, POST, DELETE), `role` / `roles` (LIST; [`role`]).
//! - `login` (POST, unauthenticated; [`login`]): `role`,
//!   `iam_http_request_method`, `iam_request_url`, `iam_request_body`,
//!   `iam_request_headers`.
//!
//! The signed request is decoded and checked in [`request`]; where it is
//! sent and which hosts it may be signed for is [`endpoint`]; [`sts`] sends
//! it; [`arn`] matches the caller; [`storage`] is what is stored.
//!
//! A login carries a SigV4-signed `sts:GetCallerIdentity` request the client
//! made with its AWS credentials but did not send. Strongroom checks that the
//! request is exactly that call, aimed at the STS host Strongroom trusts, and
//! signed over the headers that matter, *before* anything leaves the server;
//! then it sends it to the configured STS endpoint (never to the URL the
//! client names). STS answers with the caller's ARN only when the signature
//! is valid; the ARN is matched against the role's `bound_iam_principal_arn`.
//!
//! Checks made before sending (each refusal is a 400 with a message, as
//! Vault answers):
//! - the method is `POST`; the URL has path `/` and no query;
//! - the body is exactly the form `Action=GetCallerIdentity&Version=2011-06-15`;
//! - `Authorization` is AWS SigV4 (`AWS4-HMAC-SHA256`) with a credential
//!   scope for `sts`, and `SignedHeaders` includes `host` and `x-amz-date`;
//!   every signed header is present;
//! - the signed `Host` (the header, or the URL's host when no header is
//!   given, as Vault infers it) is the STS endpoint's host or a standard STS
//!   host (`sts.amazonaws.com`, `sts.<signing region>.amazonaws.com`), which
//!   SDKs and hvac sign for whatever `sts_endpoint` is; the request still
//!   goes only to the configured endpoint, with that Host;
//! - `X-Amz-Date` is within 15 minutes of now (STS's own window);
//! - with `iam_server_id_header_value` configured, `X-Vault-AWS-IAM-Server-ID`
//!   is present, equal, and signed;
//! - `X-Amz-*` headers are limited to Vault's allow-list plus
//!   `allowed_sts_header_values`.
//!
//! Differences from Vault, by design:
//! - Only the `iam` auth type exists; `ec2` roles and logins are refused.
//! - `resolve_aws_unique_ids` is accepted but always behaves as `false`
//!   (resolving needs IAM API calls): principals are matched by canonical ARN,
//!   so a principal deleted and re-created under the same ARN still matches.
//!   Wildcard bindings are matched against the ARN STS returns (for an
//!   assumed role, `arn:aws:iam::ACCOUNT:role/NAME` without the role's path,
//!   which STS does not report).
//! - The default STS endpoint honours `AWS_ENDPOINT_URL_STS` and then
//!   `AWS_ENDPOINT_URL`, as the AWS SDKs do.

mod arn;
mod config;
mod endpoint;
mod identity;
mod login;
mod request;
mod role;
mod storage;
mod sts;

use crate::auth::common::TOKEN_FIELDS;
use crate::logical::framework::{FrameworkBackend, PathSpec, Paths};
use crate::{existence, handler};

/// The AWS auth method's state: the STS client (the rest is in storage).
#[derive(Default)]
pub(crate) struct AwsAuth {
    sts: sts::StsClient,
}

/// The mountable AWS auth method.
pub(crate) type AwsAuthBackend = FrameworkBackend<AwsAuth>;

const HELP: &str = "\
The aws auth method authenticates AWS IAM principals (users, roles, Lambda
functions, ECS tasks, EC2 instance profiles) with a signed
sts:GetCallerIdentity request. Only the iam auth type is supported.
";

/// The AWS auth method with its declared paths.
pub(crate) fn backend() -> AwsAuthBackend {
    let role_fields: Vec<_> = role::ROLE_FIELDS
        .iter()
        .chain(TOKEN_FIELDS)
        .copied()
        .collect();
    FrameworkBackend::new(
        AwsAuth::default(),
        Paths::new(
            HELP,
            vec![
                PathSpec::new("login")
                    .fields(login::LOGIN_FIELDS)
                    .write(handler!(AwsAuth::login))
                    .help(
                        "Authenticates an AWS IAM principal with Strongroom.",
                        "A client signs an sts:GetCallerIdentity request with its AWS credentials and \
                         sends it here unsent; Strongroom checks it, sends it to the configured STS \
                         endpoint, and matches the caller's ARN against the role.",
                    ),
                PathSpec::new("config/client")
                    .fields(config::CONFIG_FIELDS)
                    .read(handler!(AwsAuth::read_config))
                    .write(handler!(AwsAuth::write_config))
                    .delete(handler!(AwsAuth::delete_config))
                    .exists(existence!(AwsAuth::config_exists))
                    .help(
                        "Configure the STS endpoint and the server ID header logins must carry.",
                        "sts_endpoint is where logins are sent (default: AWS_ENDPOINT_URL_STS, \
                         AWS_ENDPOINT_URL, then https://sts.amazonaws.com); with \
                         iam_server_id_header_value set, logins must sign X-Vault-AWS-IAM-Server-ID \
                         with that value.",
                    ),
                PathSpec::new("config/identity")
                    .fields(identity::IDENTITY_FIELDS)
                    .read(handler!(AwsAuth::read_identity))
                    .write(handler!(AwsAuth::write_identity))
                    .help(
                        "Configure the way the AWS auth method interacts with the identity store.",
                        "iam_alias names the entity alias of an iam login (role_id, unique_id,                          full_arn or canonical_arn); iam_metadata lists the login metadata the                          alias carries.",
                    ),
                PathSpec::new("role/{role}")
                    .fields(&role_fields)
                    .read(handler!(AwsAuth::read_role))
                    .write(handler!(AwsAuth::write_role))
                    .delete(handler!(AwsAuth::delete_role))
                    .exists(existence!(AwsAuth::role_exists))
                    .help(
                        "Create a role and associate policies to it.",
                        "A role binds IAM principal ARNs (bound_iam_principal_arn, exact or ending \
                         in *) to the token settings a login is granted.",
                    ),
                PathSpec::new("role")
                    .list(handler!(AwsAuth::list_roles))
                    .help("Lists all the roles that are registered.", ""),
                PathSpec::new("roles")
                    .list(handler!(AwsAuth::list_roles))
                    .help("Lists all the roles that are registered.", ""),
            ],
        ),
    )
    .unauthenticated(&["login"])
}

#[cfg(test)]
mod tests;
