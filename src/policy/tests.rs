//! Table-driven tests of parsing and ACL decisions.

use serde_json::{json, Map, Value};

use super::*;
use crate::logical::Operation::{self, Create, Delete, List, Patch, Read, Update};

fn policy(name: &str, text: &str) -> Policy {
    match parse(name, text) {
        Ok(p) => p,
        Err(e) => panic!("policy {name} should parse: {e}\n{text}"),
    }
}

fn acl(texts: &[&str]) -> Acl {
    let policies: Vec<Policy> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| policy(&format!("p{i}"), t))
        .collect();
    Acl::new(&policies)
}

fn data(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => panic!("test data must be an object, got {other}"),
    }
}

/// One row: policies, operation, path, request body, wrap TTL, expected.
struct Case {
    name: &'static str,
    policies: &'static [&'static str],
    op: Operation,
    path: &'static str,
    data: Value,
    wrap_ttl: Option<u64>,
    allowed: bool,
}

const fn case(
    name: &'static str,
    policies: &'static [&'static str],
    op: Operation,
    path: &'static str,
    allowed: bool,
) -> Case {
    Case {
        name,
        policies,
        op,
        path,
        data: Value::Null,
        wrap_ttl: None,
        allowed,
    }
}

fn with_data(mut c: Case, value: Value) -> Case {
    c.data = value;
    c
}

fn wrapped(mut c: Case, ttl: u64) -> Case {
    c.wrap_ttl = Some(ttl);
    c
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in &cases {
        let decision = acl(c.policies).check(c.op, c.path, &data(c.data.clone()), c.wrap_ttl);
        if decision.allowed != c.allowed {
            failures.push(format!(
                "{}: {:?} {} expected allowed={} got {:?}",
                c.name, c.op, c.path, c.allowed, decision
            ));
        }
        assert_eq!(
            decision.allowed,
            decision.denial.is_none(),
            "{}: denial iff not allowed",
            c.name
        );
    }
    assert!(
        failures.is_empty(),
        "failing rows:\n{}",
        failures.join("\n")
    );
}

const APP_READ: &str = r#"path "secret/data/app/*" { capabilities = ["read"] }"#;
const EXACT_FOO: &str = r#"path "secret/foo" { capabilities = ["read", "update"] }"#;
const GLOB_SECRET: &str = r#"path "secret/*" { capabilities = ["read"] }"#;
const DENY_SECRET_A: &str = r#"path "secret/a/*" { capabilities = ["deny"] }"#;
const LIST_SECRET_A: &str = r#"path "secret/a/*" { capabilities = ["list"] }"#;
const PLUS_MIDDLE: &str = r#"path "secret/+/teamb" { capabilities = ["read"] }"#;
const PLUS_TWO: &str = r#"path "secret/+/+/teamb" { capabilities = ["read"] }"#;
const PLUS_END: &str = r#"path "secret/data/+" { capabilities = ["read"] }"#;
const PLUS_GLOB: &str = r#"path "secret/+/config/*" { capabilities = ["read"] }"#;
const PLUS_X: &str = r#"path "secret/+/x" { capabilities = ["update"] }"#;
const METADATA_LIST: &str = r#"path "secret/metadata/*" { capabilities = ["list"] }"#;

