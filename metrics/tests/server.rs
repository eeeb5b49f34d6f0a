//! The server over real HTTP: a scrape gets the current text, other paths
//! and methods are refused, and dropping the server closes its port.

use netcraq_metrics::{parse, scrape, Counter, Exposition, MetricsServer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn a_scrape_sees_the_counter_as_it_is_now() {
    let requests = Arc::new(Counter::new());
    let counted = requests.clone();
    let render = Arc::new(move || {
        let mut out = Exposition::new();
        out.counter("test_requests_total", "Requests.", counted.get());
        out.finish()
    });
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), render).unwrap();
    let url = format!("http://{}/metrics", server.address());
    let read = || parse(&scrape(&url, TIMEOUT).unwrap()).unwrap().sum("test_requests_total", &[]);
    assert_eq!(read(), Some(0.0));
    requests.add(5);
    assert_eq!(read(), Some(5.0));

    let answer = |request: &str| {
        let mut stream = TcpStream::connect(server.address()).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    };
    let ok = answer("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "{ok}");
    assert!(answer("GET /other HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
    assert!(answer("POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    assert!(scrape(&format!("http://{}/other", server.address()), TIMEOUT).unwrap_err().contains("404"));

    let address = server.address();
    drop(server);
    assert!(TcpStream::connect_timeout(&address, TIMEOUT).is_err(), "the port closes with the server");
}
