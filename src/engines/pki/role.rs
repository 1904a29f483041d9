//! `roles/:name`: what a role lets `issue` and `sign` put in a certificate.
//! A write replaces the whole role (Vault's create/update), defaults as
//! Vault's; the read shows every field Vault shows.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::keys::validate_type_bits;
use super::storage::{parse, put};
use super::Pki;
use crate::logical::framework::{Ctx, DefaultValue as D, Field};
use crate::logical::{LogicalError, LogicalResult, Response};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Role {
    pub(crate) ttl: u64,
    pub(crate) max_ttl: u64,
    pub(crate) allow_localhost: bool,
    pub(crate) allowed_domains: Vec<String>,
    pub(crate) allowed_domains_template: bool,
    pub(crate) allow_bare_domains: bool,
    pub(crate) allow_subdomains: bool,
    pub(crate) allow_glob_domains: bool,
    pub(crate) allow_wildcard_certificates: bool,
    pub(crate) allow_any_name: bool,
    pub(crate) enforce_hostnames: bool,
    pub(crate) allow_ip_sans: bool,
    pub(crate) allowed_ip_sans_cidr: Vec<String>,
    pub(crate) allowed_uri_sans: Vec<String>,
    pub(crate) allowed_uri_sans_template: bool,
    pub(crate) allowed_other_sans: Vec<String>,
    pub(crate) allowed_serial_numbers: Vec<String>,
    pub(crate) allowed_user_ids: Vec<String>,
    pub(crate) server_flag: bool,
    pub(crate) client_flag: bool,
    pub(crate) code_signing_flag: bool,
    pub(crate) email_protection_flag: bool,
    pub(crate) key_type: String,
    pub(crate) key_bits: u32,
    pub(crate) signature_bits: u32,
    pub(crate) use_pss: bool,
    pub(crate) key_usage: Vec<String>,
    pub(crate) ext_key_usage: Vec<String>,
    pub(crate) ext_key_usage_oids: Vec<String>,
    pub(crate) use_csr_common_name: bool,
    pub(crate) use_csr_sans: bool,
    pub(crate) ou: Vec<String>,
    pub(crate) organization: Vec<String>,
    pub(crate) country: Vec<String>,
    pub(crate) locality: Vec<String>,
    pub(crate) province: Vec<String>,
    pub(crate) street_address: Vec<String>,
    pub(crate) postal_code: Vec<String>,
    pub(crate) generate_lease: bool,
    pub(crate) no_store: bool,
    pub(crate) require_cn: bool,
    pub(crate) cn_validations: Vec<String>,
    pub(crate) policy_identifiers: Vec<String>,
    pub(crate) basic_constraints_valid_for_non_ca: bool,
    pub(crate) not_before_duration: u64,
    pub(crate) not_after: String,
    pub(crate) issuer_ref: String,
    pub(crate) allow_token_displayname: bool,
    pub(crate) allow_globs_in_identity_templates: bool,
    pub(crate) not_before_bound: String,
    pub(crate) not_after_bound: String,
    pub(crate) not_before: String,
}

