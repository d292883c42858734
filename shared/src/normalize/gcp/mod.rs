//! Google Cloud Billing export to BigQuery, standard (`gcp_billing_export_v1_*`) and detailed
//! (`gcp_billing_export_resource_v1_*`) usage cost tables, read as newline-delimited JSON (what
//! `bq extract` and the BigQuery API give) or as flattened CSV (dotted column names, repeated
//! records as JSON arrays in one cell).
//!
//! The decisions, column by column, are in `docs/mapping/gcp.md`. The ones that move money:
//!
//! * BilledCost = `cost` + Σ `credits.amount` of the row, except `PROMOTION` credits, which are a
//!   form of payment (free trial, grants) and become their own `Credit` records right after the row
//!   they reduce. Every credit is counted exactly once, so Σ BilledCost = Σ cost + Σ credits.
//! * The export has no amortized view: commitment fees are billed hourly for the hour they cover.
//!   EffectiveCost = BilledCost on every record, and [`SourceTotals::effective`] is `None`.
//! * BillingPeriodStart/End come from `invoice.month`, a month in America/Los_Angeles time.

mod source;
mod tables;

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use chrono_tz::America::Los_Angeles;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::{NormalizeError, NormalizeErrorKind};
use crate::focus::*;
use crate::input::{Format, Input, Progress};
use crate::money::{parse_decimal, Currency};
use crate::normalize::csv_input::CsvInput;
use crate::normalize::{Dialect, Job, RecordStream, SourceTotals};
use crate::text::Text;
use crate::time::{parse_timestamp, Timestamp};

use source::{RawCredit, RawReader, RawRow, F};

pub use tables::{focus_unit, region_name, service_category};

/// ProviderName (and HostProviderName) of every record.
pub const PROVIDER: &str = "Google Cloud";
/// InvoiceIssuerName of charges Google invoices.
pub const INVOICE_ISSUER: &str = "Google";

/// Credit types whose amount stays on the row it belongs to (a price reduction of that usage).
/// Anything else except `PROMOTION` is treated the same way: a discount of the row.
const PROMOTION: &str = "PROMOTION";
const CUD_RESOURCE: &str = "COMMITTED_USAGE_DISCOUNT";
const CUD_SPEND: &str = "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE";

/// Tag key prefixes, one per tag scheme of the export (resource labels have none).
pub const PROJECT_LABEL_PREFIX: &str = "project:";
/// Prefix of `system_labels` keys (provider-defined, so they carry a provider prefix).
pub const SYSTEM_LABEL_PREFIX: &str = "gcp-system:";
/// Prefix of resource manager tags, followed by `<namespace>/<key>`.
pub const TAG_PREFIX: &str = "tag:";

/// The `x_` columns, in output order.
const EXTENSIONS: &[&str] = &[
    "x_InvoiceMonth",
    "x_CostType",
    "x_ServiceId",
    "x_ProjectNumber",
    "x_ProjectAncestryNumbers",
    "x_Location",
    "x_Country",
    "x_Cost",
    "x_CreditsTotal",
    "x_Credits",
    "x_CreditType",
    "x_CurrencyConversionRate",
    "x_TransactionType",
    "x_SellerName",
    "x_PublisherType",
    "x_AdjustmentId",
    "x_AdjustmentDescription",
    "x_AdjustmentMode",
    "x_AdjustmentType",
    "x_ConsumptionModel",
    "x_ExportTime",
];

#[derive(Clone, Copy)]
enum X {
    InvoiceMonth,
    CostType,
    ServiceId,
    ProjectNumber,
    ProjectAncestryNumbers,
    Location,
    Country,
    Cost,
    CreditsTotal,
    Credits,
    CreditType,
    CurrencyConversionRate,
    TransactionType,
    SellerName,
    PublisherType,
    AdjustmentId,
    AdjustmentDescription,
    AdjustmentMode,
    AdjustmentType,
    ConsumptionModel,
    ExportTime,
}

/// Extension values of one record, filled by [`X`] and emitted in [`EXTENSIONS`] order.
struct Ext(Vec<Option<String>>);

