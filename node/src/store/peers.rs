//! The peers a node met, with the addresses they listen on, so that it
//! dials them again at its next start.

use std::time::{SystemTime, UNIX_EPOCH};

use redb::{ReadableTable, ReadableTableMetadata};

use super::{PEERS, Store, StoreError};

/// Peers remembered at most; the least recently seen are forgotten first.
pub const MAX_REMEMBERED: usize = 256;

/// The wall clock in seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// When a peer record was last seen (0 when unreadable).
fn last_seen(record: &serde_json::Value) -> u64 {
    record["last_seen"].as_u64().unwrap_or(0)
}

impl Store {
    /// Peers met before: peer id, last seen (seconds since the epoch),
    /// addresses.
    pub fn remembered_peers(&self) -> Result<Vec<(String, u64, Vec<String>)>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(PEERS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (peer, value) = entry?;
            let value: serde_json::Value = serde_json::from_str(value.value())
                .map_err(|error| StoreError::Corrupt(format!("peer record: {error}")))?;
            out.push((
                peer.value().to_owned(),
                last_seen(&value),
                value["addrs"]
                    .as_array()
                    .map(|addrs| {
                        addrs
                            .iter()
                            .filter_map(|a| a.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            ));
        }
        Ok(out)
    }

    /// Remembers a peer's addresses, forgetting the least recently seen
    /// peers beyond [`MAX_REMEMBERED`].
    pub fn remember_peer(&self, peer: &str, addrs: &[String]) -> Result<(), StoreError> {
        let tx = self.write()?;
        {
            let mut table = tx.open_table(PEERS)?;
            let record = serde_json::json!({"addrs": addrs, "last_seen": now_secs()});
            table.insert(peer, record.to_string().as_str())?;
            if table.len()? > MAX_REMEMBERED as u64 {
                let mut oldest: Option<(u64, String)> = None;
                for entry in table.iter()? {
                    let (peer, value) = entry?;
                    let seen = serde_json::from_str::<serde_json::Value>(value.value())
                        .map_or(0, |record| last_seen(&record));
                    if oldest.as_ref().is_none_or(|(s, _)| seen < *s) {
                        oldest = Some((seen, peer.value().to_owned()));
                    }
                }
                if let Some((_, peer)) = oldest {
                    table.remove(peer.as_str())?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}
