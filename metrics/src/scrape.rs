//! Fetching another process's `/metrics` over HTTP (no TLS): etcd's, the
//! proxy's, a node's.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The largest scrape read; etcd's is about 200 KB.
const MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// GETs `url` (`http://HOST:PORT/PATH`, `/metrics` when there is no path)
/// within `timeout` and returns the body of a 200 answer.
pub fn scrape(url: &str, timeout: Duration) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: expected http://HOST:PORT[/PATH]"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/metrics"),
    };
    let fail = |what: String| format!("scraping {url}: {what}");
    let address = authority
        .to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("no address".into()))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(|e| fail(e.to_string()))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| fail(e.to_string()))?;
    // HTTP/1.0: the server closes the connection after a body sent whole,
    // never chunked.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: text/plain\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| fail(e.to_string()))?;
    let mut response = Vec::new();
    stream.take(MAX_RESPONSE_BYTES).read_to_end(&mut response).map_err(|e| fail(e.to_string()))?;
    let response = String::from_utf8(response).map_err(|_| fail("the answer is not UTF-8".into()))?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| fail("no complete answer".into()))?;
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(fail(format!("answered {status:?}")));
    }
    Ok(body.to_string())
}