impl Ext {
    fn new() -> Self {
        Ext(vec![None; EXTENSIONS.len()])
    }

    fn set(&mut self, x: X, v: Option<impl Into<String>>) {
        self.0[x as usize] = v.map(Into::into);
    }

    fn into_pairs(self) -> Vec<(Text, Text)> {
        EXTENSIONS
            .iter()
            .zip(self.0)
            .filter_map(|(n, v)| v.map(|v| (Text::from(*n), Text::from(v))))
            .collect()
    }
}

/// The GCP billing record stream.
pub struct GcpStream {
    progress: Progress,
    remaining: VecDeque<PathBuf>,
    reader: Option<RawReader>,
    pending: VecDeque<FocusRecord>,
    totals: SourceTotals,
    promotion_records: u64,
    list_fallbacks: u64,
    unknown_cost_types: BTreeSet<String>,
    unknown_units: BTreeSet<String>,
    done: bool,
}

fn open_reader(path: &Path, progress: &Progress) -> Result<RawReader, NormalizeError> {
    let mut input = Input::open(path, progress)?;
    let file = input.name();
    match input.format {
        Format::Json => {
            let first = input.peek()?.iter().find(|b| !b.is_ascii_whitespace()).copied();
            if first == Some(b'[') {
                return Err(NormalizeError::line(
                    file,
                    1,
                    NormalizeErrorKind::Malformed(
                        "a JSON array: costkit reads the export as newline-delimited JSON, one row per line \
                         (bq extract --destination_format NEWLINE_DELIMITED_JSON)"
                            .into(),
                    ),
                ));
            }
            Ok(RawReader::json(file, input.into_reader()))
        }
        Format::Csv => RawReader::csv(CsvInput::new(input)?),
        Format::Parquet => Err(NormalizeError::file(
            file,
            NormalizeErrorKind::UnknownDialect(
                "a Parquet GCP billing export: export the table as newline-delimited JSON or flattened CSV".into(),
            ),
        )),
    }
}

/// Opens a GCP billing export job (its files are read one after the other).
pub fn open(job: &Job, progress: &Progress) -> Result<Box<dyn RecordStream>, NormalizeError> {
    let mut remaining: VecDeque<PathBuf> = job.inputs.iter().cloned().collect();
    let first = remaining.pop_front().ok_or_else(|| {
        NormalizeError::file(
            "(none)",
            NormalizeErrorKind::Malformed("no input file".into()),
        )
    })?;
    let reader = open_reader(&first, progress)?;
    Ok(Box::new(GcpStream {
        progress: progress.clone(),
        remaining,
        reader: Some(reader),
        pending: VecDeque::new(),
        totals: SourceTotals::default(),
        promotion_records: 0,
        list_fallbacks: 0,
        unknown_cost_types: BTreeSet::new(),
        unknown_units: BTreeSet::new(),
        done: false,
    }))
}

/// BillingPeriodStart and End of an invoice month (`YYYYMM`, also `YYYY-MM`): midnight on the
/// first of the month and of the next month in America/Los_Angeles, as UTC instants (07:00Z in
/// daylight time, 08:00Z in standard time).
pub fn invoice_period(month: &str) -> Option<(Timestamp, Timestamp)> {
    let digits: String = month.trim().chars().filter(|c| *c != '-').collect();
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i32 = digits[..4].parse().ok()?;
    let m: u32 = digits[4..].parse().ok()?;
    if !(1..=12).contains(&m) {
        return None;
    }
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    // Midnight never falls in a Pacific DST gap (changes happen at 02:00), so `earliest` is exact.
    let start = Los_Angeles.with_ymd_and_hms(y, m, 1, 0, 0, 0).earliest()?;
    let end = Los_Angeles
        .with_ymd_and_hms(ny, nm, 1, 0, 0, 0)
        .earliest()?;
    Some((start.with_timezone(&Utc), end.with_timezone(&Utc)))
}

