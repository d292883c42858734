//! Streaming normalizers: one parser per export dialect, each turning a provider's billing file into
//! [`FocusRecord`]s one row at a time, in constant memory.
//!
//! [`plan`] opens each input, sniffs its format, reads its header and picks the [`Dialect`] (or takes
//! the one the user forced); inputs that must be read together (an Azure actual export and its
//! amortized twin) become one [`Job`]. [`Job::open`] then returns a [`RecordStream`].
//!
//! The mapping decisions for every dialect are written down in `docs/mapping/`.

use std::path::{Path, PathBuf};

use crate::error::{NormalizeError, NormalizeErrorKind};
use crate::focus::FocusRecord;
use crate::input::{Format, Input, Progress};
use crate::money::CurrencyTotals;
use crate::text::Text;

pub mod aws_ce;
pub mod aws_cur;
pub mod azure;
pub mod azure_query;
pub mod csv_input;
pub mod focus;
pub mod gcp;
pub mod parquet_input;
pub mod table;

/// The export formats costkit reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// AWS legacy Cost and Usage Report CSV (`lineItem/UnblendedCost` headers).
    AwsCur,
    /// AWS Data Exports CUR 2.0 (snake_case columns; CSV or Parquet; map columns as JSON text).
    AwsCur2,
    /// AWS Cost Explorer `GetCostAndUsage` response JSON (daily aggregates).
    AwsCostExplorer,
    /// Azure cost details export, actual cost (EA or MCA columns).
    AzureActual,
    /// Azure cost details export, amortized cost (EA or MCA columns).
    AzureAmortized,
    /// Azure Cost Management Query API pages (daily, grouped; actual and amortized joined).
    AzureCostQuery,
    /// Google Cloud Billing export to BigQuery, standard or detailed (NDJSON or flattened CSV).
    GcpBilling,
    /// Any FOCUS 1.0/1.1/1.2 file, including the AWS Data Exports FOCUS table and Azure FocusCost.
    Focus,
}

impl Dialect {
    /// Every dialect.
    pub const ALL: &'static [Dialect] = &[
        Dialect::AwsCur,
        Dialect::AwsCur2,
        Dialect::AwsCostExplorer,
        Dialect::AzureActual,
        Dialect::AzureAmortized,
        Dialect::AzureCostQuery,
        Dialect::GcpBilling,
        Dialect::Focus,
    ];

    /// The name used by `--from` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::AwsCur => "aws-cur",
            Dialect::AwsCur2 => "aws-cur2",
            Dialect::AwsCostExplorer => "aws-ce",
            Dialect::AzureActual => "azure-actual",
            Dialect::AzureAmortized => "azure-amortized",
            Dialect::AzureCostQuery => "azure-cm-query",
            Dialect::GcpBilling => "gcp-billing",
            Dialect::Focus => "focus",
        }
    }

    /// Parses a `--from` name.
    pub fn from_name(s: &str) -> Option<Dialect> {
        Dialect::ALL.iter().copied().find(|d| d.name() == s)
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the source file itself says its totals are, computed from its own cost columns while the
/// stream reads it, so a run can show that nothing was dropped or double-counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceTotals {
    /// The source's billed (invoice) measure per currency, e.g. Σ `lineItem/UnblendedCost`.
    pub billed: CurrencyTotals,
    /// The source's amortized measure per currency, when the source has one.
    pub effective: Option<CurrencyTotals>,
    /// Source rows read (not records written: folding and splitting change that count).
    pub rows: u64,
}

/// A stream of normalized records from one [`Job`].
pub trait RecordStream: Iterator<Item = Result<FocusRecord, NormalizeError>> + Send {
    /// The dialect being read.
    fn dialect(&self) -> Dialect;

    /// The `x_` columns this stream's records carry, in output order.
    fn extension_columns(&self) -> Vec<Text>;

    /// The source's own totals; complete once the iterator has returned `None`.
    fn source_totals(&self) -> SourceTotals;

    /// Things the user should know about this input (e.g. "actual cost only: EffectiveCost of
    /// reservation-covered usage is unknown"). Complete once the iterator has returned `None`.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// One unit of normalization work: a dialect and the files it reads together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The dialect of `inputs`.
    pub dialect: Dialect,
    /// Files read in order.
    pub inputs: Vec<PathBuf>,
    /// For an Azure actual-cost job: the amortized exports joined to it (empty otherwise).
    pub amortized: Vec<PathBuf>,
}

