//! CIDR ranges and port ranges: parsing, containment, specificity.

use polc_api::{PortMatch, Protocol};
use std::fmt;
use std::net::IpAddr;

/// Why a CIDR is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not `address/prefix`.
    #[error("`{0}` is not in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`)")]
    Syntax(String),
    /// Prefix longer than the address.
    #[error("`{0}` has a prefix longer than the address ({1} bits)")]
    PrefixTooLong(String, u8),
}

/// An IPv4 or IPv6 range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    /// The network address (host bits cleared).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
    /// Whether the written address had host bits set (`10.0.0.1/8`).
    pub had_host_bits: bool,
}

fn bits(a: IpAddr) -> (u128, u8) {
    match a {
        IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
        IpAddr::V6(v) => (u128::from(v), 128),
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        let m = u128::MAX << (128 - u32::from(prefix));
        m >> (128 - u32::from(width))
    }
}

impl Cidr {
    /// Parse `addr/prefix`; a bare address is a host route (`/32`, `/128`).
    ///
    /// # Errors
    /// When the text is not CIDR notation.
    pub fn parse(s: &str) -> Result<Cidr, CidrError> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| CidrError::Syntax(s.to_string()))?;
        let (v, width) = bits(addr);
        let prefix = match p {
            None => width,
            Some(p) => p.parse::<u8>().map_err(|_| CidrError::Syntax(s.to_string()))?,
        };
        if prefix > width {
            return Err(CidrError::PrefixTooLong(s.to_string(), width));
        }
        let m = mask(prefix, width);
        let net = v & m;
        let addr = match addr {
            IpAddr::V4(_) => IpAddr::V4((u32::try_from(net).unwrap_or(0)).into()),
            IpAddr::V6(_) => IpAddr::V6(net.into()),
        };
        Ok(Cidr { addr, prefix, had_host_bits: net != v })
    }

    /// Does `self` contain all of `other`?
    pub fn contains(&self, other: &Cidr) -> bool {
        let (a, wa) = bits(self.addr);
        let (b, wb) = bits(other.addr);
        wa == wb && other.prefix >= self.prefix && (b & mask(self.prefix, wa)) == a
    }

    /// Is this IPv4?
    pub fn is_v4(&self) -> bool {
        self.addr.is_ipv4()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A port range with its protocol; `None` ports mean any port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ports {
    /// First port.
    pub first: u16,
    /// Last port (inclusive).
    pub last: u16,
    /// Protocol.
    pub protocol: Protocol,
}

impl Ports {
    /// Every port of every protocol.
    pub const ANY: Ports = Ports { first: 0, last: u16::MAX, protocol: Protocol::ANY };

    /// From the API form. `None` when the range is empty (`endPort < port`).
    pub fn from_api(p: &PortMatch) -> Option<Ports> {
        let last = p.end_port.unwrap_or(p.port);
        (last >= p.port).then_some(Ports { first: p.port, last, protocol: p.protocol })
    }

    /// Does `self` contain all of `other`?
    pub fn contains(&self, other: &Ports) -> bool {
        (self.protocol == Protocol::ANY || self.protocol == other.protocol)
            && self.first <= other.first
            && other.last <= self.last
    }

    /// Do the ranges share a port of a common protocol?
    pub fn overlaps(&self, other: &Ports) -> bool {
        let proto =
            self.protocol == Protocol::ANY || other.protocol == Protocol::ANY || self.protocol == other.protocol;
        proto && self.first <= other.last && other.first <= self.last
    }

    /// Specificity: a single port beats a range beats any port.
    pub fn specificity(&self) -> u8 {
        match (self.first, self.last) {
            (0, u16::MAX) => 0,
            (a, b) if a == b => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = format!("{:?}", self.protocol);
        match (self.first, self.last) {
            (0, u16::MAX) => write!(f, "any port/{proto}"),
            (a, b) if a == b => write!(f, "{a}/{proto}"),
            (a, b) => write!(f, "{a}-{b}/{proto}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parse_and_contain() {
        assert!(c("10.0.0.0/8").contains(&c("10.1.2.0/24")));
        assert!(!c("10.1.2.0/24").contains(&c("10.0.0.0/8")));
        assert!(c("0.0.0.0/0").contains(&c("169.254.169.254")));
        assert!(!c("0.0.0.0/0").contains(&c("::1")));
        assert!(c("10.0.0.1/8").had_host_bits);
        assert_eq!(c("10.0.0.1/8").to_string(), "10.0.0.0/8");
        assert!(c("fd00:ec2::254").contains(&c("fd00:ec2::254/128")));
        assert!(matches!(Cidr::parse("10.0.0.0/33"), Err(CidrError::PrefixTooLong(..))));
        assert!(matches!(Cidr::parse("10.0.0/8"), Err(CidrError::Syntax(_))));
    }

    #[test]
    fn ports() {
        let any = Ports::ANY;
        let p80 = Ports { first: 80, last: 80, protocol: Protocol::TCP };
        let range = Ports { first: 1, last: 1024, protocol: Protocol::TCP };
        assert!(any.contains(&p80) && range.contains(&p80) && !p80.contains(&range));
        assert!(!Ports { protocol: Protocol::UDP, ..range }.contains(&p80));
        assert!(Ports::from_api(&PortMatch { port: 90, end_port: Some(80), protocol: Protocol::TCP }).is_none());
    }
}
