//! Who may talk to the HTTP transports: the checks every request passes before its body is read
//! (the shell runs them on the connection's thread, so a refused client costs the core nothing).
//! Pure: `Host` and `Origin` against DNS rebinding, and the bearer token in constant time.

use super::Response;
use super::head::Head;

/// What the guard lets in.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// The bearer token every request must carry (`http.token_file`,
    /// `MCP_ELEVENLABS_HTTP_TOKEN`).
    pub token: Option<String>,
    /// The server listens on a loopback address: `Host` must name a loopback host.
    pub loopback: bool,
    /// More `Host` values let in (`host` or `host:port`; `*` lets any in).
    pub allowed_hosts: Vec<String>,
    /// More `Origin` values let in (`scheme://host[:port]`; `*` lets any in).
    pub allowed_origins: Vec<String>,
}

impl Policy {
    /// Checks one request's head. A refusal is the response to send (and the connection ends).
    pub fn check(&self, head: &Head) -> Result<(), Response> {
        self.check_host(head)?;
        if let Some(origin) = &head.origin
            && !self.origin_allowed(origin)
        {
            let shown: String = origin.chars().take(80).collect();
            let msg = format!(
                "origin {shown:?} is not allowed (add it to http.allowed_origins to let a web page call this server)"
            );
            return Err(Response::text(403, &msg));
        }
        // A browser's CORS preflight never carries credentials; it starts nothing.
        let preflight = head.method == super::Method::Options;
        if let Some(token) = self.token.as_ref().filter(|_| !preflight) {
            let given = head
                .authorization
                .as_deref()
                .and_then(|a| {
                    a.strip_prefix("Bearer ")
                        .or_else(|| a.strip_prefix("bearer "))
                })
                .map(str::trim);
            let challenge = match given {
                None => "Bearer realm=\"mcp-elevenlabs\"",
                Some(given) if same(given.as_bytes(), token.as_bytes()) => return Ok(()),
                Some(_) => "Bearer realm=\"mcp-elevenlabs\", error=\"invalid_token\"",
            };
            let msg = "missing or wrong bearer token: send `Authorization: Bearer <token>` (the server's http.token_file or MCP_ELEVENLABS_HTTP_TOKEN)";
            return Err(Response::text(401, msg).header("WWW-Authenticate", challenge));
        }
        Ok(())
    }

    fn check_host(&self, head: &Head) -> Result<(), Response> {
        let Some(host) = &head.host else {
            return Err(Response::text(400, "missing Host header"));
        };
        if self.allowed_hosts.iter().any(|h| h == "*" || h == host) {
            return Ok(());
        }
        let name = host_name(host);
        if self.allowed_hosts.iter().any(|h| h == name) {
            return Ok(());
        }
        // Bound to a public address, the token guards it; `allowed_hosts` narrows it further.
        if (!self.loopback && self.allowed_hosts.is_empty()) || is_loopback_name(name) {
            return Ok(());
        }
        let shown: String = host.chars().take(80).collect();
        let msg = format!(
            "host {shown:?} is not allowed (DNS rebinding protection; add it to http.allowed_hosts)"
        );
        Err(Response::text(403, &msg))
    }

    /// An `Origin` is let in when it is a loopback page or listed.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        if self.allowed_origins.iter().any(|o| o == "*" || o == origin) {
            return true;
        }
        let rest = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        rest.is_some_and(|r| !r.contains('/') && is_loopback_name(host_name(r)))
    }
}

/// The host of a `host[:port]` (an IPv6 literal keeps its brackets).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..=h.len()]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn is_loopback_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost") || name == "[::1]" || {
        let mut parts = name.split('.');
        parts.next() == Some("127")
            && parts.clone().count() == 3
            && parts.all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// Equal, in time that depends only on the lengths (the expected token's length is not secret
