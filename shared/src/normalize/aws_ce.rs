//! AWS Cost Explorer `GetCostAndUsage` (and `GetCostAndUsageWithResources`) responses.
//!
//! A file holds one response, a JSON array of responses (the pages of one query) or newline-delimited
//! responses. Every `ResultsByTime[]` entry becomes one record per group (or one record from `Total`
//! when the query was not grouped): these are pre-aggregated daily (or monthly/hourly) amounts, so
//! each record is marked with `x_AggregationSource = CostExplorer` and `x_GroupBy`.
//!
//! Memory: responses are read one at a time (a small scanner splits the file into top-level JSON
//! objects and remembers the line of every `{`, so errors can name the line of the group). One
//! response is parsed as a whole; Cost Explorer bounds its size by its page size. The only state that
//! grows with the file is the set of (period, group keys) already seen, kept to refuse a page that
//! was saved twice, which would otherwise double-count silently.
//!
//! The column-by-column decisions are written down in `docs/mapping/aws-cost-explorer.md`.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::BufRead;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::error::{NormalizeError, NormalizeErrorKind};
use crate::focus::*;
use crate::input::{Format, Input, Progress};
use crate::money::{parse_decimal, Currency, CurrencyTotals};
use crate::normalize::{Dialect, Job, RecordStream, SourceTotals};
use crate::text::Text;
use crate::time::{month_start, next_month_start, parse_timestamp, Timestamp};

/// `ServiceName` of records from a query that was not grouped by `SERVICE` (the column cannot be
/// null, and the amount covers every service).
pub const ALL_SERVICES: &str = "AWS (all services)";

/// `BillingAccountId` when the payer is unknown: Cost Explorer responses never carry the payer
/// account, and the query was not grouped by `LINKED_ACCOUNT`.
pub const UNKNOWN_PAYER: &str = "unknown-payer";

/// The `x_` columns this dialect writes, in output order.
pub const EXTENSION_COLUMNS: &[&str] = &[
    "x_AggregationSource",
    "x_GroupBy",
    "x_Estimated",
    "x_RecordType",
    "x_UsageType",
    "x_UnblendedCost",
    "x_NetUnblendedCost",
    "x_AmortizedCost",
    "x_NetAmortizedCost",
    "x_BlendedCost",
    "x_UsageQuantity",
    "x_UsageQuantityUnit",
    "x_NormalizedUsageAmount",
    "x_CostCategories",
    "x_Dimensions",
];

/// Cost metrics copied into `x_` columns as the response gave them.
const RAW_METRICS: &[(&str, &str)] = &[
    ("UnblendedCost", "x_UnblendedCost"),
    ("NetUnblendedCost", "x_NetUnblendedCost"),
    ("AmortizedCost", "x_AmortizedCost"),
    ("NetAmortizedCost", "x_NetAmortizedCost"),
    ("BlendedCost", "x_BlendedCost"),
    ("NormalizedUsageAmount", "x_NormalizedUsageAmount"),
];

/// What the caller may know that a Cost Explorer response does not say.
#[derive(Clone, Debug, Default)]
pub struct CeOptions {
    /// The payer (management) account id: used as `BillingAccountId` for every record.
    pub payer_account_id: Option<String>,
}

/// Opens a Cost Explorer response file with no extra knowledge (see [`open_with`]).
pub fn open(job: &Job, progress: &Progress) -> Result<Box<dyn RecordStream>, NormalizeError> {
    open_with(job, progress, &CeOptions::default())
}

/// Opens a Cost Explorer response file.
pub fn open_with(
    job: &Job,
    progress: &Progress,
    options: &CeOptions,
) -> Result<Box<dyn RecordStream>, NormalizeError> {
    let path = job.inputs.first().ok_or_else(|| {
        NormalizeError::file(
            "(none)",
            NormalizeErrorKind::Malformed("no input file".into()),
        )
    })?;
    let input = Input::open(path, progress)?;
    let file = input.name();
    if input.format != Format::Json {
        return Err(NormalizeError::file(
            file,
            NormalizeErrorKind::Malformed(
                "a Cost Explorer file must be the JSON GetCostAndUsage response (one response, an array of pages or one response per line)".into(),
            ),
        ));
    }
    Ok(Box::new(CeStream {
        scanner: Scanner::new(input.into_reader(), file.clone()),
        file,
        payer: options.payer_account_id.as_deref().map(Text::from),
        queue: VecDeque::new(),
        pending_error: None,
        done: false,
        group_defs: None,
        seen: HashSet::new(),
        billed: CurrencyTotals::default(),
        effective: CurrencyTotals::default(),
        has_effective: false,
        rows: 0,
        billed_metrics: BTreeSet::new(),
        effective_metrics: BTreeSet::new(),
        estimated: 0,
        last_next_page_token: false,
        unknown_services: BTreeSet::new(),
        unknown_record_types: BTreeSet::new(),
        used_placeholder_payer: false,
        pages: 0,
    }))
}

// ---------------------------------------------------------------------------------------------
// Splitting the file into responses.

/// One top-level JSON object of the file, with the line of every `{` in it (in document order).
struct RawResponse {
    bytes: Vec<u8>,
    object_lines: Vec<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ScanState {
    Start,
    InArray,
    Stream,
    Done,
}

/// Splits `[{..},{..}]`, `{..}` and `{..}\n{..}` into objects without parsing them, counting lines.
struct Scanner {
    reader: Box<dyn BufRead + Send>,
    file: String,
    line: u64,
    state: ScanState,
}

impl Scanner {
    fn new(reader: Box<dyn BufRead + Send>, file: String) -> Self {
        Scanner {
            reader,
            file,
            line: 1,
            state: ScanState::Start,
        }
    }

    fn next_byte(&mut self) -> Result<Option<u8>, NormalizeError> {
        let buf = match self.reader.fill_buf() {
            Ok(b) => b,
            Err(e) => {
                return Err(NormalizeError::line(
                    &self.file,
                    self.line,
                    NormalizeErrorKind::Io(e.to_string()),
                ));
            }
        };
        let Some(&b) = buf.first() else {
            return Ok(None);
        };
        self.reader.consume(1);
        if b == b'\n' {
            self.line += 1;
        }
        Ok(Some(b))
    }

    fn next_non_ws(&mut self) -> Result<Option<u8>, NormalizeError> {
        loop {
            match self.next_byte()? {
                Some(b) if b.is_ascii_whitespace() => continue,
                other => return Ok(other),
            }
        }
    }

    fn malformed(&self, msg: impl Into<String>) -> NormalizeError {
        NormalizeError::line(
            &self.file,
            self.line,
            NormalizeErrorKind::Malformed(msg.into()),
        )
    }

