//! HTTP to a node's API on loopback.

use std::time::Duration;

use serde_json::Value;

/// How long one request may take, from connecting to the end of the body.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP/1.1 client for loopback: no proxy (whatever the environment
/// says), bounded in time, and an error status is an answer to read, not
/// a failure.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
}

/// A status code and the body that came with it.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&self.body)
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with its own connections.
    pub fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(TIMEOUT))
            .build()
            .new_agent();
        Self { agent }
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> Result<Answer, ureq::Error> {
        Self::answer(self.agent.get(url).call()?)
    }

    /// `GET url`, saying the host is `host` (as a page of another site
    /// would, in a DNS rebinding attack) while connecting to the address
    /// in `url`.
    pub fn get_with_host(&self, url: &str, host: &str) -> Result<Answer, ureq::Error> {
        Self::answer(self.agent.get(url).header("Host", host).call()?)
    }

    /// `GET url`, its body read as it comes and counted, not kept (large
    /// exports): the status and the bytes read.
    pub fn get_counted(&self, url: &str) -> Result<(u16, u64), ureq::Error> {
        let mut response = self.agent.get(url).call()?;
        let status = response.status().as_u16();
        let bytes = std::io::copy(&mut response.body_mut().as_reader(), &mut std::io::sink())?;
        Ok((status, bytes))
    }

    fn answer(response: ureq::http::Response<ureq::Body>) -> Result<Answer, ureq::Error> {
        let status = response.status().as_u16();
        let body = response.into_body().read_to_string()?;
        Ok(Answer { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A server for one request: it answers `status` with a JSON body and
    /// hands back the request's head.
    fn serve_once(status: &'static str) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/status", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                head.push(line.trim().to_owned());
            }
            let body = r#"{"error": "forbidden"}"#;
            write!(
                reader.get_mut(),
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            head
        });
        (url, server)
    }

    #[test]
    fn an_error_status_is_an_answer_with_its_body() {
        let (url, server) = serve_once("403 Forbidden");
        let answer = Client::new().get(&url).unwrap();
        assert_eq!(answer.status, 403);
        assert_eq!(answer.json().unwrap()["error"], "forbidden");
        let head = server.join().unwrap();
        assert_eq!(head[0], "GET /api/status HTTP/1.1");
    }

    #[test]
    fn the_host_header_can_be_forged() {
        let (url, server) = serve_once("200 OK");
        let answer = Client::new()
            .get_with_host(&url, "evil.example:7878")
            .unwrap();
        assert_eq!(answer.status, 200);
        let head = server.join().unwrap();
        let hosts: Vec<&String> = head
            .iter()
            .filter(|line| line.to_ascii_lowercase().starts_with("host:"))
            .collect();
        assert_eq!(hosts.len(), 1, "{head:?}");
        assert_eq!(hosts[0].to_ascii_lowercase(), "host: evil.example:7878");
    }
}
