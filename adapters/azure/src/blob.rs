//! Blob storage over REST: block blobs (one `Put Blob` up to the block size, `Put Block` +
//! `Put Block List` above, one block in memory at a time), streamed downloads, and listing with
//! continuation markers.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use reqwest::{Method, Url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::Service;
use crate::error::AzureError;
use crate::http::{api_error, Call};
use crate::storage::Storage;

const SVC: &str = "Blob";
/// Block size of large uploads (and the largest single `Put Blob` costkit sends).
pub const BLOCK_SIZE: usize = 8 * 1024 * 1024;

/// One blob container.
#[derive(Clone, Debug)]
pub struct Container {
    storage: Storage,
    name: String,
}

impl Container {
    /// The container `name`.
    pub fn new(storage: &Storage, name: &str) -> Container {
        Container {
            storage: storage.clone(),
            name: name.to_string(),
        }
    }

    /// The container name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `container/key`, for messages.
    pub fn what(&self, key: &str) -> String {
        format!("{}/{key}", self.name)
    }

    fn blob_url(&self, key: &str) -> Url {
        let mut segs = vec![self.name.as_str()];
        segs.extend(key.split('/'));
        self.storage.url(Service::Blob, segs)
    }

    /// Creates the container; an existing one is left as it is (tests and local set-ups).
    pub async fn create(&self) -> Result<(), AzureError> {
        let mut url = self.storage.url(Service::Blob, [self.name.as_str()]);
        url.set_query(Some("restype=container"));
        let call = Call {
            service: SVC,
            operation: "CreateContainer",
            what: &self.name,
        };
        let resp = self
            .storage
            .send(&call, Service::Blob, Method::PUT, &url, &[], None)
            .await?;
        if resp.status().is_success() || resp.status().as_u16() == 409 {
            Ok(())
        } else {
            Err(api_error(&call, resp).await)
        }
    }

    /// Writes a blob in one request.
    pub async fn put(&self, key: &str, body: &[u8], content_type: &str) -> Result<(), AzureError> {
        let what = self.what(key);
        let call = Call {
            service: SVC,
            operation: "PutBlob",
            what: &what,
        };
        self.storage
            .send_ok(
                &call,
                Service::Blob,
                Method::PUT,
                &self.blob_url(key),
                &[
                    ("x-ms-blob-type", "BlockBlob".into()),
                    ("content-type", content_type.into()),
                ],
                Some(body),
            )
            .await?;
        Ok(())
    }

