//! Client construction: one shared HTTP client and one configuration, built once per process.
//!
//! There is deliberately no `aws-config` here: Lambda hands a function its region and credentials
//! in environment variables, and reading those directly keeps the cold start free of profile-file
//! parsing and metadata-service probes, and the binary smaller (`docs/aws-dynamodb.md`, "Build").

use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_dynamodb::config::{Credentials, SharedHttpClient};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

use crate::error::AwsError;
use crate::retry::Backoff;

/// Environment variable that points every client at another endpoint (moto in tests). The
/// standard `AWS_ENDPOINT_URL` is honoured too; this one wins when both are set.
pub const ENDPOINT_ENV: &str = "COSTKIT_AWS_ENDPOINT";

/// What the clients are built from.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// AWS region (`AWS_REGION`, else `AWS_DEFAULT_REGION`).
    pub region: String,
    /// Endpoint override for every service (an emulator); `None` means the real AWS endpoints.
    pub endpoint: Option<String>,
    /// Credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
    pub credentials: Credentials,
    /// Attempts of the SDK's standard retry (throttling, 5xx, network errors) for every client
    /// except Cost Explorer, which uses [`AwsSettings::cost_explorer_backoff`] instead.
    pub sdk_max_attempts: u32,
    /// First backoff of the SDK's standard retry.
    pub sdk_initial_backoff: Duration,
    /// Backoff of the adapter's own retries: DynamoDB `UnprocessedItems`.
    pub backoff: Backoff,
    /// Backoff of Cost Explorer calls.
    pub cost_explorer_backoff: Backoff,
    /// Connect timeout of the HTTP client.
    pub connect_timeout: Duration,
    /// Timeout of one HTTP attempt (none for S3, whose transfers are long by nature).
    pub attempt_timeout: Duration,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl AwsSettings {
    /// Reads region, credentials and the endpoint override from the environment (what Lambda sets).
    pub fn from_env() -> Result<AwsSettings, AwsError> {
        let region = env("AWS_REGION")
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .ok_or_else(|| AwsError::Config("AWS_REGION is not set".into()))?;
        let key = env("AWS_ACCESS_KEY_ID")
            .ok_or_else(|| AwsError::Config("AWS_ACCESS_KEY_ID is not set".into()))?;
        let secret = env("AWS_SECRET_ACCESS_KEY")
            .ok_or_else(|| AwsError::Config("AWS_SECRET_ACCESS_KEY is not set".into()))?;
        let credentials = Credentials::new(key, secret, env("AWS_SESSION_TOKEN"), None, "env");
        let endpoint = env(ENDPOINT_ENV).or_else(|| env("AWS_ENDPOINT_URL"));
        Ok(AwsSettings {
            endpoint,
            ..AwsSettings::new(&region, credentials)
        })
    }

    /// Settings with the default retry and timeouts.
    pub fn new(region: &str, credentials: Credentials) -> AwsSettings {
        AwsSettings {
            region: region.to_string(),
            endpoint: None,
            credentials,
            sdk_max_attempts: 6,
            sdk_initial_backoff: Duration::from_millis(100),
            backoff: Backoff::default(),
            cost_explorer_backoff: Backoff {
                max_attempts: 6,
                base: Duration::from_secs(1),
                max_delay: Duration::from_secs(30),
            },
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(30),
        }
    }

    /// Settings for an emulator at `endpoint` with dummy credentials and short backoffs (tests,
    /// local runs).
    pub fn emulator(endpoint: &str) -> AwsSettings {
        let fast = Backoff {
            max_attempts: 5,
            base: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        };
        AwsSettings {
            endpoint: Some(endpoint.trim_end_matches('/').to_string()),
            sdk_initial_backoff: Duration::from_millis(5),
            backoff: fast.clone(),
            cost_explorer_backoff: fast,
            ..AwsSettings::new(
                "us-east-1",
                Credentials::new("testing", "testing", None, None, "emulator"),
            )
        }
    }
}

/// The AWS clients of one process. Build it once at cold start and share it (`Arc`); each
/// service client is created on first use and reused, so a function links and initialises only
/// the services it calls.
#[derive(Debug)]
pub struct AwsClients {
    settings: AwsSettings,
    http: SharedHttpClient,
    dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
    s3: OnceLock<aws_sdk_s3::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    sns: OnceLock<aws_sdk_sns::Client>,
    secrets: OnceLock<aws_sdk_secretsmanager::Client>,
    ses: OnceLock<aws_sdk_sesv2::Client>,
    cost_explorer: OnceLock<aws_sdk_costexplorer::Client>,
}

