//! The sync protocol's codec for request-response.

use libp2p::StreamProtocol;
use libp2p::futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::request_response;
use serde::Serialize;

use crate::sync::{self, Request, Response};

/// Sync messages on the wire: postcard, one message per stream direction,
/// at most [`sync::MAX_MESSAGE_BYTES`].
#[derive(Clone, Default)]
pub(super) struct SyncCodec;

async fn read_message<T, M>(io: &mut T) -> std::io::Result<M>
where
    T: libp2p::futures::AsyncRead + Unpin + Send,
    M: for<'a> serde::Deserialize<'a>,
{
    let mut bytes = Vec::new();
    io.take(sync::MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await?;
    sync::decode(&bytes)
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error.to_string()))
}

async fn write_message<T, M>(io: &mut T, message: &M) -> std::io::Result<()>
where
    T: libp2p::futures::AsyncWrite + Unpin + Send,
    M: Serialize,
{
    io.write_all(&sync::encode(message)).await?;
    io.close().await
}

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> std::io::Result<Request>
    where
        T: libp2p::futures::AsyncRead + Unpin + Send,
    {
        read_message(io).await
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Response>
    where
        T: libp2p::futures::AsyncRead + Unpin + Send,
    {
        read_message(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> std::io::Result<()>
    where
        T: libp2p::futures::AsyncWrite + Unpin + Send,
    {
        write_message(io, &request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Response,
    ) -> std::io::Result<()>
    where
        T: libp2p::futures::AsyncWrite + Unpin + Send,
    {
        write_message(io, &response).await
    }
}
