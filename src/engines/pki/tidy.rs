//! `tidy` and `tidy-status`: removes expired certificates and revocation
//! entries (past their safety buffer), then rebuilds the CRLs. The run
//! happens on the node that accepted it (the active node: tidy writes)
//! before the 202 answer; its status is kept in memory on that node.

use std::sync::Mutex;

use serde_json::{json, Map, Value};

use super::storage::{get_json, CertRecord, RevokedRecord};
use super::Pki;
use crate::logical::framework::{Ctx, DefaultValue as D, Field};
use crate::logical::{LogicalError, LogicalResult, Response};
use crate::storage::BatchItem;

pub(crate) const TIDY_FIELDS: &[Field] = &[
    Field::bool("tidy_cert_store", "Tidy the certificate store"),
    Field::bool("tidy_revoked_certs", "Tidy revoked certificates"),
    Field::bool(
        "tidy_revoked_cert_issuer_associations",
        "Tidy revoked certificate issuer associations",
    ),
    Field::bool("tidy_expired_issuers", "Tidy expired issuers"),
    Field::bool("tidy_move_legacy_ca_bundle", "Move the legacy CA bundle"),
    Field::bool("tidy_invalid_certs", "Tidy invalid certificates"),
    Field::bool("tidy_acme", "Tidy ACME accounts"),
    Field::duration("safety_buffer", "How long past expiry to keep certificates")
        .default(D::Int(259200)),
    Field::duration(
        "issuer_safety_buffer",
        "How long past expiry to keep issuers",
    )
    .default(D::Int(31536000)),
    Field::duration("acme_account_safety_buffer", "ACME safety buffer").default(D::Int(2592000)),
    Field::string("pause_duration", "Pause between certificates").default(D::Str("0s")),
];

#[derive(Default)]
pub(crate) struct TidyState {
    last: Mutex<Option<Value>>,
}

const NOTHING: &str = "Manual tidy requested but no tidy operations were set. Enable at least one tidy operation to be run (tidy_cert_store / tidy_revoked_certs / tidy_invalid_certs / tidy_revoked_cert_issuer_associations / tidy_expired_issuers / tidy_move_legacy_ca_bundle / tidy_acme).";
const STARTED: &str = "Tidy operation successfully started. Any information from the operation will be printed to OpenBao's server logs.";

/// Vault's 202 answer: an envelope with an empty request id.
fn accepted(warning: &str) -> Response {
    Response::raw_with_status(
        202,
        json!({
            "request_id": "", "lease_id": "", "renewable": false, "lease_duration": 0,
            "data": null, "wrap_info": null, "warnings": [warning], "auth": null,
        }),
    )
}

fn now3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

