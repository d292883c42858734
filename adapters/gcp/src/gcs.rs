//! Cloud Storage over the JSON API: single-request media uploads
//! (`upload/storage/v1/b/{bucket}/o?uploadType=media&name=…`; a file is streamed from disk with
//! its length, never held in memory), downloads (`storage/v1/b/{bucket}/o/{name}?alt=media`,
//! streamed to a file and checked against the length sent), and listings by prefix following
//! `nextPageToken`.
//!
//! Resumable uploads are not used: one request per object keeps retries simple (the file is
//! re-opened for every attempt), and the local GCS emulator (cloudbox) answers resumable uploads
//! with a relative `Location` that clients cannot follow.

use std::path::Path;

use costkit_core::ports::{BlobStore, PortError};
use costkit_rest::Call;
use reqwest::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, Request};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;

use crate::client::{json_request, Gcp, Service};
use crate::error::GcpError;

/// Percent-encodes an object name for a URL path segment (everything but `A-Za-z0-9-._~`).
pub fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A bucket.
#[derive(Clone, Debug)]
pub struct Bucket {
    gcp: Gcp,
    name: String,
}

impl Bucket {
    /// The bucket `name`.
    pub fn new(gcp: &Gcp, name: &str) -> Bucket {
        Bucket {
            gcp: gcp.clone(),
            name: name.to_string(),
        }
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `gs://bucket/key`, for errors.
    pub fn what(&self, key: &str) -> String {
        format!("gs://{}/{key}", self.name)
    }

    /// Creates the bucket in the project (409: it exists, fine). Tests and local set-ups;
    /// deployments create it with the IaC.
    pub async fn create(&self) -> Result<(), GcpError> {
        let mut url = self.gcp.url(Service::Storage, "/storage/v1/b")?;
        url.query_pairs_mut()
            .append_pair("project", self.gcp.project());
        let body = serde_json::json!({ "name": self.name });
        let call = Call {
            service: "Cloud Storage",
            operation: "buckets.insert",
            what: &self.name,
        };
        match self
            .gcp
            .send_ok(&call, Service::Storage, || {
                json_request(Method::POST, &url, &body)
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(409) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn upload_url(&self, key: &str) -> Result<reqwest::Url, GcpError> {
        let mut url = self.gcp.url(
            Service::Storage,
            &format!("/upload/storage/v1/b/{}/o", encode_name(&self.name)),
        )?;
        url.query_pairs_mut()
            .append_pair("uploadType", "media")
            .append_pair("name", key);
        Ok(url)
    }

    fn object_url(&self, key: &str, media: bool) -> Result<reqwest::Url, GcpError> {
        let mut url = self.gcp.url(
            Service::Storage,
            &format!(
                "/storage/v1/b/{}/o/{}",
                encode_name(&self.name),
                encode_name(key)
            ),
        )?;
        if media {
            url.query_pairs_mut().append_pair("alt", "media");
        }
        Ok(url)
    }

    fn content_type(v: &str) -> Result<HeaderValue, GcpError> {
        HeaderValue::from_str(v).map_err(|e| GcpError::Config(format!("content type `{v}`: {e}")))
    }

    /// Writes a small object from memory.
    pub async fn put(&self, key: &str, body: &[u8], content_type: &str) -> Result<(), GcpError> {
        let url = self.upload_url(key)?;
        let ct = Self::content_type(content_type)?;
        let what = self.what(key);
        let call = Call {
            service: "Cloud Storage",
            operation: "objects.insert",
            what: &what,
        };
        self.gcp
            .send_ok(&call, Service::Storage, || {
                let mut req = Request::new(Method::POST, url.clone());
                req.headers_mut().insert(CONTENT_TYPE, ct.clone());
                // Sent again on a retry: small objects only, so a copy per attempt is fine.
                *req.body_mut() = Some(body.to_vec().into());
                Ok(req)
            })
            .await?;
        Ok(())
    }

    /// Uploads a local file in one request, streamed from disk (the file is opened again for
    /// every attempt). Returns its size.
    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, GcpError> {
        let url = self.upload_url(key)?;
        let ct = Self::content_type(content_type)?;
        let what = self.what(key);
        let call = Call {
            service: "Cloud Storage",
            operation: "objects.insert",
            what: &what,
        };
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| GcpError::io(path.display(), e))?
            .len();
        self.gcp
            .send_ok(&call, Service::Storage, || {
                let file =
                    std::fs::File::open(path).map_err(|e| GcpError::io(path.display(), e))?;
                let mut req = Request::new(Method::POST, url.clone());
                req.headers_mut().insert(CONTENT_TYPE, ct.clone());
                // With the length given, the body goes as-is instead of chunked.
                req.headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from(size));
                *req.body_mut() = Some(reqwest::Body::from(tokio::fs::File::from_std(file)));
                Ok(req)
            })
            .await?;
        Ok(size)
    }

    async fn get_media(&self, key: &str) -> Result<reqwest::Response, GcpError> {
        let url = self.object_url(key, true)?;
        let what = self.what(key);
        let call = Call {
            service: "Cloud Storage",
            operation: "objects.get",
            what: &what,
        };
        self.gcp
            .send_ok(&call, Service::Storage, || {
                Ok(Request::new(Method::GET, url.clone()))
            })
            .await
    }

    /// Reads an object whole (404 when missing: [`GcpError::is_not_found`]).
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, GcpError> {
        let resp = self.get_media(key).await?;
        let expected = resp.content_length();
        let b = resp
            .bytes()
            .await
            .map_err(|e| GcpError::invalid(self.what(key), format!("download interrupted: {e}")))?;
        if let Some(n) = expected {
            if n != b.len() as u64 {
                return Err(GcpError::invalid(
                    self.what(key),
                    format!("download incomplete: {} of {n} bytes", b.len()),
                ));
            }
        }
        Ok(b.to_vec())
    }

    /// Streams an object into `dest` (created or truncated); returns its size.
    pub async fn download(&self, key: &str, dest: &Path) -> Result<u64, GcpError> {
        let mut resp = self.get_media(key).await?;
        let expected = resp.content_length();
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| GcpError::io(dest.display(), e))?;
        let mut n = 0u64;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| GcpError::invalid(self.what(key), format!("download interrupted: {e}")))?
        {
            file.write_all(&chunk)
                .await
                .map_err(|e| GcpError::io(dest.display(), e))?;
            n += chunk.len() as u64;
        }
        file.flush()
            .await
            .map_err(|e| GcpError::io(dest.display(), e))?;
        if let Some(total) = expected {
            if total != n {
                return Err(GcpError::invalid(
                    self.what(key),
                    format!("download incomplete: {n} of {total} bytes"),
                ));
            }
        }
        Ok(n)
    }

