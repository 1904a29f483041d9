//! `lookup/entity` and `lookup/group`: find one object by exactly one of
//! name, id, alias id, or alias name and mount accessor (Vault's
//! identity_store_lookup.go). Nothing found answers 204.

use crate::logical::framework::{Ctx, Field};
use crate::logical::{LogicalError, LogicalResult, Response};

use super::Identity;

pub(super) const LOOKUP_FIELDS: &[Field] = &[
    Field::string("type", "Type of lookup. Current supported values are 'id' and 'name'"),
    Field::string("name", "Name of the object."),
    Field::string("id", "ID of the object."),
    Field::string("alias_id", "ID of the alias."),
    Field::string("alias_name", "Name of the alias. This should be supplied in conjunction with 'alias_mount_accessor'."),
    Field::string("alias_mount_accessor", "Accessor of the mount to which the alias belongs to. This should be supplied in conjunction with 'alias_name'."),
];

/// Which single criterion a lookup names.
enum By {
    Name(String),
    Id(String),
    AliasId(String),
    Alias { accessor: String, name: String },
}

fn criterion(c: &Ctx<'_>) -> Result<By, LogicalError> {
    let get = |k: &str| c.fields.str(k);
    let (name, id, alias_id) = (get("name"), get("id"), get("alias_id"));
    let (alias_name, accessor) = (get("alias_name"), get("alias_mount_accessor"));
    let set = [&name, &id, &alias_id]
        .iter()
        .filter(|s| !s.is_empty())
        .count()
        + usize::from(!alias_name.is_empty() || !accessor.is_empty());
    if set == 0 {
        return Err(LogicalError::bad("query parameter not supplied"));
    }
    if set > 1 {
        return Err(LogicalError::bad(
            "query parameter conflict; please supply distinct set of query parameters",
        ));
    }
    Ok(if !name.is_empty() {
        By::Name(name)
    } else if !id.is_empty() {
        By::Id(id)
    } else if !alias_id.is_empty() {
        By::AliasId(alias_id)
    } else if alias_name.is_empty() {
        return Err(LogicalError::bad("missing alias_name"));
    } else if accessor.is_empty() {
        return Err(LogicalError::bad("missing alias_mount_accessor"));
    } else {
        By::Alias {
            accessor,
            name: alias_name,
        }
    })
}

impl Identity {
    pub(super) async fn lookup_entity(&self, c: &Ctx<'_>) -> LogicalResult {
        let by = criterion(c)?;
        let snap = self.store.snapshot(c.view).await?;
        let s = &snap.state;
        let found = match &by {
            By::Name(n) => s.entity_by_name(n),
            By::Id(id) => s.entities.get(id),
            By::AliasId(id) => s.alias_by_id(id).map(|(e, _)| e),
            By::Alias { accessor, name } => s.alias_by_factors(accessor, name).map(|(e, _)| e),
        };
        Ok(match found {
            Some(e) => Response::json(e.to_json(&snap, &self.store.mounts())),
            None => Response::empty(),
        })
    }

    pub(super) async fn lookup_group(&self, c: &Ctx<'_>) -> LogicalResult {
        let by = criterion(c)?;
        let snap = self.store.snapshot(c.view).await?;
        let s = &snap.state;
        let found = match &by {
            By::Name(n) => s.group_by_name(n),
            By::Id(id) => s.groups.get(id),
            By::AliasId(id) => s.group_alias_by_id(id),
            By::Alias { accessor, name } => s.group_alias_by_factors(accessor, name),
        };
        match found {
            Some(_) => self.group_response(&snap, found),
            None => Ok(Response::empty()),
        }
    }
}
