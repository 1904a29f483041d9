//! The AppRole auth method, compatible with Vault's `auth/approle` API.
//!
//! Paths (relative to the mount):
//! - `role` (LIST), `role/:name` (GET, POST, DELETE)
//! - `role/:name/role-id` (GET; POST sets a custom one)
//! - `role/:name/secret-id` (POST generates; LIST lists accessors)
//! - `role/:name/custom-secret-id` (POST)
//! - `role/:name/secret-id/lookup`, `.../destroy` (POST `secret_id`)
//! - `role/:name/secret-id-accessor/lookup`, `.../destroy` (POST `secret_id_accessor`)
//! - `login` (POST `role_id`, `secret_id`; unauthenticated)
//! - `tidy/secret-id` (POST)
//!
//! Storage layout inside the mount's view:
//! - `hmac_key`: 32 random bytes, made on first use; keys every hash below.
//! - `role/<name>`: JSON [`RoleEntry`] (role names are lower-cased).
//! - `role_id/<hex HMAC(role_id)>`: JSON `{"name": <role>}`, the login index.
//!   Written with an `Absent` condition, so a role_id is never shared.
//! - `secret_id/<role instance>/<hex HMAC(secret_id)>`: JSON [`SecretIdEntry`].
//! - `accessor/<role instance>/<accessor>`: JSON `{"secret_id_hmac": ...}`.
//!
//! A role's `instance` is a random id made when the role is created, so
//! secret-ids of a deleted role can never log in to a new role of the same
//! name, even if deleting them was interrupted (tidy removes such orphans).
//! Secret-ids are stored only as HMAC-SHA256 values. A secret-id with
//! `num_uses` is decremented by a batch conditioned on the exact bytes read,
//! retried on a lost race, and deleted with its last use, so concurrent
//! logins can never use it more often than allowed.
//!
//! Also the role sub-paths that read, write and delete one setting each:
//! `role/:name/{policies, token-ttl, token-max-ttl, token-num-uses, period,
//! secret-id-ttl, secret-id-num-uses, bound-cidr-list,
//! secret-id-bound-cidrs, token-bound-cidrs, bind-secret-id}` and the
//! read-only `role/:name/local-secret-ids` (see [`role_fields`]).
//!
//! Every path is declared through [`crate::logical::framework`]; the files
//! here are split by concern: [`storage`] (entries, keys, keyed hashes),
//! [`role`], [`role_fields`], [`secret_id`], [`login`], [`tidy`].

mod login;
mod role;
mod role_fields;
mod secret_id;
mod storage;
mod tidy;

use std::sync::Arc;

use crate::auth::common::TOKEN_FIELDS;
use crate::logical::framework::{DefaultValue, Field, FrameworkBackend, PathSpec, Paths};
use crate::util::{Clock, SystemClock};
use crate::{existence, handler};

/// The AppRole state the handlers share: only its clock; everything else
/// lives in the mount's storage view.
pub(crate) struct AppRole {
    clock: Arc<dyn Clock>,
}

/// The AppRole auth method: [`AppRole`] behind its declared paths.
pub(crate) type AppRoleBackend = FrameworkBackend<AppRole>;

/// The AppRole backend core mounts.
pub(crate) fn backend() -> AppRoleBackend {
    backend_with_clock(Arc::new(SystemClock))
}

pub(crate) fn backend_with_clock(clock: Arc<dyn Clock>) -> AppRoleBackend {
    FrameworkBackend::new(AppRole { clock }, paths()).unauthenticated(&["login"])
}