/// Reads a timestamp as BigQuery writes it: ISO 8601, `2024-09-01 07:00:00 UTC`, or seconds since
/// the epoch (what the BigQuery REST API returns for TIMESTAMP cells, e.g. `1.7251776E9`).
fn parse_bq_timestamp(s: &str) -> Option<Timestamp> {
    if let Some(t) = parse_timestamp(s) {
        return Some(t);
    }
    let secs = parse_decimal(s)?;
    let whole = secs.trunc();
    let nanos = ((secs - whole) * Decimal::from(1_000_000_000)).trunc();
    let whole: i64 = whole.try_into().ok()?;
    let nanos: u32 = nanos.try_into().ok()?;
    Utc.timestamp_opt(whole, nanos).single()
}

/// `//compute.googleapis.com/projects/p/zones/z/instances/vm` -> `compute.instances`.
fn resource_type(global_name: &str) -> Option<String> {
    let rest = global_name.strip_prefix("//")?;
    let (host, path) = rest.split_once('/')?;
    let service = host.strip_suffix(".googleapis.com").unwrap_or(host);
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != "global")
        .collect();
    let mut last = None;
    for pair in segments.chunks(2) {
        if let [collection, _] = pair {
            if !matches!(
                *collection,
                "projects" | "locations" | "regions" | "zones" | "folders" | "organizations"
            ) {
                last = Some(*collection);
            }
        }
    }
    last.map(|c| format!("{service}.{c}"))
}

fn credits_json<'a>(credits: impl Iterator<Item = &'a RawCredit>) -> Option<String> {
    let items: Vec<serde_json::Value> = credits
        .map(|c| {
            let mut m = serde_json::Map::new();
            m.insert("type".into(), c.kind.clone().into());
            m.insert("id".into(), c.id.clone().into());
            m.insert("name".into(), c.name.clone().into());
            m.insert("full_name".into(), c.full_name.clone().into());
            m.insert("amount".into(), c.amount.normalize().to_string().into());
            serde_json::Value::Object(m)
        })
        .collect();
    if items.is_empty() {
        None
    } else {
        Some(serde_json::Value::Array(items).to_string())
    }
}

fn is_type(c: &RawCredit, t: &str) -> bool {
    c.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case(t))
}

/// Converts to the pricing currency (USD) at the row's rate, to 10 decimal places.
fn to_usd(amount: Decimal, rate: Option<Decimal>) -> Option<Decimal> {
    let rate = rate?;
    if rate.is_zero() {
        return None;
    }
    amount.checked_div(rate).map(|v| {
        v.round_dp_with_strategy(10, RoundingStrategy::MidpointAwayFromZero)
            .normalize()
    })
}

fn cell_error(rd: &RawReader, line: u64, f: F, msg: String) -> NormalizeError {
    NormalizeError::cell(
        rd.file(),
        line,
        rd.name(f),
        NormalizeErrorKind::InvalidValue(msg),
    )
}

