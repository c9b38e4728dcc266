//! The TCP probe: connect to `host:port` (resolving the host first, as a client would) and close.

use super::ProbeError;

/// Connects to `target` (`host:port`) and closes the connection at once.
pub async fn check(target: &str) -> Result<(), ProbeError> {
    tokio::net::TcpStream::connect(target)
        .await
        .map(drop)
        .map_err(ProbeError::Connect)
}
