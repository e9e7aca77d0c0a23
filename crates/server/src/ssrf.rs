//! The webhook URL guard: an app's endpoint URL must lead to the public internet, not to the
//! connector's own network (loopback, private ranges, link-local and the cloud metadata service
//! at 169.254.169.254, carrier-grade NAT…), or registering a webhook would let an app make the
//! connector POST to, and report errors from, internal services.
//!
//! Two checks, because a name can change what it points to between them:
//! - when an endpoint is registered: [`check_url`] (scheme, no credentials, a host; an IP-literal
//!   host is checked here) and [`resolve_public`] for a named host, to refuse early with a
//!   clear error;
//! - when an event is delivered: [`GuardedResolver`] as the delivery client's DNS resolver
//!   applies the same rule to the addresses the connection will actually use, so a name that
//!   resolved to a public address at registration and to 127.0.0.1 now (DNS rebinding) is
//!   refused. [`delivery_client_builder`] sets it up.
//!
//! reqwest (hyper-util's connector) does not call the resolver for a URL whose host is an IP
//! literal, so the resolver never sees `http://127.0.0.1/` or `http://[::1]/`: literal hosts are
//! checked by [`check_url`] alone, which the delivery path must call on every URL it sends to
//! (the test `the_resolver_alone_does_not_see_ip_literals` shows it). For the same reason the
//! delivery client follows no redirects (a `302` to `http://169.254.169.254/` would be an IP
//! literal) and uses no proxy (through a proxy, the resolver resolves the proxy, not the
//! endpoint).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

/// Why a webhook URL is refused. Messages name the host or address, never the URL (which may
/// carry credentials or tokens in its path or query).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    #[error("not a valid URL")]
    InvalidUrl,
    #[error("only http and https URLs can receive events, not `{0}`")]
    Scheme(String),
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("the URL has no host")]
    MissingHost,
    #[error("`{0}` names a host of a private network or a cloud metadata service")]
    ForbiddenName(String),
    #[error("{0} is not a public internet address")]
    ForbiddenAddress(IpAddr),
    #[error("`{0}` could not be resolved")]
    Unresolvable(String),
}

impl SsrfError {
    /// A stable label (metrics, error details).
    pub const fn reason(&self) -> &'static str {
        match self {
            SsrfError::InvalidUrl => "invalid_url",
            SsrfError::Scheme(_) => "scheme",
            SsrfError::Credentials => "credentials",
            SsrfError::MissingHost => "missing_host",
            SsrfError::ForbiddenName(_) => "forbidden_name",
            SsrfError::ForbiddenAddress(_) => "forbidden_address",
            SsrfError::Unresolvable(_) => "unresolvable",
        }
    }
}

/// At most this much of a user-supplied name in an error message.
fn shown(s: &str) -> String {
    s.chars().take(253).collect()
}

/// Whether an IPv4 address is anything but public unicast: "this network" (0/8, with the
/// unspecified 0.0.0.0), private (10/8, 172.16/12, 192.168/16), loopback (127/8), carrier-grade
/// NAT (100.64/10), link-local (169.254/16, the metadata service's 169.254.169.254), IETF
/// protocol assignments (192.0.0/24), documentation (192.0.2/24, 198.51.100/24, 203.0.113/24),
/// benchmarking (198.18/15), multicast (224/4), reserved and broadcast (240/4).
pub fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..=127).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..=31).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224
}

/// The IPv4 address an IPv6 address stands for, in the forms that reach it: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated but still parsed), NAT64
/// (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] {
        return Some(tail());
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// Whether an IPv6 address is anything but public unicast: what it embeds is an IPv4 address
/// that is ([`embedded_v4`]; `::` and `::1` fall in there as 0.0.0.0 and 0.0.0.1), unique local
/// (fc00::/7, AWS's metadata fd00:ec2::254), link-local (fe80::/10), site-local (fec0::/10),
/// multicast (ff00::/8), Teredo (2001::/32, tunnels to an obfuscated IPv4 address),
/// documentation (2001:db8::/32), discard-only (100::/64).
pub fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if ip.is_unspecified() || ip.is_loopback() {
        return true;
    }
    if let Some(v4) = embedded_v4(ip) {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] & 0xff00) == 0xff00
        || (s[0] == 0x2001 && s[1] == 0)
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || s[..4] == [0x100, 0, 0, 0]
}

