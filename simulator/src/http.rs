//! Just enough HTTP/1.1 for JSON-RPC clients: keep-alive, Content-Length bodies, one thread a
//! connection. No framework: the simulator must build from the project's own crates.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

pub enum Reply {
    Send { status: u16, content_type: &'static str, body: Vec<u8> },
    /// Close the connection without answering (a dropped connection, for fault tests).
    Drop,
}

impl Reply {
    pub fn json(status: u16, v: &serde_json::Value) -> Reply {
        Reply::Send { status, content_type: "application/json", body: serde_json::to_vec(v).unwrap() }
    }
    pub fn text(status: u16, s: &str) -> Reply {
        Reply::Send { status, content_type: "text/plain; charset=utf-8", body: s.as_bytes().to_vec() }
    }
}

pub fn serve<H>(listener: TcpListener, handler: Arc<H>)
where
    H: Fn(Request) -> Reply + Send + Sync + 'static,
{
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let h = handler.clone();
        std::thread::spawn(move || {
            let _ = connection(stream, &*h);
        });
    }
}

fn connection<H: Fn(Request) -> Reply>(stream: TcpStream, handler: &H) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("/").to_owned();
        let mut len = 0usize;
        let mut close = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            } else if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        match handler(Request { method, path, body }) {
            Reply::Drop => return Ok(()),
            Reply::Send { status, content_type, body } => {
                let reason = match status {
                    200 => "OK",
                    400 => "BAD REQUEST",
                    404 => "NOT FOUND",
                    _ => "INTERNAL SERVER ERROR",
                };
                // Odoo's HTTP server sends its clock in a Date header, as every HTTP/1.1 server should.
                let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
                let head = format!(
                    "HTTP/1.1 {status} {reason}\r\nDate: {date}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                out.write_all(head.as_bytes())?;
                out.write_all(&body)?;
                out.flush()?;
            }
        }
        if close {
            return Ok(());
        }
    }
}
