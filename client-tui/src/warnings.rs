//! The hosted server's warnings, on their way to the screen.
//!
//! The server reports trouble it carries on through (messages it could not
//! store, a session it could not save, discovery that could not start) with
//! `tracing`. A full-screen client cannot let a logger write to the
//! terminal, so when it hosts, [`install`] sets a subscriber whose one
//! layer, [`NoticeLayer`], turns each WARN or ERROR event into one
//! sanitised line in a bounded channel; the run loop shows each line as a
//! notice in the scrollback.
//!
//! The server's threads never wait for the screen: a line that does not
//! fit in the channel is dropped and counted, and the count rides along
//! with the next line that fits.

use std::fmt::{Debug, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};

use lanchat_shared::sanitize_text;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Lines waiting for the run loop. A server in trouble tends to repeat
/// itself; this many lines is more than a screen, and more than anyone
/// reads in a burst.
pub const WARNINGS_QUEUE: usize = 64;

/// The longest line passed on, in characters, so one enormous error text
/// cannot fill the scrollback.
const MAX_LINE_CHARS: usize = 500;

/// A `tracing` layer that forwards WARN and ERROR events, one line each,
/// into a bounded channel, without ever waiting.
#[derive(Debug)]
pub struct NoticeLayer {
    /// Where the lines go: the run loop's end of the channel.
    lines: mpsc::Sender<String>,
    /// Lines dropped because the channel was full, not yet reported.
    dropped: AtomicUsize,
}

/// Makes a [`NoticeLayer`] the whole of this process's tracing subscriber
/// and returns the lines it forwards. `None` if a subscriber was already
/// set (a process hosts once; a second call has nothing to add).
pub fn install() -> Option<mpsc::Receiver<String>> {
    let (layer, lines) = NoticeLayer::new(WARNINGS_QUEUE);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::set_global_default(subscriber).ok()?;
    Some(lines)
}

impl NoticeLayer {
    /// A layer whose channel holds `capacity` lines, and the channel's
    /// receiving end.
    pub fn new(capacity: usize) -> (NoticeLayer, mpsc::Receiver<String>) {
        let (lines, receiver) = mpsc::channel(capacity.max(1));
        let layer = NoticeLayer {
            lines,
            dropped: AtomicUsize::new(0),
        };
        (layer, receiver)
    }

    /// Passes `line` on if there is room, with the count of lines dropped
    /// before it; otherwise counts it as dropped too.
    fn offer(&self, line: String) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        let line = if dropped == 0 {
            line
        } else {
            format!("{line} ({dropped} earlier warning(s) not shown: too many at once)")
        };
        if let Err(TrySendError::Full(_)) = self.lines.try_send(line) {
            self.dropped.fetch_add(dropped + 1, Ordering::Relaxed);
        }
    }
}

impl<S: Subscriber> Layer<S> for NoticeLayer {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // Decided once per call site, so the server's many `info!`s and
        // `debug!`s cost nothing while hosting.
        if forwarded(metadata.level()) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        forwarded(metadata.level())
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let level = *event.metadata().level();
        if !forwarded(&level) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.offer(fields.line(level));
    }
}

/// WARN and ERROR reach the screen; the rest is for people reading logs,
/// and a hosting client keeps none.
fn forwarded(level: &Level) -> bool {
    *level <= Level::WARN
}

/// An event's message and its other fields, as text.
#[derive(Default)]
struct Fields {
    message: String,
    others: Vec<String>,
}

impl Fields {
    /// `Hosted room warning: MESSAGE (name: value, …)`, made safe for the
    /// terminal and cut to [`MAX_LINE_CHARS`].
    fn line(&self, level: Level) -> String {
        let kind = if level == Level::ERROR {
            "error"
        } else {
            "warning"
        };
        let mut line = format!("Hosted room {kind}: {}", self.message);
        if !self.others.is_empty() {
            let _ = write!(line, " ({})", self.others.join(", "));
        }
        sanitize_text(&line).chars().take(MAX_LINE_CHARS).collect()
    }

    fn add(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = value;
        } else {
            self.others.push(format!("{}: {value}", field.name()));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.add(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.add(field, format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use tracing::{debug, error, info, warn};

    use super::*;

    /// Runs `log` with a [`NoticeLayer`] of `capacity` as the subscriber,
    /// and returns the layer's channel.
    fn forwarded_by(capacity: usize, log: impl FnOnce()) -> mpsc::Receiver<String> {
        let (layer, lines) = NoticeLayer::new(capacity);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
        lines
    }

    fn drain(lines: &mut mpsc::Receiver<String>) -> Vec<String> {
        std::iter::from_fn(|| lines.try_recv().ok()).collect()
    }

    #[test]
    fn warnings_and_errors_are_forwarded_as_one_safe_line_and_the_rest_is_not() {
        let mut lines = forwarded_by(WARNINGS_QUEUE, || {
            debug!("a detail");
            info!(addr = "0.0.0.0:7878", "lanchat-server listening");
            let error = "disk I/O error";
            warn!(%error, count = 3, "messages could not be stored; refusing them");
            error!("the store\nbroke \u{1b}[31mbadly");
        });
        assert_eq!(
            drain(&mut lines),
            vec![
                "Hosted room warning: messages could not be stored; refusing them \
                 (error: disk I/O error, count: 3)",
                "Hosted room error: the store broke badly",
            ]
        );
    }

    #[test]
    fn a_full_channel_drops_and_counts_instead_of_waiting() {
        let (layer, mut lines) = NoticeLayer::new(1);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            // With room for one line, the second and third are dropped at
            // once: `warn!` returns instead of waiting for the reader.
            warn!("first");
            warn!("second");
            warn!("third");
            assert_eq!(drain(&mut lines), vec!["Hosted room warning: first"]);
            warn!("fourth");
        });
        assert_eq!(
            drain(&mut lines),
            vec!["Hosted room warning: fourth (2 earlier warning(s) not shown: too many at once)"]
        );
    }
}
