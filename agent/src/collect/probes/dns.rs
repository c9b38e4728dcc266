//! The DNS probe: a lookup through the system resolver (`getaddrinfo`, so `/etc/hosts`,
//! `resolv.conf` search domains and `ndots` apply as they do to applications).

use super::ProbeError;

/// Resolves the host name `host`, succeeding when it yields at least one address.
pub async fn check(host: &str) -> Result<(), ProbeError> {
    let mut addrs = tokio::net::lookup_host((host, 0))
        .await
        .map_err(ProbeError::Resolve)?;
    addrs.next().map(|_| ()).ok_or(ProbeError::NoAddress)
}