    /// Names under `prefix`, sorted, `page_size` per request (following `nextPageToken`).
    pub async fn list_paged(&self, prefix: &str, page_size: u32) -> Result<Vec<String>, GcpError> {
        #[derive(Deserialize)]
        struct Item {
            name: String,
        }
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            items: Vec<Item>,
            #[serde(rename = "nextPageToken")]
            next_page_token: Option<String>,
        }
        let what = self.what(prefix);
        let call = Call {
            service: "Cloud Storage",
            operation: "objects.list",
            what: &what,
        };
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = self.gcp.url(
                Service::Storage,
                &format!("/storage/v1/b/{}/o", encode_name(&self.name)),
            )?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("prefix", prefix)
                    .append_pair("maxResults", &page_size.to_string())
                    .append_pair("fields", "items(name),nextPageToken");
                if let Some(t) = &token {
                    q.append_pair("pageToken", t);
                }
            }
            let page: Page = self
                .gcp
                .send_json(&call, Service::Storage, || {
                    Ok(Request::new(Method::GET, url.clone()))
                })
                .await?;
            out.extend(page.items.into_iter().map(|i| i.name));
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                Some(t) => {
                    return Err(GcpError::invalid(
                        what,
                        format!("list returned the same page token twice (`{t}`)"),
                    ))
                }
                None => break,
            }
        }
        out.sort();
        Ok(out)
    }

    /// Names under `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, GcpError> {
        self.list_paged(prefix, 1000).await
    }
}

/// A Cloud Storage bucket as the core's object store.
#[derive(Clone, Debug)]
pub struct GcsBlobs {
    bucket: Bucket,
    handle: Handle,
}

impl GcsBlobs {
    /// The bucket `name`; calls run on `handle`.
    pub fn new(gcp: &Gcp, name: &str, handle: Handle) -> GcsBlobs {
        GcsBlobs {
            bucket: Bucket::new(gcp, name),
            handle,
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }
}

impl BlobStore for GcsBlobs {
    fn put_bytes(&self, key: &str, body: &[u8], content_type: &str) -> Result<(), PortError> {
        self.handle
            .block_on(self.bucket.put(key, body, content_type))
            .map_err(|e| e.into_port(&self.bucket.what(key)))
    }

    fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<(), PortError> {
        self.handle
            .block_on(self.bucket.put_file(key, path, content_type))
            .map(|_| ())
            .map_err(|e| e.into_port(&self.bucket.what(key)))
    }

    fn get_bytes(&self, key: &str) -> Result<Vec<u8>, PortError> {
        self.handle
            .block_on(self.bucket.get(key))
            .map_err(|e| e.into_port(&self.bucket.what(key)))
    }

    fn download(&self, key: &str, dest: &Path) -> Result<u64, PortError> {
        self.handle
            .block_on(self.bucket.download(key, dest))
            .map_err(|e| e.into_port(&self.bucket.what(key)))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, PortError> {
        self.handle
            .block_on(self.bucket.list(prefix))
            .map_err(|e| e.into_port(&self.bucket.what(prefix)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_one_path_segment() {
        assert_eq!(
            encode_name("raw/gcp/2024-09-01/a b+c.json"),
            "raw%2Fgcp%2F2024-09-01%2Fa%20b%2Bc.json"
        );
        assert_eq!(encode_name("ü"), "%C3%BC");
        assert_eq!(encode_name("a-b_c.d~e"), "a-b_c.d~e");
    }
}
