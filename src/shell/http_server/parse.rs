//! A request head read with httparse into the core's [`Head`], and how its body is framed.
//! Pure (bytes in, a head or a refusal out): the fuzz target `http` drives it with the core.

use crate::core::http::{Head, Response};

/// Headers read per request, at most.
pub const MAX_HEADERS: usize = 64;

/// The head as parsed, with the two facts the body reading needs.
pub struct Parsed {
    /// Its length in bytes.
    pub len: usize,
    /// The head.
    pub head: Head,
    /// How the body is framed.
    pub framing: Framing,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
}

/// How a request's body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` bytes (0 without the header).
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Parses the head at the start of `buf`: `Ok(None)` if it is not whole yet; a refusal (400,
/// 431, 501, 505) is the response to send before closing.
pub fn parse_head(buf: &[u8], max_head: usize) -> Result<Option<Parsed>, Response> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= max_head => len,
        Ok(httparse::Status::Complete(_)) | Err(httparse::Error::TooManyHeaders) => {
            return Err(too_large_head(max_head));
        }
        Ok(httparse::Status::Partial) if buf.len() > max_head => {
            return Err(too_large_head(max_head));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Response::text(400, &format!("malformed request: {e}"))),
    };
    if req.version != Some(1) {
        return Err(Response::text(505, "only HTTP/1.1 is served"));
    }
    let (method, path) = (req.method.unwrap_or(""), req.path.unwrap_or(""));
    let pairs = req.headers.iter().map(|h| (h.name, h.value));
    let head = Head::new(method, path, pairs)?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("content-length") {
            // Digits only: `+5` parses as a number but is not a Content-Length.
            let digits = value.trim();
            let n = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse::<usize>().ok())
                .flatten();
            if n.is_none() || (length.is_some() && length != n) {
                return Err(Response::text(400, "bad Content-Length"));
            }
            length = n;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !value.trim().eq_ignore_ascii_case("chunked") {
                return Err(Response::text(
                    501,
                    "only the chunked transfer coding is served",
                ));
            }
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("expect") {
            expect_continue = value.trim().eq_ignore_ascii_case("100-continue");
        }
    }
    if chunked && length.is_some() {
        // RFC 9112 §6.1: a request with both is a smuggling attempt; refuse it.
        return Err(Response::text(
            400,
            "both Content-Length and Transfer-Encoding",
        ));
    }
    let framing = if chunked {
        Framing::Chunked
    } else {
        Framing::Length(length.unwrap_or(0))
    };
    Ok(Some(Parsed {
        len,
        head,
        framing,
        expect_continue,
    }))
}

fn too_large_head(max: usize) -> Response {
    let msg = format!("request head over {max} bytes or {MAX_HEADERS} headers");
    Response::text(431, &msg)
}
