//! A scripted HTTP server for connector tests: serves canned replies in
//! order, one connection each, and records the requests it was sent.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One request as the server saw it.
#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) request_line: String,
    pub(crate) head: String,
    pub(crate) body: String,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Serves `replies` in order, one connection each, and returns what it saw.
pub(crate) async fn script(
    replies: Vec<(u16, serde_json::Value)>,
) -> (String, JoinHandle<Vec<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        let mut seen = Vec::new();
        for (status, body) in replies {
            let (mut sock, _) = listener.accept().await.unwrap();
            seen.push(read_request(&mut sock).await);
            let body = body.to_string();
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(reply.as_bytes()).await.unwrap();
        }
        seen
    });
    (base, handle)
}

async fn read_request(sock: &mut TcpStream) -> Seen {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.unwrap();
        assert!(n > 0, "client closed before sending a request");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let (request_line, head) = head.split_once("\r\n").unwrap_or((&head, ""));
    let mut seen = Seen {
        request_line: request_line.to_string(),
        head: head.to_string(),
        body: String::new(),
    };
    let len: usize = seen
        .header("content-length")
        .map_or(0, |v| v.parse().unwrap());
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut chunk).await.unwrap();
        body.extend_from_slice(&chunk[..n]);
    }
    seen.body = String::from_utf8(body).unwrap();
    seen
}