impl GcpStream {
    /// Maps one source row to its record(s), appended to `pending`.
    fn map_row(&mut self, rd: &RawReader, raw: &RawRow) -> Result<(), NormalizeError> {
        let line = raw.line;
        let text = |f: F| raw.get(f).map(Text::from);
        let dec = |f: F| -> Result<Option<Decimal>, NormalizeError> {
            match raw.get(f) {
                None => Ok(None),
                Some(s) => parse_decimal(s)
                    .map(Some)
                    .ok_or_else(|| cell_error(rd, line, f, format!("`{s}` is not a number"))),
            }
        };
        let required = |f: F| -> Result<&str, NormalizeError> {
            raw.get(f).ok_or_else(|| {
                cell_error(
                    rd,
                    line,
                    f,
                    "is empty or missing but every export row has it".into(),
                )
            })
        };
        let time = |f: F| -> Result<Timestamp, NormalizeError> {
            let s = required(f)?;
            parse_bq_timestamp(s)
                .ok_or_else(|| cell_error(rd, line, f, format!("`{s}` is not a timestamp")))
        };

        let billing_account = Text::from(required(F::BillingAccountId)?);
        let cost_text = required(F::Cost)?;
        let cost = dec(F::Cost)?.ok_or_else(|| {
            cell_error(rd, line, F::Cost, format!("`{cost_text}` is not a number"))
        })?;
        let currency = Currency::new(required(F::Currency)?);
        let month = required(F::InvoiceMonth)?;
        let (period_start, period_end) = invoice_period(month).ok_or_else(|| {
            cell_error(
                rd,
                line,
                F::InvoiceMonth,
                format!("`{month}` is not an invoice month (YYYYMM)"),
            )
        })?;
        let charge_start = time(F::UsageStartTime)?;
        let charge_end = time(F::UsageEndTime)?;
        if charge_end < charge_start {
            return Err(cell_error(
                rd,
                line,
                F::UsageEndTime,
                "is before usage_start_time".into(),
            ));
        }
        let rate = match dec(F::CurrencyConversionRate)? {
            Some(r) => Some(r),
            None if currency.as_str() == "USD" => Some(Decimal::ONE),
            None => None,
        };
        let cost_at_list = dec(F::CostAtList)?;
        let cost_at_default = dec(F::CostAtEffectivePriceDefault)?;
        let usage_amount = dec(F::UsageAmount)?;
        let pricing_amount = dec(F::UsageAmountInPricingUnits)?;
        let effective_price = dec(F::PriceEffectivePrice)?;
        let price_quantity = dec(F::PricePricingUnitQuantity)?;
        let tier_start = dec(F::PriceTierStartAmount)?;

        let cost_type = raw
            .get(F::CostType)
            .unwrap_or("regular")
            .to_ascii_lowercase();
        let sku_desc = raw.get(F::SkuDescription);
        let is_fee = sku_desc.is_some_and(|s| s.to_ascii_lowercase().starts_with("commitment"));
        let adjustment_type = raw.get(F::AdjustmentType).map(str::to_ascii_uppercase);
        let category = match cost_type.as_str() {
            "regular" if is_fee => ChargeCategory::Purchase,
            "regular" => ChargeCategory::Usage,
            "tax" => ChargeCategory::Tax,
            "adjustment" => match adjustment_type.as_deref() {
                Some(t) if t == "GOODWILL" || t.contains("CREDIT") => ChargeCategory::Credit,
                _ => ChargeCategory::Adjustment,
            },
            "rounding_error" => ChargeCategory::Adjustment,
            other => {
                self.unknown_cost_types.insert(other.to_string());
                ChargeCategory::Adjustment
            }
        };
        let usage_like = matches!(category, ChargeCategory::Usage | ChargeCategory::Purchase);

        let (promotions, on_row): (Vec<&RawCredit>, Vec<&RawCredit>) =
            raw.credits.iter().partition(|c| is_type(c, PROMOTION));
        let on_row_total: Decimal = on_row.iter().map(|c| c.amount).sum();
        let credits_total: Decimal = raw.credits.iter().map(|c| c.amount).sum();
        let billed = cost + on_row_total;

        // Service, SKU, project, location, resource: shared by the row and its promotion credits.
        let service_name = text(F::ServiceDescription).unwrap_or_else(|| Text::from("Invoice"));
        let (service_category, subcategory) = service_category(&service_name);
        let project_id = text(F::ProjectId);
        let region_id = text(F::LocationRegion).or_else(|| text(F::LocationLocation));
        let region_name = region_id.as_deref().and_then(region_name).map(Text::from);
        let global_name = text(F::ResourceGlobalName);
        let resource_id = global_name.clone().or_else(|| text(F::ResourceName));
        let resource_type = global_name
            .as_deref()
            .and_then(resource_type)
            .map(Text::from);
        let transaction_type = raw.get(F::TransactionType).map(str::to_ascii_uppercase);
        let seller = text(F::SellerName);
        let third_party = matches!(
            transaction_type.as_deref(),
            Some("THIRD_PARTY_RESELLER" | "THIRD_PARTY_AGENCY")
        ) || raw
            .get(F::InvoicePublisherType)
            .is_some_and(|p| p.eq_ignore_ascii_case("PARTNER"));
        let publisher = match (&seller, third_party) {
            (Some(s), true) => s.clone(),
            _ => Text::from(PROVIDER),
        };
        let issuer = match (&seller, transaction_type.as_deref()) {
            // Agency sales: the partner is the seller of record and Google invoices on its behalf.
            (Some(s), Some("THIRD_PARTY_AGENCY")) => s.clone(),
            _ => Text::from(INVOICE_ISSUER),
        };

        let mut tags = Tags::new();
        for (k, v) in &raw.labels {
            tags.insert_or_true(k, v);
        }
        for (k, v) in &raw.project_labels {
            tags.insert_or_true(&format!("{PROJECT_LABEL_PREFIX}{k}"), v);
        }
        for t in &raw.tags {
            let key = match &t.namespace {
                Some(ns) => format!("{TAG_PREFIX}{ns}/{}", t.key),
                None => format!("{TAG_PREFIX}{}", t.key),
            };
            tags.insert_or_true(&key, &t.value);
        }
        for (k, v) in &raw.system_labels {
            tags.insert_or_true(&format!("{SYSTEM_LABEL_PREFIX}{k}"), v);
        }

        let mut unit = |u: Option<&str>| -> Option<Text> {
            let u = u?;
            match focus_unit(u) {
                Some(f) => Some(Text::from(f)),
                None => {
                    self.unknown_units.insert(u.to_string());
                    Some(Text::from(u))
                }
            }
        };
        let pricing_unit = unit(raw.get(F::UsagePricingUnit));
        let consumed_unit = unit(raw.get(F::UsageUnit));

        let base = FocusRecord {
            billing_account_id: billing_account,
            billing_account_type: Some(Text::from("Billing Account")),
            billing_currency: currency.clone(),
            billing_period_start: period_start,
            billing_period_end: period_end,
            charge_period_start: charge_start,
            charge_period_end: charge_end,
            invoice_issuer_name: issuer,
            provider_name: Text::from(PROVIDER),
            publisher_name: publisher.clone(),
            service_provider_name: publisher,
            host_provider_name: Text::from(PROVIDER),
            service_name,
            service_category,
            service_subcategory: Some(Text::from(subcategory)),
            region_id,
            region_name,
            availability_zone: text(F::LocationZone),
            resource_id,
            resource_name: text(F::ResourceName),
            resource_type,
            sub_account_id: project_id.clone(),
            sub_account_name: project_id.as_ref().and(text(F::ProjectName)),
            sub_account_type: project_id.as_ref().map(|_| Text::from("Project")),
            sku_id: if category == ChargeCategory::Tax {
                None
            } else {
                text(F::SkuId)
            },
            // FOCUS: SkuMeter is null when SkuId is (invoice-level rows such as rounding errors).
            sku_meter: if category == ChargeCategory::Tax || text(F::SkuId).is_none() {
                None
            } else {
                text(F::SkuDescription)
            },
            pricing_currency: rate.map(|_| Currency::new("USD")),
            tags,
            ..FocusRecord::default()
        };

        let mut ext = Ext::new();
        ext.set(X::InvoiceMonth, raw.get(F::InvoiceMonth));
        ext.set(X::CostType, Some(cost_type.as_str()));
        ext.set(X::ServiceId, raw.get(F::ServiceId));
        ext.set(X::ProjectNumber, raw.get(F::ProjectNumber));
        ext.set(
            X::ProjectAncestryNumbers,
            raw.get(F::ProjectAncestryNumbers),
        );
        ext.set(X::Location, raw.get(F::LocationLocation));
        ext.set(X::Country, raw.get(F::LocationCountry));
        ext.set(
            X::CurrencyConversionRate,
            dec(F::CurrencyConversionRate)?.map(|d| d.normalize().to_string()),
        );
        ext.set(X::TransactionType, transaction_type.clone());
        ext.set(X::SellerName, raw.get(F::SellerName));
        ext.set(X::PublisherType, raw.get(F::InvoicePublisherType));
        ext.set(X::AdjustmentId, raw.get(F::AdjustmentId));
        ext.set(X::AdjustmentDescription, raw.get(F::AdjustmentDescription));
        ext.set(X::AdjustmentMode, raw.get(F::AdjustmentMode));
        ext.set(X::AdjustmentType, raw.get(F::AdjustmentType));
        ext.set(X::ConsumptionModel, raw.get(F::ConsumptionModelDescription));
        let export_time = match raw.get(F::ExportTime) {
            None => None,
            Some(s) => Some(
                parse_bq_timestamp(s)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string())
                    .ok_or_else(|| {
                        cell_error(rd, line, F::ExportTime, format!("`{s}` is not a timestamp"))
                    })?,
            ),
        };
        ext.set(X::ExportTime, export_time);

