//! Learning the membership from the running controller: one HTTP/1.1 GET
//! of its membership endpoint (`netcraq controller --membership-listen`),
//! over plain TCP, bounded in time and size.

use std::fmt::{self, Display, Formatter};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::membership::{Membership, MembershipError};

/// The path the controller serves the membership at.
pub const MEMBERSHIP_PATH: &str = "/membership";

/// A larger answer is refused: a membership of many chains is a few kilobytes.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// Where a running controller serves the membership: `http://HOST:PORT[/PATH]`
/// (path default [`MEMBERSHIP_PATH`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerUrl {
    host_port: String,
    path: String,
}

impl FromStr for ControllerUrl {
    type Err = MembershipError;

    fn from_str(text: &str) -> Result<ControllerUrl, MembershipError> {
        let refuse = |problem: &str| Err(MembershipError(format!("controller URL {text:?}: {problem}")));
        let Some(rest) = text.strip_prefix("http://") else {
            return refuse("give http://HOST:PORT (only plain HTTP is served)");
        };
        let (host_port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if !host_port.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok()) {
            return refuse("needs HOST:PORT after http://");
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return refuse("the path has whitespace or control characters");
        }
        let path = if path.is_empty() { MEMBERSHIP_PATH } else { path };
        Ok(ControllerUrl { host_port: host_port.to_string(), path: path.to_string() })
    }
}

impl Display for ControllerUrl {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host_port, self.path)
    }
}

impl ControllerUrl {
    /// GETs the membership, all of it within `limit`.
    pub fn fetch(&self, limit: Duration) -> Result<Membership, MembershipError> {
        let within = |e: String| MembershipError(format!("{self}: {e}"));
        let deadline = Instant::now() + limit;
        let address = self.address().map_err(within)?;
        let mut stream = TcpStream::connect_timeout(&address, limit).map_err(|e| within(format!("connecting: {e}")))?;
        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        stream
            .set_read_timeout(Some(remaining))
            .and_then(|()| stream.set_write_timeout(Some(remaining)))
            .map_err(|e| within(e.to_string()))?;
        let request = format!("GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.path, self.host_port);
        stream.write_all(request.as_bytes()).map_err(|e| within(format!("sending the request: {e}")))?;
        let mut answer = Vec::new();
        stream
            .take(MAX_ANSWER_BYTES + 1)
            .read_to_end(&mut answer)
            .map_err(|e| within(format!("reading the answer: {e}")))?;
        if answer.len() as u64 > MAX_ANSWER_BYTES {
            return Err(within(format!("an answer of more than {MAX_ANSWER_BYTES} bytes")));
        }
        let body = parse_answer(&answer).map_err(within)?;
        Membership::from_json(body).map_err(|e| within(e.0))
    }

    fn address(&self) -> Result<SocketAddr, String> {
        let mut addresses =
            self.host_port.to_socket_addrs().map_err(|e| format!("resolving {}: {e}", self.host_port))?;
        addresses.next().ok_or_else(|| format!("{} resolves to no address", self.host_port))
    }
}

/// Asks each controller in turn (a standby serves no membership); the
/// first membership wins. The error names every controller's failure.
pub fn fetch_membership(controllers: &[ControllerUrl], limit: Duration) -> Result<Membership, MembershipError> {
    let deadline = Instant::now() + limit;
    let mut failures = Vec::new();
    for controller in controllers {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            failures.push(format!("{controller}: not asked, out of time"));
            continue;
        }
        match controller.fetch(remaining) {
            Ok(membership) => return Ok(membership),
            Err(error) => failures.push(error.0),
        }
    }
    match failures.is_empty() {
        true => Err(MembershipError("no controller to ask".into())),
        false => Err(MembershipError(format!("no controller gave the membership: {}", failures.join("; ")))),
    }
}

/// The body of a `200` answer; any other status is an error quoting the body.
fn parse_answer(answer: &[u8]) -> Result<&[u8], String> {
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or("the answer is not HTTP (no header end)")?;
    let (head, body) = (String::from_utf8_lossy(&answer[..split]), &answer[split + 4..]);
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).ok_or_else(|| format!("the answer is not HTTP: {status_line:?}"))?;
    if !status_line.starts_with("HTTP/1.") {
        return Err(format!("the answer is not HTTP: {status_line:?}"));
    }
    if status != "200" {
        let text = String::from_utf8_lossy(body);
        return Err(format!("answered {}: {}", status_line.trim_start_matches(|c| c != ' ').trim(), text.trim()));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::chain;
    use std::net::TcpListener;

    #[test]
    fn controller_urls_are_http_with_a_port() {
        let url: ControllerUrl = "http://127.0.0.1:7000".parse().unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:7000/membership");
        assert_eq!("http://ctl:7000/m".parse::<ControllerUrl>().unwrap().to_string(), "http://ctl:7000/m");
        for bad in ["127.0.0.1:7000", "https://a:1", "http://a", "http://:80", "http://a:99999", "http://a:1/x y"] {
            assert!(bad.parse::<ControllerUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_other_than_200_are_errors_naming_the_status() {
        assert_eq!(parse_answer(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n{}").unwrap(), b"{}");
        let error = parse_answer(b"HTTP/1.1 503 Service Unavailable\r\n\r\nnot leading\n").unwrap_err();
        assert_eq!(error, "answered 503 Service Unavailable: not leading");
        assert!(parse_answer(b"SSH-2.0\r\n\r\n").unwrap_err().contains("not HTTP"));
        assert!(parse_answer(b"HTTP/1.1 200 OK").unwrap_err().contains("no header end"));
    }

    /// Serves `answer` once on a loopback port, returns the URL.
    fn serve_once(answer: Vec<u8>) -> (ControllerUrl, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap()).parse().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0; 512];
            let len = stream.read(&mut request).unwrap();
            stream.write_all(&answer).unwrap();
            String::from_utf8_lossy(&request[..len]).into_owned()
        });
        (url, server)
    }

    #[test]
    fn a_membership_is_fetched_from_the_first_controller_that_serves_one() {
        let membership = Membership { chains: vec![chain("kv", 4, (0, 16), &[1, 2])] };
        let body = membership.to_json();
        let ok = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes();
        let (standby, standby_server) = serve_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\nno membership".to_vec());
        let (leader, leader_server) = serve_once(ok);
        let fetched = fetch_membership(&[standby, leader], Duration::from_secs(5)).unwrap();
        assert_eq!(fetched, membership);
        assert!(leader_server.join().unwrap().starts_with("GET /membership HTTP/1.1\r\n"));
        standby_server.join().unwrap();
    }

    #[test]
    fn an_unreachable_controller_is_a_clear_error() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url: ControllerUrl = format!("http://127.0.0.1:{port}").parse().unwrap();
        let error = fetch_membership(&[url], Duration::from_secs(2)).unwrap_err().0;
        assert!(
            error.starts_with(&format!(
                "no controller gave the membership: http://127.0.0.1:{port}/membership: connecting:"
            )),
            "{error}"
        );
        let (garbled, server) = serve_once(b"HTTP/1.1 200 OK\r\n\r\n{\"chains\":[{}]}".to_vec());
        assert!(garbled.fetch(Duration::from_secs(5)).unwrap_err().0.contains("not a membership"));
        server.join().unwrap();
    }
}
