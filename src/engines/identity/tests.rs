//! The identity store as a library (what core calls at login and per
//! request) and the engine's handlers over a barrier-backed view.

use std::collections::BTreeMap;

use serde_json::json;

use super::{backend, IdentityStore, MountInfo};
use crate::auth::test_support::{call, setup};
use crate::logical::auth::Alias;
use crate::logical::{Operation, StorageView};

fn mounts() -> Vec<MountInfo> {
    vec![MountInfo {
        accessor: "auth_userpass_1".into(),
        path: "auth/userpass/".into(),
        mount_type: "userpass".into(),
    }]
}

async fn store() -> (std::sync::Arc<IdentityStore>, StorageView) {
    let (_s, view) = setup().await;
    let store = IdentityStore::new(None);
    store.set_mounts(mounts(), Some(view.clone()));
    (store, view)
}

fn alias(name: &str) -> Alias {
    Alias {
        name: name.into(),
        metadata: BTreeMap::new(),
    }
}

#[tokio::test]
async fn a_login_creates_one_entity_and_reuses_it() {
    let (store, _view) = store().await;
    let a = store
        .resolve_login("auth_userpass_1", &alias("dave"), &[])
        .await
        .unwrap();
    let b = store
        .resolve_login("auth_userpass_1", &alias("dave"), &[])
        .await
        .unwrap();
    assert!(!a.is_empty());
    assert_eq!(a, b);
    let other = store
        .resolve_login("auth_userpass_1", &alias("erin"), &[])
        .await
        .unwrap();
    assert_ne!(a, other);
    // No alias name: no entity.
    assert_eq!(
        store
            .resolve_login("auth_userpass_1", &alias(""), &[])
            .await
            .unwrap(),
        ""
    );
}

#[tokio::test]
async fn group_policies_nested_and_external_memberships_at_login() {
    let (store, view) = store().await;
    let b = backend(store.clone());
    let entity = store
        .resolve_login("auth_userpass_1", &alias("dave"), &[])
        .await
        .unwrap();
    let grant = store.entity_grant(&entity).await.unwrap().unwrap();
    assert!(grant.policies.is_empty());

    let inner = call(
        &b,
        &view,
        Operation::Update,
        "group",
        json!({"name": "inner", "policies": ["p-inner"], "member_entity_ids": [entity]}),
    )
    .await
    .unwrap();
    let inner_id = inner.data.unwrap()["id"].as_str().unwrap().to_string();
    call(
        &b,
        &view,
        Operation::Update,
        "group",
        json!({"name": "outer", "policies": ["p-outer"], "member_group_ids": [inner_id]}),
    )
    .await
    .unwrap();
    let grant = store.entity_grant(&entity).await.unwrap().unwrap();
    assert_eq!(grant.policies, vec!["p-inner", "p-outer"]);

    // An external group whose alias the login claims: joined at login, left
    // at the next login that no longer claims it.
    let ext = call(
        &b,
        &view,
        Operation::Update,
        "group",
        json!({"name": "ext", "type": "external", "policies": ["p-ext"]}),
    )
    .await
    .unwrap();
    let ext_id = ext.data.unwrap()["id"].as_str().unwrap().to_string();
    call(
        &b,
        &view,
        Operation::Update,
        "group-alias",
        json!({"name": "admins", "mount_accessor": "auth_userpass_1", "canonical_id": ext_id}),
    )
    .await
    .unwrap();
    store
        .resolve_login("auth_userpass_1", &alias("dave"), &["admins".into()])
        .await
        .unwrap();
    let grant = store.entity_grant(&entity).await.unwrap().unwrap();
    assert!(grant.policies.contains(&"p-ext".to_string()), "{grant:?}");
    store
        .resolve_login("auth_userpass_1", &alias("dave"), &[])
        .await
        .unwrap();
    let grant = store.entity_grant(&entity).await.unwrap().unwrap();
    assert!(!grant.policies.contains(&"p-ext".to_string()));

    // A cycle is refused.
    let outer = call(&b, &view, Operation::Read, "group/name/outer", json!({}))
        .await
        .unwrap();
    let outer_id = outer.data.unwrap()["id"].as_str().unwrap().to_string();
    let err = call(
        &b,
        &view,
        Operation::Update,
        &format!("group/id/{inner_id}"),
        json!({"member_group_ids": [outer_id]}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 400);
}

#[tokio::test]
async fn disabled_entities_and_deleted_mounts() {
    let (store, view) = store().await;
    let b = backend(store.clone());
    let entity = store
        .resolve_login("auth_userpass_1", &alias("dave"), &[])
        .await
        .unwrap();
    call(
        &b,
        &view,
        Operation::Update,
        &format!("entity/id/{entity}"),
        json!({"disabled": true}),
    )
    .await
    .unwrap();
    assert!(store.entity_grant(&entity).await.unwrap().unwrap().disabled);
    // A disabled entity's login is refused.
    assert!(store
        .resolve_login("auth_userpass_1", &alias("dave"), &[])
        .await
        .is_err());
    store.delete_mount_aliases("auth_userpass_1").await.unwrap();
    let e = call(
        &b,
        &view,
        Operation::Read,
        &format!("entity/id/{entity}"),
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(e.data.unwrap()["aliases"], json!([]));
    // A new login on the mount makes a new entity.
    let fresh = store
        .resolve_login("auth_userpass_1", &alias("dave"), &[])
        .await
        .unwrap();
    assert_ne!(fresh, entity);
    assert!(store
        .entity_grant("no-such-entity")
        .await
        .unwrap()
        .is_none());
}