#[test]
fn path_matching() {
    run(vec![
        // Exact paths.
        case("exact hit", &[EXACT_FOO], Read, "secret/foo", true),
        case(
            "exact needs the capability",
            &[EXACT_FOO],
            Delete,
            "secret/foo",
            false,
        ),
        case(
            "exact is not a prefix",
            &[EXACT_FOO],
            Read,
            "secret/foo/bar",
            false,
        ),
        case(
            "exact is not a glob",
            &[EXACT_FOO],
            Read,
            "secret/food",
            false,
        ),
        // Globs are plain string prefixes.
        case("glob child", &[APP_READ], Read, "secret/data/app/db", true),
        case(
            "glob grandchild",
            &[APP_READ],
            Read,
            "secret/data/app/db/x/y",
            true,
        ),
        case(
            "glob: sibling with same prefix",
            &[APP_READ],
            Read,
            "secret/data/application",
            false,
        ),
        case(
            "glob: the folder itself",
            &[APP_READ],
            Read,
            "secret/data/app",
            false,
        ),
        case("glob: elsewhere", &[APP_READ], Read, "sys/seal", false),
        case(
            "glob: other capability",
            &[APP_READ],
            Update,
            "secret/data/app/db",
            false,
        ),
        case(
            "glob matches the empty remainder",
            &[APP_READ],
            Read,
            "secret/data/app/",
            true,
        ),
        case(
            "mid-word glob",
            &[r#"path "secret/zip-*" { capabilities = ["read"] }"#],
            Read,
            "secret/zip-zap/zong",
            true,
        ),
        case(
            "mid-word glob miss",
            &[r#"path "secret/zip-*" { capabilities = ["read"] }"#],
            Read,
            "secret/zip/zap",
            false,
        ),
        case(
            "bare * matches everything",
            &[r#"path "*" { capabilities = ["read"] }"#],
            Read,
            "sys/seal",
            true,
        ),
        case(
            "leading slash in policy stripped",
            &[r#"path "/secret/foo" { capabilities = ["read"] }"#],
            Read,
            "secret/foo",
            true,
        ),
        // `+` segments.
        case("+ middle", &[PLUS_MIDDLE], Read, "secret/foo/teamb", true),
        case(
            "+ middle, too deep",
            &[PLUS_MIDDLE],
            Read,
            "secret/foo/bar/teamb",
            false,
        ),
        case(
            "+ middle, wrong tail",
            &[PLUS_MIDDLE],
            Read,
            "secret/foo/teamc",
            false,
        ),
        case(
            "+ middle, not a prefix",
            &[PLUS_MIDDLE],
            Read,
            "secret/foo/teamb/x",
            false,
        ),
        case("two +", &[PLUS_TWO], Read, "secret/foo/bar/teamb", true),
        case(
            "two +, too shallow",
            &[PLUS_TWO],
            Read,
            "secret/foo/teamb",
            false,
        ),
        case("+ end", &[PLUS_END], Read, "secret/data/x", true),
        case(
            "+ end, one segment only",
            &[PLUS_END],
            Read,
            "secret/data/x/y",
            false,
        ),
        case(
            "+ end, the folder itself",
            &[PLUS_END],
            Read,
            "secret/data",
            false,
        ),
        case(
            "+ with glob",
            &[PLUS_GLOB],
            Read,
            "secret/app/config/db",
            true,
        ),
        case(
            "+ with glob, deep",
            &[PLUS_GLOB],
            Read,
            "secret/app/config/db/x",
            true,
        ),
        case(
            "+ with glob, bare folder",
            &[PLUS_GLOB],
            Read,
            "secret/app/config",
            false,
        ),
        case(
            "+ with glob, wrong segment",
            &[PLUS_GLOB],
            Read,
            "secret/app/other/db",
            false,
        ),
        case(
            "+ first",
            &[r#"path "+/sys/policies/acl" { capabilities = ["list"] }"#],
            List,
            "ns1/sys/policies/acl",
            true,
        ),
        // List on folders with a trailing slash.
        case(
            "list folder via glob",
            &[METADATA_LIST],
            List,
            "secret/metadata/",
            true,
        ),
        case(
            "list subfolder via glob",
            &[METADATA_LIST],
            List,
            "secret/metadata/app/",
            true,
        ),
        case(
            "list via exact without slash",
            &[r#"path "secret/metadata" { capabilities = ["list"] }"#],
            List,
            "secret/metadata/",
            true,
        ),
        case(
            "list via exact with slash",
            &[r#"path "secret/metadata/" { capabilities = ["list"] }"#],
            List,
            "secret/metadata/",
            true,
        ),
        case(
            "read gets no trailing-slash fallback",
            &[r#"path "secret/metadata" { capabilities = ["read"] }"#],
            Read,
            "secret/metadata/",
            false,
        ),
        case(
            "list via + without slash",
            &[r#"path "+/sys/policies/acl" { capabilities = ["list"] }"#],
            List,
            "ns1/sys/policies/acl/",
            true,
        ),
        // Vault quirk: a list first matches globs against the path without its
        // trailing slash, so `secret/*` governs `secret/metadata/` here.
        case(
            "list trims slash before globbing",
            &[GLOB_SECRET, METADATA_LIST],
            List,
            "secret/metadata/",
            false,
        ),
        // Deny by default.
        case("no policies", &[], Read, "secret/foo", false),
        case(
            "empty capabilities grant nothing",
            &[r#"path "secret/*" { capabilities = [] }"#],
            Read,
            "secret/x",
            false,
        ),
    ]);
}

#[test]
fn priority_and_merging() {
    const PRIORITY_P1: &str = r#"path "a/+/b/+" { capabilities = ["read"] }"#;
    const PRIORITY_P2: &str = r#"path "a/+/b/c*" { capabilities = ["update"] }"#;
    run(vec![
        // Vault docs' example set: secret/*, secret/+/x, secret/a/*.
        case("later glob wins over earlier", &[GLOB_SECRET, LIST_SECRET_A], Read, "secret/a/x", false),
        case("later glob grants its own caps", &[GLOB_SECRET, LIST_SECRET_A], List, "secret/a/x", true),
        case("+ beats * at the same position (rule 2)", &[GLOB_SECRET, PLUS_X], Update, "secret/b/x", true),
        case("+ shadows * at the same position", &[GLOB_SECRET, PLUS_X], Read, "secret/b/x", false),
        case("later glob beats earlier + (rule 1)", &[PLUS_X, LIST_SECRET_A], List, "secret/a/x", true),
        case("later glob shadows earlier +", &[PLUS_X, LIST_SECRET_A], Update, "secret/a/x", false),
        case("* still applies elsewhere", &[GLOB_SECRET, PLUS_X, LIST_SECRET_A], Read, "secret/b/y", true),
        // Rule 2 before rule 3: not ending in `*` beats fewer `+`.
        case("non-glob beats fewer +", &[PRIORITY_P1, PRIORITY_P2], Read, "a/x/b/c", true),
        case("non-glob shadows glob", &[PRIORITY_P1, PRIORITY_P2], Update, "a/x/b/c", false),
        case("glob used where non-glob misses", &[PRIORITY_P1, PRIORITY_P2], Update, "a/x/b/cd/e", true),
        // Rule 3: fewer `+` wins.
        case(
            "fewer + wins",
            &[r#"path "a/+/+/d" { capabilities = ["read"] }"#, r#"path "a/+/c/d" { capabilities = ["list"] }"#],
            List,
            "a/b/c/d",
            true,
        ),
        case(
            "fewer + shadows more +",
            &[r#"path "a/+/+/d" { capabilities = ["read"] }"#, r#"path "a/+/c/d" { capabilities = ["list"] }"#],
            Read,
            "a/b/c/d",
            false,
        ),
        // Rule 4: longer wins.
        case(
            "longer + glob wins",
            &[r#"path "a/+/b*" { capabilities = ["read"] }"#, r#"path "a/+/bar*" { capabilities = ["list"] }"#],
            Read,
            "a/x/barn",
            false,
        ),
        // Exact beats everything.
        case("exact beats glob", &[GLOB_SECRET, r#"path "secret/a" { capabilities = ["list"] }"#], Read, "secret/a", false),
        case("exact deny beats glob", &[GLOB_SECRET, r#"path "secret/super-secret" { capabilities = ["deny"] }"#], Read, "secret/super-secret", false),
        // Deny across policies.
        case("deny on same path in another policy", &[GLOB_SECRET, r#"path "secret/*" { capabilities = ["deny"] }"#], Read, "secret/x", false),
        case("deny on more specific path in another policy", &[GLOB_SECRET, DENY_SECRET_A], Read, "secret/a/x", false),
        case("deny in same policy, more specific", &["path \"secret/*\" { capabilities = [\"read\"] }\npath \"secret/a/*\" { capabilities = [\"deny\"] }"], Read, "secret/a/b", false),
        case("deny does not leak to siblings", &[GLOB_SECRET, DENY_SECRET_A], Read, "secret/b", true),
        // Only the highest-priority pattern counts, even across policies: a
        // less specific deny does not override a more specific grant.
        case("less specific deny is shadowed", &[r#"path "secret/*" { capabilities = ["deny"] }"#, r#"path "secret/a/*" { capabilities = ["read"] }"#], Read, "secret/a/x", true),
        // Union of identical patterns across policies.
        case("union across policies: read", &[GLOB_SECRET, r#"path "secret/*" { capabilities = ["update"] }"#], Read, "secret/x", true),
        case("union across policies: update", &[GLOB_SECRET, r#"path "secret/*" { capabilities = ["update"] }"#], Update, "secret/x", true),
        case("union across policies: not delete", &[GLOB_SECRET, r#"path "secret/*" { capabilities = ["update"] }"#], Delete, "secret/x", false),
        case("union of exact rules", &[r#"path "a" { capabilities = ["read"] }"#, r#"path "a" { capabilities = ["patch"] }"#], Patch, "a", true),
        case("union within one policy", &["path \"a\" { capabilities = [\"read\"] }\npath \"a\" { capabilities = [\"delete\"] }"], Delete, "a", true),
        case("deny first then grant stays deny", &[r#"path "a" { capabilities = ["deny"] }"#, r#"path "a" { capabilities = ["read"] }"#], Read, "a", false),
    ]);
}

#[test]
fn parameter_constraints() {
    const REQUIRED: &str = r#"path "secret/p" {
        capabilities = ["create", "update", "read"]
        required_parameters = ["bar", "Baz"]
    }"#;
    const ALLOWED: &str = r#"path "secret/p" {
        capabilities = ["create", "update", "patch"]
        allowed_parameters = {
            "foo" = []
            "bar" = ["zip", "zap"]
            "glob" = ["pre-*", "*-suf", "*mid*"]
            "n" = [1, true]
        }
    }"#;
    const ALLOWED_STAR: &str = r#"path "secret/p" {
        capabilities = ["update"]
        allowed_parameters = { "*" = [], "bar" = ["zip"] }
    }"#;
    const DENIED: &str = r#"path "secret/p" {
        capabilities = ["create", "update"]
        denied_parameters = { "foo" = [], "bar" = ["zip", "z*"] }
    }"#;
    const DENIED_ALL: &str = r#"path "secret/p" {
        capabilities = ["update"]
        denied_parameters = { "*" = [] }
    }"#;
    let u = |name, policy: &'static [&'static str], body: Value, allowed| {
        with_data(case(name, policy, Update, "secret/p", allowed), body)
    };
    run(vec![
        u("required present", &[REQUIRED], json!({"bar": 1, "baz": 2}), true),
        u("required missing", &[REQUIRED], json!({"bar": 1}), false),
        u("required, no body", &[REQUIRED], json!({}), false),
        with_data(case("required ignored on read", &[REQUIRED], Read, "secret/p", true), json!({})),
        u("allowed any value", &[ALLOWED], json!({"foo": "anything"}), true),
        u("allowed listed value", &[ALLOWED], json!({"bar": "zap"}), true),
        u("allowed unlisted value", &[ALLOWED], json!({"bar": "zop"}), false),
        u("allowed unlisted key", &[ALLOWED], json!({"foo": 1, "other": 1}), false),
        u("allowed key case-insensitive", &[ALLOWED], json!({"FOO": 1}), true),
        u("allowed glob prefix", &[ALLOWED], json!({"glob": "pre-x"}), true),
        u("allowed glob suffix", &[ALLOWED], json!({"glob": "x-suf"}), true),
        u("allowed glob infix", &[ALLOWED], json!({"glob": "xmidx"}), true),
        u("allowed glob miss", &[ALLOWED], json!({"glob": "nope"}), false),
        u("allowed list value, all listed", &[ALLOWED], json!({"bar": ["zip", "zap"]}), true),
        u("allowed list value, one unlisted", &[ALLOWED], json!({"bar": ["zip", "zop"]}), false),
        u("allowed comma string, all listed", &[ALLOWED], json!({"bar": "zip, zap"}), true),
        u("allowed comma string, one unlisted", &[ALLOWED], json!({"bar": "zip,zop"}), false),
        u("allowed non-string values", &[ALLOWED], json!({"n": true}), true),
        u("allowed non-string miss", &[ALLOWED], json!({"n": 2}), false),
        u("allowed, empty body", &[ALLOWED], json!({}), true),
        with_data(case("allowed applies to patch", &[ALLOWED], Patch, "secret/p", false), json!({"x": 1})),
        u("allowed * lets others through", &[ALLOWED_STAR], json!({"anything": 1}), true),
        u("allowed * keeps listed values", &[ALLOWED_STAR], json!({"bar": "zap"}), false),
        u("denied key any value", &[DENIED], json!({"foo": "x"}), false),
        u("denied key case-insensitive", &[DENIED], json!({"Foo": "x"}), false),
        u("denied listed value", &[DENIED], json!({"bar": "zip"}), false),
        u("denied glob value", &[DENIED], json!({"bar": "zoo"}), false),
        u("denied comma item", &[DENIED], json!({"bar": "ok, zip"}), false),
        u("denied list item", &[DENIED], json!({"bar": ["ok", "zip"]}), false),
        u("denied other value ok", &[DENIED], json!({"bar": "ok"}), true),
        u("denied other key ok", &[DENIED], json!({"baz": "zip"}), true),
        u("denied * blocks any body", &[DENIED_ALL], json!({"a": 1}), false),
        u("denied * allows empty body", &[DENIED_ALL], json!({}), true),
        // Merging across policies: an empty list (any value) wins, lists concatenate.
        u(
            "merged allowed lists concatenate",
            &[ALLOWED_STAR, "path \"secret/p\" {\n capabilities = [\"update\"]\n allowed_parameters = { \"bar\" = [\"zap\"] }\n}"],
            json!({"bar": "zap"}),
            true,
        ),
    ]);
}

#[test]
fn wrapping_ttl_bounds() {
    const BOUNDS: &str = "path \"secret/w\" {\n capabilities = [\"read\"]\n min_wrapping_ttl = \"1m\"\n max_wrapping_ttl = 3600\n}";
    const MAX_ONLY: &str =
        "path \"secret/w\" {\n capabilities = [\"read\"]\n max_wrapping_ttl = \"90s\"\n}";
    run(vec![
        case("unwrapped refused", &[BOUNDS], Read, "secret/w", false),
        wrapped(case("inside", &[BOUNDS], Read, "secret/w", true), 300),
        wrapped(case("at min", &[BOUNDS], Read, "secret/w", true), 60),
        wrapped(case("at max", &[BOUNDS], Read, "secret/w", true), 3600),
        wrapped(case("below min", &[BOUNDS], Read, "secret/w", false), 59),
        wrapped(case("above max", &[BOUNDS], Read, "secret/w", false), 3601),
        wrapped(
            case("max only, short", &[MAX_ONLY], Read, "secret/w", true),
            1,
        ),
        wrapped(
            case("max only, long", &[MAX_ONLY], Read, "secret/w", false),
            91,
        ),
        case("max only, unwrapped", &[MAX_ONLY], Read, "secret/w", false),
        // Merging keeps the smaller bound of each.
        wrapped(
            case(
                "merged max is the smaller",
                &[BOUNDS, MAX_ONLY],
                Read,
                "secret/w",
                false,
            ),
            300,
        ),
    ]);
}

#[test]
fn default_policy() {
    let default = default_policy_text();
    let d: &'static [&'static str] = Box::leak(Box::new([default]));
    run(vec![
        case("lookup-self", d, Read, "auth/token/lookup-self", true),
        case("renew-self", d, Update, "auth/token/renew-self", true),
        case("revoke-self", d, Update, "auth/token/revoke-self", true),
        case(
            "capabilities-self",
            d,
            Update,
            "sys/capabilities-self",
            true,
        ),
        case("cubbyhole create", d, Create, "cubbyhole/x", true),
        case("cubbyhole read", d, Read, "cubbyhole/x", true),
        case("cubbyhole update", d, Update, "cubbyhole/x", true),
        case("cubbyhole delete", d, Delete, "cubbyhole/x", true),
        case("cubbyhole list", d, List, "cubbyhole/", true),
        case("wrap", d, Update, "sys/wrapping/wrap", true),
        case("unwrap", d, Update, "sys/wrapping/unwrap", true),
        case("lease lookup", d, Update, "sys/leases/lookup", true),
        case("renew", d, Update, "sys/renew", true),
        case("hash", d, Update, "sys/tools/hash/sha2-256", true),
        case(
            "oidc authorize",
            d,
            Read,
            "identity/oidc/provider/p/authorize",
            true,
        ),
        case("no secret read", d, Read, "secret/data/x", false),
        case("no secret list", d, List, "secret/metadata/", false),
        case("no token create", d, Update, "auth/token/create", false),
        case("no seal", d, Update, "sys/seal", false),
        case(
            "templated rule skipped",
            d,
            Read,
            "identity/entity/id/{{identity.entity.id}}",
            false,
        ),
    ]);
}

#[test]
fn root_and_capabilities() {
    let root = Acl::new(&[Policy::root()]);
    assert!(root.is_root());
    let decision = root.check(Delete, "sys/seal", &Map::new(), None);
    assert!(decision.allowed && decision.root_privs && decision.is_root);
    assert_eq!(root.capabilities("anything"), vec!["root"]);

    let a = acl(&[
        r#"path "secret/*" { capabilities = ["read", "list", "create", "update", "delete", "sudo"] }"#,
        r#"path "secret/locked" { capabilities = ["deny"] }"#,
        r#"path "sys/seal" { policy = "sudo" }"#,
    ]);
    assert!(!a.is_root());
    assert_eq!(
        a.capabilities("secret/x"),
        vec!["create", "delete", "list", "read", "sudo", "update"]
    );
    assert_eq!(a.capabilities("secret/locked"), vec!["deny"]);
    assert_eq!(a.capabilities("other"), vec!["deny"]);
    assert!(a.check(Update, "sys/seal", &Map::new(), None).permits(true));
    let no_sudo = acl(&[r#"path "sys/seal" { capabilities = ["update"] }"#]).check(
        Update,
        "sys/seal",
        &Map::new(),
        None,
    );
    assert!(
        no_sudo.allowed && !no_sudo.root_privs && !no_sudo.permits(true) && no_sudo.permits(false)
    );
    let denied = a.check(Read, "secret/locked", &Map::new(), None);
    assert_eq!(denied.denial, Some(DenialReason::ExplicitDeny));
    assert_eq!(
        a.check(Read, "nowhere", &Map::new(), None).denial,
        Some(DenialReason::NoMatchingRule)
    );
}

#[test]
fn parsing_forms() {
    let json = policy(
        "j",
        r#"{"path": {"secret/*": {"capabilities": ["read"]}, "sys/seal": {"policy": "write"}}}"#,
    );
    let hcl = policy("h", "path \"secret/*\" {\n  capabilities = [\"read\"]\n}\npath \"sys/seal\" {\n  policy = \"write\"\n}\n");
    assert_eq!(json.rules, hcl.rules);
    assert_eq!(json.rules[0].kind, PathKind::Prefix);
    assert_eq!(json.rules[0].path, "secret/");
    let write: Vec<_> = json.rules[1]
        .permissions
        .capabilities
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(write, vec!["create", "read", "update", "delete", "list"]);

    let read = policy("r", r#"path "a" { policy = "read" }"#);
    assert!(read.rules[0]
        .permissions
        .capabilities
        .contains(Capability::List));
    let deny = policy(
        "d",
        r#"path "a" {
capabilities = ["read", "deny"]
allowed_parameters = { "x" = [] }
}"#,
    );
    assert_eq!(
        deny.rules[0].permissions,
        Permissions {
            capabilities: CapabilitySet::deny_only(),
            ..Default::default()
        }
    );

    let seg = policy(
        "s",
        r#"path "secret/+/x*" { capabilities = ["read"] }
path "a+b" { capabilities = ["read"] }"#,
    );
    assert_eq!(
        (seg.rules[0].kind, seg.rules[0].path.as_str()),
        (PathKind::Segment, "secret/+/x*")
    );
    assert_eq!(seg.rules[1].kind, PathKind::Exact);

    let durations = policy(
        "t",
        r#"path "a" {
capabilities = ["read"]
min_wrapping_ttl = "1h30m"
max_wrapping_ttl = "2d"
}"#,
    );
    assert_eq!(
        durations.rules[0].permissions.min_wrapping_ttl.as_secs(),
        5400
    );
    assert_eq!(
        durations.rules[0].permissions.max_wrapping_ttl.as_secs(),
        172_800
    );

    let json_list = policy(
        "l",
        r#"{"path": [{"a": {"capabilities": ["read"]}}, {"b": {"capabilities": ["list"]}}]}"#,
    );
    assert_eq!(json_list.rules.len(), 2);
    let named = policy("n", "name = \"x\"\n# comment\npath \"a\" {\n  comment = \"why\"\n  capabilities = [\"read\"]\n}\n");
    assert_eq!(named.rules.len(), 1);
    assert!(policy("e", "").rules.is_empty());
    let default = policy("default", default_policy_text());
    assert!(default.rules.iter().any(|r| r.templated));
}

#[test]
fn parse_errors() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "bad capability",
            r#"path "a" { capabilities = ["read", "raed"] }"#,
            r#"path "a": invalid capability "raed""#,
        ),
        (
            "bad shorthand",
            r#"path "a" { policy = "admin" }"#,
            r#"path "a": invalid policy "admin""#,
        ),
        (
            "unknown key",
            r#"path "a" {
capabilities = ["read"]
capabilites = ["x"]
}"#,
            r#"path "a": invalid key "capabilites""#,
        ),
        (
            "unknown top-level",
            r#"paths "a" { capabilities = ["read"] }"#,
            r#"invalid key "paths""#,
        ),
        (
            "enterprise key",
            r#"path "a" {
capabilities = ["read"]
mfa_methods = ["m"]
}"#,
            "Enterprise",
        ),
        (
            "empty path",
            r#"path "" { capabilities = ["read"] }"#,
            "empty path",
        ),
        (
            "slash-only path",
            r#"path "/" { capabilities = ["read"] }"#,
            "empty path",
        ),
        (
            "+*",
            r#"path "a/+*" { capabilities = ["read"] }"#,
            "'+*' is forbidden",
        ),
        (
            "capabilities not a list",
            r#"path "a" { capabilities = "read" }"#,
            "must be a list of strings",
        ),
        (
            "bad duration",
            r#"path "a" {
capabilities = ["read"]
max_wrapping_ttl = "soon"
}"#,
            "max_wrapping_ttl: invalid duration",
        ),
        (
            "inverted ttl",
            r#"path "a" {
capabilities = ["read"]
min_wrapping_ttl = 60
max_wrapping_ttl = 30
}"#,
            "cannot be less than",
        ),
        (
            "non-tail wildcard key",
            r#"path "a" {
capabilities = ["update"]
allowed_parameters = { "f*o" = [] }
}"#,
            "non-tail wildcards",
        ),
        (
            "wildcard required",
            r#"path "a" {
capabilities = ["update"]
required_parameters = ["*"]
}"#,
            "wildcard is not permitted",
        ),
        (
            "values not a list",
            r#"path "a" {
capabilities = ["update"]
denied_parameters = { "x" = "y" }
}"#,
            "values must be a list",
        ),
        (
            "expression",
            r#"path "a" { capabilities = [var.x] }"#,
            "only literal values",
        ),
        ("bad JSON", "{\"path\": {\"a\": }", "invalid JSON"),
        (
            "JSON unknown key",
            r#"{"path": {"a": {"capabilities": ["read"], "nope": 1}}}"#,
            r#"invalid key "nope""#,
        ),
    ];
    for (name, text, expected) in cases {
        match parse("p", text) {
            Ok(p) => panic!("{name}: expected an error, parsed {p:?}"),
            Err(e) => assert!(
                e.to_string().contains(expected),
                "{name}: {e:?} / {e} lacks {expected:?}"
            ),
        }
    }
    // Invalid HCL reports where.
    let err =
        parse("p", "path \"a\" {\n  capabilities = [\"read\"\n}\n").expect_err("unterminated list");
    assert!(matches!(err, PolicyError::Syntax(_)), "{err:?}");
    assert!(
        err.to_string().contains("line") || err.to_string().contains("3:"),
        "{err}"
    );
}

#[test]
fn globbed_match_semantics() {
    use super::params::globbed_match;
    assert!(globbed_match("*", "*"));
    assert!(!globbed_match("*", "x"));
    assert!(globbed_match("a*", "abc"));
    assert!(globbed_match("*c", "abc"));
    assert!(globbed_match("*b*", "abc"));
    assert!(!globbed_match("a*", "ba"));
}
