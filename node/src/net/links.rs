//! Modelled network links for simulations on libp2p's in-process memory
//! transport: per-link latency, jitter, bandwidth and loss, and partitions.
//!
//! Each connection starts with both ends sending their node number (4
//! bytes), so that each end knows the link it reads from. Each end then
//! delays what it reads as the link from the other node would: bytes leave
//! at the link's bandwidth, arrive one latency (plus jitter) later, in
//! order; a lost segment arrives one retransmission timeout later, as over
//! TCP. While two nodes are partitioned, what one sends the other never
//! receives (their connection then times out) and new connections between
//! them are refused.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Sleep};

use crate::random::Xorshift;

/// One direction of a link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// One-way latency.
    pub latency: Duration,
    /// Extra latency, uniform in `0..jitter`, per segment (order is kept).
    pub jitter: Duration,
    /// Bytes per second, `None` for unlimited.
    pub bytes_per_second: Option<u64>,
    /// Probability that a segment is lost and sent again one
    /// retransmission timeout later.
    pub loss: f64,
}

impl Default for Link {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            bytes_per_second: None,
            loss: 0.0,
        }
    }
}

/// The retransmission delay of a lost segment.
pub const RETRANSMISSION_TIMEOUT: Duration = Duration::from_millis(200);

/// The links between the nodes of a simulation.
#[derive(Debug, Default)]
pub struct Links {
    default: RwLock<Link>,
    pairs: RwLock<HashMap<(u32, u32), Link>>,
    blocked: RwLock<HashSet<(u32, u32)>>,
    /// Bytes delivered, per receiving node.
    received: RwLock<HashMap<u32, u64>>,
}

impl Links {
    /// Links that all behave as `default`.
    pub fn new(default: Link) -> Arc<Self> {
        Arc::new(Self {
            default: RwLock::new(default),
            ..Self::default()
        })
    }

    /// Sets the link from `from` to `to` (one direction).
    pub fn set(&self, from: u32, to: u32, link: Link) {
        if let Ok(mut pairs) = self.pairs.write() {
            pairs.insert((from, to), link);
        }
    }

    /// The link from `from` to `to`.
    pub fn link(&self, from: u32, to: u32) -> Link {
        self.pairs
            .read()
            .ok()
            .and_then(|pairs| pairs.get(&(from, to)).copied())
            .or_else(|| self.default.read().ok().map(|link| *link))
            .unwrap_or_default()
    }

    /// Cuts every link between `a` and `b` nodes, both ways.
    pub fn partition(&self, a: &[u32], b: &[u32]) {
        if let Ok(mut blocked) = self.blocked.write() {
            for &x in a {
                for &y in b {
                    blocked.insert((x, y));
                    blocked.insert((y, x));
                }
            }
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        if let Ok(mut blocked) = self.blocked.write() {
            blocked.clear();
        }
    }

    /// Whether what `from` sends `to` is lost.
    pub fn is_blocked(&self, from: u32, to: u32) -> bool {
        self.blocked
            .read()
            .map(|blocked| blocked.contains(&(from, to)))
            .unwrap_or(false)
    }

    /// Bytes delivered to `node` so far.
    pub fn received(&self, node: u32) -> u64 {
        self.received
            .read()
            .ok()
            .and_then(|received| received.get(&node).copied())
            .unwrap_or(0)
    }

    fn count(&self, node: u32, bytes: usize) {
        if let Ok(mut received) = self.received.write() {
            *received.entry(node).or_default() += bytes as u64;
        }
    }
}

/// Opens a modelled connection: exchanges node numbers, refuses a
/// partitioned peer, and delays what is read.
pub async fn connect<S>(mut inner: S, me: u32, links: Arc<Links>) -> io::Result<Delayed<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    inner.write_all(&me.to_le_bytes()).await?;
    inner.flush().await?;
    let mut theirs = [0u8; 4];
    inner.read_exact(&mut theirs).await?;
    let remote = u32::from_le_bytes(theirs);
    if links.is_blocked(remote, me) || links.is_blocked(me, remote) {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("nodes {me} and {remote} are partitioned"),
        ));
    }
    Ok(Delayed {
        inner,
        links,
        me,
        remote,
        queue: VecDeque::new(),
        next_free: Instant::now(),
        last_release: Instant::now(),
        sleep: None,
        ended: false,
        random: Xorshift::new(u64::from(me) << 32 | u64::from(remote)),
    })
}

