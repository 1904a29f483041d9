//! The client half of the CLI: `status`, `operator ...`, `kv ...`, `read`,
//! `write`, `list`, `delete`, `login`, `token ...`, `policy ...`,
//! `auth ...` and `secrets ...`. Each speaks the Vault HTTP API and mimics the
//! `vault` CLI's flags, output and exit codes (0 success, 1 usage or local
//! error, 2 API error; `status` uses 2 for "sealed"), so scripts written
//! for Vault keep working.
//!
//! Layout: [`api`] is the HTTP client, [`format`] the table/JSON output,
//! [`args_data`] the `key=value` parser, and one module per command family.

mod api;
mod args_data;
mod format;
mod generic;
mod kv;
mod login;
mod mount_tune;
mod mounts;
mod operator;
mod operator_keys;
mod policy;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use api::{ClientConfig, VaultClient, DEFAULT_ADDRESS};
use format::{err, Format};

pub(crate) use generic::{DeleteArgs, ListArgs, ReadArgs, WriteArgs};
pub(crate) use kv::KvCommand;
pub(crate) use login::LoginArgs;
pub(crate) use mounts::{AuthCommand, SecretsCommand};
pub(crate) use operator::{OperatorCommand, StatusArgs};
pub(crate) use policy::PolicyCommand;
pub(crate) use token::TokenCommand;

#[derive(Subcommand, Debug)]
pub(crate) enum ClientCommand {
    /// Print seal and HA status.
    Status(StatusArgs),
    /// Perform operator-specific tasks.
    Operator {
        #[command(subcommand)]
        cmd: OperatorCommand,
    },
    /// Interact with the KV secrets engine.
    Kv {
        #[command(subcommand)]
        cmd: KvCommand,
    },
    /// Read data and retrieve secrets.
    Read(ReadArgs),
    /// Write data, configuration, and secrets.
    Write(WriteArgs),
    /// List data or secrets.
    List(ListArgs),
    /// Delete secrets and configuration.
    Delete(DeleteArgs),
    /// Authenticate and store the token for later commands.
    Login(LoginArgs),
    /// Interact with tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCommand,
    },
    /// Interact with ACL policies.
    Policy {
        #[command(subcommand)]
        cmd: PolicyCommand,
    },
    /// Interact with auth methods.
    Auth {
        #[command(subcommand)]
        cmd: AuthCommand,
    },
    /// Interact with secrets engines.
    Secrets {
        #[command(subcommand)]
        cmd: SecretsCommand,
    },
}

/// Runs one client command and maps its result to Vault's exit codes.
pub(crate) fn run(cmd: ClientCommand) -> ExitCode {
    let code = match cmd {
        ClientCommand::Status(a) => operator::status(a),
        ClientCommand::Operator { cmd } => operator::run(cmd),
        ClientCommand::Kv { cmd } => kv::run(cmd),
        ClientCommand::Read(a) => generic::read(a),
        ClientCommand::Write(a) => generic::write(a),
        ClientCommand::List(a) => generic::list(a),
        ClientCommand::Delete(a) => generic::delete(a),
        ClientCommand::Login(a) => login::login(a),
        ClientCommand::Token { cmd } => token::run(cmd),
        ClientCommand::Policy { cmd } => policy::run(cmd),
        ClientCommand::Auth { cmd } => mounts::run_auth(cmd),
        ClientCommand::Secrets { cmd } => mounts::run_secrets(cmd),
    };
    ExitCode::from(code)
}

/// The flags every client command takes (Vault's "HTTP Options" and
/// "Output Options"). Flags win over the environment.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct CommonArgs {
    /// Address of the server (default VAULT_ADDR, else https://127.0.0.1:8200).
    #[arg(long, value_name = "ADDR")]
    address: Option<String>,
    /// PEM CA certificate used to verify the server (default VAULT_CACERT).
    #[arg(long = "ca-cert", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Directory of PEM CA certificates (default VAULT_CAPATH).
    #[arg(long = "ca-path", value_name = "DIR")]
    ca_path: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (default VAULT_SKIP_VERIFY).
    #[arg(
        long = "tls-skip-verify",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    tls_skip_verify: Option<bool>,
    /// Namespace header to send (default VAULT_NAMESPACE).
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,
    /// Output format: "table" or "json" (default VAULT_FORMAT, else table).
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
}

