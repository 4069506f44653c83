//! The running node's API as a [`Directory`]: the same typed messages as
//! the handlers, over HTTP on loopback (ureq, blocking: the command line
//! has no async runtime).

use std::io::Write;
use std::time::Duration;

use crdt_model::decide::Decision;
use crdt_model::decide::moderation::Asks;
use crdt_model::document::{Edit, Entity, NewEntity, Relation};
use crdt_model::ids::{AuthorKey, EntityId};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{ClientError, Directory};
use super::error::ErrorBody;
use super::types::{
    DecisionRequest, EditRequest, ExportQuery, FollowRequest, Following, ImportRequest, Imported,
    InviteCode, JoinInvite, Joined, LinkRequest, ListQuery, ModerateRequest, ModerationQuery,
    ReportRequest, Status,
};
use crate::identity::DataDir;
use crate::local::{Join, ModerationReport, TallyReport};
use crate::net::PeerStatus;
use crate::opendata::Licence;
use crate::opendata::export::Format;
use crate::opendata::import::{ImportRow, RowOutcome};
use crate::store::{Filter, HistoryEntry};

/// Largest answer read (an export of a large directory).
const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;
/// Longest wait for the node to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest silence while waiting for or reading an answer (an import
/// batch being stored, a large export being written); an answer that keeps
/// coming may take longer in all.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A running node's API.
pub struct Remote {
    /// `http://127.0.0.1:7878`.
    api: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// A request's query string, as pairs.
type Query = Vec<(String, String)>;

impl Remote {
    /// The API at `api` (`http://127.0.0.1:7878`), writing with `token`.
    pub fn new(api: &str, token: Option<String>) -> Self {
        let agent = ureq::Agent::config_builder()
            // Error answers carry a message worth reading.
            .http_status_as_error(false)
            // Loopback: never through a proxy from the environment.
            .proxy(None)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(READ_TIMEOUT))
            .build()
            .into();
        Self {
            api: api.trim_end_matches('/').to_owned(),
            token,
            agent,
        }
    }

    /// The API of the node running on `dir`, with its token.
    pub fn of(dir: &DataDir) -> Result<Self, ClientError> {
        let api = dir
            .published_api()
            .ok_or_else(|| ClientError::NotPublished {
                dir: dir.root().display().to_string(),
            })?;
        if !api.starts_with("http://") {
            return Err(ClientError::Unexpected {
                request: "the address file".into(),
                error: format!("the node's API address {api:?} is not an http:// URL"),
            });
        }
        let token = std::fs::read_to_string(dir.token_file())
            .ok()
            .map(|token| token.trim().to_owned());
        Ok(Self::new(&api, token))
    }

    /// Joins through the node.
    pub fn join(&self, join: &Join) -> Result<Entity, ClientError> {
        self.json("POST", "/api/init", &[], Some(join))
    }