pub fn forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

/// Names that only mean something inside a private network or a cloud: the metadata services'
/// (`metadata.google.internal`, `metadata`, `metadata.goog`, AWS's `instance-data`) and the
/// special-use domains `.internal` (ICANN, private use), `.local` (mDNS, RFC 6762) and
/// `.home.arpa` (RFC 8375). Split-horizon DNS may give such names addresses that look public.
/// `localhost` is not listed: it resolves to loopback, which the address rule refuses (and the
/// tests check the address rule with it).
fn forbidden_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    const EXACT: &[&str] = &["metadata", "metadata.goog", "instance-data"];
    const SUFFIXES: &[&str] = &["internal", "local", "home.arpa"];
    EXACT.contains(&h.as_str())
        || SUFFIXES
            .iter()
            .any(|s| h == *s || h.strip_suffix(s).is_some_and(|p| p.ends_with('.')))
}

fn check_ip(ip: IpAddr, allow_private: bool) -> Result<(), SsrfError> {
    if !allow_private && forbidden_ip(ip) {
        return Err(SsrfError::ForbiddenAddress(ip));
    }
    Ok(())
}

/// Checks a webhook URL: `http` or `https`, no user name or password, a host; a host that is an
/// IP literal (in any form the URL standard reads: `127.1`, `0x7f.0.0.1`, `2130706433`,
/// `[::ffff:127.0.0.1]`) must be public unless `allow_private`. A named host is checked by
/// name only; resolve it with [`resolve_public`] (reqwest never resolves literals, so this is
/// the only check they get).
pub fn check_url(url: &str, allow_private: bool) -> Result<Url, SsrfError> {
    let u = Url::parse(url.trim()).map_err(|_| SsrfError::InvalidUrl)?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(SsrfError::Scheme(shown(u.scheme())));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(SsrfError::Credentials);
    }
    match u.host() {
        None => return Err(SsrfError::MissingHost),
        Some(Host::Domain("")) => return Err(SsrfError::MissingHost),
        Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), allow_private)?,
        Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), allow_private)?,
        Some(Host::Domain(d)) => {
            if !allow_private && forbidden_name(d) {
                return Err(SsrfError::ForbiddenName(shown(d)));
            }
        }
    }
    Ok(u)
}

/// The addresses of `host` (a name, or an IP literal with or without brackets), refused
/// unless every one is public (or `allow_private`): an answer mixing public and private
/// addresses is a classic rebinding trick, and the client may pick any of them.
pub async fn resolve_public(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, SsrfError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        check_ip(ip, allow_private)?;
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if bare.is_empty() {
        return Err(SsrfError::MissingHost);
    }
    if !allow_private && forbidden_name(bare) {
        return Err(SsrfError::ForbiddenName(shown(bare)));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|_| SsrfError::Unresolvable(shown(bare)))?
        .collect();
    if addrs.is_empty() {
        return Err(SsrfError::Unresolvable(shown(bare)));
    }
    for a in &addrs {
        check_ip(a.ip(), allow_private)?;
    }
    Ok(addrs)
}