    /// Reads one object whose `{` was just consumed.
    fn read_object(&mut self) -> Result<RawResponse, NormalizeError> {
        let mut bytes = vec![b'{'];
        let mut object_lines = vec![self.line];
        let mut depth = 1u32;
        let mut in_string = false;
        let mut escape = false;
        while depth > 0 {
            let Some(b) = self.next_byte()? else {
                return Err(
                    self.malformed("the JSON ends inside a response (the file is truncated)")
                );
            };
            bytes.push(b);
            if in_string {
                if escape {
                    escape = false;
                } else if b == b'\\' {
                    escape = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' => {
                    depth += 1;
                    object_lines.push(self.line);
                }
                b'[' => depth += 1,
                b'}' | b']' => depth -= 1,
                _ => {}
            }
        }
        Ok(RawResponse {
            bytes,
            object_lines,
        })
    }

    /// The next response, with the line it starts on.
    fn next_response(&mut self) -> Result<Option<(u64, RawResponse)>, NormalizeError> {
        loop {
            match self.state {
                ScanState::Done => return Ok(None),
                ScanState::Start => match self.next_non_ws()? {
                    None => {
                        self.state = ScanState::Done;
                        return Ok(None);
                    }
                    Some(b'[') => match self.next_non_ws()? {
                        Some(b']') => self.state = ScanState::Stream,
                        Some(b'{') => {
                            self.state = ScanState::InArray;
                            let line = self.line;
                            return Ok(Some((line, self.read_object()?)));
                        }
                        _ => {
                            return Err(self.malformed(
                                "expected a GetCostAndUsage response object in the JSON array",
                            ))
                        }
                    },
                    Some(b'{') => {
                        self.state = ScanState::Stream;
                        let line = self.line;
                        return Ok(Some((line, self.read_object()?)));
                    }
                    Some(_) => {
                        return Err(self.malformed(
                            "expected a JSON object or array of GetCostAndUsage responses",
                        ))
                    }
                },
                ScanState::InArray => match self.next_non_ws()? {
                    Some(b',') => match self.next_non_ws()? {
                        Some(b'{') => {
                            let line = self.line;
                            return Ok(Some((line, self.read_object()?)));
                        }
                        _ => {
                            return Err(self.malformed(
                                "expected a GetCostAndUsage response object in the JSON array",
                            ))
                        }
                    },
                    Some(b']') => self.state = ScanState::Stream,
                    None => {
                        return Err(
                            self.malformed("the JSON array is not closed (the file is truncated)")
                        )
                    }
                    Some(_) => return Err(self.malformed("expected `,` or `]` between responses")),
                },
                ScanState::Stream => match self.next_non_ws()? {
                    None => {
                        self.state = ScanState::Done;
                        return Ok(None);
                    }
                    Some(b'{') => {
                        let line = self.line;
                        return Ok(Some((line, self.read_object()?)));
                    }
                    Some(_) => return Err(self.malformed("unexpected text after a response")),
                },
            }
        }
    }
}

/// Number of JSON objects in `v`, itself included: the index step between `{`s in document order.
fn count_objects(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(count_objects).sum::<usize>(),
        Value::Array(a) => a.iter().map(count_objects).sum(),
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Group definitions, record types, services, regions.

/// One `GroupDefinitions` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
struct GroupDef {
    kind: String,
    key: String,
}

impl GroupDef {
    fn label(&self) -> String {
        match self.kind.as_str() {
            "DIMENSION" => self.key.clone(),
            other => format!("{other}:{}", self.key),
        }
    }
}

/// ChargeDescription of a Cost Explorer record: what the record is (an aggregate, its granularity
/// and the group it sums), since the response has no per-charge description. Example:
/// `Cost Explorer daily aggregate: SERVICE = Amazon Simple Storage Service, LINKED_ACCOUNT =
/// 111122223333`.
fn describe(defs: &[GroupDef], keys: &[String], start: &Timestamp, end: &Timestamp) -> Text {
    let span = *end - *start;
    let granularity = if span == chrono::Duration::hours(1) {
        "hourly "
    } else if span == chrono::Duration::days(1) {
        "daily "
    } else if *start == month_start(start) && *end == next_month_start(start) {
        "monthly "
    } else {
        ""
    };
    let mut d = format!("Cost Explorer {granularity}aggregate: ");
    if defs.is_empty() {
        d.push_str("total of all costs (not grouped)");
        return Text::from(d);
    }
    for (i, (def, key)) in defs.iter().zip(keys).enumerate() {
        if i > 0 {
            d.push_str(", ");
        }
        match def.kind.as_str() {
            "DIMENSION" => {
                let value = if key.is_empty() { "(none)" } else { key };
                d.push_str(&format!("{} = {value}", def.key));
            }
            kind => {
                // `Key$value`; `Key$` alone is the untagged / uncategorized remainder.
                let value = key
                    .strip_prefix(&format!("{}$", def.key))
                    .or_else(|| key.split_once('$').map(|(_, v)| v))
                    .unwrap_or(key);
                let what = if kind == "TAG" {
                    "tag"
                } else {
                    "cost category"
                };
                if value.is_empty() {
                    d.push_str(&format!("{what} {} not set", def.key));
                } else {
                    d.push_str(&format!("{what} {} = {value}", def.key));
                }
            }
        }
    }
    Text::from(d)
}

/// The FOCUS reading of a Cost Explorer `RECORD_TYPE` (CUR spellings and console labels both occur).
struct RecordTypeMapping {
    category: ChargeCategory,
    frequency: ChargeFrequency,
    pricing: Option<PricingCategory>,
    known: bool,
}

fn record_type(rt: &str) -> RecordTypeMapping {
    use ChargeCategory as C;
    use ChargeFrequency as F;
    let norm: String = rt
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let m = |category, frequency, pricing| RecordTypeMapping {
        category,
        frequency,
        pricing,
        known: true,
    };
    match norm.as_str() {
        "usage" => m(C::Usage, F::UsageBased, None),
        "discountedusage" | "reservationappliedusage" => {
            m(C::Usage, F::UsageBased, Some(PricingCategory::Committed))
        }
        "savingsplancoveredusage" => m(C::Usage, F::UsageBased, Some(PricingCategory::Committed)),
        // Cancels the on-demand cost of Savings Plan covered usage: it belongs with that usage.
        "savingsplannegation" => m(C::Usage, F::UsageBased, None),
        "rifee"
        | "recurringreservationfee"
        | "savingsplanrecurringfee"
        | "supportfee"
        | "support" => m(C::Purchase, F::Recurring, None),
        "upfrontreservationfee" | "savingsplanupfrontfee" | "fee" => {
            m(C::Purchase, F::OneTime, None)
        }
        "tax" => m(C::Tax, F::OneTime, None),
        "credit" => m(C::Credit, F::OneTime, None),
        // Cost Explorer does not say what a refund refunds, so its original category is unknown.
        "refund" => m(C::Adjustment, F::OneTime, None),
        n if n.ends_with("discount") => m(C::Credit, F::OneTime, None),
        "otheroutofcyclecharges" => m(C::Adjustment, F::OneTime, None),
        _ => RecordTypeMapping {
            category: C::Adjustment,
            frequency: F::OneTime,
            pricing: None,
            known: false,
        },
    }
}

/// Cost Explorer `SERVICE` names (they differ from CUR product names) -> category, subcategory.
#[rustfmt::skip]
const SERVICES: &[(&str, ServiceCategory, &str)] = &[
    ("Amazon Elastic Compute Cloud - Compute", ServiceCategory::Compute, "Virtual Machines"),
    ("EC2 - Other", ServiceCategory::Compute, "Other (Compute)"),
    ("AWS Lambda", ServiceCategory::Compute, "Serverless Compute"),
    ("Amazon Elastic Container Service", ServiceCategory::Compute, "Containers"),
    ("Amazon Elastic Container Service for Kubernetes", ServiceCategory::Compute, "Containers"),
    ("Amazon Elastic Kubernetes Service", ServiceCategory::Compute, "Containers"),
    ("Amazon EC2 Container Registry (ECR)", ServiceCategory::Compute, "Containers"),
    ("AWS Fargate", ServiceCategory::Compute, "Containers"),
    ("AWS Batch", ServiceCategory::Compute, "Other (Compute)"),
    ("Amazon Lightsail", ServiceCategory::Compute, "Virtual Machines"),
    ("Amazon WorkSpaces", ServiceCategory::Compute, "End User Computing"),
    ("Amazon AppStream", ServiceCategory::Compute, "End User Computing"),
    ("Amazon Simple Storage Service", ServiceCategory::Storage, "Object Storage"),
    ("Amazon Elastic Block Store", ServiceCategory::Storage, "Block Storage"),
    ("Amazon Elastic File System", ServiceCategory::Storage, "File Storage"),
    ("Amazon FSx", ServiceCategory::Storage, "File Storage"),
    ("Amazon S3 Glacier", ServiceCategory::Storage, "Backup Storage"),
    ("Amazon Glacier", ServiceCategory::Storage, "Backup Storage"),
    ("AWS Backup", ServiceCategory::Storage, "Backup Storage"),
    ("AWS Storage Gateway", ServiceCategory::Storage, "Storage Platforms"),
    ("Amazon Relational Database Service", ServiceCategory::Databases, "Relational Databases"),
    ("Amazon Aurora", ServiceCategory::Databases, "Relational Databases"),
    ("Amazon DynamoDB", ServiceCategory::Databases, "NoSQL Databases"),
    ("Amazon ElastiCache", ServiceCategory::Databases, "Caching"),
    ("Amazon MemoryDB", ServiceCategory::Databases, "Caching"),
    ("Amazon Redshift", ServiceCategory::Databases, "Data Warehouses"),
    ("Amazon DocumentDB (with MongoDB compatibility)", ServiceCategory::Databases, "NoSQL Databases"),
    ("Amazon Neptune", ServiceCategory::Databases, "Other (Databases)"),
    ("Amazon Timestream", ServiceCategory::Databases, "Time Series Databases"),
    ("Amazon Keyspaces (for Apache Cassandra)", ServiceCategory::Databases, "NoSQL Databases"),
    ("Amazon Quantum Ledger Database", ServiceCategory::Databases, "Ledger Databases"),
    ("Amazon Virtual Private Cloud", ServiceCategory::Networking, "Network Infrastructure"),
    ("Amazon Elastic Load Balancing", ServiceCategory::Networking, "Application Networking"),
    ("Elastic Load Balancing", ServiceCategory::Networking, "Application Networking"),
    ("Amazon CloudFront", ServiceCategory::Networking, "Content Delivery"),
    ("Amazon Route 53", ServiceCategory::Networking, "Network Routing"),
    ("AWS Direct Connect", ServiceCategory::Networking, "Network Connectivity"),
    ("AWS Global Accelerator", ServiceCategory::Networking, "Application Networking"),
    ("AWS Transit Gateway", ServiceCategory::Networking, "Network Connectivity"),
    ("AWS Data Transfer", ServiceCategory::Networking, "Other (Networking)"),
    ("Amazon API Gateway", ServiceCategory::Integration, "API Management"),
    ("Amazon Simple Queue Service", ServiceCategory::Integration, "Messaging"),
    ("Amazon Simple Notification Service", ServiceCategory::Integration, "Messaging"),
    ("Amazon MQ", ServiceCategory::Integration, "Messaging"),
    ("Amazon EventBridge", ServiceCategory::Integration, "Messaging"),
    ("CloudWatch Events", ServiceCategory::Integration, "Messaging"),
    ("AWS Step Functions", ServiceCategory::Integration, "Workflow Orchestration"),
    ("Amazon Simple Email Service", ServiceCategory::BusinessApplications, "Productivity and Collaboration"),
    ("Amazon Kinesis", ServiceCategory::Analytics, "Streaming Analytics"),
    ("Amazon Kinesis Firehose", ServiceCategory::Analytics, "Streaming Analytics"),
    ("Amazon Managed Streaming for Apache Kafka", ServiceCategory::Analytics, "Streaming Analytics"),
    ("Amazon Athena", ServiceCategory::Analytics, "Data Processing"),
    ("AWS Glue", ServiceCategory::Analytics, "Data Processing"),
    ("Amazon Elastic MapReduce", ServiceCategory::Analytics, "Data Processing"),
    ("Amazon OpenSearch Service", ServiceCategory::Analytics, "Search"),
    ("Amazon QuickSight", ServiceCategory::Analytics, "Business Intelligence"),
    ("Amazon SageMaker", ServiceCategory::AiAndMachineLearning, "Machine Learning"),
    ("Amazon Bedrock", ServiceCategory::AiAndMachineLearning, "Generative AI"),
    ("Amazon Comprehend", ServiceCategory::AiAndMachineLearning, "Natural Language Processing"),
    ("Amazon Rekognition", ServiceCategory::AiAndMachineLearning, "Other (AI and Machine Learning)"),
    ("Amazon Textract", ServiceCategory::AiAndMachineLearning, "Other (AI and Machine Learning)"),
    ("Amazon Translate", ServiceCategory::AiAndMachineLearning, "Natural Language Processing"),
    ("Amazon Transcribe", ServiceCategory::AiAndMachineLearning, "Natural Language Processing"),
    ("Amazon Polly", ServiceCategory::AiAndMachineLearning, "Natural Language Processing"),
    ("Amazon Lex", ServiceCategory::AiAndMachineLearning, "Bots"),
    ("AmazonCloudWatch", ServiceCategory::ManagementAndGovernance, "Observability"),
    ("Amazon CloudWatch", ServiceCategory::ManagementAndGovernance, "Observability"),
    ("AWS X-Ray", ServiceCategory::ManagementAndGovernance, "Observability"),
    ("Amazon Managed Service for Prometheus", ServiceCategory::ManagementAndGovernance, "Observability"),
    ("Amazon Managed Grafana", ServiceCategory::ManagementAndGovernance, "Observability"),
    ("AWS CloudTrail", ServiceCategory::ManagementAndGovernance, "Compliance"),
    ("AWS Config", ServiceCategory::ManagementAndGovernance, "Compliance"),
    ("AWS Systems Manager", ServiceCategory::ManagementAndGovernance, "Endpoint Management"),
    ("AWS CloudFormation", ServiceCategory::ManagementAndGovernance, "Architecture"),
    ("AWS Service Catalog", ServiceCategory::ManagementAndGovernance, "Other (Management and Governance)"),
    ("AWS Cost Explorer", ServiceCategory::ManagementAndGovernance, "Cost Management"),
    ("AWS Budgets", ServiceCategory::ManagementAndGovernance, "Cost Management"),
    ("AWS Support (Basic)", ServiceCategory::ManagementAndGovernance, "Support"),
    ("AWS Support (Developer)", ServiceCategory::ManagementAndGovernance, "Support"),
    ("AWS Support (Business)", ServiceCategory::ManagementAndGovernance, "Support"),
    ("AWS Support (Enterprise)", ServiceCategory::ManagementAndGovernance, "Support"),
    ("AWS Key Management Service", ServiceCategory::Security, "Secret Management"),
    ("AWS Secrets Manager", ServiceCategory::Security, "Secret Management"),
    ("AWS Certificate Manager", ServiceCategory::Security, "Secret Management"),
    ("AWS WAF", ServiceCategory::Security, "Other (Security)"),
    ("AWS Shield", ServiceCategory::Security, "Other (Security)"),
    ("Amazon GuardDuty", ServiceCategory::Security, "Threat Detection and Response"),
    ("Amazon Inspector", ServiceCategory::Security, "Security Posture Management"),
    ("AWS Security Hub", ServiceCategory::Security, "Security Posture Management"),
    ("Amazon Macie", ServiceCategory::Security, "Other (Security)"),
    ("Amazon Detective", ServiceCategory::Security, "Threat Detection and Response"),
    ("Amazon Cognito", ServiceCategory::Identity, "Identity and Access Management"),
    ("AWS Directory Service", ServiceCategory::Identity, "Identity and Access Management"),
    ("AWS IAM Identity Center", ServiceCategory::Identity, "Identity and Access Management"),
    ("AWS CodeBuild", ServiceCategory::DeveloperTools, "Continuous Integration and Deployment"),
    ("AWS CodePipeline", ServiceCategory::DeveloperTools, "Continuous Integration and Deployment"),
    ("AWS CodeDeploy", ServiceCategory::DeveloperTools, "Continuous Integration and Deployment"),
    ("AWS CodeCommit", ServiceCategory::DeveloperTools, "Source Code Management"),
    ("AWS CodeArtifact", ServiceCategory::DeveloperTools, "Other (Developer Tools)"),
    ("AWS Cloud9", ServiceCategory::DeveloperTools, "Development Environments"),
    ("AWS Amplify", ServiceCategory::Web, "Application Platforms"),
    ("AWS Elastic Beanstalk", ServiceCategory::Web, "Application Platforms"),
    ("AWS App Runner", ServiceCategory::Web, "Application Platforms"),
    ("AWS IoT", ServiceCategory::InternetOfThings, "IoT Platforms"),
    ("AWS IoT Analytics", ServiceCategory::InternetOfThings, "IoT Analytics"),
    ("AWS Database Migration Service", ServiceCategory::Migration, "Data Migration"),
    ("AWS DataSync", ServiceCategory::Migration, "Data Migration"),
    ("AWS Transfer Family", ServiceCategory::Migration, "Data Migration"),
    ("AWS Application Migration Service", ServiceCategory::Migration, "Resource Migration"),
    ("AWS Elemental MediaConvert", ServiceCategory::Media, "Content Creation"),
    ("Amazon Interactive Video Service", ServiceCategory::Media, "Media Streaming"),
    ("Savings Plans for AWS Compute usage", ServiceCategory::Compute, "Other (Compute)"),
    ("Tax", ServiceCategory::Other, "Other (Other)"),
];

fn service_category(name: &str) -> Option<(ServiceCategory, &'static str)> {
    SERVICES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, c, s)| (*c, *s))
}

