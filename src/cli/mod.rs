//! Command-line entry: `strongroom server ...`, `strongroom version`, and the
//! Vault-style client commands (`status`, `operator ...`, `kv ...`).
//!
//! Vault's flags use a single dash (`-dev`, `-config=FILE`); clap wants two.
//! [`vault_style_args`] rewrites them so habits carry over unchanged.

pub(crate) mod client;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::server::ServerArgs;

use crate::version::VERSION_LINE;

#[derive(Parser)]
#[command(
    name = "strongroom",
    about = "A secrets server that speaks the Vault HTTP API",
    disable_version_flag = true
)]
struct Cli {
    /// Print the version and exit.
    #[arg(long = "version", global = false)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start a server.
    Server(ServerArgs),
    /// Print the version.
    Version,
    #[command(flatten)]
    Client(client::ClientCommand),
}

/// Rewrites Vault's single-dash long flags (`-dev`, `-config=x`) to clap's
/// `--dev`. Single-letter flags (`-h`) and values are left alone.
pub(crate) fn vault_style_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut after_double_dash = false;
    for a in args {
        if after_double_dash {
            out.push(a);
            continue;
        }
        if a == "--" {
            after_double_dash = true;
            out.push(a);
            continue;
        }
        let is_long_single = a.starts_with('-') && !a.starts_with("--") && a.len() > 2 && {
            let name = a[1..].split('=').next().unwrap_or("");
            name.len() > 1
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if is_long_single {
            out.push(format!("-{a}"));
        } else {
            out.push(a);
        }
    }
    out
}

pub(crate) fn main() -> ExitCode {
    let args = vault_style_args(std::env::args());
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if cli.version {
        println!("{VERSION_LINE}");
        return ExitCode::SUCCESS;
    }
    match cli.command {
        Some(Command::Version) => {
            println!("{VERSION_LINE}");
            ExitCode::SUCCESS
        }
        Some(Command::Server(args)) => crate::server::run(args),
        Some(Command::Client(cmd)) => client::run(cmd),
        None => {
            eprintln!("Usage: strongroom <command> [args]\n\nCommon commands:\n    server     Start a server\n    status     Print seal and HA status\n    kv         Interact with the KV secrets engine\n    operator   Perform operator-specific tasks\n    version    Print the version\n\nRun `strongroom --help` for all commands.");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::vault_style_args;

    #[test]
    fn rewrites_single_dash_long_flags() {
        let v = |s: &[&str]| vault_style_args(s.iter().map(|x| x.to_string()));
        assert_eq!(
            v(&["sr", "server", "-dev", "-dev-root-token-id=root"]),
            ["sr", "server", "--dev", "--dev-root-token-id=root"]
        );
        assert_eq!(v(&["sr", "-version"]), ["sr", "--version"]);
        assert_eq!(
            v(&["sr", "kv", "put", "secret/x", "a=-b"]),
            ["sr", "kv", "put", "secret/x", "a=-b"]
        );
        assert_eq!(v(&["sr", "-h"]), ["sr", "-h"]);
        assert_eq!(v(&["sr", "--", "-dev"]), ["sr", "--", "-dev"]);
    }
}
