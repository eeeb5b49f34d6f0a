//! A small HTTP/1.1 server of `GET /metrics` on a thread of its own. One
//! connection at a time, each bounded in time and size: a scraper asks
//! every few seconds, and a stuck one cannot hold the thread for long.

use crate::CONTENT_TYPE;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long one connection may take to send its request or read the answer.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest request head read; longer ones are refused.
const MAX_REQUEST_BYTES: usize = 8192;
/// How often the accepting thread looks whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(25);

/// Renders one scrape's text.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves `/metrics` until dropped.
pub struct MetricsServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `address` (port 0: any free port, see [`MetricsServer::address`])
    /// and serves `render`'s text at `/metrics`.
    pub fn start(address: SocketAddr, render: Render) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || accept_until(&listener, &stopping, &render))?;
        Ok(MetricsServer { address, stop, thread: Some(thread) })
    }

    /// Where it serves.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_until(listener: &TcpListener, stop: &AtomicBool, render: &Render) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            // A failed connection concerns its client only.
            Ok((stream, _)) => drop(serve(stream, render)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(STOP_POLL),
            Err(_) => std::thread::sleep(STOP_POLL),
        }
    }
}

/// Answers one request and closes the connection.
fn serve(mut stream: TcpStream, render: &Render) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(CONNECTION_TIMEOUT))?;
    stream.set_write_timeout(Some(CONNECTION_TIMEOUT))?;
    let head = read_head(&mut stream)?;
    let mut words = head.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", render()),
        ("GET", _) => ("404 Not Found", "not found: metrics are at /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "only GET is served\n".to_string()),
    };
    let content_type = if status.starts_with("200") { CONTENT_TYPE } else { "text/plain; charset=utf-8" };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

/// The request up to its blank line (its body, if any, is not read).
fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::with_capacity(512);
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..n]);
        if head.len() > MAX_REQUEST_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "request head too long"));
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
