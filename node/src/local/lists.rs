//! What a citizen's node lists, searches and exports: the store's lists,
//! without the entities their community hid or a blocked author made
//! ([`Local::left_out`]) unless the filter asks for them.

use crdt_model::document::Entity;
use crdt_model::ids::EntityId;

use super::{Local, LocalError, now_ms};
use crate::opendata::Licence;
use crate::opendata::export::{ExportOptions, ExportWriter, Format};
use crate::store::Filter;

impl Local {
    /// The entities `filter` allows, exported in `format` under `licence`
    /// to `out` as they are read (memory holds one entity at a time);
    /// returns how many were written.
    pub fn export(
        &self,
        format: Format,
        filter: &Filter,
        licence: Licence,
        out: &mut dyn std::io::Write,
    ) -> Result<usize, LocalError> {
        let options = ExportOptions {
            licence,
            postal_key: filter.postal_key.clone(),
            kind: filter.kind,
            now_ms: now_ms(),
        };
        let mut writer = ExportWriter::begin(format, &options, out)?;
        let hidden = if filter.hidden {
            Default::default()
        } else {
            self.left_out()?
        };
        self.store.list_each(filter, |entity| {
            if hidden.contains(&entity.id) {
                return Ok(());
            }
            writer.entity(&entity)
        })?;
        Ok(writer.finish()?)
    }

    /// The JSON array of the entities `filter` allows (as
    /// [`crate::store::Store::list_json`] gives it), written to `out` as
    /// they are read.
    pub fn write_list_json(
        &self,
        filter: &Filter,
        out: &mut dyn std::io::Write,
    ) -> Result<(), LocalError> {
        out.write_all(b"[").map_err(LocalError::Write)?;
        let mut first = true;
        let hidden = if filter.hidden {
            Default::default()
        } else {
            self.left_out()?
        };
        self.store.list_each_json(filter, |id, json| {
            if hidden.contains(id) {
                return Ok(());
            }
            if !first {
                out.write_all(b",").map_err(LocalError::Write)?;
            }
            first = false;
            out.write_all(json).map_err(LocalError::Write)
        })?;
        out.write_all(b"]").map_err(LocalError::Write)
    }

    /// The best `limit` entities matching `text`
    /// ([`crate::store::Store::search`]),
    /// without those moderation hides unless `filter` asks for them.
    pub fn search(
        &self,
        text: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<Entity>, LocalError> {
        if filter.hidden {
            return Ok(self.store.search(text, filter, limit)?);
        }
        let hidden = self.left_out()?;
        let mut found = self.store.search(text, filter, limit + hidden.len())?;
        found.retain(|entity| !hidden.contains(&entity.id));
        found.truncate(limit);
        Ok(found)
    }

    /// The ids of every entity matching `text`
    /// ([`crate::store::Store::search_ids`]),
    /// without those moderation hides unless `filter` asks for them.
    pub fn search_ids(&self, text: &str, filter: &Filter) -> Result<Vec<EntityId>, LocalError> {
        let mut ids = self.store.search_ids(text, filter)?;
        if !filter.hidden {
            let hidden = self.left_out()?;
            ids.retain(|id| !hidden.contains(id));
        }
        Ok(ids)
    }
}
