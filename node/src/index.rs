//! Index keys of an entity and the queries that use them: listing by postal
//! code, kind and tag, and the accent- and case-insensitive text search.
//!
//! Keys live in one redb table, scanned by prefix: a text prefix
//! `p/<postal key>/`, `k/<kind>/`, `t/<folded tag>/` or `w/<folded word>/`
//! (for each word of the name, category, tags, type, locality and
//! descriptions), then the entity's row number and its id. Rows grow as
//! entities are first indexed, so new keys land at the end of their prefix's
//! range. Entities marked deleted have no index keys: they are hidden from
//! lists and search, and still shown by id.

use std::collections::BTreeSet;

use crdt_model::document::Entity;
use crdt_model::ids::EntityId;
use crdt_model::schema::{Field, Kind};
use crdt_model::text::fold;
use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use crate::store::{ENTITIES, INDEX, META, NAMES, ROWS, Store, StoreError};

/// French words too common to search for.
const STOP_WORDS: &[&str] = &[
    "au", "aux", "avec", "ce", "ces", "d", "dans", "de", "des", "du", "en", "et", "l", "la", "le",
    "les", "par", "pour", "sur", "un", "une", "a", "the", "of", "and",
];

/// The folded words of a text worth indexing.
pub fn search_words(text: &str) -> impl Iterator<Item = String> {
    fold(text)
        .split(' ')
        .filter(|word| !word.is_empty() && !STOP_WORDS.contains(word))
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into_iter()
}

/// The index prefixes of an entity (none when it is marked deleted); its
/// keys are these followed by its row and id.
pub(crate) fn prefixes(entity: &Entity) -> Vec<String> {
    if entity.deleted {
        return Vec::new();
    }
    let mut prefixes = BTreeSet::new();
    prefixes.insert(format!("p/{}/", entity.postal_key()));
    prefixes.insert(format!("k/{}/", entity.kind));
    for tag in &entity.tags {
        prefixes.insert(format!("t/{}/", fold(tag)));
    }
    let mut texts: Vec<&str> = entity.tags.iter().map(String::as_str).collect();
    for field in [
        Field::Name,
        Field::Category,
        Field::ShortDescription,
        Field::Description,
        Field::EventType,
        Field::PlaceType,
    ] {
        texts.extend(entity.text(field));
    }
    texts.extend(entity.address.locality.as_deref());
    for text in texts {
        for word in search_words(text) {
            prefixes.insert(format!("w/{word}/"));
        }
    }
    prefixes.into_iter().collect()
}

fn key(prefix: &str, row: u64, id: &EntityId) -> Vec<u8> {
    [prefix.as_bytes(), &row.to_be_bytes(), id.as_bytes()].concat()
}

/// Replaces the `stale` prefixes of an entity by the `fresh` ones, giving
/// the entity a row the first time it is indexed.
pub(crate) fn update(
    tx: &WriteTransaction,
    id: &EntityId,
    stale: &[String],
    fresh: &[String],
) -> Result<(), StoreError> {
    if stale.is_empty() && fresh.is_empty() {
        return Ok(());
    }
    let mut rows = tx.open_table(ROWS)?;
    let existing = rows.get(&id.as_bytes()[..])?.map(|row| row.value());
    let row = match existing {
        Some(row) => row,
        None => {
            let mut meta = tx.open_table(META)?;
            let row = meta.get("next_row")?.map_or(0, |row| row.value());
            meta.insert("next_row", row + 1)?;
            rows.insert(&id.as_bytes()[..], row)?;
            row
        }
    };
    let mut index = tx.open_table(INDEX)?;
    for prefix in stale {
        index.remove(&key(prefix, row, id)[..])?;
    }
    for prefix in fresh {
        index.insert(&key(prefix, row, id)[..], ())?;
    }
    Ok(())
}

/// Rebuilds the index and the rows from the cached entities.
pub(crate) fn rebuild(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(INDEX)?.retain(|_, _| false)?;
    tx.open_table(ROWS)?.retain(|_, _| false)?;
    tx.open_table(META)?.remove("next_row")?;
    let entities: Vec<Entity> = {
        let table = tx.open_table(ENTITIES)?;
        let mut entities = Vec::new();
        for entry in table.iter()? {
            let (_, bytes) = entry?;
            entities.push(
                serde_json::from_slice(bytes.value())
                    .map_err(|error| StoreError::Corrupt(format!("cached entity: {error}")))?,
            );
        }
        entities
    };
    for entity in entities {
        update(tx, &entity.id, &[], &prefixes(&entity))?;
    }
    Ok(())
}

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only this postal key (`97400`, `BE-1000`).
    pub postal_key: Option<String>,
    /// Only entities with this tag (compared folded).
    pub tag: Option<String>,
}