impl Pki {
    pub(crate) async fn tidy(&self, c: &Ctx<'_>) -> LogicalResult {
        let f = &c.fields;
        let certs = f.flag("tidy_cert_store");
        let revoked =
            f.flag("tidy_revoked_certs") || f.flag("tidy_revoked_cert_issuer_associations");
        let any = certs
            || revoked
            || [
                "tidy_expired_issuers",
                "tidy_move_legacy_ca_bundle",
                "tidy_invalid_certs",
                "tidy_acme",
            ]
            .iter()
            .any(|n| f.flag(n));
        if !any {
            return Ok(accepted(NOTHING));
        }
        let buffer = f.get::<u64>("safety_buffer").unwrap_or(259200) as i64;
        let started = now3339();
        let now = chrono::Utc::now().timestamp();
        let (mut cert_deleted, mut revoked_deleted) = (0u64, 0u64);
        let mut batch = Vec::new();
        if certs {
            for k in c.view.list("certs/").await? {
                let key = format!("certs/{k}");
                if let Some(r) = get_json::<CertRecord>(c.view, &key).await? {
                    let is_issuer = self
                        .all_issuers(c.view)
                        .await?
                        .iter()
                        .any(|i| i.serial.replace(':', "-") == k);
                    if !is_issuer && r.not_after + buffer < now {
                        batch.push(BatchItem::delete(key));
                        cert_deleted += 1;
                    }
                }
            }
        }
        if revoked {
            for k in c.view.list("revoked/").await? {
                let key = format!("revoked/{k}");
                if let Some(r) = get_json::<RevokedRecord>(c.view, &key).await? {
                    if r.not_after + buffer < now {
                        batch.push(BatchItem::delete(key));
                        batch.push(BatchItem::delete(format!("certs/{k}")));
                        revoked_deleted += 1;
                    }
                }
            }
        }
        for chunk in batch.chunks(50) {
            c.view.batch(chunk.to_vec()).await?;
        }
        if revoked_deleted > 0 {
            for i in self.all_issuers(c.view).await? {
                if !i.key_id.is_empty() {
                    self.rebuild_crl(c.view, &i).await?;
                }
            }
        }
        let mut status = Map::new();
        for n in [
            "tidy_cert_store",
            "tidy_revoked_certs",
            "tidy_revoked_cert_issuer_associations",
            "tidy_expired_issuers",
            "tidy_move_legacy_ca_bundle",
            "tidy_invalid_certs",
            "tidy_acme",
        ] {
            status.insert(n.into(), json!(f.flag(n)));
        }
        status.insert("safety_buffer".into(), json!(buffer));
        status.insert("revoked_safety_buffer".into(), json!(buffer));
        status.insert(
            "issuer_safety_buffer".into(),
            json!(f.get::<u64>("issuer_safety_buffer").unwrap_or(31536000)),
        );
        status.insert(
            "acme_account_safety_buffer".into(),
            json!(f
                .get::<u64>("acme_account_safety_buffer")
                .unwrap_or(2592000)),
        );
        status.insert("pause_duration".into(), json!(f.str("pause_duration")));
        status.insert("state".into(), json!("Finished"));
        status.insert("error".into(), Value::Null);
        status.insert("time_started".into(), json!(started));
        status.insert("time_finished".into(), json!(now3339()));
        status.insert("message".into(), Value::Null);
        status.insert("cert_store_deleted_count".into(), json!(cert_deleted));
        status.insert("revoked_cert_deleted_count".into(), json!(revoked_deleted));
        status.insert("missing_issuer_cert_count".into(), json!(0));
        let mut last = self
            .tidy
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *last = Some(Value::Object(status));
        Ok(accepted(STARTED))
    }

    pub(crate) async fn tidy_status(&self, _c: &Ctx<'_>) -> LogicalResult {
        let last = self
            .tidy
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut data = match last {
            Some(Value::Object(m)) => m,
            _ => {
                let mut m = Map::new();
                m.insert("state".into(), json!("Inactive"));
                for n in [
                    "tidy_cert_store",
                    "tidy_revoked_certs",
                    "tidy_revoked_cert_issuer_associations",
                    "tidy_expired_issuers",
                    "tidy_move_legacy_ca_bundle",
                    "tidy_invalid_certs",
                    "tidy_acme",
                ] {
                    m.insert(n.into(), Value::Null);
                }
                for n in [
                    "safety_buffer",
                    "issuer_safety_buffer",
                    "error",
                    "time_started",
                    "time_finished",
                    "message",
                    "pause_duration",
                    "revoked_safety_buffer",
                    "acme_account_safety_buffer",
                ] {
                    m.insert(n.into(), Value::Null);
                }
                for n in [
                    "cert_store_deleted_count",
                    "revoked_cert_deleted_count",
                    "missing_issuer_cert_count",
                ] {
                    m.insert(n.into(), json!(0));
                }
                m
            }
        };
        for n in [
            "acme_account_deleted_count",
            "acme_account_revoked_count",
            "acme_orders_deleted_count",
            "total_acme_account_count",
        ] {
            data.insert(n.into(), json!(0));
        }
        data.insert("current_cert_store_count".into(), Value::Null);
        data.insert("current_revoked_cert_count".into(), Value::Null);
        data.insert("last_auto_tidy_finished".into(), Value::Null);
        data.insert("page_size".into(), json!(1000));
        data.insert("internal_backend_uuid".into(), json!(""));
        Ok(Response::data(data))
    }

    pub(crate) async fn tidy_cancel(&self, _c: &Ctx<'_>) -> LogicalResult {
        Err(LogicalError::bad("no tidy operation is currently running"))
    }
}
