//! Writing to a terminal or to a pipe that may close early.
//!
//! `smta-verify schema | head -1` closes standard output after one line. Like grep and
//! ripgrep, the command then ends quietly instead of panicking (which `println!` does
//! on a closed pipe, exit 101). Messages on standard error are best effort: a closed
//! standard error must neither stop a run nor change its verdict, so its reports are
//! still written and its exit code still says what it found.

use std::io::Write;

/// Whether standard output still takes what is written to it.
#[must_use]
pub(crate) enum Stdout {
    Open,
    /// The reader went away (or writing failed): stop writing, end quietly.
    Closed,
}

/// Writes `text` to standard output and flushes it.
pub(crate) fn stdout(text: &str) -> Stdout {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Stdout::Open,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                stderr(&format!("error: writing to standard output: {e}\n"));
            }
            Stdout::Closed
        }
    }
}

/// Writes `text` to standard error, ignoring a closed or failing stream.
pub(crate) fn stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// `eprintln!` that never panics.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::stderr(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use say;
