//! Who may call the API: API keys (kept as SHA-256 hashes), signed download links (HMAC-SHA256
//! with an expiry), or an authenticating platform in front (an `AWS_IAM` Lambda Function URL).
//!
//! Nothing configured means closed: every route but `/healthz` answers 401. The platform mode
//! ([`Auth::platform_authenticated`]) exists for glue code that knows the platform checked the
//! caller; it is never a default and no command-line flag of `costkit serve` turns it on.

use std::fmt;
use std::str::FromStr;

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The SHA-256 hash of an API key: what the server keeps instead of the key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyHash([u8; 32]);

impl ApiKeyHash {
    /// Hashes a key.
    pub fn of(key: &str) -> ApiKeyHash {
        ApiKeyHash(Sha256::digest(key.as_bytes()).into())
    }

    /// The hash as 64 lower-case hex digits (the form configuration files and
    /// `COSTKIT_API_KEY_HASHES` hold).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Constant-time comparison, so response timing does not reveal how much of a guess matched.
    fn matches(&self, other: &ApiKeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for ApiKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyHash({})", self.to_hex())
    }
}

/// A configured API key hash that is not 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("an API key hash is 64 hex digits (the SHA-256 of the key, e.g. from `costkit key hash`); got {len} characters")]
pub struct BadKeyHash {
    len: usize,
}

impl FromStr for ApiKeyHash {
    type Err = BadKeyHash;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| BadKeyHash { len: s.len() })?;
        Ok(ApiKeyHash(out))
    }
}

/// The key signed links are made and checked with.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// Wraps key bytes. Use at least 32 random bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> SigningKey {
        SigningKey(bytes.into())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

#[derive(Clone, Debug)]
enum Mode {
    ApiKeys(Vec<ApiKeyHash>),
    Platform,
}

/// How requests are authenticated.
#[derive(Clone, Debug)]
pub struct Auth {
    mode: Mode,
    signing_key: Option<SigningKey>,
}

impl Default for Auth {
    /// No key and no signing key: every route but `/healthz` answers 401.
    fn default() -> Self {
        Auth {
            mode: Mode::ApiKeys(Vec::new()),
            signing_key: None,
        }
    }
}

impl Auth {
    /// API keys, given by their hashes. An empty list closes the API (401 everywhere but
    /// `/healthz`).
    pub fn api_keys(hashes: impl IntoIterator<Item = ApiKeyHash>) -> Auth {
        Auth {
            mode: Mode::ApiKeys(hashes.into_iter().collect()),
            signing_key: None,
        }
    }

    /// The platform in front has already authenticated the caller (a Lambda Function URL with
    /// `AuthType: AWS_IAM`, an Azure Function with a function key, a Cloud Run service requiring
    /// IAM): every request is let through. Only glue code that knows its platform enforces this may
    /// use it.
    pub fn platform_authenticated() -> Auth {
        Auth {
            mode: Mode::Platform,
            signing_key: None,
        }
    }

    /// Also accept signed links made with `key` (see [`sign_path`]).
    pub fn with_signing_key(mut self, key: SigningKey) -> Auth {
        self.signing_key = Some(key);
        self
    }

    /// The signing key, when signed links are enabled (the dashboard signs its own data link).
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.signing_key.as_ref()
    }

    /// True when no request but `/healthz` can ever pass: no key, no signing key, no platform.
    pub fn is_closed(&self) -> bool {
        matches!(&self.mode, Mode::ApiKeys(k) if k.is_empty()) && self.signing_key.is_none()
    }

    /// Decides on one request. `api_key` is the key the request presented (bearer token or
    /// `x-api-key`); `query` its raw query string; `now` the current Unix time.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        api_key: Option<&str>,
        now: i64,
    ) -> Decision {
        let pairs = parse_query(query.unwrap_or(""));
        let signed = pairs.iter().any(|(k, _)| k == "sig" || k == "expires");
        if signed {
            let Some(key) = &self.signing_key else {
                return Decision::Unauthorized("signed links are not enabled on this server");
            };
            return match verify(key, method, path, &pairs, now) {
                Ok(()) => Decision::Allow,
                Err(e) => Decision::Forbidden(e.message()),
            };
        }
        match &self.mode {
            Mode::Platform => Decision::Allow,
            Mode::ApiKeys(hashes) => {
                if hashes.is_empty() {
                    return Decision::Unauthorized(
                        "no API key is configured on this server, so it answers no request",
                    );
                }
                let Some(key) = api_key else {
                    return Decision::Unauthorized(
                        "send an API key as `Authorization: Bearer <key>` or `x-api-key: <key>`",
                    );
                };
                let h = ApiKeyHash::of(key);
                // Compare with every hash, without stopping at the first match.
                let ok = hashes.iter().fold(false, |acc, x| acc | x.matches(&h));
                if ok {
                    Decision::Allow
                } else {
                    Decision::Unauthorized("invalid API key")
                }
            }
        }
    }
}

