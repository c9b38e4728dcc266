//! Captures everything logged on this thread (every crate, every level) while a test runs, so a
//! test can look for a file name that must be logged or a secret that must not be.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;

/// Logs captured since [`capture`]; capturing stops when this is dropped.
pub struct Captured {
    buf: Arc<Mutex<Vec<u8>>>,
    _guard: DefaultGuard,
}

impl Captured {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().expect("lock")).into_owned()
    }
}

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts capturing at TRACE level. Tests run on a current-thread runtime, so the spawned
/// receiver and reqwest's connection tasks log on this thread too.
pub fn capture() -> Captured {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(buf.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    Captured {
        buf,
        _guard: tracing::subscriber::set_default(subscriber),
    }
}