/// beyond what its format says).
fn same(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pairs: &[(&str, &str)]) -> Head {
        Head::new(
            "POST",
            "/mcp",
            pairs.iter().map(|(n, v)| (*n, v.as_bytes())),
        )
        .unwrap()
    }

    fn local() -> Policy {
        Policy {
            loopback: true,
            ..Policy::default()
        }
    }

    #[test]
    fn loopback_hosts_pass_and_foreign_ones_are_403() {
        let p = local();
        for host in [
            "localhost:8765",
            "127.0.0.1:8765",
            "[::1]:8765",
            "localhost",
            "127.0.0.9",
        ] {
            assert!(p.check(&head(&[("Host", host)])).is_ok(), "{host}");
        }
        for host in [
            "evil.example:8765",
            "127.0.0.1.evil.example",
            "[::2]:1",
            "1270.0.0.1",
        ] {
            let r = p.check(&head(&[("Host", host)])).unwrap_err();
            assert_eq!(r.status, 403, "{host}");
        }
        assert_eq!(p.check(&head(&[])).unwrap_err().status, 400);
        let widened = Policy {
            allowed_hosts: vec!["voice.lan".into()],
            ..local()
        };
        assert!(widened.check(&head(&[("Host", "voice.lan:8765")])).is_ok());
    }

    #[test]
    fn origins_are_checked_when_given() {
        let p = local();
        let ok = |o: &str| {
            p.check(&head(&[("Host", "localhost"), ("Origin", o)]))
                .is_ok()
        };
        assert!(ok("http://localhost:3000"));
        assert!(ok("https://127.0.0.1"));
        assert!(!ok("http://evil.example"));
        assert!(!ok("null"));
        assert!(!ok("http://localhost.evil.example"));
        assert!(!ok("http://localhost/x"));
        let widened = Policy {
            allowed_origins: vec!["https://app.example".into()],
            ..local()
        };
        assert!(widened.origin_allowed("https://app.example"));
        assert!(!widened.origin_allowed("https://app.example:444"));
    }

    #[test]
    fn the_token_is_required_and_compared_whole() {
        let p = Policy {
            token: Some("s3cret-token".into()),
            ..local()
        };
        let with = |a: &str| p.check(&head(&[("Host", "localhost"), ("Authorization", a)]));
        assert!(with("Bearer s3cret-token").is_ok());
        for wrong in [
            "Bearer s3cret-toke",
            "Bearer s3cret-token2",
            "Basic s3cret-token",
            "",
        ] {
            let r = with(wrong).unwrap_err();
            assert_eq!(r.status, 401, "{wrong:?}");
            assert!(
                r.headers
                    .iter()
                    .any(|(n, v)| *n == "WWW-Authenticate" && v.starts_with("Bearer"))
            );
            // The refusal never echoes the token.
            assert!(!String::from_utf8_lossy(&r.body).contains("s3cret"));
        }
        let r = p.check(&head(&[("Host", "localhost")])).unwrap_err();
        assert_eq!(r.status, 401);
        // A preflight is let through without it (Host and Origin still checked).
        let pre = |origin: &str| {
            let pairs = [("Host", "localhost"), ("Origin", origin)];
            let h = Head::new(
                "OPTIONS",
                "/mcp",
                pairs.iter().map(|(n, v)| (*n, v.as_bytes())),
            );
            p.check(&h.unwrap())
        };
        assert!(pre("http://localhost:3000").is_ok());
        assert_eq!(pre("http://evil.example").unwrap_err().status, 403);
    }

    #[test]
    fn a_public_bind_relies_on_the_token_unless_hosts_are_listed() {
        let p = Policy {
            token: Some("t".into()),
            ..Policy::default()
        };
        let h = head(&[("Host", "203.0.113.7:8765"), ("Authorization", "Bearer t")]);
        assert!(p.check(&h).is_ok());
        let narrowed = Policy {
            allowed_hosts: vec!["voice.example".into()],
            ..p
        };
        assert_eq!(narrowed.check(&h).unwrap_err().status, 403);
    }

    #[test]
    fn constant_time_compare_is_equality() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(same(b"", b""));
    }
}