/// The outcome of an authentication check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go on.
    Allow,
    /// 401: no or wrong credentials.
    Unauthorized(&'static str),
    /// 403: a signed link that is forged, altered or expired.
    Forbidden(&'static str),
}

#[derive(Debug, PartialEq, Eq)]
enum LinkError {
    Malformed,
    BadSignature,
    Expired,
}

impl LinkError {
    fn message(&self) -> &'static str {
        match self {
            LinkError::Malformed => "malformed signed link: it needs one `expires` (Unix seconds) and one `sig` (64 hex digits)",
            LinkError::BadSignature => "invalid link signature",
            LinkError::Expired => "this link has expired",
        }
    }
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The signed message: method, path, expiry and the other query parameters, sorted and
/// form-encoded, one per line. Covering the other parameters means a link to one provider's report
/// cannot be edited into a link to another's.
fn message(method: &str, path: &str, expires: &str, pairs: &[(String, String)]) -> String {
    let mut rest: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "sig" && k != "expires")
        .collect();
    rest.sort();
    let mut enc = form_urlencoded::Serializer::new(String::new());
    for (k, v) in rest {
        enc.append_pair(k, v);
    }
    // HEAD asks for a GET's headers: the same link serves both.
    let method = if method.eq_ignore_ascii_case("HEAD") {
        "GET"
    } else {
        method
    };
    format!(
        "{}\n{path}\n{expires}\n{}",
        method.to_ascii_uppercase(),
        enc.finish()
    )
}

fn mac(key: &SigningKey) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail; fall back to an empty key rather than
    // panic if the library ever changed that.
    <HmacSha256 as KeyInit>::new_from_slice(&key.0)
        .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()))
}

fn verify(
    key: &SigningKey,
    method: &str,
    path: &str,
    pairs: &[(String, String)],
    now: i64,
) -> Result<(), LinkError> {
    let one = |name: &str| -> Result<&str, LinkError> {
        let mut it = pairs.iter().filter(|(k, _)| k == name);
        match (it.next(), it.next()) {
            (Some((_, v)), None) => Ok(v.as_str()),
            _ => Err(LinkError::Malformed),
        }
    };
    let expires_text = one("expires")?;
    let sig_text = one("sig")?;
    let expires: i64 = expires_text.parse().map_err(|_| LinkError::Malformed)?;
    let mut sig = [0u8; 32];
    hex::decode_to_slice(sig_text, &mut sig).map_err(|_| LinkError::Malformed)?;
    let mut m = mac(key);
    m.update(message(method, path, expires_text, pairs).as_bytes());
    // Constant-time check; the signature is checked before the expiry so a forged link is
    // reported as forged whatever its date.
    m.verify_slice(&sig).map_err(|_| LinkError::BadSignature)?;
    if now >= expires {
        return Err(LinkError::Expired);
    }
    Ok(())
}

