//! The sending half of a connection, in a task of its own.
//!
//! Reading and writing run in separate tasks so a client that stops reading
//! (its socket buffer full, a write blocked) never stops the server from
//! reading its `quit`, and a flood of input never delays output. The writer
//! merges two sources: lines meant for this client only (a bounded mpsc
//! queue fed by the reader) and room events (the shared broadcast ring).
//! Everything that is ready is appended to one buffer and written in one
//! go, so a burst of messages costs one write per client, not one per message.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lanchat_shared::{ErrorCode, ServerMsg};
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;

use crate::dialect::{self, Dialect};
use crate::hub::{HubEvent, MemberView};
use crate::transport::Sink;

/// Stop adding to a batch past this size; a slow reader then gets its data
/// in reasonable pieces and the buffer stays small.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// A batch buffer starts this large, so a typical burst is gathered without
/// growing it step by step. Every buffer is freed once written, so an idle
/// connection holds none (docs/BENCHMARKS.md, W1), and a busy one pays one
/// allocation per write, small next to the write itself.
const BATCH_START_BYTES: usize = 4096;

/// Said to a client whose replies piled up because it did not read them.
const NOT_READING: &str = "You were not reading fast enough; disconnecting.";

/// How long the writer tries to get a farewell (shutdown notice or
/// `slow_consumer`) to a client whose socket may already be full.
const FAREWELL_TIMEOUT: Duration = Duration::from_millis(500);

/// What the reader hands the writer, in order.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Bytes for this client only, already encoded.
    Line(Bytes),
    /// The client has joined: from now on forward the events its view
    /// wants, in its dialect.
    Subscribe {
        /// The hub's ring, from the instant the client joined.
        events: broadcast::Receiver<Arc<HubEvent>>,
        /// How the client is spoken to.
        dialect: Arc<dyn Dialect>,
        /// What the client may see.
        view: Arc<MemberView>,
    },
}

/// How the writer ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WriterEnd {
    /// The reader finished and everything queued was written.
    Drained,
    /// The server is shutting down; queued data and the notice were flushed.
    Shutdown,
    /// The client could not keep up and was cut off.
    SlowConsumer,
    /// Writing failed: the peer is gone.
    Lost,
}

/// The writer's view of the rest of the connection.
#[derive(Debug)]
pub(crate) struct WriterContext {
    /// Cancelled by whichever half fails first, so the other stops too.
    pub(crate) abort: CancellationToken,
    /// Cancelled once for the whole server at shutdown.
    pub(crate) shutdown: CancellationToken,
    /// Longest one batch may take to write.
    pub(crate) write_timeout: Duration,
}

/// Runs until the reader drops its sender, the server shuts down, or the
/// client fails; then half-closes the socket.
pub(crate) async fn run(
    sink: Sink,
    queue: mpsc::Receiver<Outgoing>,
    context: WriterContext,
) -> WriterEnd {
    let mut writer = Writer {
        sink,
        queue,
        queue_open: true,
        events: None,
        view: None,
        dialect: dialect::json(),
        batch: Vec::new(),
        written: 0,
    };
    let end = writer.serve(&context).await;
    // However the writer ended, the reader must stop too: a client that no
    // longer receives anything must not keep its nickname by staying quiet.
    context.abort.cancel();
    // Half-close, so the client reads everything and then a clean EOF.
    let _ = timeout_at(Instant::now() + FAREWELL_TIMEOUT, writer.sink.shutdown()).await;
    end
}

/// Gives an empty batch its starting size, before the first bytes for it.
fn start_batch(batch: &mut Vec<u8>, first_len: usize) {
    if batch.capacity() == 0 {
        batch.reserve(BATCH_START_BYTES.max(first_len));
    }
}

struct Writer {
    sink: Sink,
    queue: mpsc::Receiver<Outgoing>,
    /// False once the reader has dropped its sender.
    queue_open: bool,
    events: Option<broadcast::Receiver<Arc<HubEvent>>>,
    /// Which events are for this client.
    view: Option<Arc<MemberView>>,
    /// How to render what is sent; JSON until the client has joined (the
    /// reader renders its own replies).
    dialect: Arc<dyn Dialect>,
    /// Bytes waiting to be written; reused between batches.
    batch: Vec<u8>,
    /// How much of `batch` has reached the socket. Kept outside the write
    /// future so that after a timeout we know whether a line was cut short.
    written: usize,
}

/// Why a write did not complete.
enum WriteFailure {
    TimedOut,
    Aborted,
    Lost,
}

