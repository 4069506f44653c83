//! Where a command is carried out: on the store directly, or through the
//! local API of the node daemon that owns the data directory.

use anyhow::{Context, Result};
use node::daemon;
use node::identity::DataDir;
use node::local::{Join, Local};
use node::model::document::NewEntity;
use node::model::document::{Edit, Entity, Relation};
use node::model::ids::EntityId;
use node::opendata::Licence;
use node::opendata::export::{ExportOptions, Format};
use node::opendata::import::{ImportRow, RowOutcome};
use node::store::Filter;
use node::store::HistoryEntry;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::remote::{Remote, encode};

/// The store itself, or a running daemon's API.
pub(crate) enum Backend {
    Local(Box<Local>),
    Remote(Remote),
}

fn remote(dir: &DataDir) -> Result<Remote> {
    let api = daemon::published_api(dir).with_context(|| {
        format!(
            "a node is running on {} but has not published its API address yet; try again in a moment",
            dir.root().display()
        )
    })?;
    let token = std::fs::read_to_string(daemon::token_file(dir))
        .ok()
        .map(|token| token.trim().to_owned());
    Remote::new(&api, token)
}

fn filter_query(filter: &Filter) -> String {
    let mut parts = Vec::new();
    if let Some(kind) = filter.kind {
        parts.push(format!("kind={kind}"));
    }
    if let Some(code) = &filter.postal_key {
        parts.push(format!("postal_code={}", encode(code)));
    }
    if let Some(tag) = &filter.tag {
        parts.push(format!("tag={}", encode(tag)));
    }
    parts.join("&")
}

const NO_BODY: Option<&()> = None;

impl Backend {
    /// The daemon's API when one runs on `dir`, else the store.
    pub(crate) fn open(dir: &DataDir) -> Result<Self> {
        if daemon::is_running(dir) {
            return Ok(Self::Remote(remote(dir)?));
        }
        Ok(Self::Local(Box::new(Local::open(dir)?)))
    }

    /// Joins, through the daemon if one runs.
    pub(crate) fn init(dir: &DataDir, join: &Join) -> Result<Entity> {
        if daemon::is_running(dir) {
            let body = json!({
                "postal_code": join.postal_code,
                "insee": join.insee,
                "name": join.name,
                "email": join.email,
            });
            return remote(dir)?.call("POST", "/api/init", Some(&body));
        }
        let local = Local::init(dir, join)?;
        Ok(local.entity(local.profile.person)?)
    }

    pub(crate) fn add(&self, new: &NewEntity) -> Result<Entity> {
        match self {
            Self::Local(local) => Ok(local.add(new)?),
            Self::Remote(api) => api.call("POST", "/api/entities", Some(new)),
        }
    }

    pub(crate) fn edit(&self, id: EntityId, edits: &[Edit]) -> Result<Entity> {
        match self {
            Self::Local(local) => Ok(local.edit(id, edits)?),
            Self::Remote(api) => api.call(
                "PATCH",
                &format!("/api/entities/{id}"),
                Some(&json!({ "edits": edits })),
            ),
        }
    }

    pub(crate) fn link(
        &self,
        id: EntityId,
        relation: Relation,
        comment: Option<String>,
    ) -> Result<Entity> {
        match self {
            Self::Local(local) => Ok(local.edit(
                id,
                &[Edit::Link {
                    relation,
                    comment,
                    person: Some(local.profile.person),
                }],
            )?),
            Self::Remote(api) => api.call(
                "POST",
                &format!("/api/entities/{id}/links"),
                Some(&json!({ "relation": relation, "comment": comment })),
            ),
        }
    }

    pub(crate) fn unlink(&self, id: EntityId, relation: Relation) -> Result<Entity> {
        match self {
            Self::Local(local) => Ok(local.edit(id, &[Edit::Unlink(relation)])?),
            Self::Remote(api) => api.call(
                "DELETE",
                &format!("/api/entities/{id}/links/{relation}"),
                NO_BODY,
            ),
        }
    }