/// AWS region codes -> region names (the common ones; an unknown code keeps a null RegionName).
#[rustfmt::skip]
const REGIONS: &[(&str, &str)] = &[
    ("us-east-1", "US East (N. Virginia)"),
    ("us-east-2", "US East (Ohio)"),
    ("us-west-1", "US West (N. California)"),
    ("us-west-2", "US West (Oregon)"),
    ("af-south-1", "Africa (Cape Town)"),
    ("ap-east-1", "Asia Pacific (Hong Kong)"),
    ("ap-south-1", "Asia Pacific (Mumbai)"),
    ("ap-south-2", "Asia Pacific (Hyderabad)"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)"),
    ("ap-northeast-2", "Asia Pacific (Seoul)"),
    ("ap-northeast-3", "Asia Pacific (Osaka)"),
    ("ap-southeast-1", "Asia Pacific (Singapore)"),
    ("ap-southeast-2", "Asia Pacific (Sydney)"),
    ("ap-southeast-3", "Asia Pacific (Jakarta)"),
    ("ap-southeast-4", "Asia Pacific (Melbourne)"),
    ("ca-central-1", "Canada (Central)"),
    ("ca-west-1", "Canada West (Calgary)"),
    ("eu-central-1", "Europe (Frankfurt)"),
    ("eu-central-2", "Europe (Zurich)"),
    ("eu-west-1", "Europe (Ireland)"),
    ("eu-west-2", "Europe (London)"),
    ("eu-west-3", "Europe (Paris)"),
    ("eu-north-1", "Europe (Stockholm)"),
    ("eu-south-1", "Europe (Milan)"),
    ("eu-south-2", "Europe (Spain)"),
    ("il-central-1", "Israel (Tel Aviv)"),
    ("me-south-1", "Middle East (Bahrain)"),
    ("me-central-1", "Middle East (UAE)"),
    ("sa-east-1", "South America (Sao Paulo)"),
    ("us-gov-east-1", "AWS GovCloud (US-East)"),
    ("us-gov-west-1", "AWS GovCloud (US-West)"),
];