impl Writer {
    async fn serve(&mut self, context: &WriterContext) -> WriterEnd {
        // Made once, not on every pass: registering a fresh waiter on each
        // token per wake-up was a measurable part of fan-out (callgrind).
        let aborted = context.abort.cancelled();
        let shutting_down = context.shutdown.cancelled();
        tokio::pin!(aborted, shutting_down);
        loop {
            tokio::select! {
                biased;
                // Only the reader cancels while we are here: its queue to us was full.
                () = &mut aborted => return self.cut_off(NOT_READING).await,
                () = &mut shutting_down => return self.flush_for_shutdown(context).await,
                item = self.queue.recv() => match item {
                    Some(item) => self.accept(item),
                    None => self.queue_open = false,
                },
                event = next_event(&mut self.events) => match event {
                    Ok(event) => self.take_event(&event),
                    Err(RecvError::Lagged(missed)) => return self.fell_behind(missed).await,
                    // The room is gone: only at shutdown, which is handled above.
                    Err(RecvError::Closed) => self.events = None,
                },
            }
            if let Err(missed) = self.fill_batch() {
                return self.fell_behind(missed).await;
            }
            let deadline = Instant::now() + context.write_timeout;
            match self.write_batch(deadline, &context.abort).await {
                Ok(()) => self.batch = Vec::new(),
                Err(WriteFailure::Lost) => return WriterEnd::Lost,
                Err(WriteFailure::TimedOut) => {
                    let message = "Nothing was read from the server for too long; disconnecting.";
                    return self.cut_off(message).await;
                }
                Err(WriteFailure::Aborted) => return self.cut_off(NOT_READING).await,
            }
            if !self.queue_open {
                // At shutdown the reader stops first and closes the queue;
                // the farewell is still owed.
                if context.shutdown.is_cancelled() {
                    return self.flush_for_shutdown(context).await;
                }
                return self.drain_after_close(context).await;
            }
        }
    }

    /// The reader has finished: it waited for the client's own messages
    /// to be published, so their echoes are in the ring. Writes every event
    /// that was waiting at this moment (not what others say from now on,
    /// which could go on for ever), each batch under the write deadline.
    async fn drain_after_close(&mut self, context: &WriterContext) -> WriterEnd {
        let mut waiting = self.events.as_ref().map_or(0, broadcast::Receiver::len);
        while waiting > 0 {
            while waiting > 0 && self.batch.len() < MAX_BATCH_BYTES {
                match self.events.as_mut().map(broadcast::Receiver::try_recv) {
                    Some(Ok(event)) => {
                        self.take_event(&event);
                        waiting -= 1;
                    }
                    // Nothing more, or this client fell a ring behind: write
                    // what was taken and finish.
                    _ => waiting = 0,
                }
            }
            let deadline = Instant::now() + context.write_timeout;
            match self.write_batch(deadline, &context.abort).await {
                Ok(()) => self.batch = Vec::new(),
                Err(WriteFailure::Lost) => return WriterEnd::Lost,
                Err(_) => return WriterEnd::SlowConsumer,
            }
        }
        WriterEnd::Drained
    }

    fn accept(&mut self, item: Outgoing) {
        match item {
            Outgoing::Line(bytes) => {
                start_batch(&mut self.batch, bytes.len());
                self.batch.extend_from_slice(&bytes);
            }
            Outgoing::Subscribe {
                events,
                dialect,
                view,
            } => {
                self.events = Some(events);
                self.dialect = dialect;
                self.view = Some(view);
            }
        }
    }

    /// Adds what of an event is for this client to the batch.
    fn take_event(&mut self, event: &HubEvent) {
        let Some(view) = &self.view else { return };
        let (dialect, batch) = (&*self.dialect, &mut self.batch);
        view.for_each_wanted(event, |item, shown_to| {
            start_batch(batch, item.json.len());
            dialect.render_event(item, shown_to, batch);
        });
    }