    pub(crate) fn delete(&self, id: EntityId) -> Result<Entity> {
        match self {
            Self::Local(local) => Ok(local.edit(id, &[Edit::SetDeleted(true)])?),
            Self::Remote(api) => api.call("DELETE", &format!("/api/entities/{id}"), NO_BODY),
        }
    }

    /// Lists entities, read as `T`: whole entities, or the few fields a
    /// table shows.
    pub(crate) fn list<T: DeserializeOwned>(&self, filter: &Filter) -> Result<Vec<T>> {
        match self {
            Self::Local(local) => Ok(serde_json::from_slice(&local.store.list_json(filter)?)?),
            Self::Remote(api) => api.call(
                "GET",
                &format!("/api/entities?{}", filter_query(filter)),
                NO_BODY,
            ),
        }
    }

    pub(crate) fn search(&self, text: &str, filter: &Filter, limit: usize) -> Result<Vec<Entity>> {
        match self {
            Self::Local(local) => Ok(local.store.search(text, filter, limit)?),
            Self::Remote(api) => api.call(
                "GET",
                &format!(
                    "/api/search?q={}&limit={limit}&{}",
                    encode(text),
                    filter_query(filter)
                ),
                NO_BODY,
            ),
        }
    }

    pub(crate) fn entity(&self, id: EntityId) -> Result<Entity> {
        match self {
            Self::Local(local) => Ok(local.entity(id)?),
            Self::Remote(api) => api.call("GET", &format!("/api/entities/{id}"), NO_BODY),
        }
    }

    pub(crate) fn history(&self, id: EntityId) -> Result<Vec<HistoryEntry>> {
        match self {
            Self::Local(local) => Ok(local
                .store
                .history(&id)?
                .ok_or(node::local::LocalError::UnknownEntity(id))?),
            Self::Remote(api) => api.call("GET", &format!("/api/entities/{id}/history"), NO_BODY),
        }
    }

    /// The running node's peers.
    pub(crate) fn peers(&self) -> Result<Value> {
        match self {
            Self::Local(_) => anyhow::bail!(
                "the node is not running on this data directory: start it with `communecter node` to connect to peers"
            ),
            Self::Remote(api) => api.call("GET", "/api/peers", NO_BODY),
        }
    }

    /// Follows another postal code.
    pub(crate) fn follow(&self, postal_code: &str) -> Result<Value> {
        match self {
            Self::Local(local) => {
                let key = local.follow(postal_code)?;
                Ok(json!({"following": key, "postal_codes": local.postal_keys()?}))
            }
            Self::Remote(api) => api.call(
                "POST",
                "/api/follows",
                Some(&json!({"postal_code": postal_code})),
            ),
        }
    }

    /// The directory exported in `format`.
    pub(crate) fn export(
        &self,
        format: Format,
        filter: &Filter,
        licence: Licence,
    ) -> Result<Vec<u8>> {
        match self {
            Self::Local(local) => {
                let entities = local.store.list(filter)?;
                let options = ExportOptions {
                    licence,
                    postal_key: filter.postal_key.clone(),
                    kind: filter.kind,
                    now_ms: node::local::now_ms(),
                };
                let mut out = Vec::new();
                node::opendata::export::export(&entities, format, &options, &mut out)?;
                Ok(out)
            }
            Self::Remote(api) => {
                let mut query = filter_query(filter);
                if !query.is_empty() {
                    query.push('&');
                }
                query.push_str(&format!("licence={}", licence.id()));
                api.get_raw(&format!("/api/export/{}?{query}", format.as_str()))
            }
        }
    }

    /// Imports a batch of rows.
    pub(crate) fn import(&self, rows: &[ImportRow]) -> Result<Vec<RowOutcome>> {
        match self {
            Self::Local(local) => Ok(local.import(rows)?),
            Self::Remote(api) => {
                let answer: Value =
                    api.call("POST", "/api/import", Some(&json!({ "rows": rows })))?;
                Ok(serde_json::from_value(answer["outcomes"].clone())?)
            }
        }
    }

    pub(crate) fn status(&self, dir: &DataDir) -> Result<Value> {
        match self {
            Self::Local(local) => Ok(local.status(dir)?),
            Self::Remote(api) => api.call("GET", "/api/status", NO_BODY),
        }
    }
}