/// Go's `strconv.ParseBool`, which Vault uses for boolean flags and
/// `VAULT_SKIP_VERIFY`.
pub(crate) fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid boolean value {s:?}")),
    }
}

/// Why a command could not even start.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum SetupError {
    /// Bad `-format`: Vault reports it and exits 1.
    #[error("{0}")]
    Format(String),
    /// Bad client configuration: Vault exits 2 (1 for `status`).
    #[error("{0}")]
    Client(String),
}

impl SetupError {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Format(_) => 1,
            Self::Client(_) => 2,
        }
    }
}

/// A ready client and the chosen output format.
pub(crate) struct Session {
    pub(crate) client: VaultClient,
    pub(crate) format: Format,
}

impl Session {
    /// Builds the session from flags and the real environment.
    pub(crate) fn open(common: &CommonArgs) -> Result<Self, SetupError> {
        let env = |name: &str| std::env::var(name).ok();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let (config, format) = resolve(common, &env, home)?;
        let client = VaultClient::new(config).map_err(|e| SetupError::Client(e.to_string()))?;
        Ok(Self { client, format })
    }

    /// [`Session::open`], printing the error and giving the exit code.
    pub(crate) fn open_or_report(common: &CommonArgs) -> Result<Self, u8> {
        Self::open(common).map_err(|e| {
            err(&e.to_string());
            e.exit_code()
        })
    }
}

/// Reads `VAULT_<name>`, falling back to OpenBao's `BAO_<name>`; empty
/// counts as unset, as in Vault.
fn env_var(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(&format!("VAULT_{name}"))
        .filter(|v| !v.is_empty())
        .or_else(|| env(&format!("BAO_{name}")).filter(|v| !v.is_empty()))
}

/// Combines flags, environment and `~/.vault-token` into a client
/// configuration and output format. Pure, so it can be tested.
pub(crate) fn resolve(
    common: &CommonArgs,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<PathBuf>,
) -> Result<(ClientConfig, Format), SetupError> {
    let format_name = common
        .format
        .clone()
        .or_else(|| env_var(env, "FORMAT"))
        .unwrap_or_else(|| "table".into());
    let format = Format::parse(&format_name).map_err(SetupError::Format)?;
    let skip_verify = match common.tls_skip_verify {
        Some(v) => v,
        None => match env_var(env, "SKIP_VERIFY") {
            Some(v) => parse_go_bool(&v)
                .map_err(|_| SetupError::Client("could not parse VAULT_SKIP_VERIFY".into()))?,
            None => false,
        },
    };
    let token = env_var(env, "TOKEN").or_else(|| {
        let file = home?.join(".vault-token");
        let text = std::fs::read_to_string(file).ok()?;
        Some(text.trim().to_string()).filter(|t| !t.is_empty())
    });
    let config = ClientConfig {
        address: common
            .address
            .clone()
            .or_else(|| env_var(env, "ADDR"))
            .unwrap_or_else(|| DEFAULT_ADDRESS.into()),
        token,
        namespace: common
            .namespace
            .clone()
            .or_else(|| env_var(env, "NAMESPACE")),
        ca_cert: common
            .ca_cert
            .clone()
            .or_else(|| env_var(env, "CACERT").map(PathBuf::from)),
        ca_path: common
            .ca_path
            .clone()
            .or_else(|| env_var(env, "CAPATH").map(PathBuf::from)),
        skip_verify,
    };
    Ok((config, format))
}

/// Vault's argument-count check for commands taking exactly one path.
pub(crate) fn expect_one(args: &[String]) -> Result<&str, u8> {
    match args.len() {
        0 => usage(&format!(
            "Not enough arguments (expected 1, got {})",
            args.len()
        )),
        1 => Ok(&args[0]),
        n => usage(&format!("Too many arguments (expected 1, got {n})")),
    }
}

/// Reports a usage error; Vault exits 1 for those.
pub(crate) fn usage<T>(message: &str) -> Result<T, u8> {
    err(message);
    Err(1)
}

