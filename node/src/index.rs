//! Index keys of an entity and the queries that use them: listing by postal
//! code, kind and tag, and the accent- and case-insensitive text search.
//!
//! Keys live in one redb table of strings, scanned by prefix:
//! `p/<postal key>/<id>`, `k/<kind>/<id>`, `t/<folded tag>/<id>` and
//! `w/<folded word>/<id>` for each word of the name, category, tags, type,
//! locality and descriptions. Entities marked deleted have no index keys:
//! they are hidden from lists and search, and still shown by id.

use std::collections::BTreeSet;

use crdt_model::document::Entity;
use crdt_model::ids::EntityId;
use crdt_model::schema::{Field, Kind};
use crdt_model::text::fold;
use redb::{ReadableDatabase, ReadableTable};

use crate::store::{ENTITIES, INDEX, NAMES, Store, StoreError};

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

/// The index keys of an entity (none when it is marked deleted).
pub(crate) fn keys(entity: &Entity) -> Vec<String> {
    if entity.deleted {
        return Vec::new();
    }
    let id = entity.id;
    let mut keys = BTreeSet::new();
    keys.insert(format!("p/{}/{id}", entity.postal_key()));
    keys.insert(format!("k/{}/{id}", entity.kind));
    for tag in &entity.tags {
        keys.insert(format!("t/{}/{id}", fold(tag)));
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
            keys.insert(format!("w/{word}/{id}"));
        }
    }
    keys.into_iter().collect()
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

/// Ids under every key starting with `prefix` (a key ends with `/<id>`).
fn ids_with_prefix(
    table: &impl ReadableTable<&'static str, ()>,
    prefix: &str,
) -> Result<BTreeSet<EntityId>, StoreError> {
    let mut ids = BTreeSet::new();
    let end = format!("{prefix}\u{10ffff}");
    for entry in table.range(prefix..end.as_str())? {
        let (key, _) = entry?;
        let key = key.value();
        if let Some(id) = key.rsplit('/').next().and_then(|id| id.parse().ok()) {
            ids.insert(id);
        }
    }
    Ok(ids)
}

/// The ids every given criterion of `filter` allows, from the index (the
/// index has no entry for deleted entities); `None` when there is no criterion.
fn filtered_ids(
    index: &impl ReadableTable<&'static str, ()>,
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