        // Commitment discounts: a CUD credit on usage, a commitment fee SKU, or (the 2025 spend-based
        // model) a non-default consumption model.
        let cud = on_row
            .iter()
            .find(|c| is_type(c, CUD_RESOURCE) || is_type(c, CUD_SPEND));
        let subscription = text(F::SubscriptionInstanceId);
        let consumption_model = raw
            .get(F::ConsumptionModelDescription)
            .filter(|d| !d.eq_ignore_ascii_case("default"));
        let mut rec = base.clone();
        match category {
            ChargeCategory::Usage => {
                if let Some(c) = cud {
                    let spend = is_type(c, CUD_SPEND);
                    rec.commitment_discount_id = subscription
                        .clone()
                        .or_else(|| c.id.as_deref().map(Text::from))
                        .or_else(|| c.name.as_deref().map(Text::from));
                    rec.commitment_discount_name =
                        c.full_name.as_deref().or(c.name.as_deref()).map(Text::from);
                    rec.commitment_discount_category = Some(if spend {
                        CommitmentDiscountCategory::Spend
                    } else {
                        CommitmentDiscountCategory::Usage
                    });
                    rec.commitment_discount_type = Some(Text::from(if spend {
                        "Committed Use Discount (spend-based)"
                    } else {
                        "Committed Use Discount (resource-based)"
                    }));
                } else if let (Some(model), Some(id)) = (consumption_model, &subscription) {
                    rec.commitment_discount_id = Some(id.clone());
                    rec.commitment_discount_name = Some(Text::from(model));
                    rec.commitment_discount_category = Some(CommitmentDiscountCategory::Spend);
                    rec.commitment_discount_type =
                        Some(Text::from("Committed Use Discount (spend-based)"));
                }
                if rec.commitment_discount_id.is_some() {
                    rec.commitment_discount_status = Some(CommitmentDiscountStatus::Used);
                }
                let desc = sku_desc.unwrap_or("").to_ascii_lowercase();
                rec.pricing_category = Some(if cud.is_some() || consumption_model.is_some() {
                    PricingCategory::Committed
                } else if desc.contains("preemptible") || desc.contains("spot") {
                    PricingCategory::Dynamic
                } else {
                    PricingCategory::Standard
                });
                rec.charge_frequency = Some(ChargeFrequency::UsageBased);
                rec.consumed_quantity = usage_amount;
                rec.consumed_unit = consumed_unit;
            }
            ChargeCategory::Purchase => {
                let id = subscription.clone().or_else(|| global_name.clone());
                if let Some(id) = id {
                    let d = sku_desc.unwrap_or("").to_ascii_lowercase();
                    let spend = d.contains("dollar") || d.contains("spend");
                    rec.commitment_discount_id = Some(id);
                    rec.commitment_discount_name = sku_desc.map(Text::from);
                    rec.commitment_discount_category = Some(if spend {
                        CommitmentDiscountCategory::Spend
                    } else {
                        CommitmentDiscountCategory::Usage
                    });
                    rec.commitment_discount_type = Some(Text::from(if spend {
                        "Committed Use Discount (spend-based)"
                    } else {
                        "Committed Use Discount (resource-based)"
                    }));
                }
                // FOCUS: the purchase of a commitment is never priced as Committed.
                rec.pricing_category = Some(PricingCategory::Standard);
                rec.charge_frequency = Some(ChargeFrequency::Recurring);
            }
            ChargeCategory::Tax => rec.charge_frequency = Some(ChargeFrequency::Recurring),
            ChargeCategory::Credit | ChargeCategory::Adjustment => {
                rec.charge_frequency = Some(ChargeFrequency::OneTime);
                // A correction of usage from before this invoice month fixes an invoiced period.
                if cost_type == "adjustment" && charge_start < period_start {
                    rec.charge_class = Some(ChargeClass::Correction);
                }
            }
        }
        rec.charge_category = category;
        rec.charge_description = match cost_type.as_str() {
            "adjustment" => text(F::AdjustmentDescription).or_else(|| text(F::SkuDescription)),
            "rounding_error" => {
                text(F::SkuDescription).or_else(|| Some(Text::from("Rounding error")))
            }
            _ => text(F::SkuDescription),
        };
        rec.billed_cost = billed;
        rec.effective_cost = billed;
        if usage_like {
            rec.pricing_quantity = pricing_amount;
            rec.pricing_unit = pricing_unit;
            rec.list_cost = match cost_at_list {
                Some(l) => l,
                None => {
                    self.list_fallbacks += 1;
                    cost
                }
            };
            // FOCUS ContractedCost is the negotiated price before commitment discounts: the new CUD
            // model exports it as cost_at_effective_price_default; otherwise `cost` is that price
            // (legacy CUDs arrive as credits, after it).
            rec.contracted_cost = cost_at_default.unwrap_or(cost);
            rec.contracted_unit_price = match (effective_price, price_quantity) {
                (Some(p), Some(q)) if !q.is_zero() => p.checked_div(q).map(|v| v.normalize()),
                (Some(p), _) => Some(p),
                _ => None,
            };
            if let (Some(id), Some(tier)) = (raw.get(F::SkuId), tier_start) {
                rec.sku_price_id = Some(Text::from(format!("{id}/{}", tier.normalize())));
            }
        } else {
            rec.list_cost = billed;
            rec.contracted_cost = billed;
        }
        rec.pricing_currency_effective_cost = to_usd(rec.effective_cost, rate);
        rec.pricing_currency_contracted_unit_price =
            rec.contracted_unit_price.and_then(|p| to_usd(p, rate));

