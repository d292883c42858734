//! The generic webhook: a JSON document (`schema_version`, `type`, `idempotency_key`, the finding
//! or digest with exact amounts as strings, the report link) POSTed with three headers:
//!
//! * `X-Costkit-Timestamp`: Unix seconds when this attempt was signed;
//! * `X-Costkit-Signature`: `v1=` and the hex HMAC-SHA256, keyed with the shared secret, of
//!   `timestamp + "." + body` (the exact body bytes);
//! * `Idempotency-Key`: the same on every attempt and on a resend after a crash.
//!
//! A receiver recomputes the HMAC, compares in constant time and refuses timestamps older than a
//! few minutes (replay); [`verify`] does exactly that, and `docs/notifications.md` has the same
//! check in Python.

use hmac::{KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use super::{Content, JsonPost, Notice};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Header with the Unix timestamp of the signature.
pub const TIMESTAMP_HEADER: &str = "X-Costkit-Timestamp";
/// Header with `v1=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Costkit-Signature";
/// Header with the idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Version of the JSON document.
pub const SCHEMA_VERSION: u32 = 1;

/// The webhook body for a notice.
pub fn render(notice: &Notice<'_>, idempotency_key: &str) -> JsonPost {
    let mut v = match notice.content {
        Content::Finding(f) => json!({
            "schema_version": SCHEMA_VERSION,
            "type": "finding",
            "idempotency_key": idempotency_key,
            "finding": f,
        }),
        Content::Digest(d) => json!({
            "schema_version": SCHEMA_VERSION,
            "type": "digest",
            "idempotency_key": idempotency_key,
            "digest": {
                "id": d.id(),
                "cadence": d.cadence,
                "start": d.start,
                "end": d.end,
                "count": d.count,
                "more": d.more,
                "totals": d.totals,
                "findings": d.findings,
            },
        }),
        // The HTML and CSV stay behind the link: a webhook body is a summary.
        Content::Report(r) => json!({
            "schema_version": SCHEMA_VERSION,
            "type": "report",
            "idempotency_key": idempotency_key,
            "report": {"id": r.id, "title": r.title, "totals": r.totals},
        }),
    };
    v["link"] = notice.link.map_or(serde_json::Value::Null, |l| json!(l));
    JsonPost {
        body: serde_json::to_vec(&v).unwrap_or_default(),
    }
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()))
}

/// `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    format!("v1={}", hex::encode(m.finalize().into_bytes()))
}

/// The headers of one attempt, signed at `timestamp`.
pub fn headers(
    secret: &[u8],
    timestamp: i64,
    body: &[u8],
    idempotency_key: &str,
) -> Vec<(&'static str, String)> {
    vec![
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (SIGNATURE_HEADER, signature(secret, timestamp, body)),
        (IDEMPOTENCY_HEADER, idempotency_key.to_string()),
    ]
}

/// Why a signature was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The timestamp header is not a number.
    #[error("the timestamp is not a Unix time")]
    BadTimestamp,
    /// The timestamp is further than the tolerance from now (a replay or a wrong clock).
    #[error("the timestamp is {0} s away from now")]
    Stale(i64),
    /// No `v1=` signature, or not hex.
    #[error("no v1 signature")]
    Malformed,
    /// The HMAC does not match.
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a request as a receiver would: the timestamp within `tolerance_secs` of `now`, and the
/// `v1` HMAC over `timestamp.body` equal (constant-time) to the one sent. The signature header may
/// hold several comma-separated `v1=` values (key rotation); any match passes.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let skew = (now - ts).abs();
    if skew > tolerance_secs {
        return Err(VerifyError::Stale(skew));
    }
    let mut any = false;
    for part in signature_header.split(',') {
        let Some(hex_sig) = part.trim().strip_prefix("v1=") else {
            continue;
        };
        let Ok(sig) = hex::decode(hex_sig) else {
            continue;
        };
        any = true;
        let mut m = mac(secret);
        m.update(ts.to_string().as_bytes());
        m.update(b".");
        m.update(body);
        if m.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err(if any {
        VerifyError::Mismatch
    } else {
        VerifyError::Malformed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let body = br#"{"a":1}"#;
        let sig = signature(b"k", 1_700_000_000, body);
        assert!(sig.starts_with("v1=") && sig.len() == 3 + 64);
        assert_eq!(
            verify(b"k", "1700000000", &sig, body, 1_700_000_100, 300),
            Ok(())
        );
        assert_eq!(
            verify(b"k", "1700000000", &sig, br#"{"a":2}"#, 1_700_000_100, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"other", "1700000000", &sig, body, 1_700_000_100, 300),
            Err(VerifyError::Mismatch)
        );
        // The timestamp is signed: moving it breaks the signature.
        assert_eq!(
            verify(b"k", "1700000001", &sig, body, 1_700_000_100, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"k", "1700000000", &sig, body, 1_700_001_000, 300),
            Err(VerifyError::Stale(1000))
        );
        assert_eq!(
            verify(b"k", "x", &sig, body, 0, 300),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            verify(b"k", "1700000000", "sha256=ab", body, 1_700_000_000, 300),
            Err(VerifyError::Malformed)
        );
        // Rotation: an old and a new signature side by side.
        let both = format!("v1={},{sig}", "00".repeat(32));
        assert_eq!(
            verify(b"k", "1700000000", &both, body, 1_700_000_000, 300),
            Ok(())
        );
    }

    #[test]
    fn known_hmac_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut m = mac(b"Jefe");
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
