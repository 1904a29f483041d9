//! Longest-prefix routing of request paths to mounts.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::logical::Backend;

use super::mounts::MountEntry;

/// A routable mount: its entry and the engine instance serving it.
#[derive(Clone)]
pub(crate) struct Route {
    /// Shared: the entry is large, and routes are cloned with the router.
    pub(crate) entry: Arc<MountEntry>,
    pub(crate) backend: Arc<dyn Backend>,
}

/// Immutable routing table; rebuilt and swapped whole when mounts change so
/// readers never take a lock longer than a pointer copy.
#[derive(Clone, Default)]
pub(crate) struct Router {
    routes: BTreeMap<String, Route>,
}

impl Router {
    pub(crate) fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.values()
    }

    pub(crate) fn insert(&mut self, route: Route) {
        self.routes.insert(route.entry.path.clone(), route);
    }

    /// Finds the mount with the longest path that prefixes `path`. A path
    /// equal to a mount without its trailing slash (`secret`) also matches.
    pub(crate) fn lookup(&self, path: &str) -> Option<&Route> {
        let with_slash;
        let probe = if path.ends_with('/') {
            path
        } else {
            with_slash = [path, "/"].concat();
            &with_slash
        };
        self.routes
            .range::<str, _>((std::ops::Bound::Unbounded, std::ops::Bound::Included(probe)))
            .rev()
            .find(|(mount, _)| probe.starts_with(mount.as_str()))
            .map(|(_, r)| r)
            .filter(|r| path.starts_with(&r.entry.path) || probe == r.entry.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logical::{LogicalResult, Request, Response, StorageView};
    use async_trait::async_trait;

    struct Nop;
    #[async_trait]
    impl Backend for Nop {
        async fn handle(&self, _: &Request, _: &StorageView) -> LogicalResult {
            Ok(Response::empty())
        }
    }

    fn router(paths: &[&str]) -> Router {
        let mut r = Router::default();
        for p in paths {
            r.insert(Route {
                entry: Arc::new(MountEntry::new(p, "kv", "")),
                backend: Arc::new(Nop),
            });
        }
        r
    }

    #[test]
    fn longest_prefix_wins() {
        let r = router(&["secret/", "secret/team/", "sys/", "sec/"]);
        assert_eq!(r.lookup("secret/data/x").unwrap().entry.path, "secret/");
        assert_eq!(
            r.lookup("secret/team/x").unwrap().entry.path,
            "secret/team/"
        );
        assert_eq!(r.lookup("secret").unwrap().entry.path, "secret/");
        assert_eq!(r.lookup("sec/x").unwrap().entry.path, "sec/");
        assert!(r.lookup("secretive/x").is_none());
        assert!(r.lookup("nosuch/x").is_none());
        assert!(r.lookup("").is_none());
    }
}