/// Builds one service's config from the shared settings (every SDK crate has its own, identical,
/// `config::Builder`).
macro_rules! service_config {
    ($sdk:ident, $settings:expr, $http:expr, $retry:expr, $timeout:expr) => {{
        let s: &AwsSettings = $settings;
        let mut b = $sdk::config::Builder::new()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new(s.region.clone()))
            .credentials_provider(s.credentials.clone())
            .http_client($http.clone())
            .retry_config($retry)
            .timeout_config($timeout);
        if let Some(e) = &s.endpoint {
            b = b.endpoint_url(e.clone());
        }
        b
    }};
}

impl AwsClients {
    /// Clients configured from the environment ([`AwsSettings::from_env`]).
    pub fn from_env() -> Result<AwsClients, AwsError> {
        Ok(AwsClients::new(AwsSettings::from_env()?))
    }

    /// Clients for the given settings.
    pub fn new(settings: AwsSettings) -> AwsClients {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        AwsClients {
            settings,
            http,
            dynamodb: OnceLock::new(),
            s3: OnceLock::new(),
            sqs: OnceLock::new(),
            sns: OnceLock::new(),
            secrets: OnceLock::new(),
            ses: OnceLock::new(),
            cost_explorer: OnceLock::new(),
        }
    }

    /// The settings the clients were built from.
    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    fn standard_retry(&self) -> aws_sdk_dynamodb::config::retry::RetryConfig {
        aws_sdk_dynamodb::config::retry::RetryConfig::standard()
            .with_max_attempts(self.settings.sdk_max_attempts.max(1))
            .with_initial_backoff(self.settings.sdk_initial_backoff)
    }

    fn timeouts(&self, attempt: bool) -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
        let b = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.settings.connect_timeout);
        if attempt {
            b.operation_attempt_timeout(self.settings.attempt_timeout)
                .build()
        } else {
            b.build()
        }
    }

    /// DynamoDB (SDK standard retry: throughput and throttling errors are retried).
    pub fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        self.dynamodb.get_or_init(|| {
            let conf = service_config!(
                aws_sdk_dynamodb,
                &self.settings,
                self.http,
                self.standard_retry(),
                self.timeouts(true)
            );
            aws_sdk_dynamodb::Client::from_conf(conf.build())
        })
    }

    /// S3 (path-style addressing when an endpoint override is set: emulators have no
    /// per-bucket host names).
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        self.s3.get_or_init(|| {
            let conf = service_config!(
                aws_sdk_s3,
                &self.settings,
                self.http,
                self.standard_retry(),
                self.timeouts(false)
            )
            .force_path_style(self.settings.endpoint.is_some());
            aws_sdk_s3::Client::from_conf(conf.build())
        })
    }

    /// SQS.
    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        self.sqs.get_or_init(|| {
            let conf = service_config!(
                aws_sdk_sqs,
                &self.settings,
                self.http,
                self.standard_retry(),
                self.timeouts(true)
            );
            aws_sdk_sqs::Client::from_conf(conf.build())
        })
    }

    /// SNS.
    pub fn sns(&self) -> &aws_sdk_sns::Client {
        self.sns.get_or_init(|| {
            let conf = service_config!(
                aws_sdk_sns,
                &self.settings,
                self.http,
                self.standard_retry(),
                self.timeouts(true)
            );
            aws_sdk_sns::Client::from_conf(conf.build())
        })
    }

    /// Secrets Manager.
    pub fn secrets(&self) -> &aws_sdk_secretsmanager::Client {
        self.secrets.get_or_init(|| {
            let conf = service_config!(
                aws_sdk_secretsmanager,
                &self.settings,
                self.http,
                self.standard_retry(),
                self.timeouts(true)
            );
            aws_sdk_secretsmanager::Client::from_conf(conf.build())
        })
    }

    /// SES v2 (email).
    pub fn ses(&self) -> &aws_sdk_sesv2::Client {
        self.ses.get_or_init(|| {
            let conf = service_config!(
                aws_sdk_sesv2,
                &self.settings,
                self.http,
                self.standard_retry(),
                self.timeouts(true)
            );
            aws_sdk_sesv2::Client::from_conf(conf.build())
        })
    }

    /// Cost Explorer. The SDK's retry is off: [`crate::cost_explorer`] retries with its own,
    /// slower, bounded backoff (Cost Explorer allows few requests per second and bills each one).
    pub fn cost_explorer(&self) -> &aws_sdk_costexplorer::Client {
        self.cost_explorer.get_or_init(|| {
            let conf = service_config!(
                aws_sdk_costexplorer,
                &self.settings,
                self.http,
                aws_sdk_costexplorer::config::retry::RetryConfig::disabled(),
                self.timeouts(true)
            );
            aws_sdk_costexplorer::Client::from_conf(conf.build())
        })
    }
}
