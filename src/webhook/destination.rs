//! Which destinations a delivery may reach.
//!
//! A webhook URL is typed by a person with the admin token, but the daemon
//! is what connects: left open, an endpoint could make it POST into the
//! host's own network or a cloud metadata service. So a URL must be
//! `https`, and every address it resolves to must be public, unless the
//! configuration says otherwise (`webhooks.allow_http_loopback` for tests
//! and local receivers, `webhooks.allow_private` for an internal one). The
//! URL is checked when an endpoint is saved and again, address by address,
//! at every delivery (a name may resolve elsewhere later).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// What the configuration allows beyond public https.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    /// `http://` to a loopback address (`127.0.0.0/8`, `::1`,
    /// `localhost`), and loopback addresses at all.
    pub allow_http_loopback: bool,
    /// Private, link-local, shared and unique-local addresses (the cloud
    /// metadata service among them).
    pub allow_private: bool,
}

/// A destination the policy refuses, or a URL that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("not a URL ({0}); write it as https://host/path")]
    Malformed(String),
    #[error(
        "only https URLs are accepted (http only to a loopback address, when webhooks.allow_http_loopback = true)"
    )]
    Scheme,
    #[error(
        "the URL must not carry a user name or password; put credentials in the path or use the signature"
    )]
    Credentials,
    #[error(
        "{0} is a loopback address; set webhooks.allow_http_loopback = true to deliver to this host"
    )]
    Loopback(IpAddr),
    #[error(
        "{0} is a private, link-local or metadata address; set webhooks.allow_private = true to deliver inside your network"
    )]
    Private(IpAddr),
    #[error("{0} is not an address a delivery can go to")]
    Unroutable(IpAddr),
}

impl DestinationPolicy {
    /// Checks a URL's text, scheme and (when the host is an address
    /// literal, or `localhost`) its address; a host name's addresses are
    /// checked at delivery by [`DestinationPolicy::check_ip`].
    pub fn check_url(&self, text: &str) -> Result<Url, DestinationError> {
        let url = Url::parse(text).map_err(|e| DestinationError::Malformed(e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DestinationError::Credentials);
        }
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
                Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
            }
            Some(Host::Domain(_)) => None,
            None => return Err(DestinationError::Malformed("no host".into())),
        };
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http_loopback && ip.is_some_and(|ip| ip.is_loopback()) => {}
            _ => return Err(DestinationError::Scheme),
        }
        if let Some(ip) = ip {
            self.check_ip(ip)?;
        }
        Ok(url)
    }

    /// Whether a delivery may connect to `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), DestinationError> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if ip.is_unspecified() || ip.is_multicast() || is_broadcast(ip) {
            return Err(DestinationError::Unroutable(ip));
        }
        if ip.is_loopback() {
            return if self.allow_http_loopback || self.allow_private {
                Ok(())
            } else {
                Err(DestinationError::Loopback(ip))
            };
        }
        if is_private(ip) && !self.allow_private {
            return Err(DestinationError::Private(ip));
        }
        Ok(())
    }
}

fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}

/// RFC 1918, link-local (the metadata service, 169.254.169.254), shared
/// address space (100.64/10), "this network" (0/8), IPv6 unique-local
/// (fc00::/7, AWS's fd00:ec2::254 among them) and link-local (fe80::/10).
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || v4.is_link_local() || (a == 100 && (64..128).contains(&b)) || a == 0
        }
        IpAddr::V6(v6) => is_unique_local(v6) || is_link_local_v6(v6),
    }
}

fn is_unique_local(v6: Ipv6Addr) -> bool {
    (v6.segments()[0] & 0xfe00) == 0xfc00
}

fn is_link_local_v6(v6: Ipv6Addr) -> bool {
    (v6.segments()[0] & 0xffc0) == 0xfe80
}

/// A URL as it may appear in logs, history and errors: scheme, host,
/// port and the first segment of the path, then `…`. Everything else may
/// be a credential: a user and password, a query token, and for Slack the
/// path itself (`/services/T…/B…/<secret>`).
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let mut segments = u.path_segments().into_iter().flatten();
            let first = segments.next().unwrap_or("");
            let more = segments.next().is_some() || u.query().is_some();
            format!(
                "{}://{host}{port}/{first}{}",
                u.scheme(),
                if more { "/…" } else { "" }
            )
        }
        Err(_) => "(not a URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_https_only_by_default() {
        let p = DestinationPolicy::default();
        assert!(
            p.check_url("https://hooks.slack.com/services/T/B/x")
                .is_ok()
        );
        assert_eq!(
            p.check_url("http://hooks.example.com/"),
            Err(DestinationError::Scheme)
        );
        assert_eq!(
            p.check_url("https://u:p@example.com/"),
            Err(DestinationError::Credentials)
        );
        for private in [
            "https://10.1.2.3/",
            "https://169.254.169.254/latest",
            "https://[fd00:ec2::254]/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://[::ffff:10.0.0.1]/",
        ] {
            assert!(
                matches!(p.check_url(private), Err(DestinationError::Private(_))),
                "{private}"
            );
        }
        assert!(matches!(
            p.check_url("https://127.0.0.1/"),
            Err(DestinationError::Loopback(_))
        ));
        assert!(matches!(
            p.check_url("https://localhost/"),
            Err(DestinationError::Loopback(_))
        ));
        assert!(matches!(
            p.check_url("https://0.0.0.0/"),
            Err(DestinationError::Unroutable(_))
        ));
        assert!(p.check_url("ftp://example.com/").is_err());
    }

    #[test]
    fn the_settings_open_what_they_name() {
        let loopback = DestinationPolicy {
            allow_http_loopback: true,
            allow_private: false,
        };
        assert!(loopback.check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(loopback.check_url("http://localhost:9000/hook").is_ok());
        assert_eq!(
            loopback.check_url("http://10.0.0.1/"),
            Err(DestinationError::Scheme)
        );
        let private = DestinationPolicy {
            allow_http_loopback: false,
            allow_private: true,
        };
        assert!(private.check_url("https://10.0.0.1/").is_ok());
    }

    #[test]
    fn redaction_drops_credentials_and_queries() {
        assert_eq!(
            redact("https://u:p@hooks.example.com:8443/a/b?token=x#f"),
            "https://hooks.example.com:8443/a/…"
        );
        assert_eq!(
            redact("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/services/…"
        );
        assert_eq!(redact("http://127.0.0.1:9/hook"), "http://127.0.0.1:9/hook");
    }
}