impl Job {
    /// Opens the job's stream; raw bytes read are counted into `progress`.
    pub fn open(&self, progress: &Progress) -> Result<Box<dyn RecordStream>, NormalizeError> {
        match self.dialect {
            Dialect::AwsCur | Dialect::AwsCur2 => aws_cur::open(self, progress),
            Dialect::AwsCostExplorer => aws_ce::open(self, progress),
            Dialect::AzureActual | Dialect::AzureAmortized => azure::open(self, progress),
            Dialect::AzureCostQuery => azure_query::open(self, progress),
            Dialect::GcpBilling => gcp::open(self, progress),
            Dialect::Focus => focus::open(self, progress),
        }
    }

    /// A display name for the job (its files).
    pub fn name(&self) -> String {
        let mut names: Vec<String> = self
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        names.extend(self.amortized.iter().map(|p| p.display().to_string()));
        names.join(" + ")
    }
}

/// Header names of a file (CSV header, Parquet schema, or the keys of the first JSON object), or the
/// JSON shape for JSON inputs.
#[derive(Debug)]
enum Sniffed {
    Columns(Vec<String>),
    CostExplorerJson,
    AzureQueryJson,
    GcpJson,
    OtherJson(String),
}

fn sniff(path: &Path) -> Result<Sniffed, NormalizeError> {
    let progress = Progress::default();
    let mut input = Input::open(path, &progress)?;
    let name = input.name();
    match input.format {
        Format::Parquet => Ok(Sniffed::Columns(parquet_input::column_names(path)?)),
        Format::Json => {
            let head = input.peek()?;
            let text = String::from_utf8_lossy(&head[..head.len().min(64 * 1024)]).to_string();
            // `json.dumps(sort_keys=True)` puts DimensionValueAttributes (one entry per account, so
            // possibly long) and GroupDefinitions before ResultsByTime.
            if azure_query::sniff(&text) {
                Ok(Sniffed::AzureQueryJson)
            } else if text.contains("\"ResultsByTime\"")
                || text.contains("\"GroupDefinitions\"")
                || text.contains("\"DimensionValueAttributes\"")
            {
                Ok(Sniffed::CostExplorerJson)
            } else if text.contains("\"billing_account_id\"") {
                Ok(Sniffed::GcpJson)
            } else {
                Ok(Sniffed::OtherJson(format!(
                    "{name}: JSON that is neither a Cost Explorer GetCostAndUsage response (no `ResultsByTime`) nor a GCP billing export (no `billing_account_id`)"
                )))
            }
        }
        Format::Csv => {
            let head = input.peek()?;
            // A file of blank lines is as empty as a 0-byte file (not a one-column CSV).
            if !head.is_empty()
                && head.len() < 64 * 1024
                && head.iter().all(u8::is_ascii_whitespace)
            {
                return Err(NormalizeError::file(name, NormalizeErrorKind::Empty));
            }
            let csv = csv_input::CsvInput::new(input)?;
            Ok(Sniffed::Columns(csv.headers().to_vec()))
        }
    }
}