        let mut main_ext = Ext(ext.0.clone());
        main_ext.set(X::Cost, Some(cost.normalize().to_string()));
        main_ext.set(X::CreditsTotal, Some(credits_total.normalize().to_string()));
        main_ext.set(X::Credits, credits_json(on_row.iter().copied()));
        rec.extensions = main_ext.into_pairs();
        self.pending.push_back(rec);

        for c in promotions {
            let mut credit = base.clone();
            credit.charge_category = ChargeCategory::Credit;
            credit.charge_frequency = Some(ChargeFrequency::UsageBased);
            credit.charge_description = c
                .full_name
                .as_deref()
                .or(c.name.as_deref())
                .map(Text::from)
                .or_else(|| Some(Text::from("Promotional credit")));
            credit.billed_cost = c.amount;
            credit.effective_cost = c.amount;
            credit.list_cost = c.amount;
            credit.contracted_cost = c.amount;
            credit.pricing_currency_effective_cost = to_usd(c.amount, rate);
            let mut credit_ext = Ext(ext.0.clone());
            credit_ext.set(X::Credits, credits_json(std::iter::once(c)));
            credit_ext.set(X::CreditType, c.kind.as_deref());
            credit.extensions = credit_ext.into_pairs();
            self.promotion_records += 1;
            self.pending.push_back(credit);
        }
        Ok(())
    }
}

