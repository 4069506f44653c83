//! A minimal HTTP/1.1 client for the daemon's local API on loopback: one
//! request per connection, JSON in and out. Enough for the CLI, without an
//! HTTP stack of its own.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest response read.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// The API of a running daemon.
pub(crate) struct Remote {
    /// `host:port`.
    authority: String,
    token: Option<String>,
}

/// Percent-encodes a query-string value.
pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

impl Remote {
    /// The daemon whose API is at `url` (`http://127.0.0.1:7878`).
    pub(crate) fn new(url: &str, token: Option<String>) -> Result<Self> {
        let authority = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("the daemon's API address {url:?} is not an http:// URL"))?
            .trim_end_matches('/')
            .to_owned();
        Ok(Self { authority, token })
    }

    fn request(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<(u16, Vec<u8>)> {
        let unreachable = || {
            format!(
                "the node's API at http://{} is not reachable; is `communecter node` still running?",
                self.authority
            )
        };
        let mut stream = TcpStream::connect(&self.authority).with_context(unreachable)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        let body = body.unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\nContent-Length: {}\r\n",
            self.authority,
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .with_context(unreachable)?;
        stream.write_all(&body).with_context(unreachable)?;
        let mut response = Vec::new();
        stream
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut response)
            .with_context(unreachable)?;
        let split = response
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .ok_or_else(|| anyhow!("the node's API sent a malformed response"))?;
        let head = String::from_utf8_lossy(&response[..split]).to_string();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| anyhow!("the node's API sent a malformed status line"))?;
        let mut body = response[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body)?;
        }
        Ok((status, body))
    }

    /// GETs `path` and returns the body as it is (an export).
    pub(crate) fn get_raw(&self, path: &str) -> Result<Vec<u8>> {
        let (status, bytes) = self.request("GET", path, None)?;
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let error: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        match error["error"]["message"].as_str() {
            Some(message) => bail!("{message}"),
            None => bail!("the node's API answered {status} to GET {path}"),
        }
    }

    /// Sends a request and decodes the JSON answer, turning API errors into
    /// their message.
    pub(crate) fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        let body = body.map(serde_json::to_vec).transpose()?;
        let (status, bytes) = self.request(method, path, body)?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes)
                .with_context(|| format!("the node's API answered {path} with unexpected JSON"));
        }
        let error: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        match error["error"]["message"].as_str() {
            Some(message) => bail!("{message}"),
            None => bail!("the node's API answered {status} to {method} {path}"),
        }
    }
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|window| window == b"\r\n")
            .ok_or_else(|| anyhow!("malformed chunked response"))?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| anyhow!("malformed chunk size"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            bail!("truncated chunked response");
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_encoded() {
        assert_eq!(super::encode("jardin partagé"), "jardin%20partag%C3%A9");
        assert_eq!(super::encode("a&b=c"), "a%26b%3Dc");
    }

    #[test]
    fn chunked_bodies_are_joined() {
        let body = b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n";
        assert_eq!(super::dechunk(body).unwrap(), b"Wikipedia");
        assert!(super::dechunk(b"4\r\nWi").is_err());
    }
}