/// Cost Explorer writes these where a charge has no region or zone.
fn no_location(v: &str) -> bool {
    v.is_empty()
        || v.eq_ignore_ascii_case("global")
        || v.eq_ignore_ascii_case("NoRegion")
        || v.eq_ignore_ascii_case("NoAZ")
}

/// `UsageQuantity` units as Cost Explorer prints them -> FOCUS Unit Format.
fn focus_unit(unit: &str) -> Option<Text> {
    let u = unit.trim();
    if u.is_empty() || u.eq_ignore_ascii_case("N/A") {
        return None;
    }
    let mapped = match u {
        "Hrs" | "Hours" => "Hours",
        "GB-Mo" => "GB-Months",
        "GB-Hours" | "GB-Hrs" => "GB-Hours",
        "Lambda-GB-Second" => "GB-Seconds",
        other => other,
    };
    Some(Text::from(mapped))
}

// ---------------------------------------------------------------------------------------------
// Reading one response.

/// Where a group (or a `Total`) sits in the file.
struct Place {
    line: u64,
    path: String,
}

impl Place {
    fn error(&self, file: &str, field: &str, kind: NormalizeErrorKind) -> NormalizeError {
        NormalizeError::cell(file, self.line, format!("{}.{field}", self.path), kind)
    }
}