    /// Sends a request and returns the answer's body, or the API's error.
    fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&impl Serialize>,
    ) -> Result<Vec<u8>, ClientError> {
        let request = format!("{method} {path}");
        let mut answer = self.answer(method, path, query, body)?;
        let status = answer.status().as_u16();
        let bytes = self.body(&request, &mut answer)?;
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        Err(refusal(&request, status, &bytes))
    }

    /// An answer's body, of at most [`MAX_ANSWER_BYTES`].
    fn body(
        &self,
        request: &str,
        answer: &mut ureq::http::Response<ureq::Body>,
    ) -> Result<Vec<u8>, ClientError> {
        answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|error| self.failed(request, error))
    }

    /// Sends a request and returns the answer, whatever its status.
    fn answer(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&impl Serialize>,
    ) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
        let request = format!("{method} {path}");
        let url = format!("{}{path}", self.api);
        let authorization = self.token.as_ref().map(|token| format!("Bearer {token}"));
        let answer = match method {
            "GET" | "DELETE" => {
                let mut call = match method {
                    "GET" => self.agent.get(&url),
                    _ => self.agent.delete(&url),
                };
                call = call.query_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                if let Some(authorization) = &authorization {
                    call = call.header("Authorization", authorization);
                }
                call.call()
            }
            _ => {
                let mut call = match method {
                    "POST" => self.agent.post(&url),
                    _ => self.agent.patch(&url),
                };
                if let Some(authorization) = &authorization {
                    call = call.header("Authorization", authorization);
                }
                match body {
                    Some(body) => call.send_json(body),
                    None => call.send_empty(),
                }
            }
        };
        answer.map_err(|error| self.failed(&request, error))
    }

    /// What a failed exchange means: the node is gone, or answered
    /// something unreadable.
    fn failed(&self, request: &str, error: ureq::Error) -> ClientError {
        match error {
            ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Timeout(_) => ClientError::Unreachable {
                api: self.api.clone(),
                error: error.to_string(),
            },
            other => ClientError::Unexpected {
                request: request.to_owned(),
                error: other.to_string(),
            },
        }
    }

    /// A one-time link that lets the browser opening it write through the
    /// running node's web map (`POST /api/pairings`).
    pub fn pairing(&self) -> Result<super::types::Pairing, ClientError> {
        self.json("POST", "/api/pairings", &[], NONE)
    }

    /// [`Self::send`], and the answer read as `T`.
    fn json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let bytes = self.send(method, path, query, body)?;
        serde_json::from_slice(&bytes).map_err(|error| ClientError::Unexpected {
            request: format!("{method} {path}"),
            error: format!("unexpected JSON: {error}"),
        })
    }
}

/// No body.
const NONE: Option<&()> = None;

/// The query string of a [`ListQuery`] or an [`ExportQuery`]: each field
/// given, by its name.
fn query_of(query: &impl Serialize) -> Query {
    let value = serde_json::to_value(query).unwrap_or_default();
    let fields = value.as_object().into_iter().flatten();
    fields
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (key.clone(), text)
        })
        .collect()
}

impl Directory for Remote {
    fn add(&self, new: &NewEntity) -> Result<Entity, ClientError> {
        self.json("POST", "/api/entities", &[], Some(new))
    }

    fn edit(&self, id: EntityId, edits: &[Edit]) -> Result<Entity, ClientError> {
        let body = EditRequest {
            edits: edits.to_vec(),
        };
        self.json("PATCH", &format!("/api/entities/{id}"), &[], Some(&body))
    }

    fn link(
        &self,
        id: EntityId,
        relation: Relation,
        comment: Option<String>,
    ) -> Result<Entity, ClientError> {
        let body = LinkRequest { relation, comment };
        self.json(
            "POST",
            &format!("/api/entities/{id}/links"),
            &[],
            Some(&body),
        )
    }

    fn decide(
        &self,
        room: Option<EntityId>,
        decision: &Decision,
    ) -> Result<TallyReport, ClientError> {
        let body = DecisionRequest {
            room,
            decision: decision.clone(),
        };
        self.json("POST", "/api/decisions", &[], Some(&body))
    }

    fn block(&self, author: &AuthorKey, block: bool) -> Result<Vec<String>, ClientError> {
        let path = format!("/api/blocks/{author}");
        self.json(if block { "POST" } else { "DELETE" }, &path, &[], NONE)
    }

    fn report(
        &self,
        id: EntityId,
        reason: Option<String>,
    ) -> Result<ModerationReport, ClientError> {
        let path = format!("/api/entities/{id}/report");
        match reason {
            Some(reason) => self.json("POST", &path, &[], Some(&ReportRequest { reason })),
            None => self.json("DELETE", &path, &[], NONE),
        }
    }

    fn moderation(&self, id: EntityId) -> Result<ModerationReport, ClientError> {
        self.json("GET", &format!("/api/entities/{id}/moderation"), &[], NONE)
    }

    fn moderate(&self, id: EntityId, asks: Asks) -> Result<ModerationReport, ClientError> {
        let path = format!("/api/entities/{id}/moderation");
        self.json("POST", &path, &[], Some(&ModerateRequest { asks }))
    }

    fn moderation_queue(
        &self,
        postal_key: Option<&str>,
    ) -> Result<Vec<ModerationReport>, ClientError> {
        let query = query_of(&ModerationQuery {
            postal_code: postal_key.map(str::to_owned),
        });
        self.json("GET", "/api/moderation", &query, NONE)
    }