/// A signed GET link to `path_and_query` (e.g. `/reports/2024-09.csv` or
/// `/reports/2024-09.json?provider=AWS`) valid until `expires` (Unix seconds): the path with
/// `expires` and `sig` appended to its query. Prefix the server's base URL to mail or post it.
pub fn sign_path(key: &SigningKey, path_and_query: &str, expires: i64) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path_and_query, ""),
    };
    let pairs: Vec<(String, String)> = parse_query(query)
        .into_iter()
        .filter(|(k, _)| k != "sig" && k != "expires")
        .collect();
    let expires_text = expires.to_string();
    let mut m = mac(key);
    m.update(message("GET", path, &expires_text, &pairs).as_bytes());
    let sig = hex::encode(m.finalize().into_bytes());
    let mut enc = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        enc.append_pair(k, v);
    }
    enc.append_pair("expires", &expires_text);
    enc.append_pair("sig", &sig);
    format!("{path}?{}", enc.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::new(b"0123456789abcdef0123456789abcdef".to_vec())
    }

    fn check(auth: &Auth, link: &str, now: i64) -> Decision {
        let (path, q) = link.split_once('?').unwrap_or((link, ""));
        auth.check("GET", path, Some(q), None, now)
    }

    #[test]
    fn nothing_configured_is_closed() {
        let a = Auth::default();
        assert!(a.is_closed());
        assert!(matches!(
            a.check("GET", "/reports/2024-09.json", None, Some("anything"), 0),
            Decision::Unauthorized(_)
        ));
        assert!(matches!(
            a.check("GET", "/reports/2024-09.json", None, None, 0),
            Decision::Unauthorized(_)
        ));
    }

    #[test]
    fn keys_are_compared_by_hash() {
        let a = Auth::api_keys([ApiKeyHash::of("k1"), ApiKeyHash::of("k2")]);
        assert_eq!(a.check("GET", "/x", None, Some("k2"), 0), Decision::Allow);
        assert_eq!(
            a.check("GET", "/x", None, Some("k3"), 0),
            Decision::Unauthorized("invalid API key")
        );
        let h: ApiKeyHash = ApiKeyHash::of("k1").to_hex().parse().expect("hex");
        assert_eq!(h, ApiKeyHash::of("k1"));
        assert!("abc".parse::<ApiKeyHash>().is_err());
        // The FIPS 180-2 test vector for "abc".
        assert_eq!(
            ApiKeyHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn signed_links_verify_and_expire() {
        let a = Auth::api_keys([]).with_signing_key(key());
        let link = sign_path(&key(), "/reports/2024-09.csv", 1000);
        assert_eq!(check(&a, &link, 999), Decision::Allow);
        assert_eq!(
            check(&a, &link, 1000),
            Decision::Forbidden("this link has expired")
        );
        // Moving the expiry invalidates the signature.
        let moved = link.replace("expires=1000", "expires=99999");
        assert_eq!(
            check(&a, &moved, 999),
            Decision::Forbidden("invalid link signature")
        );
        // Another path with the same signature is forged.
        let other = link.replace("2024-09", "2024-08");
        assert_eq!(
            check(&a, &other, 999),
            Decision::Forbidden("invalid link signature")
        );
        // Another key's signature is forged.
        let foreign = sign_path(
            &SigningKey::new(b"other".to_vec()),
            "/reports/2024-09.csv",
            1000,
        );
        assert_eq!(
            check(&a, &foreign, 999),
            Decision::Forbidden("invalid link signature")
        );
        // Without a signing key, links are not accepted at all.
        assert!(matches!(
            check(&Auth::api_keys([]), &link, 999),
            Decision::Unauthorized(_)
        ));
        // HEAD is allowed with a GET link; POST is not.
        let (path, q) = link.split_once('?').expect("query");
        assert_eq!(a.check("HEAD", path, Some(q), None, 999), Decision::Allow);
        assert!(matches!(
            a.check("POST", path, Some(q), None, 999),
            Decision::Forbidden(_)
        ));
    }

    #[test]
    fn signed_links_cover_their_query() {
        let a = Auth::api_keys([]).with_signing_key(key());
        let link = sign_path(&key(), "/reports/2024-09.json?provider=AWS", 1000);
        assert!(link.starts_with("/reports/2024-09.json?provider=AWS&expires=1000&sig="));
        assert_eq!(check(&a, &link, 10), Decision::Allow);
        let edited = link.replace("provider=AWS", "provider=Microsoft");
        assert_eq!(
            check(&a, &edited, 10),
            Decision::Forbidden("invalid link signature")
        );
        let dropped = link.replace("provider=AWS&", "");
        assert_eq!(
            check(&a, &dropped, 10),
            Decision::Forbidden("invalid link signature")
        );
        let doubled = format!("{link}&sig=00");
        assert!(
            matches!(check(&a, &doubled, 10), Decision::Forbidden(m) if m.starts_with("malformed"))
        );
    }

    #[test]
    fn platform_mode_is_explicit() {
        assert!(!Auth::platform_authenticated().is_closed());
        assert_eq!(
            Auth::platform_authenticated().check("GET", "/x", None, None, 0),
            Decision::Allow
        );
    }
}