impl Default for Role {
    fn default() -> Self {
        Self {
            ttl: 0,
            max_ttl: 0,
            allow_localhost: true,
            allowed_domains: vec![],
            allowed_domains_template: false,
            allow_bare_domains: false,
            allow_subdomains: false,
            allow_glob_domains: false,
            allow_wildcard_certificates: true,
            allow_any_name: false,
            enforce_hostnames: true,
            allow_ip_sans: true,
            allowed_ip_sans_cidr: vec![],
            allowed_uri_sans: vec![],
            allowed_uri_sans_template: false,
            allowed_other_sans: vec![],
            allowed_serial_numbers: vec![],
            allowed_user_ids: vec![],
            server_flag: true,
            client_flag: true,
            code_signing_flag: false,
            email_protection_flag: false,
            key_type: "rsa".into(),
            key_bits: 2048,
            signature_bits: 0,
            use_pss: false,
            key_usage: default_key_usage(),
            ext_key_usage: vec![],
            ext_key_usage_oids: vec![],
            use_csr_common_name: true,
            use_csr_sans: true,
            ou: vec![],
            organization: vec![],
            country: vec![],
            locality: vec![],
            province: vec![],
            street_address: vec![],
            postal_code: vec![],
            generate_lease: false,
            no_store: false,
            require_cn: true,
            cn_validations: vec!["email".into(), "hostname".into()],
            policy_identifiers: vec![],
            basic_constraints_valid_for_non_ca: false,
            not_before_duration: 30,
            not_after: String::new(),
            issuer_ref: "default".into(),
            allow_token_displayname: false,
            allow_globs_in_identity_templates: false,
            not_before_bound: "permit".into(),
            not_after_bound: "permit".into(),
            not_before: String::new(),
        }
    }
}

fn default_key_usage() -> Vec<String> {
    vec![
        "DigitalSignature".into(),
        "KeyAgreement".into(),
        "KeyEncipherment".into(),
    ]
}

macro_rules! s {
    ($n:expr) => {
        Field::string($n, "")
    };
}
macro_rules! b {
    ($n:expr, $d:expr) => {
        Field::bool($n, "").default(D::Bool($d))
    };
}
macro_rules! l {
    ($n:expr) => {
        Field::comma_strings($n, "")
    };
}

pub(crate) const ROLE_FIELDS: &[Field] = &[
    Field::string("name", "Name of the role"),
    Field::duration(
        "ttl",
        "The lease duration (validity period of the certificate)",
    ),
    Field::duration("max_ttl", "The maximum allowed lease duration"),
    b!("allow_localhost", true),
    l!("allowed_domains"),
    b!("allowed_domains_template", false),
    b!("allow_bare_domains", false),
    b!("allow_subdomains", false),
    b!("allow_glob_domains", false),
    b!("allow_wildcard_certificates", true),
    b!("allow_any_name", false),
    b!("enforce_hostnames", true),
    b!("allow_ip_sans", true),
    l!("allowed_ip_sans_cidr"),
    l!("allowed_uri_sans"),
    b!("allowed_uri_sans_template", false),
    l!("allowed_other_sans"),
    l!("allowed_serial_numbers"),
    l!("allowed_user_ids"),
    b!("server_flag", true),
    b!("client_flag", true),
    b!("code_signing_flag", false),
    b!("email_protection_flag", false),
    Field::string("key_type", "").default(D::Str("rsa")),
    Field::int("key_bits", "").default(D::Int(0)),
    Field::int("signature_bits", "").default(D::Int(0)),
    b!("use_pss", false),
    l!("key_usage"),
    l!("ext_key_usage"),
    l!("ext_key_usage_oids"),
    b!("use_csr_common_name", true),
    b!("use_csr_sans", true),
    l!("ou"),
    l!("organization"),
    l!("country"),
    l!("locality"),
    l!("province"),
    l!("street_address"),
    l!("postal_code"),
    b!("generate_lease", false),
    b!("no_store", false),
    b!("require_cn", true),
    l!("cn_validations"),
    l!("policy_identifiers"),
    b!("basic_constraints_valid_for_non_ca", false),
    Field::duration("not_before_duration", "").default(D::Int(30)),
    s!("not_after"),
    Field::string("issuer_ref", "").default(D::Str("default")),
    b!("allow_token_displayname", false),
    b!("allow_globs_in_identity_templates", false),
    Field::string("not_before_bound", "").default(D::Str("permit")),
    Field::string("not_after_bound", "").default(D::Str("permit")),
    s!("not_before"),
];

/// Vault's key usage names (case-insensitive, `KeyUsage` prefix allowed).
pub(crate) const KEY_USAGES: &[&str] = &[
    "DigitalSignature",
    "ContentCommitment",
    "KeyEncipherment",
    "DataEncipherment",
    "KeyAgreement",
    "CertSign",
    "CRLSign",
    "EncipherOnly",
    "DecipherOnly",
];