/// The fields of `role/:name` besides the shared token fields.
const ROLE_FIELDS: &[Field] = &[
    Field::bool(
        "bind_secret_id",
        "Impose secret_id to be presented when logging in using this role. Defaults to 'true'.",
    )
    .default(DefaultValue::Bool(true)),
    Field::comma_strings("bound_cidr_list", "Use \"secret_id_bound_cidrs\" instead."),
    Field::comma_strings(
        "secret_id_bound_cidrs",
        "Comma separated string or list of CIDR blocks. If set, specifies the blocks of IP addresses which can perform the login operation.",
    ),
    Field::int(
        "secret_id_num_uses",
        "Number of times a SecretID can access the role, after which the SecretID will expire. Defaults to 0 meaning that the the secret_id is of unlimited use.",
    ),
    Field::duration(
        "secret_id_ttl",
        "Duration in seconds after which the issued SecretID should expire. Defaults to 0, meaning no expiration.",
    ),
    Field::string("role_id", "Identifier of the role. Defaults to a UUID."),
    Field::bool(
        "local_secret_ids",
        "If set, the secret IDs generated using this role will be cluster local. This can only be set during role creation and once set, it can't be reset later.",
    ),
];

const SECRET_ID_FIELDS: &[Field] = &[
    Field::raw(
        "metadata",
        "Metadata to be tied to the SecretID: a JSON object of strings, or a string holding one.",
    ),
    Field::comma_strings(
        "cidr_list",
        "Comma separated string or list of CIDR blocks enforcing secret IDs to be used from specific set of IP addresses.",
    ),
    Field::comma_strings(
        "token_bound_cidrs",
        "Comma separated string or list of CIDR blocks. If set, specifies the blocks of IP addresses which can use the returned token.",
    ),
    Field::int(
        "num_uses",
        "Number of times this SecretID can be used, after which the SecretID expires. Defaults to the role's secret_id_num_uses.",
    ),
    Field::duration(
        "ttl",
        "Duration in seconds after which this SecretID expires. Defaults to the role's secret_id_ttl.",
    ),
];

const CUSTOM_SECRET_ID_FIELDS: &[Field] = &[Field::string(
    "secret_id",
    "SecretID to be attached to the role.",
)];

const SECRET_ID_LOOKUP_FIELDS: &[Field] =
    &[Field::string("secret_id", "SecretID attached to the role.")];

const ACCESSOR_FIELDS: &[Field] = &[Field::string(
    "secret_id_accessor",
    "Accessor of the SecretID.",
)];

const LOGIN_FIELDS: &[Field] = &[
    Field::string("role_id", "Unique identifier of the Role. Required to be supplied when the 'bind_secret_id' constraint is set."),
    Field::string("secret_id", "SecretID belong to the App role"),
];

const HELP: &str = "The AppRole backend allows machines or apps to authenticate with Vault-defined roles: a role_id, usually with a secret_id, logs in and gets a token with the role's settings.";