    fn tally(&self, proposal: &str, verify: bool) -> Result<TallyReport, ClientError> {
        let query = [("verify".to_owned(), verify.to_string())];
        self.json("GET", &format!("/api/proposals/{proposal}"), &query, NONE)
    }

    fn unlink(&self, id: EntityId, relation: Relation) -> Result<Entity, ClientError> {
        let path = format!("/api/entities/{id}/links/{relation}");
        self.json("DELETE", &path, &[], NONE)
    }

    fn delete(&self, id: EntityId) -> Result<Entity, ClientError> {
        self.json("DELETE", &format!("/api/entities/{id}"), &[], NONE)
    }

    fn list_json(&self, filter: &Filter) -> Result<Vec<u8>, ClientError> {
        let query = query_of(&ListQuery::of(filter));
        self.send("GET", "/api/entities", &query, NONE)
    }

    fn search(
        &self,
        text: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<Entity>, ClientError> {
        let query = ListQuery {
            q: Some(text.to_owned()),
            limit: Some(limit),
            ..ListQuery::of(filter)
        };
        self.json("GET", "/api/search", &query_of(&query), NONE)
    }

    fn entity(&self, id: EntityId) -> Result<Entity, ClientError> {
        self.json("GET", &format!("/api/entities/{id}"), &[], NONE)
    }

    fn history(&self, id: EntityId) -> Result<Vec<HistoryEntry>, ClientError> {
        self.json("GET", &format!("/api/entities/{id}/history"), &[], NONE)
    }

    fn peers(&self) -> Result<Vec<PeerStatus>, ClientError> {
        self.json("GET", "/api/peers", &[], NONE)
    }

    fn follow(&self, postal_code: &str) -> Result<Following, ClientError> {
        let body = FollowRequest {
            postal_code: postal_code.to_owned(),
        };
        self.json("POST", "/api/follows", &[], Some(&body))
    }

    fn export(
        &self,
        format: Format,
        filter: &Filter,
        licence: Licence,
        out: &mut dyn Write,
    ) -> Result<(), ClientError> {
        let query = ExportQuery {
            kind: filter.kind,
            postal_code: filter.postal_key.clone(),
            tag: filter.tag.clone(),
            licence: Some(licence.id().to_owned()),
        };
        let path = format!("/api/export/{}", format.as_str());
        let request = format!("GET {path}");
        let mut answer = self.answer("GET", &path, &query_of(&query), NONE)?;
        let status = answer.status().as_u16();
        if !(200..300).contains(&status) {
            let bytes = self.body(&request, &mut answer)?;
            return Err(refusal(&request, status, &bytes));
        }
        // As it comes: an export has no size limit. An answer cut short
        // (the node failed midway) fails here, never passes for whole.
        std::io::copy(&mut answer.body_mut().as_reader(), out).map_err(|error| {
            ClientError::Unexpected {
                request,
                error: format!("the export stopped before its end: {error}"),
            }
        })?;
        Ok(())
    }

    fn import(&self, rows: &[ImportRow], dry_run: bool) -> Result<Vec<RowOutcome>, ClientError> {
        let body = ImportRequest {
            rows: rows.to_vec(),
            dry_run,
        };
        let imported: Imported = self.json("POST", "/api/import", &[], Some(&body))?;
        Ok(imported.outcomes)
    }

    fn status(&self) -> Result<Status, ClientError> {
        self.json("GET", "/api/status", &[], NONE)
    }

    fn invite(&self) -> Result<InviteCode, ClientError> {
        self.json("GET", "/api/invite", &[], NONE)
    }

    fn join(&self, code: &str) -> Result<Joined, ClientError> {
        let body = JoinInvite { code: code.into() };
        self.json("POST", "/api/join", &[], Some(&body))
    }
}

/// The API's error answer to `request`, as a [`ClientError`].
fn refusal(request: &str, status: u16, bytes: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(ErrorBody { error }) => ClientError::Api {
            status,
            code: error.code,
            message: error.message,
        },
        Err(_) => ClientError::Api {
            status,
            code: String::new(),
            message: format!("the node's API answered {status} to {request}"),
        },
    }
}
