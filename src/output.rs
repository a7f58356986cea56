//! Standard output that ends quietly when the reader goes away (`heat-agent status | head`).
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe fails with EPIPE and `println!` panics
//! (exit 134). Everything the binary prints to stdout goes through here instead: a broken pipe
//! marks stdout as finished and every later write is dropped silently, as a shell tool that
//! died of SIGPIPE would have printed nothing more. Other write errors are still reported.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// A handle on stdout that swallows EPIPE (see the module docs). Unbuffered beyond what
/// `std::io::Stdout` does; flushes are passed through.
#[derive(Default)]
pub struct Stdout;

/// The process's stdout, EPIPE-tolerant.
pub fn stdout() -> Stdout {
    Stdout
}

/// Has the reader of stdout gone away?
pub fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

fn quiet<T>(r: io::Result<T>, closed_value: T) -> io::Result<T> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            CLOSED.store(true, Ordering::Relaxed);
            Ok(closed_value)
        }
        r => r,
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if closed() {
            return Ok(buf.len());
        }
        quiet(io::stdout().lock().write(buf), buf.len())
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if closed() {
            return Ok(());
        }
        quiet(io::stdout().lock().write_all(buf), ())
    }
    fn flush(&mut self) -> io::Result<()> {
        if closed() {
            return Ok(());
        }
        quiet(io::stdout().lock().flush(), ())
    }
}

/// Write `bytes` to stdout and flush; a closed reader ends output quietly, any other error is
/// ignored as `print!` callers have nowhere to report it.
pub fn print(bytes: impl AsRef<[u8]>) {
    let mut out = stdout();
    let _ = out.write_all(bytes.as_ref());
    let _ = out.flush();
}

/// [`print`] with a trailing newline.
pub fn println(text: impl AsRef<[u8]>) {
    let mut line = text.as_ref().to_vec();
    line.push(b'\n');
    print(line);
}