pub(crate) const EXT_KEY_USAGES: &[&str] = &[
    "Any",
    "ServerAuth",
    "ClientAuth",
    "CodeSigning",
    "EmailProtection",
    "IPSECEndSystem",
    "IPSECTunnel",
    "IPSECUser",
    "TimeStamping",
    "OCSPSigning",
    "MicrosoftServerGatedCrypto",
    "NetscapeServerGatedCrypto",
    "MicrosoftCommercialCodeSigning",
    "MicrosoftKernelCodeSigning",
];

impl Role {
    fn from_ctx(c: &Ctx<'_>) -> Result<Self, LogicalError> {
        let f = &c.fields;
        let list = |n: &str| f.list(n);
        let key_type = f.str("key_type");
        let bits = f.get::<i64>("key_bits").unwrap_or(0);
        let key_bits = validate_type_bits(&key_type, u32::try_from(bits).unwrap_or(1))?;
        let mut role = Role {
            ttl: f.get::<u64>("ttl").unwrap_or(0),
            max_ttl: f.get::<u64>("max_ttl").unwrap_or(0),
            allow_localhost: f.flag("allow_localhost"),
            allowed_domains: list("allowed_domains"),
            allowed_domains_template: f.flag("allowed_domains_template"),
            allow_bare_domains: f.flag("allow_bare_domains"),
            allow_subdomains: f.flag("allow_subdomains"),
            allow_glob_domains: f.flag("allow_glob_domains"),
            allow_wildcard_certificates: f.flag("allow_wildcard_certificates"),
            allow_any_name: f.flag("allow_any_name"),
            enforce_hostnames: f.flag("enforce_hostnames"),
            allow_ip_sans: f.flag("allow_ip_sans"),
            allowed_ip_sans_cidr: list("allowed_ip_sans_cidr"),
            allowed_uri_sans: list("allowed_uri_sans"),
            allowed_uri_sans_template: f.flag("allowed_uri_sans_template"),
            allowed_other_sans: list("allowed_other_sans"),
            allowed_serial_numbers: list("allowed_serial_numbers"),
            allowed_user_ids: list("allowed_user_ids"),
            server_flag: f.flag("server_flag"),
            client_flag: f.flag("client_flag"),
            code_signing_flag: f.flag("code_signing_flag"),
            email_protection_flag: f.flag("email_protection_flag"),
            key_type,
            key_bits,
            signature_bits: f.get::<i64>("signature_bits").unwrap_or(0).clamp(0, 512) as u32,
            use_pss: f.flag("use_pss"),
            key_usage: f
                .get_ok::<Vec<String>>("key_usage")
                .unwrap_or_else(default_key_usage),
            ext_key_usage: list("ext_key_usage"),
            ext_key_usage_oids: list("ext_key_usage_oids"),
            use_csr_common_name: f.flag("use_csr_common_name"),
            use_csr_sans: f.flag("use_csr_sans"),
            ou: list("ou"),
            organization: list("organization"),
            country: list("country"),
            locality: list("locality"),
            province: list("province"),
            street_address: list("street_address"),
            postal_code: list("postal_code"),
            generate_lease: f.flag("generate_lease"),
            no_store: f.flag("no_store"),
            require_cn: f.flag("require_cn"),
            cn_validations: f
                .get_ok::<Vec<String>>("cn_validations")
                .unwrap_or_else(|| vec!["email".into(), "hostname".into()]),
            policy_identifiers: list("policy_identifiers"),
            basic_constraints_valid_for_non_ca: f.flag("basic_constraints_valid_for_non_ca"),
            not_before_duration: f.get::<u64>("not_before_duration").unwrap_or(30),
            not_after: f.str("not_after"),
            issuer_ref: f.str("issuer_ref"),
            allow_token_displayname: f.flag("allow_token_displayname"),
            allow_globs_in_identity_templates: f.flag("allow_globs_in_identity_templates"),
            not_before_bound: f.str("not_before_bound"),
            not_after_bound: f.str("not_after_bound"),
            not_before: f.str("not_before"),
        };
        role.validate()?;
        if role.issuer_ref.is_empty() {
            role.issuer_ref = "default".into();
        }
        Ok(role)
    }

