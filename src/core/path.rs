//! Request path normalization, done once before authentication and routing
//! so that no spelling of a path reaches an engine or a policy check in a
//! different form than the one that was authorized.

use crate::logical::LogicalError;

/// Collapses repeated slashes and strips a leading slash. `.` and `..`
/// segments are refused outright rather than resolved: no legitimate Vault
/// client sends them, and resolving them is how traversal tricks begin.
/// A trailing slash is kept (it matters for LIST).
pub(crate) fn normalize(path: &str) -> Result<String, LogicalError> {
    if path.contains('\0') {
        return Err(LogicalError::bad("invalid request path"));
    }
    let trailing = path.ends_with('/');
    let mut parts = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" => continue,
            "." | ".." => return Err(LogicalError::bad(format!("invalid request path {path:?}"))),
            s => parts.push(s),
        }
    }
    let mut out = parts.join("/");
    if trailing && !out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalizes() {
        assert_eq!(normalize("/secret//data/x").unwrap(), "secret/data/x");
        assert_eq!(normalize("secret/metadata/").unwrap(), "secret/metadata/");
        assert_eq!(normalize("///").unwrap(), "");
        assert!(normalize("secret/../sys/seal").is_err());
        assert!(normalize("secret/./x").is_err());
        assert!(normalize("a\0b").is_err());
    }
}