    /// Uploads a local file: one `Put Blob` up to `block_size`, else blocks of `block_size`
    /// committed with `Put Block List` (uncommitted blocks of a failed upload expire on their
    /// own after a week and are never billed as a blob).
    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
        block_size: usize,
    ) -> Result<u64, AzureError> {
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| AzureError::io(path.display(), e))?;
        let size = file
            .metadata()
            .await
            .map_err(|e| AzureError::io(path.display(), e))?
            .len();
        let block_size = block_size.max(1);
        if size <= block_size as u64 {
            let mut body = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            file.read_to_end(&mut body)
                .await
                .map_err(|e| AzureError::io(path.display(), e))?;
            self.put(key, &body, content_type).await?;
            return Ok(size);
        }
        let what = self.what(key);
        let mut ids = Vec::new();
        let mut buf = vec![0u8; block_size];
        let mut sent = 0u64;
        loop {
            let mut filled = 0;
            while filled < buf.len() {
                let n = file
                    .read(&mut buf[filled..])
                    .await
                    .map_err(|e| AzureError::io(path.display(), e))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            // Every block id of a blob must have the same length.
            let id = B64.encode(format!("block-{:08}", ids.len()));
            let mut url = self.blob_url(key);
            url.query_pairs_mut()
                .append_pair("comp", "block")
                .append_pair("blockid", &id);
            let call = Call {
                service: SVC,
                operation: "PutBlock",
                what: &what,
            };
            self.storage
                .send_ok(
                    &call,
                    Service::Blob,
                    Method::PUT,
                    &url,
                    &[],
                    Some(&buf[..filled]),
                )
                .await?;
            sent += filled as u64;
            ids.push(id);
        }
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for id in &ids {
            xml.push_str(&format!("<Latest>{id}</Latest>"));
        }
        xml.push_str("</BlockList>");
        let mut url = self.blob_url(key);
        url.set_query(Some("comp=blocklist"));
        let call = Call {
            service: SVC,
            operation: "PutBlockList",
            what: &what,
        };
        self.storage
            .send_ok(
                &call,
                Service::Blob,
                Method::PUT,
                &url,
                &[
                    ("content-type", "application/xml".into()),
                    ("x-ms-blob-content-type", content_type.into()),
                ],
                Some(xml.as_bytes()),
            )
            .await?;
        if sent != size {
            return Err(AzureError::io(
                path.display(),
                format!("the file changed during the upload ({sent} of {size} bytes sent)"),
            ));
        }
        Ok(sent)
    }

    async fn get_response(&self, key: &str, what: &str) -> Result<reqwest::Response, AzureError> {
        let call = Call {
            service: SVC,
            operation: "GetBlob",
            what,
        };
        self.storage
            .send_ok(
                &call,
                Service::Blob,
                Method::GET,
                &self.blob_url(key),
                &[],
                None,
            )
            .await
    }

    /// Reads a blob whole (404 when missing: [`AzureError::is_not_found`]).
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, AzureError> {
        let what = self.what(key);
        let resp = self.get_response(key, &what).await?;
        resp.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| AzureError::invalid(&what, format!("download interrupted: {e}")))
    }

    /// Streams a blob into a local file chunk by chunk and checks its length; returns the size.
    pub async fn download(&self, key: &str, dest: &Path) -> Result<u64, AzureError> {
        let what = self.what(key);
        let mut resp = self.get_response(key, &what).await?;
        let expected = resp.content_length();
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| AzureError::io(dest.display(), e))?;
        let mut written = 0u64;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| AzureError::invalid(&what, format!("download interrupted: {e}")))?
        {
            file.write_all(&chunk)
                .await
                .map_err(|e| AzureError::io(dest.display(), e))?;
            written += chunk.len() as u64;
        }
        file.flush()
            .await
            .map_err(|e| AzureError::io(dest.display(), e))?;
        if let Some(n) = expected.filter(|n| *n != written) {
            return Err(AzureError::invalid(
                &what,
                format!("download truncated: {written} of {n} bytes"),
            ));
        }
        Ok(written)
    }

    /// Blob names under `prefix`, sorted, following `NextMarker` to the end.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, AzureError> {
        self.list_pages(prefix, None).await
    }

    /// [`Container::list`] asking for at most `page_size` names per request (the service's
    /// default is 5000).
    pub async fn list_pages(
        &self,
        prefix: &str,
        page_size: Option<u32>,
    ) -> Result<Vec<String>, AzureError> {
        let what = self.what(prefix);
        let call = Call {
            service: SVC,
            operation: "ListBlobs",
            what: &what,
        };
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut url = self.storage.url(Service::Blob, [self.name.as_str()]);
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("restype", "container")
                    .append_pair("comp", "list")
                    .append_pair("prefix", prefix);
                if let Some(m) = &marker {
                    q.append_pair("marker", m);
                }
                if let Some(n) = page_size {
                    q.append_pair("maxresults", &n.to_string());
                }
            }
            let resp = self
                .storage
                .send_ok(&call, Service::Blob, Method::GET, &url, &[], None)
                .await?;
            let text = resp
                .text()
                .await
                .map_err(|e| AzureError::invalid(&what, format!("response: {e}")))?;
            let doc = roxmltree::Document::parse(&text).map_err(|e| {
                AzureError::invalid(&what, format!("list response is not XML: {e}"))
            })?;
            for b in doc.descendants().filter(|n| n.has_tag_name("Blob")) {
                if let Some(name) = b
                    .children()
                    .find(|c| c.has_tag_name("Name"))
                    .and_then(|n| n.text())
                {
                    names.push(name.to_string());
                }
            }
            let next = doc
                .descendants()
                .find(|n| n.has_tag_name("NextMarker"))
                .and_then(|n| n.text())
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            match next {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        names.sort();
        Ok(names)
    }
}
