//! Path patterns: literal segments, `{name}` for one segment, and a final
//! `{name*}` (the rest, possibly empty) or `{name+}` (the rest, non-empty).
//!
//! Patterns are matched segment by segment, not as regexes: a `{name}` can
//! never swallow a `/`, so `role/{name}` cannot be reached with
//! `role/a/secret-id` and a handler never sees a name with a slash in it.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(&'static str),
    Named(&'static str),
    /// The rest of the path; `true` when it may be empty.
    Rest(&'static str, bool),
}

#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    source: &'static str,
    segments: Vec<Segment>,
}

impl Pattern {
    /// Parses a pattern. Patterns are written by engine authors, so a
    /// malformed one is a programming error caught by the engine's tests.
    pub(crate) fn parse(source: &'static str) -> Self {
        let mut segments = Vec::new();
        if !source.is_empty() {
            for part in source.split('/') {
                let seg = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) => match (name.strip_suffix('*'), name.strip_suffix('+')) {
                        (Some(n), _) => Segment::Rest(n, true),
                        (_, Some(n)) => Segment::Rest(n, false),
                        _ => Segment::Named(name),
                    },
                    None => Segment::Literal(part),
                };
                segments.push(seg);
            }
        }
        debug_assert!(
            segments
                .iter()
                .rev()
                .skip(1)
                .all(|s| !matches!(s, Segment::Rest(..))),
            "a rest segment must come last: {source}"
        );
        Self { source, segments }
    }

    pub(crate) fn source(&self) -> &'static str {
        self.source
    }

    /// Matches a mount-relative path. A single trailing `/` (LIST) is
    /// ignored except by a rest segment, which captures it.
    pub(crate) fn matches(&self, path: &str) -> Option<Vec<(&'static str, String)>> {
        let mut captures = Vec::new();
        let mut rest = path;
        for (i, seg) in self.segments.iter().enumerate() {
            let last = i + 1 == self.segments.len();
            match seg {
                Segment::Rest(name, may_be_empty) => {
                    if rest.is_empty() && !may_be_empty {
                        return None;
                    }
                    captures.push((*name, rest.to_string()));
                    return Some(captures);
                }
                Segment::Literal(_) | Segment::Named(_) => {
                    let (head, tail) = match rest.split_once('/') {
                        Some((h, t)) => (h, Some(t)),
                        None => (rest, None),
                    };
                    match seg {
                        Segment::Literal(lit) if head == *lit => {}
                        Segment::Named(name) if !head.is_empty() => {
                            captures.push((*name, head.to_string()));
                        }
                        _ => return None,
                    }
                    match tail {
                        None => rest = "",
                        // `role/` (a LIST) matches `role`.
                        Some("") if last => rest = "",
                        Some(t) if !last => rest = t,
                        Some(t) => {
                            // More path than pattern, unless the pattern
                            // continues with a rest segment (handled above).
                            let _ = t;
                            return None;
                        }
                    }
                    if rest.is_empty() && !last {
                        // Remaining segments must all be optional rests.
                        return match &self.segments[i + 1..] {
                            [Segment::Rest(name, true)] => {
                                captures.push((*name, String::new()));
                                Some(captures)
                            }
                            _ => None,
                        };
                    }
                }
            }
        }
        (rest.is_empty()).then_some(captures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &'static str, path: &str) -> Option<Vec<(String, String)>> {
        Pattern::parse(p).matches(path).map(|c| {
            c.into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect::<Vec<_>>()
        })
    }

    #[test]
    fn literals_and_named_segments() {
        assert_eq!(caps("login", "login"), Some(vec![]));
        assert_eq!(caps("login", "login/"), Some(vec![]));
        assert_eq!(caps("login", "logins"), None);
        assert_eq!(caps("login", "login/x"), None);
        assert_eq!(
            caps("role/{name}/secret-id", "role/web/secret-id"),
            Some(vec![("name".into(), "web".into())])
        );
        assert_eq!(caps("role/{name}/secret-id", "role//secret-id"), None);
        assert_eq!(caps("role/{name}", "role/a/b"), None);
        assert_eq!(caps("role/{name}", "role"), None);
        assert_eq!(caps("role", "role/"), Some(vec![]));
        assert_eq!(caps("", ""), Some(vec![]));
    }

    #[test]
    fn rest_segments() {
        assert_eq!(
            caps("data/{path+}", "data/a/b/c"),
            Some(vec![("path".into(), "a/b/c".into())])
        );
        assert_eq!(caps("data/{path+}", "data/"), None);
        assert_eq!(caps("data/{path+}", "data"), None);
        assert_eq!(
            caps("metadata/{path*}", "metadata/"),
            Some(vec![("path".into(), "".into())])
        );
        assert_eq!(
            caps("metadata/{path*}", "metadata"),
            Some(vec![("path".into(), "".into())])
        );
        assert_eq!(
            caps("metadata/{path*}", "metadata/a/"),
            Some(vec![("path".into(), "a/".into())])
        );
        assert_eq!(
            caps("{path*}", "x/y"),
            Some(vec![("path".into(), "x/y".into())])
        );
    }
}