/// One metric of one group.
struct Metric {
    amount: Decimal,
    raw: String,
    unit: String,
}

fn metrics_of(
    file: &str,
    place: &Place,
    obj: &Map<String, Value>,
) -> Result<Vec<(String, Metric)>, NormalizeError> {
    let mut out = Vec::with_capacity(obj.len());
    for (name, v) in obj {
        let Value::Object(m) = v else {
            return Err(place.error(
                file,
                name,
                NormalizeErrorKind::InvalidValue("must be an object with Amount and Unit".into()),
            ));
        };
        let raw = match m.get("Amount") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(place.error(
                    file,
                    &format!("{name}.Amount"),
                    NormalizeErrorKind::InvalidValue("is missing or not a number".into()),
                ));
            }
        };
        let Some(amount) = parse_decimal(&raw) else {
            return Err(place.error(
                file,
                &format!("{name}.Amount"),
                NormalizeErrorKind::InvalidValue(format!("`{raw}` is not a number")),
            ));
        };
        let unit = match m.get("Unit") {
            Some(Value::String(s)) => s.trim().to_string(),
            _ => String::new(),
        };
        out.push((name.clone(), Metric { amount, raw, unit }));
    }
    Ok(out)
}

fn find<'a>(metrics: &'a [(String, Metric)], name: &str) -> Option<&'a Metric> {
    metrics.iter().find(|(n, _)| n == name).map(|(_, m)| m)
}

/// Everything one response says that applies to all its groups.
struct ResponseContext {
    defs: Vec<GroupDef>,
    group_by: Option<Text>,
    /// `DimensionValueAttributes`: value -> `description` (the account name for LINKED_ACCOUNT).
    descriptions: HashMap<String, String>,
}

/// The Cost Explorer record stream.
pub struct CeStream {
    scanner: Scanner,
    file: String,
    payer: Option<Text>,
    queue: VecDeque<FocusRecord>,
    pending_error: Option<NormalizeError>,
    done: bool,
    group_defs: Option<Vec<GroupDef>>,
    seen: HashSet<(i64, String)>,
    billed: CurrencyTotals,
    effective: CurrencyTotals,
    has_effective: bool,
    rows: u64,
    billed_metrics: BTreeSet<&'static str>,
    effective_metrics: BTreeSet<&'static str>,
    estimated: u64,
    last_next_page_token: bool,
    unknown_services: BTreeSet<String>,
    unknown_record_types: BTreeSet<String>,
    used_placeholder_payer: bool,
    pages: u64,
}

impl CeStream {
    /// Reads the next response into the queue (records before an error stay queued).
    fn load_response(&mut self) -> Result<bool, NormalizeError> {
        let Some((start_line, raw)) = self.scanner.next_response()? else {
            return Ok(false);
        };
        self.pages += 1;
        let page: Value = serde_json::from_slice(&raw.bytes).map_err(|e| {
            NormalizeError::line(
                &self.file,
                start_line + e.line() as u64 - 1,
                NormalizeErrorKind::Malformed(format!("invalid JSON: {e}")),
            )
        })?;
        let Value::Object(page) = page else {
            return Err(NormalizeError::line(
                &self.file,
                start_line,
                NormalizeErrorKind::Malformed("expected a JSON object".into()),
            ));
        };
        let file = self.file.clone();
        let page_err = |field: &str, msg: String| {
            NormalizeError::cell(&file, start_line, field, NormalizeErrorKind::Malformed(msg))
        };
        let results =
            match page.get("ResultsByTime") {
                Some(Value::Array(a)) => a,
                _ => return Err(page_err(
                    "ResultsByTime",
                    "not a GetCostAndUsage response: `ResultsByTime` is missing or not an array"
                        .into(),
                )),
            };
        let mut defs = Vec::new();
        if let Some(v) = page.get("GroupDefinitions") {
            let Value::Array(a) = v else {
                return Err(page_err("GroupDefinitions", "must be an array".into()));
            };
            for (i, d) in a.iter().enumerate() {
                let kind = d.get("Type").and_then(Value::as_str);
                let key = d.get("Key").and_then(Value::as_str);
                match (kind, key) {
                    (Some(t), Some(k)) => defs.push(GroupDef {
                        kind: t.to_string(),
                        key: k.to_string(),
                    }),
                    _ => {
                        return Err(page_err(
                            &format!("GroupDefinitions[{i}]"),
                            "must have a Type and a Key".into(),
                        ))
                    }
                }
            }
        }
        match &self.group_defs {
            None => self.group_defs = Some(defs.clone()),
            Some(first) if *first != defs => {
                let show = |d: &[GroupDef]| {
                    if d.is_empty() {
                        "no grouping".to_string()
                    } else {
                        d.iter().map(GroupDef::label).collect::<Vec<_>>().join(",")
                    }
                };
                return Err(page_err(
                    "GroupDefinitions",
                    format!(
                        "this response is grouped by {} but the first one by {}: responses of different queries in one file would count the same cost twice",
                        show(&defs),
                        show(first)
                    ),
                ));
            }
            Some(_) => {}
        }
        let mut descriptions = HashMap::new();
        if let Some(Value::Array(attrs)) = page.get("DimensionValueAttributes") {
            for a in attrs {
                if let (Some(v), Some(d)) = (
                    a.get("Value").and_then(Value::as_str),
                    a.get("Attributes")
                        .and_then(|x| x.get("description"))
                        .and_then(Value::as_str),
                ) {
                    descriptions.insert(v.to_string(), d.to_string());
                }
            }
        }
        self.last_next_page_token =
            matches!(page.get("NextPageToken"), Some(Value::String(s)) if !s.is_empty());
        let group_by = if defs.is_empty() {
            None
        } else {
            Some(Text::from(
                defs.iter()
                    .map(GroupDef::label)
                    .collect::<Vec<_>>()
                    .join(","),
            ))
        };
        let ctx = ResponseContext {
            defs,
            group_by,
            descriptions,
        };

        // Walk the objects in document order to find the line of each result and group.
        let lines = &raw.object_lines;
        let line_at = |i: usize| lines.get(i).copied().unwrap_or(start_line);
        let mut cursor = 1usize;
        for (key, value) in &page {
            if key != "ResultsByTime" {
                cursor += count_objects(value);
                continue;
            }
            for (ri, result) in results.iter().enumerate() {
                let Value::Object(r) = result else {
                    return Err(page_err(
                        &format!("ResultsByTime[{ri}]"),
                        "must be an object".into(),
                    ));
                };
                let rplace = Place {
                    line: line_at(cursor),
                    path: format!("ResultsByTime[{ri}]"),
                };
                cursor += 1;
                let mut group_places = Vec::new();
                for (k2, v2) in r {
                    if k2 == "Groups" {
                        if let Value::Array(groups) = v2 {
                            for (gi, g) in groups.iter().enumerate() {
                                group_places.push(Place {
                                    line: line_at(cursor),
                                    path: format!("ResultsByTime[{ri}].Groups[{gi}]"),
                                });
                                cursor += count_objects(g);
                            }
                            continue;
                        }
                    }
                    cursor += count_objects(v2);
                }
                self.load_result(&ctx, r, &rplace, &group_places)?;
            }
        }
        Ok(true)
    }