impl Iterator for GcpStream {
    type Item = Result<FocusRecord, NormalizeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Some(Ok(r));
            }
            if self.done {
                return None;
            }
            let Some(mut reader) = self.reader.take() else {
                match self.remaining.pop_front() {
                    None => {
                        self.done = true;
                        return None;
                    }
                    Some(path) => match open_reader(&path, &self.progress) {
                        Ok(r) => {
                            self.reader = Some(r);
                            continue;
                        }
                        Err(e) => {
                            self.done = true;
                            return Some(Err(e));
                        }
                    },
                }
            };
            let raw = match reader.next_row() {
                None => continue,
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(Ok(raw)) => raw,
            };
            // The source's own measure, from the raw fields: cost + every credit, per currency.
            // A row whose cost or currency is unreadable fails in map_row below, ending the stream.
            let result = self.map_row(&reader, &raw);
            if let (Some(cost), Some(cur)) = (
                raw.get(F::Cost).and_then(parse_decimal),
                raw.get(F::Currency),
            ) {
                if result.is_ok() {
                    let credits: Decimal = raw.credits.iter().map(|c| c.amount).sum();
                    self.totals.rows += 1;
                    self.totals.billed.add(&Currency::new(cur), cost + credits);
                }
            }
            self.reader = Some(reader);
            if let Err(e) = result {
                self.done = true;
                self.pending.clear();
                return Some(Err(e));
            }
        }
    }
}

