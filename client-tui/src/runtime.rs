//! The run loop: one `select!` over terminal input, network news, the
//! hosted server's warnings, the app's timer and signals. Each event goes
//! through `App::update`; the screen is redrawn once per burst, after
//! everything already waiting was applied.

use std::time::Duration;

use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{
    Event as TerminalEvent, EventStream, KeyEventKind, MouseEventKind,
};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use crate::app::{App, Effect, Now};
use crate::event::{Event, Focus, NetCommand, NetEvent};
use crate::{terminal, ui};

/// Network events applied before a redraw at most; at 1,000 messages a
/// second this still redraws many times a second.
const MAX_EVENTS_PER_FRAME: usize = 1024;

/// What the loop hears besides the terminal and signals.
#[derive(Debug)]
pub struct Sources {
    /// News from the connection task.
    pub news: mpsc::Receiver<NetEvent>,
    /// The hosted server's warnings, when this process hosts.
    pub warnings: Option<mpsc::Receiver<String>>,
}

/// Runs until the user quits. Returns when the app asks to quit or the
/// terminal's input ends.
pub async fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    sources: Sources,
    commands: mpsc::Sender<NetCommand>,
) -> anyhow::Result<()> {
    let Sources {
        mut news,
        mut warnings,
    } = sources;
    let mut input = EventStream::new();
    let mut signals = Signals::new()?;
    loop {
        terminal.draw(|frame| ui::draw(app, frame))?;
        let wake = app.next_tick(Instant::now());
        let event = tokio::select! {
            read = input.next() => match read {
                Some(Ok(read)) => match translate(read) {
                    Some(event) => event,
                    None => continue,
                },
                Some(Err(error)) => return Err(error.into()),
                None => Event::Terminate,
            },
            Some(update) = news.recv() => Event::Net(update),
            text = next_warning(&mut warnings) => Event::Notice(text),
            () = sleep_until(wake.unwrap_or_else(far_future)), if wake.is_some() => Event::Tick,
            caught = signals.next() => match caught {
                Caught::Leave => Event::Terminate,
                Caught::Resumed => {
                    // Stopped and continued (SIGSTOP, then SIGCONT): the
                    // shell that saw the stop put the terminal back to its
                    // own modes, so ours are set again and all redrawn.
                    terminal::resume(app.mouse())?;
                    terminal::redraw(terminal)?;
                    continue;
                }
            },
        };
        if apply(app, event, &commands, terminal)? {
            return Ok(());
        }
        for _ in 0..MAX_EVENTS_PER_FRAME {
            let Ok(update) = news.try_recv() else { break };
            if apply(app, Event::Net(update), &commands, terminal)? {
                return Ok(());
            }
        }
    }
}

/// Updates the app and carries out its effects; true means quit.
fn apply(
    app: &mut App,
    event: Event,
    commands: &mpsc::Sender<NetCommand>,
    terminal: &mut DefaultTerminal,
) -> std::io::Result<bool> {
    let mut quit = false;
    let effects = app.update(event, Now::read());
    for effect in effects {
        match effect {
            // The app paces what it sends (a few a second), so this queue
            // has room; if the connection task is gone the app hears of it.
            Effect::Send(msg) => {
                let _ = commands.try_send(NetCommand::Send(msg));
            }
            Effect::Hello(nick) => {
                let _ = commands.try_send(NetCommand::Hello(nick));
            }
            Effect::GiveUp => {
                let _ = commands.try_send(NetCommand::GiveUp);
            }
            Effect::Bell => terminal::bell(),
            Effect::Notify { title, body } => terminal::notify(&title, &body),
            // The next draw repaints every cell.
            Effect::Redraw => terminal::redraw(terminal)?,
            Effect::Suspend => {
                terminal::suspend(app.mouse())?;
                terminal::redraw(terminal)?;
            }
            Effect::Mouse(mouse) => terminal::set_mouse(mouse)?,
            Effect::Quit => quit = true,
        }
    }
    Ok(quit)
}

fn translate(event: TerminalEvent) -> Option<Event> {
    match event {
        TerminalEvent::Key(key) if key.kind == KeyEventKind::Release => None,
        TerminalEvent::Key(key) => Some(Event::Key(key)),
        TerminalEvent::Paste(text) => Some(Event::Paste(text)),
        // Mouse capture reports every movement; only the wheel means
        // anything here, and ignoring the rest saves a redraw per twitch.
        TerminalEvent::Mouse(mouse) => matches!(
            mouse.kind,
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown
        )
        .then_some(Event::Mouse(mouse)),
        TerminalEvent::Resize(columns, rows) => Some(Event::Resize(columns, rows)),
        TerminalEvent::FocusGained => Some(Event::Focus(Focus::Gained)),
        TerminalEvent::FocusLost => Some(Event::Focus(Focus::Lost)),
    }
}

/// The next warning from the hosted server; never, if there is no hosted
/// server or its channel has closed.
async fn next_warning(warnings: &mut Option<mpsc::Receiver<String>>) -> String {
    if let Some(receiver) = warnings
        && let Some(text) = receiver.recv().await
    {
        return text;
    }
    *warnings = None;
    std::future::pending().await
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

/// What a signal asks of the loop.
enum Caught {
    /// Leave as on `/quit`.
    Leave,
    /// The process runs again after a stop: set the terminal up again.
    Resumed,
}

/// SIGTERM, SIGHUP (the terminal window closed) and SIGINT (a `kill
/// -INT`; Ctrl-C in raw mode is a key, not a signal) as one stream, so each
/// is an ordinary quit that restores the terminal; and SIGCONT, after which
/// the terminal is set up again.
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    /// SIGCONT: the process was stopped and now runs again.
    #[cfg(unix)]
    resumed: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                terminate: signal(SignalKind::terminate())?,
                hangup: signal(SignalKind::hangup())?,
                interrupt: signal(SignalKind::interrupt())?,
                resumed: signal(SignalKind::from_raw(libc::SIGCONT))?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn next(&mut self) -> Caught {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => Caught::Leave,
            _ = self.hangup.recv() => Caught::Leave,
            _ = self.interrupt.recv() => Caught::Leave,
            _ = self.resumed.recv() => Caught::Resumed,
        }
        #[cfg(not(unix))]
        std::future::pending::<Caught>().await
    }
}
