//! `path-help` text rendered from the declarations, in Vault's layout, so
//! `bao path-help` shows something useful for every engine for free.

use serde_json::{json, Value};

use super::{Paths, Response};
use crate::logical::Operation;

fn op_name(op: Operation) -> &'static str {
    match op {
        Operation::Read => "read",
        Operation::Create => "create",
        Operation::Update => "update",
        Operation::Patch => "patch",
        Operation::Delete => "delete",
        Operation::List => "list",
        Operation::Help => "help",
    }
}

/// Help for `rel` (a path of the engine), or the engine's overview with
/// every path when `rel` is empty or matches nothing.
pub(crate) fn render<S: Sync>(paths: &Paths<S>, rel: &str) -> Response {
    let text = match paths
        .specs()
        .iter()
        .find(|p| p.pattern.matches(rel).is_some())
    {
        Some(spec) if !rel.is_empty() || spec.pattern.source().is_empty() => {
            let mut out = format!(
                "Request:        {rel}\nMatching Route: ^{}$\n\n{}\n",
                spec.pattern.source(),
                spec.synopsis
            );
            let mut fields: Vec<_> = spec.fields.iter().collect();
            fields.sort_by_key(|f| f.name);
            if !fields.is_empty() {
                out.push_str("\n## PARAMETERS\n");
                for f in fields {
                    out.push_str(&format!(
                        "\n    {} ({})\n\n        {}\n",
                        f.name,
                        f.ty.name(),
                        f.description
                    ));
                }
            }
            let ops: Vec<&str> = spec.operations().map(op_name).collect();
            out.push_str(&format!("\n## OPERATIONS\n\n    {}\n", ops.join(", ")));
            if !spec.description.is_empty() {
                out.push_str(&format!("\n## DESCRIPTION\n\n{}\n", spec.description));
            }
            out
        }
        _ => {
            let mut out = format!(
                "## DESCRIPTION\n\n{}\n\n## PATHS\n\nThe following paths are supported by this backend. \
                 To view help for any of the paths below, use the help command with any route \
                 matching the path pattern. Note that depending on the policy of your auth token, \
                 you may or may not be able to access certain paths.\n",
                paths.help
            );
            for spec in paths.specs() {
                out.push_str(&format!(
                    "\n    ^{}$\n        {}\n",
                    spec.pattern.source(),
                    spec.synopsis
                ));
            }
            out
        }
    };
    Response::raw(json!({ "help": text, "see_also": Value::Null }))
}