impl RecordStream for GcpStream {
    fn dialect(&self) -> Dialect {
        Dialect::GcpBilling
    }

    fn extension_columns(&self) -> Vec<Text> {
        EXTENSIONS.iter().map(|n| Text::from(*n)).collect()
    }

    fn source_totals(&self) -> SourceTotals {
        self.totals.clone()
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = vec![
            "the GCP export has no amortized view: EffectiveCost = BilledCost on every row; commitment fees stay on \
             their Purchase rows, billed hourly for the hour they cover"
                .to_string(),
        ];
        if self.promotion_records > 0 {
            notes.push(format!(
                "{} PROMOTION credits became separate Credit rows; all other credits are netted into BilledCost of their row",
                self.promotion_records
            ));
        }
        if self.list_fallbacks > 0 {
            notes.push(format!(
                "{} usage/purchase rows have no cost_at_list (accounts without contract pricing): ListCost = cost",
                self.list_fallbacks
            ));
        }
        if !self.unknown_cost_types.is_empty() {
            notes.push(format!(
                "unknown cost_type values mapped to ChargeCategory Adjustment: {}",
                self.unknown_cost_types
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.unknown_units.is_empty() {
            notes.push(format!(
                "units kept as the export spells them (no FOCUS Unit Format mapping known): {}",
                self.unknown_units
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
    use crate::time::format_timestamp;

    #[test]
    fn invoice_months_start_at_pacific_midnight() {
        let (s, e) = invoice_period("202409").expect("valid");
        assert_eq!(format_timestamp(&s), "2024-09-01T07:00:00Z");
        assert_eq!(format_timestamp(&e), "2024-10-01T07:00:00Z");
        // November starts in daylight time and ends in standard time.
        let (s, e) = invoice_period("202411").expect("valid");
        assert_eq!(format_timestamp(&s), "2024-11-01T07:00:00Z");
        assert_eq!(format_timestamp(&e), "2024-12-01T08:00:00Z");
        let (s, e) = invoice_period("2024-12").expect("valid");
        assert_eq!(format_timestamp(&s), "2024-12-01T08:00:00Z");
        assert_eq!(format_timestamp(&e), "2025-01-01T08:00:00Z");
        assert!(invoice_period("202413").is_none());
        assert!(invoice_period("Sept").is_none());
    }

    #[test]
    fn epoch_seconds_timestamps() {
        let t = parse_bq_timestamp("1.7251776E9").expect("epoch");
        assert_eq!(format_timestamp(&t), "2024-09-01T08:00:00Z");
        assert!(parse_bq_timestamp("yesterday").is_none());
    }

    #[test]
    fn resource_types_from_global_names() {
        let t = |s: &str| resource_type(s);
        assert_eq!(
            t("//compute.googleapis.com/projects/p/zones/z/instances/vm").as_deref(),
            Some("compute.instances")
        );
        assert_eq!(
            t("//compute.googleapis.com/projects/p/global/networks/default").as_deref(),
            Some("compute.networks")
        );
        assert_eq!(
            t("//container.googleapis.com/projects/p/locations/l/clusters/c").as_deref(),
            Some("container.clusters")
        );
        assert_eq!(t("projects/p/jobs/j"), None);
    }
}