/// Ids under every key starting with `prefix` (a key ends with the row and
/// the id).
fn ids_with_prefix(
    table: &impl ReadableTable<&'static [u8], ()>,
    prefix: &str,
) -> Result<BTreeSet<EntityId>, StoreError> {
    let mut ids = BTreeSet::new();
    for entry in table.range(prefix.as_bytes()..)? {
        let (key, _) = entry?;
        let key = key.value();
        if !key.starts_with(prefix.as_bytes()) {
            break;
        }
        if let Some(id) = key.last_chunk::<16>() {
            ids.insert(EntityId::from_bytes(*id));
        }
    }
    Ok(ids)
}

/// The ids every given criterion of `filter` allows, from the index (the
/// index has no entry for deleted entities); `None` when there is no criterion.
fn filtered_ids(
    index: &impl ReadableTable<&'static [u8], ()>,
    filter: &Filter,
) -> Result<Option<BTreeSet<EntityId>>, StoreError> {
    let mut keys = Vec::new();
    if let Some(tag) = &filter.tag {
        keys.push(format!("t/{}/", fold(tag)));
    }
    if let Some(postal_key) = &filter.postal_key {
        keys.push(format!("p/{postal_key}/"));
    }
    if let Some(kind) = filter.kind {
        keys.push(format!("k/{kind}/"));
    }
    let mut allowed: Option<BTreeSet<EntityId>> = None;
    for key in keys {
        let ids = ids_with_prefix(index, &key)?;
        allowed = Some(match allowed {
            None => ids,
            Some(previous) => previous.intersection(&ids).copied().collect(),
        });
    }
    Ok(allowed)
}

impl Store {
    /// The cached typed entity.
    pub fn entity(&self, id: &EntityId) -> Result<Option<Entity>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(ENTITIES)?;
        read_entity(&table, id)
    }

    /// Reads entities in the order of `ids`, in one read transaction.
    fn entities(&self, ids: impl IntoIterator<Item = EntityId>) -> Result<Vec<Entity>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(ENTITIES)?;
        let mut out = Vec::new();
        for id in ids {
            out.extend(read_entity(&table, &id)?);
        }
        Ok(out)
    }

    /// Sorts ids by rank then folded name, from the `names` table.
    fn by_name(
        &self,
        ids: BTreeSet<EntityId>,
        rank: impl Fn(&str) -> bool,
    ) -> Result<Vec<EntityId>, StoreError> {
        let tx = self.db.begin_read()?;
        let names = tx.open_table(NAMES)?;
        let mut ranked = Vec::with_capacity(ids.len());
        for id in ids {
            let name = names
                .get(&id.as_bytes()[..])?
                .map(|name| name.value().to_owned())
                .unwrap_or_default();
            ranked.push((!rank(&name), name, id));
        }
        ranked.sort();
        Ok(ranked.into_iter().map(|(_, _, id)| id).collect())
    }

    /// Entities matching `filter`, sorted by folded name, deleted ones left out.
    pub fn list(&self, filter: &Filter) -> Result<Vec<Entity>, StoreError> {
        let candidates = {
            let tx = self.db.begin_read()?;
            let index = tx.open_table(INDEX)?;
            match filtered_ids(&index, filter)? {
                Some(ids) => ids,
                None => ids_with_prefix(&index, "k/")?,
            }
        };
        self.entities(self.by_name(candidates, |_| true)?)
    }

    /// Entities whose indexed words start with every word of `query`
    /// (accents and case ignored), filtered, best matches first: names that
    /// contain the query, then by name. Only the `limit` best are read.
    pub fn search(
        &self,
        query: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<Entity>, StoreError> {
        let words: Vec<String> = search_words(query).collect();
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let matching = {
            let tx = self.db.begin_read()?;
            let index = tx.open_table(INDEX)?;
            let mut matching = filtered_ids(&index, filter)?;
            for word in &words {
                let ids = ids_with_prefix(&index, &format!("w/{word}"))?;
                matching = Some(match matching {
                    None => ids,
                    Some(previous) => previous.intersection(&ids).copied().collect(),
                });
            }
            matching.unwrap_or_default()
        };
        let folded_query = fold(query);
        let mut ranked = self.by_name(matching, |name| name.contains(&folded_query))?;
        ranked.truncate(limit);
        self.entities(ranked)
    }
}

fn read_entity(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    id: &EntityId,
) -> Result<Option<Entity>, StoreError> {
    table
        .get(&id.as_bytes()[..])?
        .map(|bytes| {
            serde_json::from_slice(bytes.value())
                .map_err(|error| StoreError::Corrupt(format!("entity {id}: {error}")))
        })
        .transpose()
}