    /// Appends whatever else is ready without waiting. Fails with the number
    /// of events missed if the client turned out to be a whole ring behind.
    fn fill_batch(&mut self) -> Result<(), u64> {
        while self.batch.len() < MAX_BATCH_BYTES && self.queue_open {
            match self.queue.try_recv() {
                Ok(item) => self.accept(item),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => self.queue_open = false,
            }
        }
        while self.batch.len() < MAX_BATCH_BYTES {
            let Some(events) = self.events.as_mut() else {
                break;
            };
            match events.try_recv() {
                Ok(event) => self.take_event(&event),
                Err(TryRecvError::Lagged(missed)) => return Err(missed),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        Ok(())
    }

    /// Writes the whole batch by `deadline`, giving up early on `abort`.
    async fn write_batch(
        &mut self,
        deadline: Instant,
        abort: &CancellationToken,
    ) -> Result<(), WriteFailure> {
        self.written = 0;
        while self.written < self.batch.len() {
            let write = timeout_at(deadline, self.sink.write(&self.batch[self.written..]));
            let result = tokio::select! {
                result = write => result,
                () = abort.cancelled() => return Err(WriteFailure::Aborted),
            };
            match result {
                Err(_elapsed) => return Err(WriteFailure::TimedOut),
                Ok(Ok(0) | Err(_)) => return Err(WriteFailure::Lost),
                Ok(Ok(n)) => self.written += n,
            }
        }
        // Over TLS a write can take the bytes while the socket is full,
        // leaving them encrypted inside rustls until something writes
        // again, which for a quiet room can be never; the flush sends them
        // (on plain TCP it does nothing).
        let flush = timeout_at(deadline, self.sink.flush());
        let result = tokio::select! {
            result = flush => result,
            () = abort.cancelled() => return Err(WriteFailure::Aborted),
        };
        match result {
            Err(_elapsed) => return Err(WriteFailure::TimedOut),
            Ok(Err(_)) => return Err(WriteFailure::Lost),
            Ok(Ok(())) => {}
        }
        self.batch.clear();
        self.written = 0;
        Ok(())
    }

    async fn fell_behind(&mut self, missed: u64) -> WriterEnd {
        let message =
            format!("You fell {missed} messages behind; disconnecting. Reconnect to continue.");
        self.cut_off(&message).await
    }

    /// Tells the client it is being cut off as a slow consumer, and why, if
    /// its socket will still take it.
    async fn cut_off(&mut self, message: &str) -> WriterEnd {
        let mut farewell = Vec::new();
        // A batch cut short mid-line would glue the notice onto half a line.
        let cut_mid_line = self.written > 0
            && self.written < self.batch.len()
            && self.batch.get(self.written - 1) != Some(&b'\n');
        if cut_mid_line {
            farewell.push(b'\n');
        }
        let error = ServerMsg::error(ErrorCode::SlowConsumer, message);
        self.dialect.render(&error, &mut farewell);
        self.batch = farewell;
        let _ = self
            .write_batch(Instant::now() + FAREWELL_TIMEOUT, &CancellationToken::new())
            .await;
        WriterEnd::SlowConsumer
    }

    /// Writes everything already queued, then the shutdown notice.
    async fn flush_for_shutdown(&mut self, context: &WriterContext) -> WriterEnd {
        while let Ok(item) = self.queue.try_recv() {
            self.accept(item);
        }
        while let Some(Ok(event)) = self.events.as_mut().map(broadcast::Receiver::try_recv) {
            self.take_event(&event);
        }
        let notice = ServerMsg::info("The server is shutting down. Goodbye!");
        self.dialect.render(&notice, &mut self.batch);
        let deadline = Instant::now() + context.write_timeout.min(FAREWELL_TIMEOUT * 4);
        let _ = self.write_batch(deadline, &context.abort).await;
        WriterEnd::Shutdown
    }
}

/// The next room event, or never if the client has not joined yet.
async fn next_event(
    events: &mut Option<broadcast::Receiver<Arc<HubEvent>>>,
) -> Result<Arc<HubEvent>, RecvError> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanchat_shared::{Nick, RoomName};
    use tokio::io::AsyncBufReadExt;
    use tokio::net::{TcpListener, TcpStream};

    use crate::dialect::PLAIN_TEXT;
    use crate::domain::{NewMessage, SessionToken, StoredMessage, Target};
    use crate::hub::{Hub, Joined};

    /// A connected pair: the server's write half and the client's reader.
    async fn socket_pair() -> (Sink, tokio::io::BufReader<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        (
            Box::new(server_side.into_split().1),
            tokio::io::BufReader::new(client),
        )
    }

    fn join(hub: &Arc<Hub>, nick: &str) -> Joined {
        let token = SessionToken::generate().unwrap();
        hub.join(
            Nick::parse(nick).unwrap(),
            &[RoomName::lobby()],
            token,
            crate::hub::Presence::default(),
        )
        .unwrap()
    }

    fn publish(hub: &Hub, id: u64, from: &str, target: Target) {
        hub.publish_messages(&[StoredMessage {
            id,
            message: NewMessage::unproved(0, from.into(), target, format!("m{id}")),
        }]);
    }

    fn context() -> (WriterContext, CancellationToken) {
        let abort = CancellationToken::new();
        let context = WriterContext {
            abort: abort.clone(),
            shutdown: CancellationToken::new(),
            write_timeout: Duration::from_secs(5),
        };
        (context, abort)
    }

    #[tokio::test]
    async fn a_client_a_whole_ring_behind_is_told_and_its_reader_stopped() {
        let hub = Hub::new(4);
        let laggard = join(&hub, "laggard");
        let _talker = join(&hub, "talker");
        for id in 1..=10 {
            publish(&hub, id, "talker", Target::Room("lobby".into()));
        }
        let (sink, mut client) = socket_pair().await;
        let (queue_in, queue) = mpsc::channel(4);
        let view = laggard.membership.view();
        queue_in
            .try_send(Outgoing::Subscribe {
                events: laggard.events,
                dialect: crate::dialect::json(),
                view,
            })
            .unwrap();
        let (context, abort) = context();

        let end = run(sink, queue, context).await;

        assert_eq!(end, WriterEnd::SlowConsumer);
        assert!(abort.is_cancelled(), "the reader is told to stop");
        let mut line = String::new();
        client.read_line(&mut line).await.unwrap();
        match ServerMsg::parse(line.as_bytes()).unwrap() {
            ServerMsg::Error { code, message, .. } => {
                assert_eq!(code, ErrorCode::SlowConsumer);
                assert!(message.contains("behind"), "{message}");
            }
            other => panic!("expected slow_consumer, got {other:?}"),
        }
        drop(queue_in);
    }

    #[tokio::test]
    async fn everything_waiting_when_the_reader_finishes_is_still_written() {
        let hub = Hub::new(4096);
        let reader = join(&hub, "reader");
        // Far more than one batch: before, the writer wrote one more batch
        // after the reader finished and dropped the rest (echoes included).
        for id in 1..=3000 {
            publish(&hub, id, "other", Target::Room("lobby".into()));
        }
        let (sink, mut client) = socket_pair().await;
        let (queue_in, queue) = mpsc::channel(4);
        let view = reader.membership.view();
        queue_in
            .try_send(Outgoing::Subscribe {
                events: reader.events,
                dialect: crate::dialect::json(),
                view,
            })
            .unwrap();
        drop(queue_in);
        let (context, _) = context();
        let writing = tokio::spawn(run(sink, queue, context));
        let mut all = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut client, &mut all)
            .await
            .unwrap();
        assert_eq!(writing.await.unwrap(), WriterEnd::Drained);
        assert_eq!(all.lines().count(), 3000);
        assert!(all.lines().last().unwrap().contains("\"id\":3000"));
    }