    fn validate(&mut self) -> Result<(), LogicalError> {
        if self.max_ttl > 0 && self.ttl > self.max_ttl {
            return Err(LogicalError::bad(
                "\"ttl\" value must be less than \"max_ttl\" value",
            ));
        }
        for u in &mut self.key_usage {
            let bare = u.trim().trim_start_matches("KeyUsage");
            match KEY_USAGES.iter().find(|k| k.eq_ignore_ascii_case(bare)) {
                Some(k) => *u = (*k).to_string(),
                None => return Err(LogicalError::bad(format!("unrecognized key usage {u}"))),
            }
        }
        for u in &mut self.ext_key_usage {
            let bare = u.trim().trim_start_matches("ExtKeyUsage");
            match EXT_KEY_USAGES.iter().find(|k| k.eq_ignore_ascii_case(bare)) {
                Some(k) => *u = (*k).to_string(),
                None => {
                    return Err(LogicalError::bad(format!(
                        "unrecognized extended key usage {u}"
                    )))
                }
            }
        }
        if self.generate_lease && self.no_store {
            return Err(LogicalError::bad(
                "Can't set both generate_lease and no_store to true, because a lease needs the certificate to be stored",
            ));
        }
        Ok(())
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }
}

impl Pki {
    pub(crate) async fn role(
        &self,
        c: &Ctx<'_>,
        name: &str,
    ) -> Result<Option<std::sync::Arc<Role>>, LogicalError> {
        self.roles
            .get_or_load(c.view, &format!("roles/{name}"), parse::<Role>)
            .await
    }

    pub(crate) async fn role_list(&self, c: &Ctx<'_>) -> LogicalResult {
        let keys = c.view.list("roles/").await?;
        if keys.is_empty() {
            return Err(LogicalError::NotFound);
        }
        Ok(Response::list(keys))
    }

    pub(crate) async fn role_read(&self, c: &Ctx<'_>) -> LogicalResult {
        match self.role(c, c.path("name")).await? {
            Some(r) => Ok(Response::data(r.to_json())),
            None => Err(LogicalError::NotFound),
        }
    }

    pub(crate) async fn role_write(&self, c: &Ctx<'_>) -> LogicalResult {
        let name = c.path("name");
        let role = Role::from_ctx(c)?;
        c.view
            .batch_bump(vec![put(&format!("roles/{name}"), &role)?])
            .await?;
        Ok(Response::data(role.to_json()))
    }

    pub(crate) async fn role_delete(&self, c: &Ctx<'_>) -> LogicalResult {
        let key = format!("roles/{}", c.path("name"));
        c.view
            .batch_bump(vec![crate::storage::BatchItem::delete(key.clone())])
            .await?;
        self.roles.remove(&key);
        Ok(Response::empty())
    }

    pub(crate) async fn role_exists(&self, c: &Ctx<'_>) -> Result<bool, LogicalError> {
        Ok(c.view
            .get(&format!("roles/{}", c.path("name")))
            .await?
            .is_some())
    }
}

/// The role `sign-verbatim` and the CA paths act under: anything goes.
pub(crate) fn permissive_role() -> Role {
    Role {
        allow_any_name: true,
        enforce_hostnames: false,
        allow_ip_sans: true,
        allowed_uri_sans: vec!["*".into()],
        key_type: "any".into(),
        key_bits: 0,
        cn_validations: vec!["disabled".into()],
        require_cn: false,
        ..Role::default()
    }
}
