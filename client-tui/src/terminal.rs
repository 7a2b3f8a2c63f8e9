//! Entering full-screen mode, and leaving it on every path out: a normal
//! quit, an error (the guard's `Drop`), and a panic (the hook). SIGTERM,
//! SIGHUP and SIGINT become an ordinary quit in the run loop, so they take
//! the normal path too. Mouse capture can be switched while running
//! (`set_mouse`).

use std::io::{self, Write, stdout};

use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{
    DisableBracketedPaste, DisableFocusChange, DisableMouseCapture, EnableBracketedPaste,
    EnableFocusChange, EnableMouseCapture,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::widgets;

use crate::app::Mouse;

/// The terminal in full-screen mode; dropping it restores the terminal.
#[derive(Debug)]
pub struct FullScreen {
    /// The ratatui terminal to draw on.
    pub terminal: DefaultTerminal,
}

/// Raw mode, the alternate screen (both by `ratatui::try_init`), bracketed
/// paste, focus reports and, unless `mouse` says otherwise, mouse capture. The panic hook undoes the last two before
/// ratatui's own hook undoes the first two, so a panic leaves a usable shell.
pub fn enter(mouse: Mouse) -> io::Result<FullScreen> {
    let terminal = ratatui::try_init()?;
    let ratatui_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = undo_extras();
        ratatui_hook(info);
    }));
    // Build the guard before the fallible step, so a failure still restores.
    let full_screen = FullScreen { terminal };
    execute!(stdout(), EnableBracketedPaste, EnableFocusChange)?;
    set_mouse(mouse)?;
    Ok(full_screen)
}

/// Sets the terminal up again after the process was stopped and
/// continued: raw mode, the alternate screen, bracketed paste, focus
/// reports and the mouse as it was.
pub fn resume(mouse: Mouse) -> io::Result<()> {
    // crossterm does nothing when it believes raw mode is on already, so
    // it is first told it is off (which puts back the modes it saved).
    ratatui::crossterm::terminal::disable_raw_mode()?;
    ratatui::crossterm::terminal::enable_raw_mode()?;
    execute!(
        stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        EnableFocusChange
    )?;
    set_mouse(mouse)
}

/// Ctrl-Z: gives the terminal back (its own modes, the normal screen) and
/// stops this process with SIGTSTP, as a shell job stops; once continued,
/// sets full screen up again. In raw mode the terminal does not turn
/// Ctrl-Z into the signal itself, so this asks `kill` to. Where a stop
/// cannot happen (no job control: the signal is discarded), the client
/// simply carries on in full screen.
pub fn suspend(mouse: Mouse) -> io::Result<()> {
    undo_extras()?;
    execute!(stdout(), LeaveAlternateScreen)?;
    ratatui::crossterm::terminal::disable_raw_mode()?;
    let stopped = std::process::Command::new("kill")
        .args(["-TSTP", &std::process::id().to_string()])
        .status();
    // Continued (or never stopped): the terminal is ours again.
    resume(mouse)?;
    stopped.map(|_| ())
}

/// Clears the screen and makes the next draw repaint every cell (Ctrl-L,
/// and after a stop). Not ratatui's `Terminal::clear`: that asks the
/// terminal where its cursor is, and the answer would be read by the
/// event stream instead, so the question times out and fails. Drawing a
/// blank frame first leaves ratatui's previous frame blank too, so the next
/// frame differs from it in every cell that has something in it.
pub fn redraw(terminal: &mut DefaultTerminal) -> io::Result<()> {
    execute!(stdout(), Clear(ClearType::All))?;
    terminal.draw(|frame| frame.render_widget(widgets::Clear, frame.area()))?;
    Ok(())
}

/// Gives the mouse to the client, or back to the terminal.
pub fn set_mouse(mouse: Mouse) -> io::Result<()> {
    match mouse {
        Mouse::Captured => execute!(stdout(), EnableMouseCapture),
        Mouse::Free => execute!(stdout(), DisableMouseCapture),
    }
}

/// Rings the terminal bell.
pub fn bell() {
    let mut out = stdout();
    let _ = out.write_all(b"\x07");
    let _ = out.flush();
}

fn undo_extras() -> io::Result<()> {
    execute!(
        stdout(),
        DisableBracketedPaste,
        DisableMouseCapture,
        DisableFocusChange
    )
}

/// Asks the terminal for a desktop notification with its own escape
/// sequence: OSC 9 for the terminals known to take it (iTerm2, Windows
/// Terminal, ConEmu), OSC 777 (rxvt-unicode, foot, Ghostty, WezTerm, …)
/// otherwise; a terminal that knows neither ignores it. Both strings come
/// sanitised from the app; a `;` would end OSC 777's title early, so the
/// title has none.
pub fn notify(title: &str, body: &str) {
    let osc_9 = std::env::var_os("TERM_PROGRAM").is_some_and(|p| p == "iTerm.app")
        || std::env::var_os("WT_SESSION").is_some()
        || std::env::var_os("ConEmuPID").is_some();
    let sequence = if osc_9 {
        format!("\x1b]9;{title}: {body}\x07")
    } else {
        format!("\x1b]777;notify;{};{body}\x07", title.replace(';', ","))
    };
    let mut out = stdout();
    let _ = out.write_all(sequence.as_bytes());
    let _ = out.flush();
}

impl Drop for FullScreen {
    fn drop(&mut self) {
        let _ = undo_extras();
        ratatui::restore();
    }
}
