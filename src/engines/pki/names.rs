//! Which names a role lets a certificate carry, after Vault's
//! `validateNames` (common name, DNS and email SANs), plus the IP and URI
//! SAN rules. Every name is checked before anything is signed.

use super::role::Role;

/// Vault's `hostnameRegex`: labels of letters, digits and inner hyphens,
/// an optional trailing dot.
fn is_hostname(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

/// A wildcard label (`*`, `foo*`, `*bar`, `f*o`): at most one `*`, else
/// letters, digits and hyphens.
fn is_wildcard_label(label: &str) -> bool {
    label.matches('*').count() == 1
        && label
            .bytes()
            .all(|b| b == b'*' || b.is_ascii_alphanumeric() || b == b'-')
}

/// Go's `glob.Glob`-style match with `*` (any run, including dots).
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if pi < p.len() && p[pi].eq_ignore_ascii_case(&n[ni]) {
            pi += 1;
            ni += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The first name the role does not allow, if any (Vault's `validateNames`).
pub(crate) fn first_disallowed<'a>(role: &Role, names: &'a [String]) -> Option<&'a str> {
    names
        .iter()
        .find(|n| !name_allowed(role, n))
        .map(String::as_str)
}

fn name_allowed(role: &Role, name: &str) -> bool {
    let mut reduced = name.to_string();
    let mut email_domain = reduced.clone();
    let mut is_email = false;
    if reduced.contains('@') {
        let parts: Vec<&str> = reduced.split('@').collect();
        if parts.len() != 2 {
            return false;
        }
        reduced = parts[1].to_string();
        email_domain = reduced.clone();
        is_email = true;
    }
    let mut is_wildcard = false;
    let mut wildcard_label = String::new();
    if reduced.contains('*') {
        is_wildcard = true;
        if !role.allow_wildcard_certificates {
            return false;
        }
        // RFC 6125: the wildcard only in the left-most label.
        let (first, rest) = match reduced.split_once('.') {
            Some((f, r)) => (f.to_string(), r.to_string()),
            None => (reduced.clone(), String::new()),
        };
        if rest.contains('*') {
            return false;
        }
        wildcard_label = first;
        reduced = rest;
    }
    if is_email && is_wildcard {
        return false;
    }
    if role.enforce_hostnames {
        if !reduced.is_empty() && !is_hostname(&reduced) {
            return false;
        }
        if is_wildcard && !is_wildcard_label(&wildcard_label) {
            return false;
        }
    }
    if role.allow_any_name {
        return true;
    }
    if role.allow_localhost {
        if reduced == "localhost"
            || reduced == "localdomain"
            || (is_email && (email_domain == "localhost" || email_domain == "localdomain"))
        {
            return true;
        }
        if role.allow_subdomains
            && (reduced.ends_with(".localhost")
                || (is_wildcard && reduced == "localhost")
                || reduced.ends_with(".localdomain")
                || (is_wildcard && reduced == "localdomain"))
        {
            return true;
        }
    }
    for domain in role.allowed_domains.iter().filter(|d| !d.is_empty()) {
        if role.allow_bare_domains
            && (name.eq_ignore_ascii_case(domain)
                || (is_email && email_domain.eq_ignore_ascii_case(domain)))
        {
            return true;
        }
        if role.allow_subdomains {
            let lower = reduced.to_ascii_lowercase();
            let suffix = format!(".{}", domain.to_ascii_lowercase());
            if lower.ends_with(&suffix) || (is_wildcard && reduced.eq_ignore_ascii_case(domain)) {
                return true;
            }
        }
        if role.allow_glob_domains && domain.contains('*') && glob_match(domain, name) {
            return true;
        }
    }
    false
}

/// Checks a common name against `cn_validations` (`email`, `hostname`,
/// `disabled`): it must be one of the listed kinds.
pub(crate) fn cn_shape_ok(role: &Role, cn: &str) -> bool {
    let v = &role.cn_validations;
    if v.is_empty() || v.iter().any(|x| x == "disabled") {
        return true;
    }
    let email_ok = v.iter().any(|x| x == "email")
        && cn.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && !host.contains('@') && is_hostname(host)
        });
    let host_ok = v.iter().any(|x| x == "hostname") && {
        let h = cn.strip_prefix("*.").unwrap_or(cn);
        is_hostname(h) || (cn.contains('*') && is_hostname(h.split_once('.').map_or("", |x| x.1)))
    };
    email_ok || host_ok
}

/// Checks a URI SAN against `allowed_uri_sans` (globs).
pub(crate) fn uri_allowed(role: &Role, uri: &str) -> bool {
    role.allowed_uri_sans.iter().any(|p| glob_match(p, uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(f: impl FnOnce(&mut Role)) -> Role {
        let mut r = Role {
            allowed_domains: vec!["example.com".into()],
            ..Role::default()
        };
        f(&mut r);
        r
    }

    fn ok(r: &Role, n: &str) -> bool {
        first_disallowed(r, &[n.to_string()]).is_none()
    }

    #[test]
    fn subdomains_bare_and_localhost() {
        let r = role(|r| r.allow_subdomains = true);
        assert!(ok(&r, "a.example.com"));
        assert!(ok(&r, "a.b.example.com"));
        assert!(
            !ok(&r, "example.com"),
            "bare domain needs allow_bare_domains"
        );
        assert!(!ok(&r, "evil.org"));
        assert!(!ok(&r, "aexample.com"));
        assert!(ok(&r, "localhost"));
        assert!(ok(&r, "*.example.com"));
        let r = role(|r| r.allow_bare_domains = true);
        assert!(ok(&r, "example.com"));
        assert!(!ok(&r, "a.example.com"));
        let r = role(|r| {
            r.allow_subdomains = true;
            r.allow_wildcard_certificates = false;
        });
        assert!(!ok(&r, "*.example.com"));
    }

    #[test]
    fn globs_any_name_and_hostnames() {
        let r = role(|r| {
            r.allowed_domains = vec!["*.svc.internal".into()];
            r.allow_glob_domains = true;
        });
        assert!(ok(&r, "api.svc.internal"));
        assert!(!ok(&r, "api.svc.external"));
        let r = role(|r| r.allow_any_name = true);
        assert!(ok(&r, "anything.at.all"));
        assert!(!ok(&r, "not a hostname"), "enforce_hostnames still applies");
        let r = role(|r| {
            r.allow_any_name = true;
            r.enforce_hostnames = false;
        });
        assert!(ok(&r, "not a hostname"));
        assert!(glob_match("spiffe://cluster/*", "spiffe://cluster/ns/a"));
        assert!(!glob_match("spiffe://cluster/*", "spiffe://other/ns/a"));
    }

    #[test]
    fn emails_and_cn_shapes() {
        let r = role(|r| r.allow_bare_domains = true);
        assert!(ok(&r, "ops@example.com"));
        assert!(!ok(&r, "ops@evil.org"));
        assert!(cn_shape_ok(&r, "a.example.com"));
        assert!(cn_shape_ok(&r, "ops@example.com"));
        assert!(!cn_shape_ok(&r, "not valid!"));
    }
}
