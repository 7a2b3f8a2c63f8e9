//! A program in a pseudo-terminal, for the end-to-end tests of lanchat's
//! own client and of the IRC clients: its screen through a VT100
//! emulator, every byte it wrote, and a keyboard.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

/// A program running in a pseudo-terminal.
pub struct Terminal {
    /// What the terminal shows, kept up to date by a reading thread.
    pub screen: Arc<Mutex<vt100::Parser>>,
    /// Every byte the program wrote, for what the emulator does not keep
    /// (notifications, say).
    pub output: Arc<Mutex<Vec<u8>>>,
    /// What the program reads as typed keys.
    pub keys: Box<dyn Write + Send>,
    pub child: Box<dyn Child + Send + Sync>,
    /// Kept open for the program's life: dropping it hangs the terminal up.
    pub master: Box<dyn MasterPty + Send>,
}

impl Terminal {
    /// Starts `command` in a terminal of `rows` by `cols`.
    pub fn spawn(command: CommandBuilder, (rows, cols): (u16, u16)) -> Terminal {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let child = pty.slave.spawn_command(command).expect("start the program");
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let keys = pty.master.take_writer().expect("pty writer");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let output = Arc::new(Mutex::new(Vec::new()));
        let (feed, record) = (Arc::clone(&screen), Arc::clone(&output));
        std::thread::spawn(move || {
            let mut buffer = [0_u8; 8192];
            while let Ok(read) = reader.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                feed.lock().expect("screen lock").process(&buffer[..read]);
                record
                    .lock()
                    .expect("output lock")
                    .extend_from_slice(&buffer[..read]);
            }
        });
        Terminal {
            screen,
            output,
            keys,
            child,
            master: pty.master,
        }
    }
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal").finish_non_exhaustive()
    }
}
