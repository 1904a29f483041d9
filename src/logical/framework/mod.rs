//! The path framework every engine and auth method declares itself with,
//! after Vault's `sdk/framework`.
//!
//! An engine lists its paths: a [`Pattern`] with named segments, the
//! [`Field`]s it accepts, one handler per [`Operation`], and optionally an
//! existence check (so core can tell Create from Update for ACLs). The
//! framework does the rest the same way for everyone: it picks the path,
//! validates and coerces the fields (Vault's error texts), answers 404 for an
//! unknown path and 405 for an undeclared operation, warns about unknown
//! body keys, and renders `path-help` from the declarations. Handlers get a
//! [`Ctx`] with typed fields and never parse JSON by hand.
//!
//! Handlers are plain `async fn(&State, &Ctx<'_>) -> LogicalResult`; the
//! [`handler!`](crate::handler) and [`existence!`](crate::existence) macros
//! turn them into the boxed-future function pointers stored here.

pub(crate) mod field;
mod help;
pub(crate) mod pattern;

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

#[allow(unused_imports)]
pub(crate) use field::{DefaultValue, Field, FieldData, FieldType, FieldValue, FromField};
pub(crate) use pattern::Pattern;

use super::{Backend, LogicalError, LogicalResult, Operation, Request, Response, StorageView};

/// What a handler gets: the request, the mount's storage, the typed fields.
pub(crate) struct Ctx<'a> {
    pub(crate) req: &'a Request,
    pub(crate) view: &'a StorageView,
    pub(crate) fields: FieldData,
}

impl Ctx<'_> {
    /// A named path segment of the matched pattern.
    pub(crate) fn path(&self, name: &str) -> &str {
        self.fields.path(name)
    }

    pub(crate) fn operation(&self) -> Operation {
        self.req.operation
    }
}

pub(crate) type HandlerFuture<'a> = Pin<Box<dyn Future<Output = LogicalResult> + Send + 'a>>;
/// A path operation's handler.
pub(crate) type Handler<S> = for<'a> fn(&'a S, &'a Ctx<'a>) -> HandlerFuture<'a>;
pub(crate) type ExistenceFuture<'a> =
    Pin<Box<dyn Future<Output = Result<bool, LogicalError>> + Send + 'a>>;
/// Whether the target of a write already exists (Create vs Update).
pub(crate) type ExistenceCheck<S> = for<'a> fn(&'a S, &'a Ctx<'a>) -> ExistenceFuture<'a>;

/// Wraps `async fn f(&S, &Ctx<'_>) -> LogicalResult` as a [`Handler`].
#[macro_export]
macro_rules! handler {
    ($f:expr) => {
        |s, c| ::std::boxed::Box::pin($f(s, c))
    };
}

/// Wraps `async fn f(&S, &Ctx<'_>) -> Result<bool, LogicalError>` as an
/// [`ExistenceCheck`].
#[macro_export]
macro_rules! existence {
    ($f:expr) => {
        |s, c| ::std::boxed::Box::pin($f(s, c))
    };
}

/// One declared path.
pub(crate) struct PathSpec<S> {
    pub(crate) pattern: Pattern,
    pub(crate) fields: Vec<Field>,
    operations: Vec<(Operation, Handler<S>)>,
    existence: Option<ExistenceCheck<S>>,
    /// Accept any body key without a warning (KV v1 stores whatever it gets).
    arbitrary_input: bool,
    pub(crate) synopsis: &'static str,
    pub(crate) description: &'static str,
}

impl<S> PathSpec<S> {
    pub(crate) fn new(pattern: &'static str) -> Self {
        Self {
            pattern: Pattern::parse(pattern),
            fields: Vec::new(),
            operations: Vec::new(),
            existence: None,
            arbitrary_input: false,
            synopsis: "",
            description: "",
        }
    }

    pub(crate) fn fields(mut self, fields: &[Field]) -> Self {
        self.fields.extend_from_slice(fields);
        self
    }

    pub(crate) fn op(mut self, op: Operation, handler: Handler<S>) -> Self {
        self.operations.push((op, handler));
        self
    }

    /// The same handler for Create and Update (most writes).
    pub(crate) fn write(self, handler: Handler<S>) -> Self {
        self.op(Operation::Create, handler)
            .op(Operation::Update, handler)
    }

    pub(crate) fn read(self, handler: Handler<S>) -> Self {
        self.op(Operation::Read, handler)
    }

    pub(crate) fn delete(self, handler: Handler<S>) -> Self {
        self.op(Operation::Delete, handler)
    }

    pub(crate) fn list(self, handler: Handler<S>) -> Self {
        self.op(Operation::List, handler)
    }

    pub(crate) fn patch(self, handler: Handler<S>) -> Self {
        self.op(Operation::Patch, handler)
    }

    pub(crate) fn exists(mut self, check: ExistenceCheck<S>) -> Self {
        self.existence = Some(check);
        self
    }

    pub(crate) fn arbitrary_input(mut self) -> Self {
        self.arbitrary_input = true;
        self
    }

    pub(crate) fn help(mut self, synopsis: &'static str, description: &'static str) -> Self {
        self.synopsis = synopsis;
        self.description = description;
        self
    }

    fn handler(&self, op: Operation) -> Option<Handler<S>> {
        let find = |o: Operation| {
            self.operations
                .iter()
                .find(|(have, _)| *have == o)
                .map(|(_, h)| *h)
        };
        match op {
            // Without an existence check every write is an Update (Vault).
            Operation::Create => find(Operation::Create).or_else(|| find(Operation::Update)),
            other => find(other),
        }
    }

    pub(crate) fn operations(&self) -> impl Iterator<Item = Operation> + '_ {
        self.operations.iter().map(|(o, _)| *o)
    }
}