/// A connection whose reads arrive as over a modelled link.
pub struct Delayed<S> {
    inner: S,
    links: Arc<Links>,
    me: u32,
    remote: u32,
    /// Segments read from the inner connection, with when they arrive.
    queue: VecDeque<(Instant, Vec<u8>)>,
    /// When the link is free to send the next segment.
    next_free: Instant,
    /// When the last segment arrives (arrivals keep their order).
    last_release: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    ended: bool,
    random: Xorshift,
}

impl<S> Delayed<S> {
    fn arrive(&mut self, segment: Vec<u8>) {
        if self.links.is_blocked(self.remote, self.me) {
            return;
        }
        let link = self.links.link(self.remote, self.me);
        let now = Instant::now();
        let sending = link.bytes_per_second.map_or(Duration::ZERO, |rate| {
            Duration::from_secs_f64(segment.len() as f64 / rate.max(1) as f64)
        });
        self.next_free = self.next_free.max(now) + sending;
        let mut release =
            self.next_free + link.latency + link.jitter.mul_f64(self.random.next_f64());
        if link.loss > 0.0 && self.random.next_f64() < link.loss {
            release += RETRANSMISSION_TIMEOUT;
        }
        release = release.max(self.last_release);
        self.last_release = release;
        self.queue.push_back((release, segment));
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Delayed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // Take in everything the other end has sent so far.
        let mut chunk = [0u8; 16 * 1024];
        while !this.ended {
            match Pin::new(&mut this.inner).poll_read(cx, &mut chunk) {
                Poll::Ready(Ok(0)) => this.ended = true,
                Poll::Ready(Ok(n)) => this.arrive(chunk[..n].to_vec()),
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => break,
            }
        }
        let now = Instant::now();
        match this.queue.front_mut() {
            Some((release, segment)) if *release <= now => {
                let n = segment.len().min(buf.len());
                buf[..n].copy_from_slice(&segment[..n]);
                segment.drain(..n);
                if segment.is_empty() {
                    this.queue.pop_front();
                }
                this.links.count(this.me, n);
                Poll::Ready(Ok(n))
            }
            Some((release, _)) => {
                let release = *release;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(release)));
                sleep.as_mut().reset(release);
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
            None if this.ended => Poll::Ready(Ok(0)),
            None => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Delayed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::futures::io::Cursor;

    /// A connection whose other end already sent its node number and
    /// `sent`; what is written to it is dropped.
    struct Peer(Cursor<Vec<u8>>);

    impl AsyncRead for Peer {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Peer {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn peer(number: u32, sent: &[u8]) -> Peer {
        let mut bytes = number.to_le_bytes().to_vec();
        bytes.extend_from_slice(sent);
        Peer(Cursor::new(bytes))
    }

    #[tokio::test]
    async fn reads_arrive_one_latency_later_at_the_link_rate() {
        let links = Links::new(Link {
            latency: Duration::from_millis(100),
            bytes_per_second: Some(100_000),
            ..Link::default()
        });
        let start = Instant::now();
        let mut delayed = connect(peer(2, &[7; 10_000]), 1, links.clone())
            .await
            .unwrap();
        let mut received = Vec::new();
        delayed.read_to_end(&mut received).await.unwrap();
        let elapsed = start.elapsed();
        assert_eq!(received, vec![7; 10_000]);
        // 10,000 bytes at 100 kB/s take 100 ms to send, plus 100 ms latency.
        assert!(elapsed >= Duration::from_millis(195), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        assert_eq!(links.received(1), 10_000);
    }

    #[tokio::test]
    async fn partitioned_nodes_cannot_connect_until_healed() {
        let links = Links::new(Link::default());
        links.partition(&[1], &[2, 3]);
        assert!(connect(peer(2, b"x"), 1, links.clone()).await.is_err());
        assert!(connect(peer(4, b"x"), 1, links.clone()).await.is_ok());
        links.heal();
        assert!(connect(peer(2, b"x"), 1, links).await.is_ok());
    }
}
