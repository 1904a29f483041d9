//! Strongroom: a secrets server that speaks the HashiCorp Vault HTTP API.
//!
//! See ARCHITECTURE.md for the map of the code and its invariants.

mod addr;
mod audit;
mod auth;
mod aws;
mod barrier;
mod cli;
mod config;
mod core;
mod engines;
mod ha;
mod http;
mod https_client;
mod keyed_hmac;
mod lambda;
mod logging;
mod logical;
mod metrics;
mod node;
mod policy;
mod seal;
mod server;
mod storage;
mod util;
mod version;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Started by the Lambda runtime as `bootstrap`: serve invocations.
    if lambda::in_lambda() {
        return lambda::run();
    }
    cli::main()
}
