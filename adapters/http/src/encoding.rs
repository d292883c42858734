//! Content negotiation for downloads: gzip compression chosen from `Accept-Encoding`, a strong
//! ETag per representation, and `If-None-Match`.
//!
//! Compression happens here rather than in a generic middleware because a strong ETag belongs to
//! one representation: the gzip body gets its own tag (`"<hash>-gzip"`), derived from the hash of
//! the uncompressed body, so a cache revalidating a gzip copy gets a 304 exactly when the
//! uncompressed content is unchanged.
//!
//! Only gzip is offered: brotli compressed report JSON and CSV only a little better than gzip but
//! its encoder added most of a megabyte to the report Lambda, which must stay under 15 MB
//! (`scripts/build-lambdas.sh`). A client that asks for `br` only gets the identity encoding.

use std::io::Write;

use sha2::{Digest, Sha256};

/// Bodies shorter than this are sent uncompressed (framing would outweigh the savings).
pub const MIN_COMPRESS: usize = 256;

/// A content coding the server can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    /// No compression.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
}

impl Coding {
    /// The `Content-Encoding` token (`None` for identity).
    pub fn token(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip"),
        }
    }
}

/// Picks the coding from an `Accept-Encoding` value (RFC 9110 §12.5.3): gzip when it (or `*`) is
/// acceptable with a q-value above 0, identity otherwise. Codings the server does not produce
/// (`br`, `deflate`, `zstd`) are ignored.
pub fn choose(accept: Option<&str>) -> Coding {
    let Some(accept) = accept else {
        return Coding::Identity;
    };
    let mut q_gzip: Option<f32> = None;
    let mut q_star: Option<f32> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
        }
        match name.as_str() {
            "gzip" | "x-gzip" => q_gzip = Some(q),
            "*" => q_star = Some(q),
            _ => {}
        }
    }
    let gz = q_gzip.or(q_star).unwrap_or(0.0);
    if gz > 0.0 {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// Compresses `body` with `coding`.
pub fn encode(body: &[u8], coding: Coding) -> std::io::Result<Vec<u8>> {
    match coding {
        Coding::Identity => Ok(body.to_vec()),
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::default(),
            );
            e.write_all(body)?;
            e.finish()
        }
    }
}

/// The strong ETag of `body` (uncompressed) sent with `coding`: 128 bits of its SHA-256 in hex,
/// quoted, with `-gzip` for the compressed representation.
pub fn etag(body: &[u8], coding: Coding) -> String {
    let h = Sha256::digest(body);
    let hex = hex::encode(&h[..16]);
    match coding.token() {
        None => format!("\"{hex}\""),
        Some(t) => format!("\"{hex}-{t}\""),
    }
}

/// True when an `If-None-Match` value matches `etag` (weak comparison, as RFC 9110 §13.1.2
/// prescribes for this header; `*` matches any current representation).
pub fn none_match(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn negotiation_follows_q_values() {
        assert_eq!(choose(None), Coding::Identity);
        assert_eq!(choose(Some("gzip")), Coding::Gzip);
        // Browsers send `gzip, deflate, br`: gzip is what they get.
        assert_eq!(choose(Some("gzip, deflate, br")), Coding::Gzip);
        assert_eq!(choose(Some("br;q=0.5, gzip")), Coding::Gzip);
        assert_eq!(choose(Some("br")), Coding::Identity);
        assert_eq!(choose(Some("br;q=0, gzip;q=0")), Coding::Identity);
        assert_eq!(choose(Some("*")), Coding::Gzip);
        assert_eq!(choose(Some("*;q=0.1, br;q=0")), Coding::Gzip);
        assert_eq!(choose(Some("*;q=0.5, gzip;q=0")), Coding::Identity);
        assert_eq!(choose(Some("identity, deflate")), Coding::Identity);
        assert_eq!(choose(Some("GZIP;Q=0.8")), Coding::Gzip);
    }

    #[test]
    fn compressed_bodies_round_trip() {
        let body = "section,group,value\n".repeat(100);
        let gz = encode(body.as_bytes(), Coding::Gzip).expect("gzip");
        let mut back = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut back)
            .expect("gunzip");
        assert_eq!(back, body);
        assert!(gz.len() < body.len() / 5);
    }

    #[test]
    fn etags_differ_per_representation() {
        let a = etag(b"x", Coding::Identity);
        assert_eq!(a.len(), 34);
        assert_eq!(etag(b"x", Coding::Gzip), format!("{}-gzip\"", &a[..33]));
        assert_ne!(etag(b"y", Coding::Identity), a);
        assert!(none_match(&format!("\"zz\", W/{a}"), &a));
        assert!(none_match("*", &a));
        assert!(!none_match(&etag(b"x", Coding::Gzip), &a));
    }
}