/// A reqwest DNS resolver that applies [`resolve_public`]'s rule when the delivery client
/// connects. Its error (an [`SsrfError`]) is in the `reqwest::Error`'s source chain.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let allow_private = self.allow_private;
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port (or the scheme's) on each address.
            let addrs = resolve_public(&host, 0, allow_private)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A client builder for event delivery: [`GuardedResolver`], no redirects (a redirect target
/// is another URL, possibly an IP literal the resolver never sees) and no proxy (through a
/// proxy the resolver would check the proxy's address, not the endpoint's). Add timeouts and
/// the user agent, then `build()`. Every URL sent to must also pass [`check_url`].
pub fn delivery_client_builder(allow_private: bool) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn literal_hosts() {
        let refused = [
            "http://127.0.0.1/hook",
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://100.127.255.255/",
            "http://0.0.0.0/",
            "http://255.255.255.255/",
            "http://224.0.0.1/",
            "http://192.0.0.1/",
            "http://198.18.0.1/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://[fc00::1]/",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]/",
            "http://[fec0::1]/",
            "http://[ff02::1]/",
            "http://[2001::1]/",
            "https://[2001:db8::1]:8443/",
        ];
        for url in refused {
            let e = check_url(url, false).expect_err(url);
            assert!(matches!(e, SsrfError::ForbiddenAddress(_)), "{url}: {e:?}");
            assert!(check_url(url, true).is_ok(), "{url} with private allowed");
        }
        for url in [
            "https://8.8.8.8/hook",
            "http://93.184.215.14:8080/x?y=1",
            "https://[2606:4700:4700::1111]/",
            "http://[::ffff:8.8.8.8]/",
            "http://[2002:808:808::]/",
            "http://100.63.255.255/",
            "http://100.128.0.0/",
            "http://172.15.255.255/",
            "http://172.32.0.0/",
            "http://169.253.0.1/",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}");
        }
    }

    #[test]
    fn url_shape() {
        let cases = [
            ("not a url", SsrfError::InvalidUrl),
            ("", SsrfError::InvalidUrl),
            ("/relative/hook", SsrfError::InvalidUrl),
            ("http://", SsrfError::InvalidUrl),
            ("ftp://example.com/", SsrfError::Scheme("ftp".into())),
            ("file:///etc/passwd", SsrfError::Scheme("file".into())),
            ("gopher://example.com/", SsrfError::Scheme("gopher".into())),
            (
                "javascript:alert(1)",
                SsrfError::Scheme("javascript".into()),
            ),
            ("https://user:pass@example.com/", SsrfError::Credentials),
            ("https://user@example.com/", SsrfError::Credentials),
            ("https://:pass@example.com/", SsrfError::Credentials),
            (
                "https://metadata.google.internal/computeMetadata/v1/",
                SsrfError::ForbiddenName("metadata.google.internal".into()),
            ),
            (
                "http://metadata/",
                SsrfError::ForbiddenName("metadata".into()),
            ),
            (
                "http://METADATA.GOOGLE.INTERNAL./",
                SsrfError::ForbiddenName("metadata.google.internal.".into()),
            ),
            (
                "http://printer.local/",
                SsrfError::ForbiddenName("printer.local".into()),
            ),
            (
                "http://nas.home.arpa/",
                SsrfError::ForbiddenName("nas.home.arpa".into()),
            ),
        ];
        for (url, want) in cases {
            assert_eq!(check_url(url, false), Err(want.clone()), "{url}");
            // Never the URL itself (it may carry credentials or tokens).
            let shown = want.to_string();
            assert!(url.is_empty() || !shown.contains(url), "{shown}");
            assert!(!shown.contains("pass@"), "{shown}");
        }
        // Names that merely contain a special word are public names.
        for url in [
            "https://hooks.example.com/dialpad",
            "https://internal.example.com/",
            "https://mylocal/",
            "https://notinternal/",
            "http://localhost:8080/",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}");
        }
        // With private allowed, only the shape is checked.
        assert!(check_url("http://metadata.google.internal/", true).is_ok());
        assert_eq!(
            check_url("ftp://127.0.0.1/", true),
            Err(SsrfError::Scheme("ftp".into()))
        );
        assert_eq!(
            check_url("http://u:p@127.0.0.1/", true),
            Err(SsrfError::Credentials)
        );
        // The URL comes back parsed, as reqwest will read it.
        let u = check_url("  https://Hooks.Example.com:8443/a?b=c ", false).unwrap();
        assert_eq!(u.host_str(), Some("hooks.example.com"));
        assert_eq!(u.port(), Some(8443));
        assert_eq!(
            SsrfError::ForbiddenAddress("10.0.0.1".parse().unwrap()).reason(),
            "forbidden_address"
        );
    }

    #[test]
    fn garbage_urls_never_panic() {
        let mut x: u32 = 0x1234_5678;
        let alphabet = b"htps:/[]@.:%0123456789abcdefx:ff::\\?#\x00\xe2\x82\xac ";
        for len in 0..200 {
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    alphabet[(x as usize) % alphabet.len()]
                })
                .collect();
            let s = String::from_utf8_lossy(&s);
            let _ = check_url(&s, false);
            let _ = check_url(&format!("http://{s}/"), false);
        }
    }

    #[tokio::test]
    async fn resolving() {
        for host in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "[::1]",
            "::1",
            "[::ffff:127.0.0.1]",
        ] {
            let e = resolve_public(host, 80, false).await.expect_err(host);
            assert!(matches!(e, SsrfError::ForbiddenAddress(_)), "{host}: {e:?}");
            let ok = resolve_public(host, 80, true).await.expect(host);
            assert_eq!(ok.len(), 1);
            assert_eq!(ok[0].port(), 80);
        }
        // A name that resolves to loopback: refused by the address rule.
        match resolve_public("localhost", 8080, false).await {
            Err(SsrfError::ForbiddenAddress(ip)) => assert!(ip.is_loopback(), "{ip}"),
            other => panic!("localhost: {other:?}"),
        }
        let ok = resolve_public("localhost", 8080, true).await.unwrap();
        assert!(ok.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
        assert_eq!(
            resolve_public("metadata.google.internal", 80, false).await,
            Err(SsrfError::ForbiddenName("metadata.google.internal".into()))
        );
        assert_eq!(
            resolve_public("8.8.8.8", 443, false).await,
            Ok(vec!["8.8.8.8:443".parse().unwrap()])
        );
        assert_eq!(
            resolve_public("", 80, false).await,
            Err(SsrfError::MissingHost)
        );
        // `.invalid` never resolves (RFC 6761).
        assert_eq!(
            resolve_public("nothing.invalid", 80, true).await,
            Err(SsrfError::Unresolvable("nothing.invalid".into()))
        );
    }

    /// One-response HTTP server on 127.0.0.1: answers every request with `response`.
    async fn serve(response: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let _ = sock.write_all(response.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        port
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

    fn ssrf_cause(e: &reqwest::Error) -> Option<SsrfError> {
        let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
        while let Some(s) = src {
            if let Some(found) = s.downcast_ref::<SsrfError>() {
                return Some(found.clone());
            }
            src = s.source();
        }
        None
    }

    #[tokio::test]
    async fn the_resolver_refuses_to_connect_to_a_private_address() {
        let port = serve(OK).await;
        let url = format!("http://localhost:{port}/hook");
        let guarded = delivery_client_builder(false).build().unwrap();
        let e = guarded.post(&url).body("{}").send().await.unwrap_err();
        assert!(e.is_connect(), "{e:?}");
        match ssrf_cause(&e) {
            Some(SsrfError::ForbiddenAddress(ip)) => assert!(ip.is_loopback()),
            other => panic!("{other:?} in {e:?}"),
        }
        let open = delivery_client_builder(true).build().unwrap();
        let r = open.post(&url).body("{}").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "ok");
    }

    /// Why `check_url` must check literal hosts: the resolver is not asked about them.
    #[tokio::test]
    async fn the_resolver_alone_does_not_see_ip_literals() {
        let port = serve(OK).await;
        let url = format!("http://127.0.0.1:{port}/hook");
        let guarded = delivery_client_builder(false).build().unwrap();
        let r = guarded.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "reqwest connected without resolving");
        assert!(matches!(
            check_url(&url, false),
            Err(SsrfError::ForbiddenAddress(_))
        ));
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let target = serve(OK).await;
        let redirect: &'static str = Box::leak(
            format!(
                "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{target}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            .into_boxed_str(),
        );
        let port = serve(redirect).await;
        let client = delivery_client_builder(true).build().unwrap();
        let r = client
            .post(format!("http://localhost:{port}/hook"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "the redirect is the answer, not followed");
    }
}