/// Picks a dialect from header names. `path` breaks the one tie headers cannot: Azure actual and
/// amortized exports share a schema, so a file name containing "amortiz" means amortized.
pub fn detect(file: &str, headers: &[String], path: &Path) -> Result<Dialect, NormalizeError> {
    let has = |n: &str| headers.iter().any(|h| h == n);
    let has_ci = |n: &str| headers.iter().any(|h| h.eq_ignore_ascii_case(n));
    if has("lineItem/UnblendedCost") || has("lineItem/LineItemType") {
        return Ok(Dialect::AwsCur);
    }
    if has("line_item_unblended_cost") || has("line_item_line_item_type") {
        return Ok(Dialect::AwsCur2);
    }
    // A FOCUS file that lost BilledCost is still FOCUS: its reader then names the missing column.
    if (has("BilledCost") && (has("ChargePeriodStart") || has("ChargeCategory")))
        || (has("ChargePeriodStart") && has("ChargeCategory") && has("BillingAccountId"))
    {
        return Ok(Dialect::Focus);
    }
    if has_ci("MeterCategory")
        && (has_ci("CostInBillingCurrency") || has_ci("Cost") || has_ci("PreTaxCost"))
    {
        let lower = path.to_string_lossy().to_ascii_lowercase();
        return Ok(if lower.contains("amortiz") {
            Dialect::AzureAmortized
        } else {
            Dialect::AzureActual
        });
    }
    if has("billing_account_id") && has("cost") {
        return Ok(Dialect::GcpBilling);
    }
    if headers.len() == 1 {
        let h = &headers[0];
        let hint = if h.contains(';') {
            " (it contains `;`: the file seems to use a semicolon delimiter; costkit reads comma-separated exports)"
        } else if h.contains('\t') {
            " (it contains tabs: the file seems tab-separated; costkit reads comma-separated exports)"
        } else if h.contains('|') {
            " (it contains `|`: the file seems pipe-separated; costkit reads comma-separated exports)"
        } else {
            ""
        };
        return Err(NormalizeError::line(
            file,
            1,
            NormalizeErrorKind::UnknownDialect(format!("the header has a single column{hint}")),
        ));
    }
    let recommendation = headers
        .iter()
        .any(|h| h.to_ascii_lowercase().contains("recommend"));
    if recommendation {
        return Err(NormalizeError::line(
            file,
            1,
            NormalizeErrorKind::NotACostExport(
                "the header has recommendation columns (a reservation or savings plan recommendations export?) and no cost column".into(),
            ),
        ));
    }
    let shown: Vec<&str> = headers.iter().take(6).map(String::as_str).collect();
    Err(NormalizeError::line(
        file,
        1,
        NormalizeErrorKind::UnknownDialect(format!(
            "the header ({}{}) matches none of: {}; force one with --from",
            shown.join(", "),
            if headers.len() > 6 { ", ..." } else { "" },
            Dialect::ALL
                .iter()
                .map(|d| d.name())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    ))
}

/// Detects the dialect of each input (unless `forced`) and groups the inputs into jobs: files of
/// one dialect are read one by one, except that Azure actual and amortized exports given together
/// are joined into one job.
pub fn plan(paths: &[PathBuf], forced: Option<Dialect>) -> Result<Vec<Job>, NormalizeError> {
    refuse_duplicates(paths)?;
    let mut jobs: Vec<Job> = Vec::new();
    let mut azure_actual: Vec<PathBuf> = Vec::new();
    let mut azure_amortized: Vec<PathBuf> = Vec::new();
    for path in paths {
        let file = path.display().to_string();
        let dialect = match sniff(path)? {
            Sniffed::CostExplorerJson => Dialect::AwsCostExplorer,
            Sniffed::AzureQueryJson => Dialect::AzureCostQuery,
            Sniffed::GcpJson => Dialect::GcpBilling,
            Sniffed::OtherJson(msg) if forced.is_none() => {
                return Err(NormalizeError::file(
                    file,
                    NormalizeErrorKind::UnknownDialect(msg),
                ));
            }
            Sniffed::OtherJson(_) => forced.unwrap_or(Dialect::Focus),
            Sniffed::Columns(headers) => match forced {
                Some(d) => d,
                None => detect(&file, &headers, path)?,
            },
        };
        let dialect = forced.unwrap_or(dialect);
        match dialect {
            Dialect::AzureActual => azure_actual.push(path.clone()),
            Dialect::AzureAmortized => azure_amortized.push(path.clone()),
            d => jobs.push(Job {
                dialect: d,
                inputs: vec![path.clone()],
                amortized: Vec::new(),
            }),
        }
    }
    jobs.extend(azure::group_jobs(azure_actual, azure_amortized));
    Ok(jobs)
}

/// Size, first 64 KiB and last 64 KiB of a file.
type Fingerprint = (u64, Vec<u8>, Vec<u8>);

/// What identifies a file's content cheaply: its size and its first and last 64 KiB.
fn fingerprint(path: &Path) -> Result<Fingerprint, NormalizeError> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |e: std::io::Error| {
        NormalizeError::file(
            path.display().to_string(),
            NormalizeErrorKind::Io(e.to_string()),
        )
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    let mut head = vec![0u8; size.min(64 * 1024) as usize];
    f.read_exact(&mut head).map_err(io)?;
    let tail_len = size.min(64 * 1024);
    f.seek(SeekFrom::Start(size - tail_len)).map_err(io)?;
    let mut tail = vec![0u8; tail_len as usize];
    f.read_exact(&mut tail).map_err(io)?;
    Ok((size, head, tail))
}

/// The same file given twice in one run (a repeated path, or a copy under another name) would be
/// counted twice, since all inputs of a run form one delivery: refuse it.
fn refuse_duplicates(paths: &[PathBuf]) -> Result<(), NormalizeError> {
    let mut seen: Vec<(PathBuf, Fingerprint)> = Vec::with_capacity(paths.len());
    for path in paths {
        let fp = fingerprint(path)?;
        // Header-only exports are identical by nature and add no money: let them through.
        let header_only =
            fp.0 == fp.1.len() as u64 && fp.1.iter().filter(|b| **b == b'\n').count() <= 1;
        if fp.0 > 0 && !header_only {
            if let Some((first, _)) = seen.iter().find(|(_, other)| *other == fp) {
                return Err(NormalizeError::file(
                    path.display().to_string(),
                    NormalizeErrorKind::Malformed(format!(
                        "same content as {} given earlier in this run; loading both would count the same costs twice",
                        first.display()
                    )),
                ));
            }
        }
        seen.push((path.clone(), fp));
    }
    Ok(())
}