/// Vault's `sanitizePath`: no leading or trailing slashes.
pub(crate) fn sanitize_path(s: &str) -> String {
    s.trim()
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{FromArgMatches, Parser};

    /// A stand-in for the top-level parser in `cli/mod.rs`.
    #[derive(Parser, Debug)]
    #[command(name = "strongroom")]
    struct TestCli {
        #[command(subcommand)]
        cmd: ClientCommand,
    }

    fn parse(args: &[&str]) -> Result<ClientCommand, clap::Error> {
        let argv = crate::cli::vault_style_args(
            std::iter::once("strongroom")
                .chain(args.iter().copied())
                .map(String::from),
        );
        let matches = <TestCli as clap::CommandFactory>::command().try_get_matches_from(argv)?;
        TestCli::from_arg_matches(&matches).map(|c| c.cmd)
    }

    #[test]
    fn parses_status_and_common_flags() {
        let ClientCommand::Status(a) =
            parse(&["status", "-address=http://x:1", "-format=json"]).unwrap()
        else {
            panic!("not status");
        };
        assert_eq!(a.common.address.as_deref(), Some("http://x:1"));
        assert_eq!(a.common.format.as_deref(), Some("json"));
        let ClientCommand::Status(a) = parse(&["status", "-tls-skip-verify"]).unwrap() else {
            panic!("not status");
        };
        assert_eq!(a.common.tls_skip_verify, Some(true));
    }

    #[test]
    fn parses_kv_flags() {
        let ClientCommand::Kv {
            cmd: KvCommand::Put(a),
        } = parse(&[
            "kv",
            "put",
            "-mount=secret",
            "-cas=0",
            "foo",
            "a=b",
            "c=@f",
            "-",
        ])
        .unwrap()
        else {
            panic!("not kv put");
        };
        assert_eq!(a.mount.as_deref(), Some("secret"));
        assert_eq!(a.cas, 0);
        assert_eq!(a.args, ["foo", "a=b", "c=@f", "-"]);

        let ClientCommand::Kv {
            cmd: KvCommand::Get(a),
        } = parse(&["kv", "get", "-version=2", "-field=pw", "secret/foo"]).unwrap()
        else {
            panic!("not kv get");
        };
        assert_eq!((a.version, a.field.as_deref()), (2, Some("pw")));

        let ClientCommand::Kv {
            cmd: KvCommand::Delete(a),
        } = parse(&["kv", "delete", "-versions=1,2", "-versions=3", "secret/foo"]).unwrap()
        else {
            panic!("not kv delete");
        };
        assert_eq!(a.versions, ["1", "2", "3"]);

        assert!(matches!(
            parse(&["kv", "metadata", "get", "secret/foo"]).unwrap(),
            ClientCommand::Kv {
                cmd: KvCommand::Metadata { .. }
            }
        ));
    }

    #[test]
    fn parses_operator_flags() {
        let ClientCommand::Operator {
            cmd: OperatorCommand::Init(a),
        } = parse(&["operator", "init", "-key-shares=1", "-key-threshold=1"]).unwrap()
        else {
            panic!("not init");
        };
        assert_eq!((a.key_shares, a.key_threshold), (1, 1));
        let ClientCommand::Operator {
            cmd: OperatorCommand::Unseal(a),
        } = parse(&["operator", "unseal", "-reset"]).unwrap()
        else {
            panic!("not unseal");
        };
        assert!(a.reset);
        assert!(parse(&["operator", "key-status"]).is_ok());
        assert!(parse(&["operator", "rotate"]).is_ok());
        assert!(parse(&["operator", "seal"]).is_ok());
    }

    #[test]
    fn parses_generic_commands() {
        let ClientCommand::Write(a) = parse(&["write", "-force", "sys/rotate"]).unwrap() else {
            panic!("not write");
        };
        assert!(a.force);
        assert!(matches!(
            parse(&["read", "-field=x", "sys/mounts"]).unwrap(),
            ClientCommand::Read(_)
        ));
        assert!(matches!(
            parse(&["list", "secret/"]).unwrap(),
            ClientCommand::List(_)
        ));
        assert!(matches!(
            parse(&["delete", "secret/foo"]).unwrap(),
            ClientCommand::Delete(_)
        ));
    }

    #[test]
    fn parses_login_flags() {
        let ClientCommand::Login(a) = parse(&[
            "login",
            "-method=userpass",
            "-path=people",
            "-no-store",
            "-format=json",
            "username=alice",
            "password=x",
        ])
        .unwrap() else {
            panic!("not login");
        };
        assert_eq!((a.method.as_str(), a.path.as_str()), ("userpass", "people"));
        assert!(a.no_store && !a.token_only && !a.no_print);
        assert_eq!(a.common.format.as_deref(), Some("json"));
        assert_eq!(a.args, ["username=alice", "password=x"]);
        let ClientCommand::Login(a) = parse(&["login", "-token-only", "s.abc"]).unwrap() else {
            panic!("not login");
        };
        assert_eq!((a.method.as_str(), a.token_only), ("token", true));
        assert_eq!(a.args, ["s.abc"]);
        let ClientCommand::Login(a) = parse(&["login", "-"]).unwrap() else {
            panic!("not login");
        };
        assert_eq!(a.args, ["-"]);
    }

    #[test]
    fn parses_token_flags() {
        let ClientCommand::Token {
            cmd: TokenCommand::Create(a),
        } = parse(&[
            "token",
            "create",
            "-policy=a",
            "-policy=b,c",
            "-ttl=1h",
            "-explicit-max-ttl=2h",
            "-period=30m",
            "-use-limit=3",
            "-orphan",
            "-renewable=false",
            "-display-name=ci",
            "-metadata=team=ops",
            "-metadata=env=prod",
            "-no-default-policy",
            "-role=r",
            "-field=token",
        ])
        .unwrap()
        else {
            panic!("not token create");
        };
        assert_eq!(a.policies, ["a", "b,c"]);
        assert_eq!(
            (a.ttl, a.explicit_max_ttl, a.period),
            (Some(3600), Some(7200), Some(1800))
        );
        assert_eq!(a.use_limit, 3);
        assert!(a.orphan && !a.renewable && a.no_default_policy);
        assert_eq!(a.display_name, "ci");
        assert_eq!(
            a.metadata,
            [("team".into(), "ops".into()), ("env".into(), "prod".into())]
        );
        assert_eq!(a.role.as_deref(), Some("r"));
        assert_eq!(a.field.as_deref(), Some("token"));
        assert!(parse(&["token", "create", "-ttl=soon"]).is_err());

        let ClientCommand::Token {
            cmd: TokenCommand::Lookup(a),
        } = parse(&["token", "lookup", "-accessor", "acc"]).unwrap()
        else {
            panic!("not token lookup");
        };
        assert!(a.accessor);
        assert_eq!(a.args, ["acc"]);
        let ClientCommand::Token {
            cmd: TokenCommand::Renew(a),
        } = parse(&["token", "renew", "-increment=2h", "s.x"]).unwrap()
        else {
            panic!("not token renew");
        };
        assert_eq!(a.increment, 7200);
        let ClientCommand::Token {
            cmd: TokenCommand::Revoke(a),
        } = parse(&["token", "revoke", "-mode=orphan", "s.x"]).unwrap()
        else {
            panic!("not token revoke");
        };
        assert_eq!((a.mode.as_str(), a.self_), ("orphan", false));
        let ClientCommand::Token {
            cmd: TokenCommand::Revoke(a),
        } = parse(&["token", "revoke", "-self"]).unwrap()
        else {
            panic!("not token revoke");
        };
        assert!(a.self_);
        let ClientCommand::Token {
            cmd: TokenCommand::Capabilities(a),
        } = parse(&["token", "capabilities", "s.x", "secret/foo"]).unwrap()
        else {
            panic!("not token capabilities");
        };
        assert_eq!(a.args, ["s.x", "secret/foo"]);
    }

    #[test]
    fn parses_policy_auth_and_secrets() {
        let ClientCommand::Policy {
            cmd: PolicyCommand::Write(a),
        } = parse(&["policy", "write", "dev", "-"]).unwrap()
        else {
            panic!("not policy write");
        };
        assert_eq!(a.args, ["dev", "-"]);
        for sub in ["read", "list", "delete"] {
            assert!(matches!(
                parse(&["policy", sub, "dev"]).unwrap(),
                ClientCommand::Policy { .. }
            ));
        }
        let ClientCommand::Auth {
            cmd: AuthCommand::Enable(a),
        } = parse(&[
            "auth",
            "enable",
            "-path=people",
            "-description=humans",
            "-default-lease-ttl=1h",
            "userpass",
        ])
        .unwrap()
        else {
            panic!("not auth enable");
        };
        assert_eq!(
            (a.path.as_str(), a.description.as_str()),
            ("people", "humans")
        );
        assert_eq!(a.default_lease_ttl, Some(3600));
        assert_eq!(a.args, ["userpass"]);
        let ClientCommand::Auth {
            cmd: AuthCommand::List(a),
        } = parse(&["auth", "list", "-detailed"]).unwrap()
        else {
            panic!("not auth list");
        };
        assert!(a.detailed);
        assert!(matches!(
            parse(&["auth", "disable", "people"]).unwrap(),
            ClientCommand::Auth {
                cmd: AuthCommand::Disable(_)
            }
        ));
        let ClientCommand::Secrets {
            cmd: SecretsCommand::Enable(a),
        } = parse(&["secrets", "enable", "-path=kv2", "-version=2", "kv"]).unwrap()
        else {
            panic!("not secrets enable");
        };
        assert_eq!((a.path.as_str(), a.version), ("kv2", 2));
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn resolves_environment() {
        let env = env_of(&[
            ("VAULT_ADDR", "http://127.0.0.1:18300"),
            ("VAULT_TOKEN", "root"),
            ("VAULT_FORMAT", "json"),
            ("VAULT_SKIP_VERIFY", "1"),
        ]);
        let (cfg, format) = resolve(&CommonArgs::default(), &env, None).unwrap();
        assert_eq!(cfg.address, "http://127.0.0.1:18300");
        assert_eq!(cfg.token.as_deref(), Some("root"));
        assert!(cfg.skip_verify);
        assert_eq!(format, Format::Json);

        let flags = CommonArgs {
            address: Some("http://flag:1".into()),
            format: Some("table".into()),
            tls_skip_verify: Some(false),
            ..Default::default()
        };
        let (cfg, format) = resolve(&flags, &env, None).unwrap();
        assert_eq!(cfg.address, "http://flag:1");
        assert!(!cfg.skip_verify);
        assert_eq!(format, Format::Table);
    }

    #[test]
    fn resolves_defaults_and_token_file() {
        let home = std::env::temp_dir().join(format!("sr-home-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join(".vault-token"), "s.filetoken\n").unwrap();
        let (cfg, format) =
            resolve(&CommonArgs::default(), &env_of(&[]), Some(home.clone())).unwrap();
        assert_eq!(cfg.address, DEFAULT_ADDRESS);
        assert_eq!(cfg.token.as_deref(), Some("s.filetoken"));
        assert_eq!(format, Format::Table);
        let _ = std::fs::remove_dir_all(home);

        let bao = env_of(&[("BAO_ADDR", "http://bao:1")]);
        assert_eq!(
            resolve(&CommonArgs::default(), &bao, None)
                .unwrap()
                .0
                .address,
            "http://bao:1"
        );
    }

    #[test]
    fn rejects_bad_settings() {
        let bad_skip = env_of(&[("VAULT_SKIP_VERIFY", "maybe")]);
        assert_eq!(
            resolve(&CommonArgs::default(), &bad_skip, None)
                .unwrap_err()
                .exit_code(),
            2
        );
        let bad_format = CommonArgs {
            format: Some("xml".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&bad_format, &env_of(&[]), None).unwrap_err(),
            SetupError::Format("Invalid output format: xml".into())
        );
    }

    #[test]
    fn sanitizes_paths() {
        assert_eq!(sanitize_path("/secret/foo/"), "secret/foo");
        assert_eq!(sanitize_path(" secret "), "secret");
    }

    #[test]
    fn go_bools() {
        assert_eq!(parse_go_bool("T"), Ok(true));
        assert_eq!(parse_go_bool("0"), Ok(false));
        assert!(parse_go_bool("yes").is_err());
    }
}
