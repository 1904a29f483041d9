//! IAM principal ARNs: parsing what STS reports, canonicalising it as Vault
//! does, and matching it against a role's `bound_iam_principal_arn`.

use crate::logical::LogicalError;

/// An IAM principal as STS reports it (Vault's `iamEntity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IamEntity {
    pub(super) partition: String,
    pub(super) account: String,
    /// `user`, `role`, `assumed-role` or `instance-profile`.
    pub(super) kind: String,
    pub(super) path: String,
    /// The user or role name.
    pub(super) friendly_name: String,
    /// The session name of an assumed role.
    pub(super) session: String,
}

impl IamEntity {
    /// Parses `arn:aws:iam::ACCT:user/path/NAME` or
    /// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION` (and `role/`,
    /// `instance-profile/`), as Vault's `parseIamArn` does.
    pub(super) fn parse(arn: &str) -> Result<Self, String> {
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() != 6 {
            return Err(format!(
                "unrecognized arn: contains {} colon-separated parts, expected 6",
                parts.len()
            ));
        }
        if parts[0] != "arn" {
            return Err("unrecognized arn: does not begin with \"arn:\"".into());
        }
        if parts[2] != "iam" && parts[2] != "sts" {
            return Err(format!(
                "unrecognized service: {}, not one of iam or sts",
                parts[2]
            ));
        }
        if parts[1].is_empty() || parts[4].is_empty() {
            return Err("unrecognized arn: missing partition or account".into());
        }
        let segs: Vec<&str> = parts[5].split('/').collect();
        if segs.len() < 2 || segs.iter().any(|s| s.is_empty()) {
            return Err(format!(
                "unrecognized arn: {:?} contains fewer than 2 slash-separated parts",
                parts[5]
            ));
        }
        let mut entity = IamEntity {
            partition: parts[1].to_string(),
            account: parts[4].to_string(),
            kind: segs[0].to_string(),
            path: segs[1..segs.len() - 1].join("/"),
            friendly_name: segs[segs.len() - 1].to_string(),
            session: String::new(),
        };
        match entity.kind.as_str() {
            "assumed-role" => {
                if segs.len() != 3 {
                    return Err(format!(
                        "unrecognized arn: assumed-role ARN {arn:?} must be assumed-role/ROLE/SESSION"
                    ));
                }
                entity.path = String::new();
                entity.friendly_name = segs[1].to_string();
                entity.session = segs[2].to_string();
            }
            "user" | "role" | "instance-profile" => {}
            other => return Err(format!("unrecognized principal type: {other:?}")),
        }
        Ok(entity)
    }

    /// `arn:PARTITION:iam::ACCOUNT:TYPE/NAME`, with `assumed-role` turned
    /// into `role` and the path dropped (Vault's `canonicalArn`).
    pub(super) fn canonical_arn(&self) -> String {
        let kind = if self.kind == "assumed-role" {
            "role"
        } else {
            self.kind.as_str()
        };
        format!(
            "arn:{}:iam::{}:{}/{}",
            self.partition, self.account, kind, self.friendly_name
        )
    }

    /// The ARN wildcard bindings are matched against: the IAM ARN with its
    /// path when STS reports one (users), else the canonical ARN.
    pub(super) fn full_arn(&self) -> String {
        if self.path.is_empty() {
            return self.canonical_arn();
        }
        let kind = if self.kind == "assumed-role" {
            "role"
        } else {
            self.kind.as_str()
        };
        format!(
            "arn:{}:iam::{}:{}/{}/{}",
            self.partition, self.account, kind, self.path, self.friendly_name
        )
    }
}

/// Vault's `strutil.GlobbedStringsMatch`: a leading and/or trailing `*`.
pub(super) fn globbed_match(pattern: &str, value: &str) -> bool {
    if pattern.len() < 2 {
        return pattern == value;
    }
    let prefix = pattern.starts_with('*');
    let suffix = pattern.ends_with('*');
    match (prefix, suffix) {
        (true, true) => value.contains(&pattern[1..pattern.len() - 1]),
        (true, false) => value.ends_with(&pattern[1..]),
        (false, true) => value.starts_with(&pattern[..pattern.len() - 1]),
        (false, false) => pattern == value,
    }
}

/// Whether the principal matches one of the role's bindings: an exact
/// canonical ARN, or (for entries ending in `*`) a glob over the full ARN.
pub(super) fn principal_matches(bindings: &[String], entity: &IamEntity) -> bool {
    let canonical = entity.canonical_arn();
    let full = entity.full_arn();
    bindings.iter().any(|b| {
        if b.ends_with('*') {
            globbed_match(b, &full) || globbed_match(b, &canonical)
        } else {
            *b == canonical
        }
    })
}

pub(super) fn validate_binding(arn: &str) -> Result<(), LogicalError> {
    if arn == "*" || !arn.starts_with("arn:") {
        return Err(LogicalError::bad(format!(
            "bound_iam_principal_arn: {arn:?} is not an IAM principal ARN \
             (e.g. arn:aws:iam::123456789012:role/NAME, or a prefix ending in *)"
        )));
    }
    if arn.ends_with('*') {
        return Ok(());
    }
    IamEntity::parse(arn)
        .map(|_| ())
        .map_err(|e| LogicalError::bad(format!("bound_iam_principal_arn: {arn:?}: {e}")))
}
