//! WAL checkpoints off the commit path.
//!
//! In WAL mode a commit appends pages to the log, and by default SQLite
//! copies the log back into the database — a checkpoint, with two fsyncs —
//! inside whichever commit takes the log past 1,000 pages. Under load that
//! put a pause of milliseconds into the message path many times a second
//! (docs/BENCHMARKS.md has the figures). So a thread of its own, with a
//! connection of its own, runs *passive* checkpoints, which never stop the
//! writer.
//!
//! A passive checkpoint copies what was committed before it began, and the
//! log starts over at the next commit only if the checkpoint has caught up
//! completely and none is running. Should the background thread never catch
//! up — a flood with no pause, a slow disk — the log would grow without end;
//! so past `writer_pages` the writer checkpoints the rest itself: the old
//! pause, but short (the background has copied most of it) and rare.

use std::ffi::c_int;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use tracing::warn;

use super::StoreError;

/// When checkpoints happen, in pages of log (4 KiB each by default).
#[derive(Clone, Copy, Debug)]
pub(super) struct CheckpointLimits {
    /// The background thread is asked to checkpoint once the log holds
    /// this many pages. SQLite's own default threshold.
    pub background_pages: c_int,
    /// The writer checkpoints itself, and waits, once the log holds this
    /// many: 8,192 pages is 32 MiB of log.
    pub writer_pages: c_int,
}

impl Default for CheckpointLimits {
    fn default() -> Self {
        CheckpointLimits {
            background_pages: 1_000,
            writer_pages: 8_192,
        }
    }
}

#[derive(Clone, Copy)]
enum Signal {
    Checkpoint,
    Stop,
}

/// The checkpoint thread. Dropping it stops and joins the thread, so it
/// must be dropped before the writer's connection: the last connection to
/// close does the final checkpoint and removes the log.
#[derive(Debug)]
pub(super) struct Checkpointer {
    signals: SyncSender<Signal>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a second connection to `path`, starts the thread and hooks
    /// `writer`'s commits to it (which also turns SQLite's own automatic
    /// checkpoints off for `writer`).
    pub(super) fn start(
        writer: &mut Connection,
        path: &Path,
        limits: CheckpointLimits,
    ) -> Result<Checkpointer, StoreError> {
        let failed =
            |error: rusqlite::Error| StoreError::caused_by("cannot set up checkpoints", error);
        let background = Connection::open(path).map_err(failed)?;
        background
            .busy_timeout(Duration::from_secs(2))
            .map_err(failed)?;
        // A connection learns that the database is in WAL mode when it
        // first reads it; until then a checkpoint does nothing.
        let _mode: String = background
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .map_err(failed)?;
        // One waiting request is enough: a checkpoint copies everything
        // committed before it starts.
        let (signals, inbox) = mpsc::sync_channel::<Signal>(1);
        let thread = thread::Builder::new()
            .name("lanchat-checkpoint".into())
            .spawn(move || checkpoint_when_asked(&background, &inbox))
            .map_err(|error| StoreError::caused_by("cannot start the checkpoint thread", error))?;
        let nudge = signals.clone();
        writer
            .wal_hook(Some(move |wal: &mut Wal, pages: c_int| {
                if pages >= limits.writer_pages {
                    if let Err(error) = wal.checkpoint_v2(CheckpointMode::PASSIVE) {
                        warn!(%error, pages, "the write-ahead log could not be restarted");
                    }
                } else if pages >= limits.background_pages {
                    // Full means a request is already waiting.
                    let _: Result<(), TrySendError<Signal>> = nudge.try_send(Signal::Checkpoint);
                }
                // An error here would make the commit, which has happened,
                // report failure; problems are logged instead.
                Ok(())
            }))
            .map_err(failed)?;
        Ok(Checkpointer {
            signals,
            thread: Some(thread),
        })
    }
}

/// The checkpoint thread's loop: one passive checkpoint per request, until
/// told to stop.
fn checkpoint_when_asked(background: &Connection, inbox: &Receiver<Signal>) {
    while let Ok(Signal::Checkpoint) = inbox.recv() {
        if let Err(error) = background.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
            warn!(%error, "a background checkpoint failed; the next commit asks again");
        }
        // Requests that came in meanwhile were for pages this checkpoint
        // has just copied; answering them at once would keep a checkpoint
        // running at every moment, and the log only starts over when none
        // is. A stop among them still stops.
        loop {
            match inbox.try_recv() {
                Ok(Signal::Checkpoint) => {}
                Ok(Signal::Stop) | Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => break,
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Waits only for a checkpoint in progress to finish.
        let _ = self.signals.send(Signal::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the thread's loop on `signals` and says whether it returned
    /// within ten seconds.
    fn returns_after(signals: &[Signal]) -> bool {
        let (send, inbox) = mpsc::sync_channel(signals.len());
        for signal in signals {
            send.try_send(*signal).unwrap();
        }
        let (done, finished) = mpsc::channel();
        thread::spawn(move || {
            let connection = Connection::open_in_memory().unwrap();
            checkpoint_when_asked(&connection, &inbox);
            let _ = done.send(());
        });
        let returned = finished.recv_timeout(Duration::from_secs(10)).is_ok();
        // Held until here: a loop that missed its stop would otherwise see
        // the channel close and return anyway.
        drop(send);
        returned
    }

    #[test]
    fn a_stop_is_obeyed_even_among_the_requests_skipped_after_a_checkpoint() {
        assert!(returns_after(&[Signal::Stop]));
        assert!(returns_after(&[Signal::Checkpoint, Signal::Stop]));
        // The second request is skipped (the first checkpoint covered it);
        // the stop right behind it must not be skipped with it.
        assert!(returns_after(&[
            Signal::Checkpoint,
            Signal::Checkpoint,
            Signal::Stop
        ]));
    }
}
