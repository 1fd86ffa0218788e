//! Reading the manifest: a file, or `GET` over plain HTTP (a running
//! server in development). HTTPS is left to tools made for it: save the
//! manifest with `curl` and pass the file.

use crate::Error;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Reads the manifest text from a file path or an `http://` URL. A URL whose
/// path is empty or ends at the mount (`/api/mizan`) gets `/manifest` added.
pub fn read_manifest_text(source: &str) -> Result<String, Error> {
    if let Some(rest) = source.strip_prefix("http://") {
        return http_get(source, rest);
    }
    if source.starts_with("https://") {
        return Err(Error::Fetch {
            url: source.to_owned(),
            reason: "https is not supported here: save it first (curl -o manifest.json URL) and pass the file".into(),
        });
    }
    std::fs::read_to_string(source).map_err(|e| Error::Read {
        path: source.to_owned(),
        source: e,
    })
}

fn http_get(url: &str, rest: &str) -> Result<String, Error> {
    let fail = |reason: String| Error::Fetch {
        url: url.to_owned(),
        reason,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = match path.trim_end_matches('/') {
        "" => "/api/mizan/manifest".to_owned(),
        p if p.ends_with("/api/mizan") => format!("{p}/manifest"),
        p => p.to_owned(),
    };
    let address = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut stream = TcpStream::connect(&address).map_err(|e| fail(e.to_string()))?;
    let timeout = Some(Duration::from_secs(30));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .map_err(|e| fail(e.to_string()))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\nUser-Agent: mizan-codegen\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(|e| fail(e.to_string()))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| fail(e.to_string()))?;
    parse_response(&raw).map_err(fail)
}

/// The body of a `200` response (plain or chunked).
fn parse_response(raw: &[u8]) -> Result<String, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the response has no header end")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(format!("the server answered `{status_line}`"));
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    String::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk size line is cut off")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("bad chunk size `{size_text}`"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("a chunk is cut off".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_bodies() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain).unwrap(), "{}");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;x=y\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), "{\"a\":1}");
        let missing = b"HTTP/1.1 404 Not Found\r\n\r\n";
        assert_eq!(
            parse_response(missing).unwrap_err(),
            "the server answered `HTTP/1.1 404 Not Found`"
        );
    }

    #[test]
    fn https_is_refused_with_a_way_out() {
        let err = read_manifest_text("https://example.invalid/api/mizan/manifest").unwrap_err();
        assert!(err.to_string().contains("curl -o manifest.json"));
    }
}