fn paths() -> Paths<AppRole> {
    let mut paths = vec![
        PathSpec::new("login")
            .fields(LOGIN_FIELDS)
            .write(handler!(AppRole::login))
            .help(
                "Issue a token based on the credentials supplied.",
                "While the credential 'role_id' is required at all times, other credentials required depend on the properties the role was created with.",
            ),
        PathSpec::new("tidy/secret-id")
            .write(handler!(AppRole::tidy))
            .help(
                "Trigger the clean-up of expired SecretID entries.",
                "SecretIDs will have expiration time attached to them. The periodic function of the backend will look for expired entries and delete them. This endpoint runs that clean-up on demand.",
            ),
        PathSpec::new("role")
            .list(handler!(AppRole::list_roles))
            .help(
                "Lists all the roles registered with the backend.",
                "The list will contain the names of the roles.",
            ),
        PathSpec::new("role/{role_name}")
            .fields(ROLE_FIELDS)
            .fields(TOKEN_FIELDS)
            .read(handler!(AppRole::read_role))
            .write(handler!(AppRole::write_role))
            .delete(handler!(AppRole::delete_role))
            .exists(existence!(AppRole::role_exists))
            .help(
                "Register an role with the backend.",
                "A role can represent a service, a machine or anything that can be IDed. The properties of the SecretIDs created against the role, and of the tokens issued with them, are configured with the fields of this endpoint.",
            ),
        PathSpec::new("role/{role_name}/role-id")
            .fields(&[Field::string("role_id", "Identifier of the role.")])
            .read(handler!(AppRole::read_role_id))
            .write(handler!(AppRole::write_role_id))
            .help(
                "Returns the 'role_id' of the role.",
                "If login is performed from an role, then its 'role_id' should be presented as a credential during the login. This 'role_id' can be retrieved using this endpoint, or set to a custom value.",
            ),
        PathSpec::new("role/{role_name}/secret-id")
            .fields(SECRET_ID_FIELDS)
            .write(handler!(AppRole::generate_secret_id))
            .list(handler!(AppRole::list_secret_ids))
            .help(
                "Generate a SecretID against this role.",
                "The SecretID generated using this endpoint will be scoped to access just this role and none else. LIST lists the accessors of the role's SecretIDs.",
            ),
        PathSpec::new("role/{role_name}/custom-secret-id")
            .fields(SECRET_ID_FIELDS)
            .fields(CUSTOM_SECRET_ID_FIELDS)
            .write(handler!(AppRole::custom_secret_id))
            .help(
                "Assign a SecretID of choice against the role.",
                "This option is not recommended unless there is a specific need to do so. This will assign a client supplied SecretID to be used to access the role.",
            ),
        PathSpec::new("role/{role_name}/secret-id/lookup")
            .fields(SECRET_ID_LOOKUP_FIELDS)
            .write(handler!(AppRole::lookup))
            .help(
                "Read the properties of an issued secret_id",
                "This endpoint is used to read the properties of a secret_id associated to a role.",
            ),
        PathSpec::new("role/{role_name}/secret-id/destroy")
            .fields(SECRET_ID_LOOKUP_FIELDS)
            .write(handler!(AppRole::destroy))
            .delete(handler!(AppRole::destroy))
            .help(
                "Invalidate an issued secret_id",
                "This endpoint is used to delete the properties of a secret_id associated to a role.",
            ),
        PathSpec::new("role/{role_name}/secret-id-accessor/lookup")
            .fields(ACCESSOR_FIELDS)
            .write(handler!(AppRole::lookup_accessor))
            .help(
                "Read an issued secret_id, using its accessor.",
                "This is particularly useful to lookup the non-expiring 'secret_id's. The list operation on the 'role/<role_name>/secret-id' endpoint will return the 'secret_id_accessor's. This endpoint can be used to read the properties of the secret.",
            ),
        PathSpec::new("role/{role_name}/secret-id-accessor/destroy")
            .fields(ACCESSOR_FIELDS)
            .write(handler!(AppRole::destroy_accessor))
            .delete(handler!(AppRole::destroy_accessor))
            .help(
                "Delete an issued secret_id, using its accessor.",
                "This is particularly useful to clean-up the non-expiring 'secret_id's. The list operation on the 'role/<role_name>/secret-id' endpoint will return the 'secret_id_accessor's. This endpoint can be used to delete the properties of the secret.",
            ),
    ];
    for (pattern, _, field) in role_fields::SEGMENTS {
        paths.push(role_field_path(pattern, *field));
    }
    Paths::new(HELP, paths)
}

/// One `role/:name/<setting>` path; `local-secret-ids` is read-only.
fn role_field_path(pattern: &'static str, field: role_fields::RoleField) -> PathSpec<AppRole> {
    let spec = PathSpec::new(pattern)
        .fields(&field.fields())
        .read(handler!(AppRole::read_field));
    let spec = if field == role_fields::RoleField::LocalSecretIds {
        spec
    } else {
        spec.write(handler!(AppRole::write_field))
            .delete(handler!(AppRole::delete_field))
    };
    spec.help(
        "Read, update or reset one setting of the role.",
        "Reading answers with the setting under its field name; writing needs that field; deleting resets the setting to its default.",
    )
}

#[cfg(test)]
mod tests;
