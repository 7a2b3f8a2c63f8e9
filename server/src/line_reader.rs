//! Lines from a client's socket, with a read buffer only while bytes wait.
//!
//! `FramedRead` keeps its buffer for the life of the connection. Most
//! connections are idle most of the time, and ten thousand of them each
//! holding a read buffer is ten megabytes for nothing. So this reader waits
//! for the socket to become readable *without* a buffer, allocates one only
//! to read, and frees it again whenever every byte read has been handed up
//! as a line. A busy client pays one allocation per read, which is small
//! next to the read itself. Over TLS the wait is a poll into a chunk on the
//! stack, which lives only while that poll runs (see [`LineReader::read_more`]).

use std::io;
use std::pin::Pin;
use std::task::{Poll, ready};

use bytes::BytesMut;
use lanchat_shared::codec::{Frame, LineCodec};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::Decoder;

use crate::transport::Source;

/// Spare room made before each read, in bytes: a typical chat line or
/// several fit in one read; a longer line simply takes several.
const READ_CHUNK: usize = 1024;

/// Splits what a client sends into [`Frame`]s (see [`LineCodec`]).
#[derive(Debug)]
pub(crate) struct LineReader {
    socket: Source,
    codec: LineCodec,
    /// Bytes read but not yet handed up: part of a line, or lines not yet
    /// asked for. Has no allocation while it is empty.
    buffer: BytesMut,
    /// The client has closed its side; what is buffered is all there is.
    closed: bool,
}

impl LineReader {
    pub(crate) fn new(socket: Source, codec: LineCodec) -> LineReader {
        LineReader {
            socket,
            codec,
            buffer: BytesMut::new(),
            closed: false,
        }
    }

    /// The next line, `None` once the client has closed and every line
    /// before that was handed up, or the read error.
    ///
    /// Cancel-safe: the only await is for readiness; bytes that were read
    /// stay in the buffer for the next call.
    pub(crate) async fn next(&mut self) -> Option<io::Result<Frame>> {
        loop {
            let decoded = if self.closed {
                self.codec.decode_eof(&mut self.buffer)
            } else {
                self.codec.decode(&mut self.buffer)
            };
            match decoded {
                Err(error) => return Some(Err(error)),
                Ok(Some(frame)) => {
                    self.release_if_empty();
                    return Some(Ok(frame));
                }
                Ok(None) if self.closed => return None,
                Ok(None) => self.release_if_empty(),
            }
            match self.read_more().await {
                Ok(0) => self.closed = true,
                Ok(_) => {}
                // Readiness can be a false alarm; wait again.
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Some(Err(error)),
            }
        }
    }

    /// Reads what the socket has into the buffer; 0 at the end.
    ///
    /// Plain TCP waits for readiness first, so an idle connection holds no
    /// buffer. A TLS connection cannot wait on the socket (rustls may hold
    /// decrypted bytes the socket no longer shows), so each poll reads into
    /// a chunk on the stack and copies what came into the buffer: the chunk
    /// is gone again when the poll returns pending, and an idle TLS
    /// connection holds no read buffer either (it held 1 KiB, a tenth of
    /// what it cost). A pending poll has read nothing, so nothing is lost
    /// when the wait is cancelled.
    async fn read_more(&mut self) -> io::Result<usize> {
        let LineReader { socket, buffer, .. } = self;
        match socket {
            Source::Plain(socket) => {
                socket.readable().await?;
                buffer.reserve(READ_CHUNK);
                socket.try_read_buf(buffer)
            }
            Source::Tls(stream) => {
                std::future::poll_fn(|cx| {
                    let mut chunk = [0u8; READ_CHUNK];
                    let mut chunk = ReadBuf::new(&mut chunk);
                    ready!(Pin::new(&mut *stream).poll_read(cx, &mut chunk))?;
                    buffer.extend_from_slice(chunk.filled());
                    Poll::Ready(Ok(chunk.filled().len()))
                })
                .await
            }
        }
    }

    /// Frees the buffer once nothing is in it. A line already handed up
    /// keeps its own share of the allocation alive until it is dropped.
    fn release_if_empty(&mut self) {
        if self.buffer.is_empty() && self.buffer.capacity() > 0 {
            self.buffer = BytesMut::new();
        }
    }