    #[tokio::test]
    async fn a_burst_goes_out_in_order_filtered_by_audience_and_drains_at_the_end() {
        let hub = Hub::new(64);
        let reader = join(&hub, "reader");
        let _other = join(&hub, "other");
        let (sink, mut client) = socket_pair().await;
        let (queue_in, queue) = mpsc::channel(4);
        queue_in
            .try_send(Outgoing::Line(ServerMsg::info("first").to_line()))
            .unwrap();
        let view = reader.membership.view();
        queue_in
            .try_send(Outgoing::Subscribe {
                events: reader.events,
                dialect: Arc::new(PLAIN_TEXT),
                view,
            })
            .unwrap();
        for id in 1..=20 {
            let target = match id % 4 {
                0 => Target::Room("elsewhere".into()),
                1 => Target::Direct("other".into()),
                _ => Target::Room("lobby".into()),
            };
            publish(&hub, id, "other", target);
        }
        drop(queue_in);
        let (context, _) = context();

        assert_eq!(run(sink, queue, context).await, WriterEnd::Drained);

        let mut all = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut client, &mut all)
            .await
            .unwrap();
        let lines: Vec<&str> = all.lines().collect();
        assert!(
            lines[0].contains("\"first\""),
            "the reply is JSON: no Subscribe yet"
        );
        let expected: Vec<String> = (1..=20_u64)
            .filter(|id| id % 4 == 2 || id % 4 == 3)
            .map(|id| format!("<other> m{id}"))
            .collect();
        assert_eq!(lines[1], "* other joined");
        assert_eq!(
            lines.len(),
            2 + expected.len(),
            "no other room, no one else's DM: {lines:?}"
        );
        for (line, text) in lines[2..].iter().zip(&expected) {
            assert!(line.ends_with(text.as_str()), "{line} ends with {text}");
        }
    }
}
