//! `config`: the mount-wide settings every key falls back to.

use serde_json::json;

use super::record::{go_duration, Config, CONFIG_KEY};
use super::store::Change;
use super::{u32_field, KvV2};
use crate::logical::framework::{Ctx, Field};
use crate::logical::{LogicalResult, Response};

pub(super) const FIELDS: &[Field] = &[
    Field::int(
        "max_versions",
        "The number of versions to keep for each key. Defaults to 10.",
    ),
    Field::bool(
        "cas_required",
        "If true, the backend will require the cas parameter to be set for each write.",
    ),
    Field::bool(
        "metadata_cas_required",
        "If true, metadata writes will require the metadata_cas parameter.",
    ),
    Field::duration(
        "delete_version_after",
        "If set, the length of time before a version is deleted. A zero duration clears the \
         setting.",
    ),
];

impl KvV2 {
    pub(super) async fn read_config(&self, c: &Ctx<'_>) -> LogicalResult {
        // From storage, like every read; refreshes the cached config.
        let seen = self.config_seen(c.view, true).await?;
        let cfg = seen.value.unwrap_or_default();
        Ok(Response::json(json!({
            "cas_required": cfg.cas_required,
            "delete_version_after": go_duration(cfg.delete_version_after),
            "max_versions": cfg.max_versions,
            "metadata_cas_required": cfg.metadata_cas_required,
        })))
    }

    pub(super) async fn write_config(&self, c: &Ctx<'_>) -> LogicalResult {
        let max_versions = u32_field(c, "max_versions")?;
        let cas_required = c.fields.get_ok::<bool>("cas_required");
        let metadata_cas_required = c.fields.get_ok::<bool>("metadata_cas_required");
        let delete_after = c.fields.get_ok::<u64>("delete_version_after");
        self.mutate(c.view, CONFIG_KEY, false, |_, current: Option<Config>| {
            let mut cfg = current.unwrap_or_default();
            if let Some(n) = max_versions {
                cfg.max_versions = n;
            }
            if let Some(b) = cas_required {
                cfg.cas_required = b;
            }
            if let Some(b) = metadata_cas_required {
                cfg.metadata_cas_required = b;
            }
            if let Some(d) = delete_after {
                cfg.delete_version_after = d;
            }
            Ok(Change::Put(cfg, Vec::new(), ()))
        })
        .await?;
        Ok(Response::empty())
    }
}
