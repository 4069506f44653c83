//! Answers sent as they are written (exports, lists): a blocking task writes into
//! a [`ChunkWriter`], which hands chunks of [`CHUNK_BYTES`] to a channel of
//! [`CHUNKS`]; the answer's body reads them from it. What an answer holds
//! in memory is bounded by these, whatever the directory's size; a client
//! that reads slowly slows the writer down, one that leaves stops it.
//!
//! An error before the first chunk is answered as an error; after it, the
//! status is sent already, so the body ends in an error: the connection is
//! closed before the answer's end (no final chunk), and no client takes a
//! cut export for a whole one.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use hyper::body::{Bytes, Frame};
use tokio::sync::mpsc;

use super::error::ApiError;
use crate::local::LocalError;

/// The bytes of one chunk sent.
pub(super) const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks written ahead of the client.
pub(super) const CHUNKS: usize = 4;

/// A chunk of the answer, or why the rest cannot come.
type Chunk = Result<Bytes, LocalError>;

/// What the writing task writes to.
pub(super) struct ChunkWriter {
    chunks: mpsc::Sender<Chunk>,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    /// Ends the answer with `error`. What is not sent yet never will be:
    /// when nothing was, the client gets the error as its answer.
    fn fail(self, error: LocalError) {
        // A client that left needs nothing more.
        let _ = self.chunks.blocking_send(Err(error));
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES));
        self.chunks
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client left"))
    }
}

/// Runs `write` on a blocking thread and answers what it writes, as it
/// writes it. `write` must flush its writer at its end.
pub(super) async fn streamed(
    write: impl FnOnce(&mut ChunkWriter) -> Result<(), LocalError> + Send + 'static,
) -> Result<Body, ApiError> {
    let (chunks, mut received) = mpsc::channel(CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut writer = ChunkWriter {
            chunks,
            buffer: Vec::with_capacity(CHUNK_BYTES),
        };
        match write(&mut writer).and_then(|()| writer.flush().map_err(LocalError::Write)) {
            Ok(()) => {}
            Err(error) => writer.fail(error),
        }
    });
    let first = match received.recv().await {
        Some(Ok(first)) => first,
        Some(Err(error)) => return Err(error.into()),
        // Nothing written, no error: the task ended without either.
        None => return Err(ApiError::internal("the answer's writer ended early")),
    };
    Ok(Body::new(Chunks {
        first: Some(first),
        received,
    }))
}

/// The body of a streamed answer.
struct Chunks {
    first: Option<Bytes>,
    received: mpsc::Receiver<Chunk>,
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        self.received.poll_recv(cx).map(|chunk| match chunk {
            None => None,
            Some(Ok(bytes)) => Some(Ok(Frame::data(bytes))),
            Some(Err(error)) => {
                tracing::error!(%error, "a streamed answer failed after it began: cut short");
                Some(Err(io::Error::other(error.to_string())))
            }
        })
    }
}
