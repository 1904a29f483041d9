//! Client commands (placeholder, being written).

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum ClientCommand {
    /// Print seal and HA status.
    Status,
}

pub(crate) fn run(_cmd: ClientCommand) -> ExitCode {
    ExitCode::from(2)
}
