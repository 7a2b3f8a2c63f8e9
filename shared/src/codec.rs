//! Newline framing with a hard bound on what is buffered.
//!
//! TCP is a byte stream: one `read` may hold half a message or three of them
//! (the "sticky packet" problem of `recv(1024)`). [`LineCodec`] turns the
//! stream back into lines. Unlike tokio-util's `LinesCodec` it does not
//! decode UTF-8 (the protocol layer does, so bad UTF-8 is a `bad_request` and
//! not the end of the stream), and it reports an over-long line as
//! [`Frame::TooLong`] — an item, not an error — because `Framed` ends the
//! stream after any decoder error and we want the connection to survive.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// One unit the codec hands up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete line without its `\n` or `\r\n`.
    Line(Bytes),
    /// A line longer than the limit. Its first bytes were dropped as soon as
    /// the limit was passed, the rest is skipped up to the next `\n`, and the
    /// line after it is read normally.
    TooLong,
}

/// Splits a byte stream into lines of at most `max_line_bytes` bytes.
///
/// The decoder never holds more than `max_line_bytes + 2` bytes of an
/// unfinished line, so a peer streaming gigabytes without a newline costs a
/// fixed amount of memory.
#[derive(Debug)]
pub struct LineCodec {
    max_line_bytes: usize,
    /// Bytes of the buffer already searched for `\n`, so a line arriving one
    /// byte at a time is scanned once, not quadratically.
    scanned: usize,
    /// True while skipping the rest of an over-long line.
    discarding: bool,
}

impl LineCodec {
    /// A codec that reports lines longer than `max_line_bytes` (not counting
    /// the line ending) as [`Frame::TooLong`].
    pub fn new(max_line_bytes: usize) -> LineCodec {
        LineCodec {
            max_line_bytes,
            scanned: 0,
            discarding: false,
        }
    }
}

impl Decoder for LineCodec {
    type Item = Frame;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, io::Error> {
        if self.discarding {
            match buf.iter().position(|b| *b == b'\n') {
                Some(newline) => {
                    buf.advance(newline + 1);
                    self.discarding = false;
                }
                None => {
                    // Dropping what arrived is what keeps memory bounded.
                    buf.clear();
                    return Ok(None);
                }
            }
        }

        // A line of exactly the maximum may still be followed by "\r\n".
        let window = buf.len().min(self.max_line_bytes + 2);
        let found = buf[self.scanned..window].iter().position(|b| *b == b'\n');
        match found {
            Some(offset) => {
                let newline = self.scanned + offset;
                self.scanned = 0;
                let mut line = buf.split_to(newline + 1);
                line.truncate(newline);
                if line.last() == Some(&b'\r') {
                    line.truncate(newline - 1);
                }
                if line.len() > self.max_line_bytes {
                    return Ok(Some(Frame::TooLong));
                }
                Ok(Some(Frame::Line(line.freeze())))
            }
            None if window == self.max_line_bytes + 2 => {
                buf.advance(window);
                self.scanned = 0;
                self.discarding = true;
                Ok(Some(Frame::TooLong))
            }
            None => {
                self.scanned = window;
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, io::Error> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        // A last line without a newline (nc after Ctrl-D) still counts.
        if buf.is_empty() || self.discarding {
            buf.clear();
            return Ok(None);
        }
        let mut line = buf.split();
        self.scanned = 0;
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        if line.len() > self.max_line_bytes {
            return Ok(Some(Frame::TooLong));
        }
        Ok(Some(Frame::Line(line.freeze())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `chunks` one at a time, as separate reads would, and collects
    /// every frame, the end of stream included.
    fn decode_chunks(max: usize, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut codec = LineCodec::new(max);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                frames.push(frame);
            }
            assert!(
                buf.len() <= max + 2 + chunk.len(),
                "buffer grew past the bound"
            );
        }
        while let Some(frame) = codec.decode_eof(&mut buf).unwrap() {
            frames.push(frame);
        }
        frames
    }

    fn line(s: &str) -> Frame {
        Frame::Line(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn two_messages_in_one_read_are_two_lines() {
        assert_eq!(
            decode_chunks(100, &[b"one\ntwo\n"]),
            vec![line("one"), line("two")]
        );
    }

    #[test]
    fn one_message_in_single_bytes_is_one_line() {
        let bytes = b"hello world\r\n";
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode_chunks(100, &chunks), vec![line("hello world")]);
    }

    #[test]
    fn accepts_crlf_and_a_final_line_without_newline() {
        assert_eq!(decode_chunks(100, &[b"a\r\nb"]), vec![line("a"), line("b")]);
    }

    #[test]
    fn the_limit_excludes_the_line_ending() {
        assert_eq!(decode_chunks(4, &[b"abcd\r\n"]), vec![line("abcd")]);
        assert_eq!(decode_chunks(4, &[b"abcd\n"]), vec![line("abcd")]);
        assert_eq!(
            decode_chunks(4, &[b"abcde\nok\n"]),
            vec![Frame::TooLong, line("ok")]
        );
    }

    #[test]
    fn an_endless_line_is_reported_once_and_skipped_in_bounded_memory() {
        let junk = vec![b'x'; 1000];
        let mut chunks: Vec<&[u8]> = vec![&junk; 100];
        chunks.push(b"\nafter\n");
        assert_eq!(
            decode_chunks(64, &chunks),
            vec![Frame::TooLong, line("after")]
        );
    }

    proptest! {
        #[test]
        fn any_bytes_in_any_split_never_panic_and_stay_bounded(
            data in proptest::collection::vec(any::<u8>(), 0..2048),
            cut in 1usize..64,
            max in 1usize..128,
        ) {
            let chunks: Vec<&[u8]> = data.chunks(cut).collect();
            for frame in decode_chunks(max, &chunks) {
                if let Frame::Line(l) = frame {
                    prop_assert!(l.len() <= max);
                }
            }
        }

        #[test]
        fn short_lines_come_back_exactly_whatever_the_split(
            lines in proptest::collection::vec("[^\r\n]{0,20}", 0..20),
            cut in 1usize..16,
        ) {
            let data: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
            let chunks: Vec<&[u8]> = data.chunks(cut).collect();
            let want: Vec<Frame> = lines.iter().map(|l| line(l)).collect();
            prop_assert_eq!(decode_chunks(80, &chunks), want);
        }
    }
}