    /// The bytes of buffer held right now (for tests).
    #[cfg(test)]
    fn buffer_capacity(&self) -> usize {
        self.buffer.capacity()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::time::timeout;

    use super::*;

    /// A reader on the server side of a real loopback connection, and the
    /// client side to write into.
    async fn pair(max_line_bytes: usize) -> (LineReader, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (read_half, _write_half) = server.into_split();
        // The write half is dropped: only reading is under test, and a
        // dropped OwnedWriteHalf does not close the socket for reading.
        (
            LineReader::new(Source::Plain(read_half), LineCodec::new(max_line_bytes)),
            client,
        )
    }

    /// The same over TLS: the server's half after a real handshake, and
    /// the client's stream.
    async fn tls_pair(
        max_line_bytes: usize,
    ) -> (LineReader, tokio_rustls::client::TlsStream<TcpStream>) {
        let server_tls = crate::tls::ServerTls::open(&crate::config::Config::default()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let connecting = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(connecting, listener.accept());
        let config = lanchat_shared::tls::client_config(None).unwrap();
        let deadline = Duration::from_secs(10);
        let (client, server) = tokio::join!(
            lanchat_shared::tls::handshake(client.unwrap(), config, deadline),
            tokio_rustls::TlsAcceptor::from(server_tls.config.clone()).accept(accepted.unwrap().0)
        );
        let (read_half, _write_half) = tokio::io::split(server.unwrap());
        let codec = LineCodec::new(max_line_bytes);
        (
            LineReader::new(Source::Tls(read_half), codec),
            client.unwrap().0,
        )
    }

    async fn next(reader: &mut LineReader) -> Option<Frame> {
        timeout(Duration::from_secs(10), reader.next())
            .await
            .expect("a line within 10 s")
            .map(|frame| frame.unwrap())
    }

    fn line(text: &str) -> Option<Frame> {
        Some(Frame::Line(Bytes::copy_from_slice(text.as_bytes())))
    }

    #[tokio::test]
    async fn lines_split_across_writes_and_packed_into_one_come_out_whole() {
        let (mut reader, mut client) = pair(100).await;
        client.write_all(b"hel").await.unwrap();
        client.flush().await.unwrap();
        tokio::task::yield_now().await;
        client.write_all(b"lo\r\nsecond\nthird").await.unwrap();
        assert_eq!(next(&mut reader).await, line("hello"));
        assert_eq!(next(&mut reader).await, line("second"));
        client.write_all(b" part\n").await.unwrap();
        assert_eq!(next(&mut reader).await, line("third part"));
    }

    #[tokio::test]
    async fn an_idle_connection_holds_no_read_buffer() {
        let (mut reader, mut client) = pair(100).await;
        client.write_all(b"one\ntwo\n").await.unwrap();
        assert_eq!(next(&mut reader).await, line("one"));
        assert_eq!(next(&mut reader).await, line("two"));
        assert_eq!(reader.buffer_capacity(), 0, "nothing pending, nothing held");
        // Waiting for the next line holds nothing either; half a line does.
        client.write_all(b"thr").await.unwrap();
        let pending = timeout(Duration::from_millis(200), reader.next()).await;
        assert!(pending.is_err(), "half a line is not a line");
        assert!(reader.buffer_capacity() > 0, "half a line is kept");
        client.write_all(b"ee\n").await.unwrap();
        assert_eq!(next(&mut reader).await, line("three"));
        assert_eq!(reader.buffer_capacity(), 0);
    }

    #[tokio::test]
    async fn an_idle_tls_connection_holds_no_read_buffer_while_it_waits() {
        let (mut reader, mut client) = tls_pair(100).await;
        client.write_all(b"one\ntw").await.unwrap();
        client.flush().await.unwrap();
        assert_eq!(next(&mut reader).await, line("one"));
        client.write_all(b"o\n").await.unwrap();
        client.flush().await.unwrap();
        assert_eq!(next(&mut reader).await, line("two"));
        let waiting = timeout(Duration::from_millis(200), reader.next()).await;
        assert!(waiting.is_err(), "nothing more was sent");
        assert_eq!(reader.buffer_capacity(), 0, "waiting holds nothing");
        client.write_all(b"thr").await.unwrap();
        client.flush().await.unwrap();
        let pending = timeout(Duration::from_millis(200), reader.next()).await;
        assert!(pending.is_err(), "half a line is not a line");
        assert!(reader.buffer_capacity() > 0, "half a line is kept");
        client.write_all(b"ee\n").await.unwrap();
        client.flush().await.unwrap();
        assert_eq!(next(&mut reader).await, line("three"));
        assert_eq!(reader.buffer_capacity(), 0);
    }

    #[tokio::test]
    async fn a_last_line_without_newline_counts_then_the_stream_ends() {
        let (mut reader, mut client) = pair(100).await;
        client.write_all(b"bye\nlast words").await.unwrap();
        client.shutdown().await.unwrap();
        assert_eq!(next(&mut reader).await, line("bye"));
        assert_eq!(next(&mut reader).await, line("last words"));
        assert_eq!(next(&mut reader).await, None);
    }

    #[tokio::test]
    async fn an_over_long_line_is_reported_and_the_next_one_read() {
        let (mut reader, mut client) = pair(10).await;
        client.write_all(&[b'x'; 5000]).await.unwrap();
        client.write_all(b"\nok\n").await.unwrap();
        assert_eq!(next(&mut reader).await, Some(Frame::TooLong));
        assert_eq!(next(&mut reader).await, line("ok"));
    }
}