/// An engine's declared paths, matched in declaration order.
pub(crate) struct Paths<S> {
    paths: Vec<PathSpec<S>>,
    /// The engine's own help text, shown for `path-help <mount>`.
    pub(crate) help: &'static str,
}

/// Vault's 404 for a path no declaration matches.
pub(crate) fn unsupported_path() -> LogicalError {
    LogicalError::NoRoute("1 error occurred:\n\t* unsupported path\n\n".into())
}

impl<S: Sync> Paths<S> {
    pub(crate) fn new(help: &'static str, paths: Vec<PathSpec<S>>) -> Self {
        Self { paths, help }
    }

    pub(crate) fn specs(&self) -> &[PathSpec<S>] {
        &self.paths
    }

    fn find(&self, rel: &str) -> Option<(&PathSpec<S>, field::Captures)> {
        self.paths
            .iter()
            .find_map(|p| p.pattern.matches(rel).map(|c| (p, c)))
    }

    fn context<'a>(
        spec: &PathSpec<S>,
        captures: field::Captures,
        req: &'a Request,
        view: &'a StorageView,
    ) -> Result<(Ctx<'a>, Vec<String>), LogicalError> {
        let (fields, unknown) = FieldData::parse(&spec.fields, &req.data, captures)
            .map_err(LogicalError::BadRequest)?;
        let unknown = if spec.arbitrary_input {
            Vec::new()
        } else {
            unknown
        };
        Ok((Ctx { req, view, fields }, unknown))
    }

    /// Routes a request to its handler.
    pub(crate) async fn handle(
        &self,
        state: &S,
        req: &Request,
        view: &StorageView,
    ) -> LogicalResult {
        if req.operation == Operation::Help {
            return Ok(help::render(self, &req.relative_path));
        }
        let (spec, captures) = self.find(&req.relative_path).ok_or_else(unsupported_path)?;
        let handler = spec
            .handler(req.operation)
            .ok_or(LogicalError::UnsupportedOperation)?;
        let (ctx, unknown) = Self::context(spec, captures, req, view)?;
        let mut resp = handler(state, &ctx).await?;
        if !unknown.is_empty() && req.operation.is_write() {
            resp.warnings.push(format!(
                "Endpoint ignored these unrecognized parameters: [{}]",
                unknown.join(" ")
            ));
        }
        Ok(resp)
    }

    /// Whether the target exists, for paths that declare a check; `true`
    /// (an Update) otherwise, and for requests that will fail validation
    /// anyway (the handler reports that).
    pub(crate) async fn exists(
        &self,
        state: &S,
        req: &Request,
        view: &StorageView,
    ) -> Result<bool, LogicalError> {
        let Some((spec, captures)) = self.find(&req.relative_path) else {
            return Ok(true);
        };
        let Some(check) = spec.existence else {
            return Ok(true);
        };
        // The check decides from the path; it gets the same validation
        // outcome as the handler will, but raw fields (a KV write's whole
        // `data`) are not copied a second time: converting them cannot fail.
        let checked: Vec<Field> = spec
            .fields
            .iter()
            .filter(|f| f.ty != FieldType::Raw)
            .copied()
            .collect();
        match FieldData::parse(&checked, &req.data, captures) {
            Ok((fields, _)) => check(state, &Ctx { req, view, fields }).await,
            Err(_) => Ok(true),
        }
    }
}

/// Revokes a secret the backend leased (see `Backend::revoke_secret`).
pub(crate) type SecretRevoker<S> =
    for<'a> fn(&'a S, &'a serde_json::Value, &'a StorageView) -> RevokeFuture<'a>;
pub(crate) type RevokeFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(), LogicalError>> + Send + 'a>>;

/// A mountable backend made of declared paths over some state.
pub(crate) struct FrameworkBackend<S> {
    pub(crate) state: S,
    pub(crate) paths: Paths<S>,
    pub(crate) unauthenticated: &'static [&'static str],
    revoker: Option<SecretRevoker<S>>,
}

impl<S> FrameworkBackend<S> {
    pub(crate) fn new(state: S, paths: Paths<S>) -> Self {
        Self {
            state,
            paths,
            unauthenticated: &[],
            revoker: None,
        }
    }

    /// What revokes the secrets this backend leases (Vault's `Secret.Revoke`).
    pub(crate) fn revoke_secret(mut self, revoker: SecretRevoker<S>) -> Self {
        self.revoker = Some(revoker);
        self
    }

    /// Paths (relative to the mount) that need no token; a trailing `*`
    /// matches any suffix.
    pub(crate) fn unauthenticated(mut self, paths: &'static [&'static str]) -> Self {
        self.unauthenticated = paths;
        self
    }
}

#[async_trait]
impl<S: Send + Sync + 'static> Backend for FrameworkBackend<S> {
    async fn handle(&self, req: &Request, view: &StorageView) -> LogicalResult {
        self.paths.handle(&self.state, req, view).await
    }

    async fn exists(&self, req: &Request, view: &StorageView) -> Result<bool, LogicalError> {
        self.paths.exists(&self.state, req, view).await
    }

    fn unauthenticated_paths(&self) -> &'static [&'static str] {
        self.unauthenticated
    }

    async fn revoke_secret(
        &self,
        internal: &serde_json::Value,
        view: &StorageView,
    ) -> Result<(), LogicalError> {
        match self.revoker {
            Some(r) => r(&self.state, internal, view).await,
            None => Ok(()),
        }
    }
}

/// The empty-bodied success most writes answer with.
pub(crate) fn no_content() -> LogicalResult {
    Ok(Response::empty())
}

#[cfg(test)]
mod tests;
