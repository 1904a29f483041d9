use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use serde_json::{json, Map, Value};

use super::storage::{
    load_role, SecretIdEntry, ACCESSOR_PREFIX, INVALID_CREDENTIALS, SECRET_PREFIX,
};
use super::*;
use crate::auth::test_support::{all_bytes, call, contains, setup};
use crate::logical::{Backend, LogicalError, LogicalResult, Operation, Request, StorageView};
use crate::util::ManualClock;

fn data(r: LogicalResult) -> Map<String, Value> {
    r.unwrap().data.expect("response data")
}

async fn role_id(b: &AppRoleBackend, view: &StorageView, name: &str) -> String {
    let d = data(
        call(
            b,
            view,
            Operation::Read,
            &format!("role/{name}/role-id"),
            json!({}),
        )
        .await,
    );
    d["role_id"].as_str().unwrap().to_string()
}

async fn new_secret(
    b: &AppRoleBackend,
    view: &StorageView,
    name: &str,
    body: Value,
) -> (String, String) {
    let d = data(
        call(
            b,
            view,
            Operation::Update,
            &format!("role/{name}/secret-id"),
            body,
        )
        .await,
    );
    (
        d["secret_id"].as_str().unwrap().to_string(),
        d["secret_id_accessor"].as_str().unwrap().to_string(),
    )
}

async fn login_from(
    b: &AppRoleBackend,
    view: &StorageView,
    role_id: &str,
    secret_id: &str,
    addr: Option<&str>,
) -> LogicalResult {
    let mut req = Request::new(Operation::Update, "auth/approle/login");
    req.relative_path = "login".into();
    req.data = json!({"role_id": role_id, "secret_id": secret_id})
        .as_object()
        .cloned()
        .unwrap();
    req.remote_addr = addr.map(|a| a.parse().unwrap());
    b.handle(&req, view).await
}

async fn login(
    b: &AppRoleBackend,
    view: &StorageView,
    role_id: &str,
    secret_id: &str,
) -> LogicalResult {
    login_from(b, view, role_id, secret_id, None).await
}

mod roles;
mod secret_ids;
