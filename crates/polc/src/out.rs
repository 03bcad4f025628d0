//! Writing to stdout without panicking on a closed pipe.

use std::io::Write;

/// Write `s` to stdout. A closed pipe (`polc lint | head`) is reported as an error
/// that [`is_broken_pipe`] recognises, so `main` can exit quietly.
pub(crate) fn print(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Is the error a broken pipe?
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