    fn load_result(
        &mut self,
        ctx: &ResponseContext,
        r: &Map<String, Value>,
        place: &Place,
        group_places: &[Place],
    ) -> Result<(), NormalizeError> {
        let file = self.file.clone();
        let time = |field: &str| -> Result<Timestamp, NormalizeError> {
            let v = r
                .get("TimePeriod")
                .and_then(|t| t.get(field))
                .and_then(Value::as_str)
                .unwrap_or("");
            parse_timestamp(v).ok_or_else(|| {
                place.error(
                    &file,
                    &format!("TimePeriod.{field}"),
                    NormalizeErrorKind::InvalidValue(format!("`{v}` is not a date")),
                )
            })
        };
        let start = time("Start")?;
        let end = time("End")?;
        if end <= start {
            return Err(place.error(
                &file,
                "TimePeriod.End",
                NormalizeErrorKind::InvalidValue("the period ends before it starts".into()),
            ));
        }
        let estimated = matches!(r.get("Estimated"), Some(Value::Bool(true)));
        let groups = match r.get("Groups") {
            Some(Value::Array(g)) => g.as_slice(),
            _ => &[],
        };
        if !groups.is_empty() {
            for (g, gplace) in groups.iter().zip(group_places) {
                let keys: Vec<String> = match g.get("Keys") {
                    Some(Value::Array(k)) => k
                        .iter()
                        .map(|x| x.as_str().unwrap_or_default().to_string())
                        .collect(),
                    _ => Vec::new(),
                };
                if keys.len() != ctx.defs.len() {
                    return Err(gplace.error(
                        &file,
                        "Keys",
                        NormalizeErrorKind::Malformed(format!(
                            "has {} keys but the response has {} GroupDefinitions",
                            keys.len(),
                            ctx.defs.len()
                        )),
                    ));
                }
                let metrics = match g.get("Metrics") {
                    Some(Value::Object(m)) => {
                        let mplace = Place {
                            line: gplace.line,
                            path: format!("{}.Metrics", gplace.path),
                        };
                        metrics_of(&file, &mplace, m)?
                    }
                    _ => {
                        return Err(gplace.error(
                            &file,
                            "Metrics",
                            NormalizeErrorKind::MissingColumn,
                        ));
                    }
                };
                self.push(ctx, start, end, estimated, &keys, &metrics, gplace)?;
            }
        } else if let Some(Value::Object(total)) = r.get("Total") {
            if !total.is_empty() {
                let tplace = Place {
                    line: place.line,
                    path: format!("{}.Total", place.path),
                };
                let metrics = metrics_of(&file, &tplace, total)?;
                self.push(ctx, start, end, estimated, &[], &metrics, &tplace)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        ctx: &ResponseContext,
        start: Timestamp,
        end: Timestamp,
        estimated: bool,
        keys: &[String],
        metrics: &[(String, Metric)],
        place: &Place,
    ) -> Result<(), NormalizeError> {
        let file = self.file.clone();
        if !self.seen.insert((start.timestamp(), keys.join("\u{1f}"))) {
            return Err(place.error(
                &file,
                "Keys",
                NormalizeErrorKind::InvalidValue(
                    "this period and group already appeared earlier in the file (a page saved twice?): it would be counted twice"
                        .into(),
                ),
            ));
        }
        let (billed_name, billed) = match (
            find(metrics, "NetUnblendedCost"),
            find(metrics, "UnblendedCost"),
        ) {
            (Some(m), _) => ("NetUnblendedCost", m),
            (None, Some(m)) => ("UnblendedCost", m),
            (None, None) => {
                return Err(place.error(
                    &file,
                    "Metrics.UnblendedCost",
                    NormalizeErrorKind::MissingColumn,
                ));
            }
        };
        if billed.unit.is_empty() {
            return Err(place.error(
                &file,
                &format!("Metrics.{billed_name}.Unit"),
                NormalizeErrorKind::InvalidValue("is empty but must hold the currency".into()),
            ));
        }
        let currency = Currency::new(&billed.unit);
        let effective_metric = match (
            find(metrics, "NetAmortizedCost"),
            find(metrics, "AmortizedCost"),
        ) {
            (Some(m), _) => Some(("NetAmortizedCost", m)),
            (None, Some(m)) => Some(("AmortizedCost", m)),
            (None, None) => None,
        };
        if let Some((name, m)) = effective_metric {
            if Currency::new(&m.unit) != currency {
                return Err(place.error(
                    &file,
                    &format!("Metrics.{name}.Unit"),
                    NormalizeErrorKind::InvalidValue(format!(
                        "`{}` differs from the billed currency `{currency}`",
                        m.unit
                    )),
                ));
            }
        }
        // Source totals straight from the response's amounts, before any mapping decision.
        self.rows += 1;
        self.billed.add(&currency, billed.amount);
        self.billed_metrics.insert(billed_name);
        if let Some((name, m)) = effective_metric {
            self.effective.add(&currency, m.amount);
            self.has_effective = true;
            self.effective_metrics.insert(name);
        }
        if estimated {
            self.estimated += 1;
        }
        let effective = effective_metric
            .map(|(_, m)| m.amount)
            .unwrap_or(billed.amount);
        let rec = self.record(
            ctx,
            start,
            end,
            estimated,
            keys,
            metrics,
            billed.amount,
            effective,
            currency,
        );
        self.queue.push_back(rec);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        ctx: &ResponseContext,
        start: Timestamp,
        end: Timestamp,
        estimated: bool,
        keys: &[String],
        metrics: &[(String, Metric)],
        billed: Decimal,
        effective: Decimal,
        currency: Currency,
    ) -> FocusRecord {
        let mut service: Option<&str> = None;
        let mut account: Option<&str> = None;
        let mut region: Option<&str> = None;
        let mut zone: Option<&str> = None;
        let mut usage_type: Option<&str> = None;
        let mut rtype: Option<&str> = None;
        let mut invoicing_entity: Option<&str> = None;
        let mut legal_entity: Option<&str> = None;
        let mut tags = Tags::new();
        let mut cost_categories = Map::new();
        let mut dimensions = Map::new();
        for (def, key) in ctx.defs.iter().zip(keys) {
            match def.kind.as_str() {
                "DIMENSION" => match def.key.as_str() {
                    "SERVICE" => service = Some(key),
                    "LINKED_ACCOUNT" => account = Some(key),
                    "REGION" => region = Some(key),
                    "AZ" => zone = Some(key),
                    "USAGE_TYPE" => usage_type = Some(key),
                    "RECORD_TYPE" => rtype = Some(key),
                    "INVOICING_ENTITY" => invoicing_entity = Some(key),
                    "LEGAL_ENTITY_NAME" => legal_entity = Some(key),
                    other => {
                        dimensions.insert(other.to_string(), Value::String(key.clone()));
                    }
                },
                kind => {
                    // Tag and cost category keys read `Key$value`; `Key$` alone means "not tagged".
                    let prefix = format!("{}$", def.key);
                    let value = match key.strip_prefix(&prefix) {
                        Some(v) => v,
                        None => key.split_once('$').map(|(_, v)| v).unwrap_or(key.as_str()),
                    };
                    if value.is_empty() {
                        continue;
                    }
                    if kind == "TAG" {
                        tags.insert(&def.key, value);
                    } else {
                        cost_categories.insert(def.key.clone(), Value::String(value.to_string()));
                    }
                }
            }
        }

        let rt = rtype.map(|t| {
            let m = record_type(t);
            if !m.known {
                self.unknown_record_types.insert(t.to_string());
            }
            m
        });
        let service_name = service.filter(|s| !s.is_empty());
        let (category, frequency, pricing) = match (&rt, service_name) {
            (Some(m), _) => (m.category, m.frequency, m.pricing),
            // Grouped by SERVICE only: Cost Explorer files taxes under a service named "Tax".
            (None, Some("Tax")) => (ChargeCategory::Tax, ChargeFrequency::OneTime, None),
            (None, _) => (ChargeCategory::Usage, ChargeFrequency::UsageBased, None),
        };
        let (service_category, subcategory) = match service_name {
            Some(s) => match service_category(s) {
                Some((c, sub)) => (c, Text::from(sub)),
                None => {
                    self.unknown_services.insert(s.to_string());
                    (
                        ServiceCategory::Other,
                        Text::from(ServiceCategory::Other.other_subcategory()),
                    )
                }
            },
            None => (
                ServiceCategory::Other,
                Text::from(ServiceCategory::Other.other_subcategory()),
            ),
        };

        let account = account.filter(|a| !a.is_empty());
        let account_name = account
            .and_then(|a| ctx.descriptions.get(a))
            .map(|d| Text::from(d.as_str()));
        let (billing_account_id, billing_account_name) = match (&self.payer, account) {
            (Some(p), _) => (p.clone(), None),
            (None, Some(a)) => (Text::from(a), account_name.clone()),
            (None, None) => {
                self.used_placeholder_payer = true;
                (Text::from(UNKNOWN_PAYER), None)
            }
        };

        let region_id = region.filter(|r| !no_location(r));
        let region_name = region_id
            .and_then(|r| REGIONS.iter().find(|(c, _)| *c == r))
            .map(|(_, n)| Text::from(*n));

        let quantity = find(metrics, "UsageQuantity");
        let (consumed_quantity, consumed_unit) = match (usage_type, quantity) {
            // Only one usage type has one unit; across usage types the quantity sums unlike units.
            (Some(_), Some(q)) if category == ChargeCategory::Usage => match focus_unit(&q.unit) {
                Some(u) => (Some(q.amount), Some(u)),
                None => (None, None),
            },
            _ => (None, None),
        };

        let provider = Text::from("AWS");
        let publisher = legal_entity
            .filter(|l| !l.is_empty())
            .map(Text::from)
            .unwrap_or_else(|| provider.clone());

        let mut extensions: Vec<(Text, Text)> = Vec::with_capacity(8);
        let mut ext =
            |name: &str, value: String| extensions.push((Text::from(name), Text::from(value)));
        ext("x_AggregationSource", "CostExplorer".into());
        if let Some(g) = &ctx.group_by {
            ext("x_GroupBy", g.to_string());
        }
        ext("x_Estimated", estimated.to_string());
        if let Some(t) = rtype {
            ext("x_RecordType", t.to_string());
        }
        if let Some(u) = usage_type {
            ext("x_UsageType", u.to_string());
        }
        for (metric, column) in RAW_METRICS {
            if let Some(m) = find(metrics, metric) {
                ext(column, m.raw.clone());
            }
        }
        if let Some(q) = quantity {
            ext("x_UsageQuantity", q.raw.clone());
            if !q.unit.is_empty() {
                ext("x_UsageQuantityUnit", q.unit.clone());
            }
        }
        if !cost_categories.is_empty() {
            ext(
                "x_CostCategories",
                Value::Object(cost_categories).to_string(),
            );
        }
        if !dimensions.is_empty() {
            ext("x_Dimensions", Value::Object(dimensions).to_string());
        }

        let charge_description = Some(describe(&ctx.defs, keys, &start, &end));
        FocusRecord {
            billed_cost: billed,
            effective_cost: effective,
            charge_description,
            // Cost Explorer has no list or negotiated price: see the mapping document.
            list_cost: billed,
            contracted_cost: billed,
            billing_account_id,
            billing_account_name,
            billing_currency: currency,
            billing_period_start: month_start(&start),
            billing_period_end: next_month_start(&start),
            charge_period_start: start,
            charge_period_end: end,
            charge_category: category,
            charge_frequency: Some(frequency),
            pricing_category: pricing,
            consumed_quantity,
            consumed_unit: consumed_unit.clone(),
            pricing_quantity: consumed_quantity,
            pricing_unit: consumed_unit,
            // FOCUS: SkuMeter is null when SkuId is, and Cost Explorer has no SKU id; the
            // usage type is kept in `x_UsageType`.
            sku_meter: None,
            invoice_issuer_name: invoicing_entity
                .filter(|e| !e.is_empty())
                .map(Text::from)
                .unwrap_or_else(|| provider.clone()),
            provider_name: provider.clone(),
            publisher_name: publisher.clone(),
            service_provider_name: publisher,
            host_provider_name: provider,
            region_id: region_id.map(Text::from),
            region_name,
            availability_zone: zone.filter(|z| !no_location(z)).map(Text::from),
            service_name: Text::from(service_name.unwrap_or(ALL_SERVICES)),
            service_category,
            service_subcategory: Some(subcategory),
            sub_account_id: account.map(Text::from),
            sub_account_name: account_name,
            sub_account_type: account.map(|_| Text::from("Account")),
            tags,
            extensions,
            ..FocusRecord::default()
        }
    }
}

impl Iterator for CeStream {
    type Item = Result<FocusRecord, NormalizeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.queue.pop_front() {
                return Some(Ok(r));
            }
            if let Some(e) = self.pending_error.take() {
                self.done = true;
                return Some(Err(e));
            }
            if self.done {
                return None;
            }
            match self.load_response() {
                Ok(true) => {}
                Ok(false) => self.done = true,
                // Records of the same response read before the error still come first.
                Err(e) => self.pending_error = Some(e),
            }
        }
    }
}

