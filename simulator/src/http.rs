//! Just enough HTTP/1.1 for JSON-RPC clients: keep-alive, Content-Length bodies, one thread a
//! connection. No framework: the simulator must build from the project's own crates.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

pub struct Request {
    pub method: String,
    pub path: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

pub enum Reply {
    Send { status: u16, content_type: &'static str, body: Vec<u8>, headers: Vec<(&'static str, String)> },
    /// Close the connection without answering (a dropped connection, for fault tests).
    Drop,
    /// The worker was killed past `limit_time_real`: on the wire, the same as `Drop`.
    Killed,
    /// Send the status line, the headers (the full Content-Length) and half of the body, then
    /// close: a connection reset in the middle of an answer.
    Cut { status: u16, content_type: &'static str, body: Vec<u8>, headers: Vec<(&'static str, String)> },
}

impl Reply {
    pub fn json(status: u16, v: &serde_json::Value) -> Reply {
        let mut body = serde_json::to_vec(v).unwrap();
        if crate::data::NAN_RENDERED.load(std::sync::atomic::Ordering::Relaxed) {
            body = nan_written(body);
        }
        Reply::Send { status, content_type: "application/json; charset=utf-8", body, headers: vec![] }
    }
    pub fn html(status: u16, s: &str) -> Reply {
        Reply::Send { status, content_type: "text/html; charset=utf-8", body: s.as_bytes().to_vec(), headers: vec![] }
    }
    /// Werkzeug's 404 page, as Odoo sends for a route it does not have.
    pub fn not_found_page() -> Reply {
        Reply::html(404, "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n")
    }
    pub fn with_header(mut self, name: &'static str, value: &str) -> Reply {
        if let Reply::Send { headers, .. } = &mut self {
            headers.push((name, value.to_owned()));
        }
        self
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
        let mut headers = Vec::new();
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
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        match handler(Request { method, path, headers, body }) {
            Reply::Drop | Reply::Killed => return Ok(()),
            Reply::Cut { status, content_type, body, headers } => {
                write_reply(&mut out, status, content_type, &headers, &body, body.len() / 2)?;
                return Ok(());
            }
            Reply::Send { status, content_type, body, headers } => write_reply(&mut out, status, content_type, &headers, &body, body.len())?,
        }
        if close {
            return Ok(());
        }
    }
}

/// The answer, of which only the first `keep` bytes of the body are sent.
fn write_reply(out: &mut TcpStream, status: u16, content_type: &str, headers: &[(&str, String)], body: &[u8], keep: usize) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "BAD REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT FOUND",
        415 => "UNSUPPORTED MEDIA TYPE",
        422 => "UNPROCESSABLE ENTITY",
        429 => "TOO MANY REQUESTS",
        502 => "BAD GATEWAY",
        503 => "SERVICE UNAVAILABLE",
        504 => "GATEWAY TIMEOUT",
        _ => "INTERNAL SERVER ERROR",
    };
    // Odoo's HTTP server sends its clock in a Date header, as every HTTP/1.1 server should.
    let date = chrono::DateTime::from_timestamp_micros(crate::data::now_us()).unwrap().format("%a, %d %b %Y %H:%M:%S GMT");
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let head = format!("HTTP/1.1 {status} {reason}\r\nDate: {date}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n", body.len());
    out.write_all(head.as_bytes())?;
    out.write_all(&body[..keep])?;
    out.flush()
}

/// `body` with each rendered NaN (`data::NAN_MARKER`, a JSON string) written as Python's json
/// module writes a float NaN: `NaN`, which is not JSON.
fn nan_written(body: Vec<u8>) -> Vec<u8> {
    let marker = serde_json::to_vec(crate::data::NAN_MARKER).unwrap();
    let find = |bytes: &[u8]| bytes.windows(marker.len()).position(|w| w == marker.as_slice());
    let Some(mut at) = find(&body) else { return body };
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body.as_slice();
    loop {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(b"NaN");
        rest = &rest[at + marker.len()..];
        match find(rest) {
            Some(next) => at = next,
            None => break,
        }
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a client reads from a server whose every answer is `reply()`, until the server closes.
    fn exchange(reply: fn() -> Reply) -> String {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || serve(listener, Arc::new(move |_req: Request| reply())));
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"POST /json/2/m/search HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        String::from_utf8(got).unwrap()
    }

    #[test]
    fn a_cut_answer_stops_in_the_middle_of_its_body() {
        let got = exchange(|| Reply::Cut { status: 200, content_type: "application/json", body: b"[1234567890]".to_vec(), headers: vec![] });
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.contains("Content-Length: 12\r\n"), "{got}");
        assert!(got.ends_with("\r\n\r\n[12345"), "half of the body, then the end: {got}");
    }

    #[test]
    fn a_killed_worker_closes_without_a_byte() {
        assert_eq!(exchange(|| Reply::Killed), "");
    }
}
