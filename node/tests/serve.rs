//! The API's server within bounds: idle and slow connections do not keep
//! the node unreachable, the number served at once is capped, and heads
//! are bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use node::api::serve::{Limits, serve};
use node::api::{ApiState, router};
use node::identity::DataDir;

const LIMITS: Limits = Limits {
    max_connections: 8,
    head_timeout: Duration::from_millis(400),
    max_head_bytes: 8192,
    request_timeout: Duration::from_millis(600),
};

/// A node's API served within [`LIMITS`] on a free loopback port.
fn served(runtime: &tokio::runtime::Runtime) -> (tempfile::TempDir, SocketAddr) {
    let temp = tempfile::tempdir().unwrap();
    let dir = DataDir::resolve(Some(temp.path().join("home"))).unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    let state = Arc::new(ApiState::new(
        dir,
        "0".repeat(64),
        None,
        format!("http://{address}"),
    ));
    runtime.spawn(serve(
        listener,
        router(state),
        LIMITS,
        std::future::pending(),
    ));
    (temp, address)
}

/// Sends `request` as is on a new connection and reads what comes back
/// until the server closes it (5 s at most without a byte).
fn exchange(address: SocketAddr, request: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(address).map_err(|error| error.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // The server may close before reading it all (a head too long).
    let _ = stream.write_all(request.as_bytes());
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    match (read, answer.is_empty()) {
        (Err(error), true) if error.kind() != std::io::ErrorKind::ConnectionReset => {
            Err(error.to_string())
        }
        _ => Ok(String::from_utf8_lossy(&answer).into_owned()),
    }
}

/// `GET /api/status` on a new connection: the status code, or the error.
fn status(address: SocketAddr) -> Result<u16, String> {
    let answer = exchange(
        address,
        &format!("GET /api/status HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"),
    )?;
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an answer: {answer:?}"))
}

/// Whether the server closed `stream`: reading gives its end or a reset,
/// not a timeout.
fn closed(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut byte = [0; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => !matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn idle_connections_beyond_the_cap_do_not_lock_the_api_out() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_temp, address) = served(&runtime);
    assert_eq!(status(address), Ok(200));
    // Twice the cap of connections that never send a request, and one
    // that sends half a head and stops.
    let mut idle: Vec<TcpStream> = (0..2 * LIMITS.max_connections)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    let mut slow = TcpStream::connect(address).unwrap();
    slow.write_all(b"GET /api/status HTTP/1.1\r\nHost: x")
        .unwrap();
    // The citizen's request is answered once the idle ones are dropped by
    // the head timeout: within a few timeouts, not never.
    let started = Instant::now();
    let answered = status(address);
    assert_eq!(answered, Ok(200));
    assert!(
        started.elapsed() < LIMITS.head_timeout * 8,
        "answered after {:?}",
        started.elapsed()
    );
    std::thread::sleep(LIMITS.head_timeout * 3);
    assert!(closed(&mut slow), "a half-sent head is not kept open");
    let still_open = idle.iter_mut().map(closed).filter(|closed| !closed).count();
    assert_eq!(still_open, 0, "idle connections are closed");
}

#[test]
fn heads_beyond_the_bound_are_refused() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_temp, address) = served(&runtime);
    let long = "a".repeat(3 * LIMITS.max_head_bytes);
    let answer = exchange(
        address,
        &format!("GET /api/search?q={long} HTTP/1.1\r\nHost: {address}\r\n\r\n"),
    )
    .unwrap_or_default();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    // And the API still answers.
    assert_eq!(status(address), Ok(200));
}

#[test]
fn a_request_whose_body_never_comes_is_answered_503_in_time() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_temp, address) = served(&runtime);
    let started = Instant::now();
    let answer = exchange(
        address,
        &format!(
            "POST /api/init HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\nConnection: close\r\n\r\n{{\"postal"
        ),
    )
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"timeout\""), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