impl RecordStream for CeStream {
    fn dialect(&self) -> Dialect {
        Dialect::AwsCostExplorer
    }

    fn extension_columns(&self) -> Vec<Text> {
        EXTENSION_COLUMNS.iter().map(|c| Text::from(*c)).collect()
    }

    fn source_totals(&self) -> SourceTotals {
        SourceTotals {
            billed: self.billed.clone(),
            effective: self.has_effective.then(|| self.effective.clone()),
            rows: self.rows,
        }
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let grouping = match self.group_defs.as_deref() {
            Some(d) if !d.is_empty() => d.iter().map(GroupDef::label).collect::<Vec<_>>().join(","),
            _ => "nothing (totals only)".to_string(),
        };
        notes.push(format!(
            "Cost Explorer aggregates ({} responses) grouped by {grouping}: one record per period and group, with no resource, SKU or price detail; ListCost and ContractedCost equal BilledCost because Cost Explorer has no list or negotiated price",
            self.pages
        ));
        let join = |s: &BTreeSet<&str>| s.iter().copied().collect::<Vec<_>>().join(" and ");
        if !self.billed_metrics.is_empty() {
            notes.push(format!("BilledCost is {}", join(&self.billed_metrics)));
        }
        if self.effective_metrics.is_empty() {
            notes.push("the responses have no AmortizedCost or NetAmortizedCost metric: EffectiveCost = BilledCost, so commitment purchases are not amortized".into());
        } else {
            notes.push(format!(
                "EffectiveCost is {}",
                join(&self.effective_metrics)
            ));
        }
        let by_record_type = self.group_defs.as_deref().is_some_and(|d| {
            d.iter()
                .any(|g| g.kind == "DIMENSION" && g.key == "RECORD_TYPE")
        });
        if !by_record_type {
            notes.push("not grouped by RECORD_TYPE: taxes, credits, refunds and fees cannot be told apart from usage, so they are inside the Usage records (except the `Tax` service when grouped by SERVICE)".into());
        }
        if self.estimated > 0 {
            notes.push(format!(
                "{} records are marked Estimated by Cost Explorer (the period is not final; x_Estimated = true)",
                self.estimated
            ));
        }
        if self.last_next_page_token {
            notes.push("the last response has a NextPageToken: later pages are missing from the file, so the totals are incomplete".into());
        }
        if self.used_placeholder_payer {
            notes.push(format!(
                "Cost Explorer responses do not carry the payer account and the query was not grouped by LINKED_ACCOUNT: BillingAccountId is `{UNKNOWN_PAYER}`"
            ));
        }
        if !self.unknown_services.is_empty() {
            notes.push(format!(
                "services not in the Cost Explorer category table (ServiceCategory Other): {}",
                self.unknown_services
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.unknown_record_types.is_empty() {
            notes.push(format!(
                "unknown RECORD_TYPE values mapped to ChargeCategory Adjustment: {}",
                self.unknown_record_types
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_types_map_both_spellings() {
        for (rt, cat) in [
            ("Usage", ChargeCategory::Usage),
            ("Savings Plan Covered Usage", ChargeCategory::Usage),
            ("SavingsPlanCoveredUsage", ChargeCategory::Usage),
            ("Recurring reservation fee", ChargeCategory::Purchase),
            ("RIFee", ChargeCategory::Purchase),
            ("Tax", ChargeCategory::Tax),
            ("Credit", ChargeCategory::Credit),
            (
                "Enterprise Discount Program Discount",
                ChargeCategory::Credit,
            ),
            ("Refund", ChargeCategory::Adjustment),
        ] {
            let m = record_type(rt);
            assert_eq!(m.category, cat, "{rt}");
            assert!(m.known, "{rt}");
        }
        assert!(!record_type("Something new").known);
    }

    #[test]
    fn scanner_splits_arrays_and_lines() {
        let text = b"[\n {\"a\": {\"b\": 1}},\n {\"c\": \"}{\"}\n]\n";
        let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.to_vec()));
        let mut s = Scanner::new(reader, "f".into());
        let (l1, r1) = s.next_response().expect("ok").expect("first");
        assert_eq!((l1, r1.object_lines.clone()), (2, vec![2, 2]));
        let (l2, r2) = s.next_response().expect("ok").expect("second");
        assert_eq!(l2, 3);
        assert_eq!(r2.bytes, b"{\"c\": \"}{\"}".to_vec());
        assert!(s.next_response().expect("ok").is_none());
    }
}
