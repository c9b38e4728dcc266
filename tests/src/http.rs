//! A tiny blocking HTTP/1.0 client over loopback, enough to read `/metrics` and `/healthz`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response: status code, headers as one lowercase block, body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The header block, lowercased.
    pub headers: String,
    /// The body.
    pub body: String,
}

/// `GET path` from `addr` with extra request `headers` (`"Accept: x"` lines).
pub fn get(addr: SocketAddr, path: &str, headers: &[&str]) -> std::io::Result<Response> {
    get_within(addr, path, headers, Duration::from_secs(10))
}

/// `GET path` from `addr` like [`get`], waiting up to `timeout` between reads (slow queries).
pub fn get_within(
    addr: SocketAddr,
    path: &str,
    headers: &[&str],
    timeout: Duration,
) -> std::io::Result<Response> {
    let mut stream = connect(addr, timeout)?;
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{extra}\r\n")?;
    read_response(stream)
}

fn connect(addr: SocketAddr, read_timeout: Duration) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(read_timeout))?;
    Ok(stream)
}

/// Reads an HTTP/1.0 answer to the end; the body as (lossy) text.
fn read_response(mut stream: TcpStream) -> std::io::Result<Response> {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(Response {
        status,
        headers: head.to_lowercase(),
        body: body.to_string(),
    })
}

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr")
}

/// `POST path` to `addr` with request `headers` (`"Content-Type: x"` lines) and `body`; the
/// response body is read as (lossy) text.
pub fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = connect(addr, Duration::from_secs(10))?;
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    let head = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    // A server may answer (413) and close before the whole body is sent; read the answer anyway.
    let _ = stream.write_all(body);
    read_response(stream)
}

/// `s` percent-encoded for a URL query value (everything but unreserved characters escaped).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
