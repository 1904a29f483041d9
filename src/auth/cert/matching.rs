//! The `allowed_*` and `required_extensions` constraints of a trusted
//! certificate entry, checked against the client's leaf certificate as
//! Vault's `matchesConstraints` does: every configured list must be matched
//! by at least one of its patterns (an empty list allows everything), and
//! every required extension must be present with a matching value.

use super::entry::CertEntry;
use super::x509::CertInfo;

/// `ryanuber/go-glob`, which Vault's cert method uses: `*` matches any run
/// of characters (none included), anywhere in the pattern, any number of
/// times; everything else matches itself.
pub(super) fn glob(pattern: &str, subject: &str) -> bool {
    if pattern.is_empty() {
        return subject.is_empty();
    }
    if pattern == "*" {
        return true;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == subject;
    }
    let leading = pattern.starts_with('*');
    let trailing = pattern.ends_with('*');
    let last = parts.len() - 1;
    let mut rest = subject;
    for (i, part) in parts[..last].iter().enumerate() {
        match rest.find(part) {
            Some(idx) if i == 0 && !leading && idx != 0 => return false,
            Some(idx) => rest = &rest[idx + part.len()..],
            None => return false,
        }
    }
    trailing || rest.ends_with(parts[last])
}

fn any_match(patterns: &[String], values: &[&str]) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| values.iter().any(|v| glob(p, v)))
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Whether the leaf satisfies every name and extension constraint of `entry`.
pub(super) fn matches_constraints(entry: &CertEntry, leaf: &CertInfo) -> bool {
    let cn = [leaf.common_name.as_str()];
    let mut names = vec![leaf.common_name.as_str()];
    names.extend(strs(&leaf.dns_names));
    names.extend(strs(&leaf.email_addresses));
    any_match(&entry.allowed_names, &names)
        && any_match(&entry.allowed_common_names, &cn)
        && any_match(&entry.allowed_dns_sans, &strs(&leaf.dns_names))
        && any_match(&entry.allowed_email_sans, &strs(&leaf.email_addresses))
        && any_match(&entry.allowed_uri_sans, &strs(&leaf.uris))
        && any_match(
            &entry.allowed_organizational_units,
            &strs(&leaf.organizational_units),
        )
        && matches_extensions(&entry.required_extensions, leaf)
}

/// `required_extensions` entries are `oid:value-glob`; each must name an
/// extension of the leaf whose string value matches.
fn matches_extensions(required: &[String], leaf: &CertInfo) -> bool {
    if required.is_empty() {
        return true;
    }
    required.iter().all(|r| {
        let (oid, pattern) = r.split_once(':').unwrap_or((r.as_str(), ""));
        leaf.extensions
            .get(oid)
            .is_some_and(|value| glob(pattern, value))
    })
}

/// The metadata `allowed_metadata_extensions` adds to a login: each listed
/// OID present on the leaf, keyed with dashes for dots (so ACL templates
/// can name it).
pub(super) fn extension_metadata(entry: &CertEntry, leaf: &CertInfo) -> Vec<(String, String)> {
    entry
        .allowed_metadata_extensions
        .iter()
        .filter_map(|oid| {
            leaf.extensions
                .get(oid)
                .map(|v| (oid.replace('.', "-"), v.clone()))
        })
        .collect()
}
