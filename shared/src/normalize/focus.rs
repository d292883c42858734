//! FOCUS files in (1.0, 1.1 and 1.2; also the AWS Data Exports FOCUS table and Azure FocusCost).
//!
//! Columns are matched by name. Pre-1.0 names are upgraded (`AmortizedCost` -> `EffectiveCost`,
//! `ChargeType` -> `ChargeCategory`, `Provider` -> `ProviderName`, ...). `x_` columns pass through;
//! any other non-FOCUS column (FOCUS-Sample-Data has an `Id`) is kept as `x_<name>` with a note,
//! because FOCUS requires custom columns to carry the prefix. Cells that say `NULL` are nulls.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::error::NormalizeError;
use crate::focus::*;
use crate::input::{Format, Input, Progress};
use crate::money::{Currency, CurrencyTotals};
use crate::normalize::csv_input::{Cells, CsvInput};
use crate::normalize::parquet_input::ParquetRows;
use crate::normalize::{Dialect, Job, RecordStream, SourceTotals};
use crate::text::Text;

/// Names older FOCUS versions used, mapped to the 1.2 column.
const RENAMED: &[(&str, FocusColumn)] = &[
    ("AmortizedCost", FocusColumn::EffectiveCost),
    ("ChargeType", FocusColumn::ChargeCategory),
    ("Provider", FocusColumn::ProviderName),
    ("Publisher", FocusColumn::PublisherName),
    ("InvoiceIssuer", FocusColumn::InvoiceIssuerName),
    ("UsageQuantity", FocusColumn::ConsumedQuantity),
    ("UsageUnit", FocusColumn::ConsumedUnit),
    ("Region", FocusColumn::RegionId),
];

/// Column positions resolved once from the header.
struct Columns {
    idx: HashMap<FocusColumn, usize>,
    extensions: Vec<(Text, usize)>,
    renamed_custom: Vec<String>,
}

impl Columns {
    fn resolve(headers: &[String]) -> Columns {
        let mut idx = HashMap::new();
        let mut extensions = Vec::new();
        let mut renamed_custom = Vec::new();
        for (i, h) in headers.iter().enumerate() {
            if let Some(c) = FocusColumn::from_name(h) {
                idx.entry(c).or_insert(i);
            } else if let Some((_, c)) = RENAMED.iter().find(|(old, _)| old == h) {
                idx.entry(*c).or_insert(i);
            } else if h.starts_with("x_") {
                extensions.push((Text::from(h.as_str()), i));
            } else if !h.is_empty() {
                extensions.push((Text::from(format!("x_{h}")), i));
                renamed_custom.push(h.clone());
            }
        }
        Columns {
            idx,
            extensions,
            renamed_custom,
        }
    }

    fn get(&self, c: FocusColumn) -> Option<usize> {
        self.idx.get(&c).copied()
    }
}

fn text<C: Cells>(row: &C, cols: &Columns, c: FocusColumn) -> Option<Text> {
    let s = row.cell(cols.get(c));
    if s.is_empty() {
        None
    } else {
        Some(Text::from(s))
    }
}

fn req_text<C: Cells>(row: &C, cols: &Columns, c: FocusColumn) -> Text {
    text(row, cols, c).unwrap_or_default()
}

fn enum_value<C: Cells, T>(
    row: &C,
    cols: &Columns,
    c: FocusColumn,
    parse: fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<Option<T>, NormalizeError> {
    let s = row.cell(cols.get(c));
    if s.is_empty() {
        return Ok(None);
    }
    match parse(s) {
        Some(v) => Ok(Some(v)),
        None => Err(row.error(
            cols.get(c).unwrap_or(0),
            format!("`{s}` is not one of the allowed values: {allowed}"),
        )),
    }
}

fn req_decimal<C: Cells>(
    row: &C,
    cols: &Columns,
    c: FocusColumn,
) -> Result<Decimal, NormalizeError> {
    match cols.get(c) {
        None => Ok(Decimal::ZERO),
        Some(i) => row
            .decimal(Some(i))?
            .ok_or_else(|| row.error(i, format!("{} is mandatory and must not be null", c.name()))),
    }
}

fn req_time<C: Cells>(
    row: &C,
    cols: &Columns,
    c: FocusColumn,
) -> Result<crate::time::Timestamp, NormalizeError> {
    let i = cols
        .get(c)
        .ok_or_else(|| row.error(0, format!("{} column is missing", c.name())))?;
    row.timestamp(Some(i))?
        .ok_or_else(|| row.error(i, format!("{} is mandatory and must not be null", c.name())))
}

fn json_object<C: Cells>(
    row: &C,
    cols: &Columns,
    c: FocusColumn,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, NormalizeError> {
    let s = row.cell(cols.get(c));
    if s.is_empty() || s == "{}" {
        return Ok(None);
    }
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(serde_json::Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(row.error(cols.get(c).unwrap_or(0), "must be a JSON object".into())),
        Err(e) => Err(row.error(cols.get(c).unwrap_or(0), format!("is not valid JSON: {e}"))),
    }
}

/// Builds one record from a FOCUS row.
fn record<C: Cells>(row: &C, cols: &Columns) -> Result<FocusRecord, NormalizeError> {
    use FocusColumn as F;
    let billed = req_decimal(row, cols, F::BilledCost)?;
    let category = enum_value(
        row,
        cols,
        F::ChargeCategory,
        ChargeCategory::parse,
        "Usage, Purchase, Tax, Credit, Adjustment",
    )?
    .ok_or_else(|| {
        row.error(
            cols.get(F::ChargeCategory).unwrap_or(0),
            "ChargeCategory is mandatory".into(),
        )
    })?;
    let effective = match cols.get(F::EffectiveCost) {
        Some(_) => req_decimal(row, cols, F::EffectiveCost)?,
        None => billed,
    };
    let service_category = enum_value(
        row,
        cols,
        F::ServiceCategory,
        ServiceCategory::parse,
        "the 19 FOCUS service categories",
    )?
    .unwrap_or(ServiceCategory::Other);
    let provider = req_text(row, cols, F::ProviderName);
    let publisher = text(row, cols, F::PublisherName).unwrap_or_else(|| provider.clone());
    let service_provider =
        text(row, cols, F::ServiceProviderName).unwrap_or_else(|| publisher.clone());
    let host_provider = text(row, cols, F::HostProviderName).unwrap_or_else(|| provider.clone());
    let tags = match json_object(row, cols, F::Tags)? {
        Some(m) => Tags::from_json_object(&m),
        None => Tags::default(),
    };
    let mut extensions = Vec::with_capacity(cols.extensions.len());
    for (name, i) in &cols.extensions {
        let v = row.cell(Some(*i));
        if !v.is_empty() {
            extensions.push((name.clone(), Text::from(v)));
        }
    }
    Ok(FocusRecord {
        availability_zone: text(row, cols, F::AvailabilityZone),
        billed_cost: billed,
        billing_account_id: req_text(row, cols, F::BillingAccountId),
        billing_account_name: text(row, cols, F::BillingAccountName),
        billing_account_type: text(row, cols, F::BillingAccountType),
        billing_currency: Currency::new(row.cell(cols.get(F::BillingCurrency))),
        billing_period_end: req_time(row, cols, F::BillingPeriodEnd)?,
        billing_period_start: req_time(row, cols, F::BillingPeriodStart)?,
        capacity_reservation_id: text(row, cols, F::CapacityReservationId),
        capacity_reservation_status: enum_value(
            row,
            cols,
            F::CapacityReservationStatus,
            CapacityReservationStatus::parse,
            "Used, Unused",
        )?,
        charge_category: category,
        charge_class: enum_value(row, cols, F::ChargeClass, ChargeClass::parse, "Correction")?,
        charge_description: text(row, cols, F::ChargeDescription),
        charge_frequency: enum_value(
            row,
            cols,
            F::ChargeFrequency,
            ChargeFrequency::parse,
            "One-Time, Recurring, Usage-Based",
        )?,
        charge_period_end: req_time(row, cols, F::ChargePeriodEnd)?,
        charge_period_start: req_time(row, cols, F::ChargePeriodStart)?,
        commitment_discount_category: enum_value(
            row,
            cols,
            F::CommitmentDiscountCategory,
            CommitmentDiscountCategory::parse,
            "Spend, Usage",
        )?,
        commitment_discount_id: text(row, cols, F::CommitmentDiscountId),
        commitment_discount_name: text(row, cols, F::CommitmentDiscountName),
        commitment_discount_quantity: row.decimal(cols.get(F::CommitmentDiscountQuantity))?,
        commitment_discount_status: enum_value(
            row,
            cols,
            F::CommitmentDiscountStatus,
            CommitmentDiscountStatus::parse,
            "Used, Unused",
        )?,
        commitment_discount_type: text(row, cols, F::CommitmentDiscountType),
        commitment_discount_unit: text(row, cols, F::CommitmentDiscountUnit),
        consumed_quantity: row.decimal(cols.get(F::ConsumedQuantity))?,
        consumed_unit: text(row, cols, F::ConsumedUnit),
        contracted_cost: match cols.get(F::ContractedCost) {
            Some(_) => req_decimal(row, cols, F::ContractedCost)?,
            None => billed,
        },
        contracted_unit_price: row.decimal(cols.get(F::ContractedUnitPrice))?,
        effective_cost: effective,
        invoice_id: text(row, cols, F::InvoiceId),
        invoice_issuer_name: req_text(row, cols, F::InvoiceIssuerName),
        list_cost: match cols.get(F::ListCost) {
            Some(_) => req_decimal(row, cols, F::ListCost)?,
            None => billed,
        },
        list_unit_price: row.decimal(cols.get(F::ListUnitPrice))?,
        pricing_category: enum_value(
            row,
            cols,
            F::PricingCategory,
            PricingCategory::parse,
            "Standard, Dynamic, Committed, Other",
        )?,
        pricing_currency: text(row, cols, F::PricingCurrency).map(|t| Currency::new(&t)),
        pricing_currency_contracted_unit_price: row
            .decimal(cols.get(F::PricingCurrencyContractedUnitPrice))?,
        pricing_currency_effective_cost: row.decimal(cols.get(F::PricingCurrencyEffectiveCost))?,
        pricing_currency_list_unit_price: row.decimal(cols.get(F::PricingCurrencyListUnitPrice))?,
        pricing_quantity: row.decimal(cols.get(F::PricingQuantity))?,
        pricing_unit: text(row, cols, F::PricingUnit),
        provider_name: provider,
        publisher_name: publisher,
        region_id: text(row, cols, F::RegionId),
        region_name: text(row, cols, F::RegionName),
        resource_id: text(row, cols, F::ResourceId),
        resource_name: text(row, cols, F::ResourceName),
        resource_type: text(row, cols, F::ResourceType),
        service_category,
        service_name: req_text(row, cols, F::ServiceName),
        service_subcategory: text(row, cols, F::ServiceSubcategory),
        sku_id: text(row, cols, F::SkuId),
        sku_meter: text(row, cols, F::SkuMeter),
        sku_price_details: json_object(row, cols, F::SkuPriceDetails)?,
        sku_price_id: text(row, cols, F::SkuPriceId),
        sub_account_id: text(row, cols, F::SubAccountId),
        sub_account_name: text(row, cols, F::SubAccountName),
        sub_account_type: text(row, cols, F::SubAccountType),
        tags,
        service_provider_name: service_provider,
        host_provider_name: host_provider,
        extensions,
    })
}

enum Source {
    Csv(CsvInput),
    Parquet(ParquetRows),
}

/// The FOCUS record stream.
pub struct FocusStream {
    source: Source,
    cols: Columns,
    totals: SourceTotals,
    effective: CurrencyTotals,
    missing: Vec<&'static str>,
    done: bool,
}

/// Opens a FOCUS CSV or Parquet file.
pub fn open(job: &Job, progress: &Progress) -> Result<Box<dyn RecordStream>, NormalizeError> {
    let path = job.inputs.first().ok_or_else(|| {
        NormalizeError::file(
            "(none)",
            crate::error::NormalizeErrorKind::Malformed("no input file".into()),
        )
    })?;
    let input = Input::open(path, progress)?;
    let (source, headers) = match input.format {
        Format::Parquet => {
            let rows = ParquetRows::open(path)?;
            let h = rows.headers().to_vec();
            (Source::Parquet(rows), h)
        }
        _ => {
            let csv = CsvInput::new(input)?.with_null_literal(true);
            let h = csv.headers().to_vec();
            (Source::Csv(csv), h)
        }
    };
    let file = path.display().to_string();
    let cols = Columns::resolve(&headers);
    for c in [
        FocusColumn::BilledCost,
        FocusColumn::ChargeCategory,
        FocusColumn::ChargePeriodStart,
    ] {
        if cols.get(c).is_none() {
            return Err(NormalizeError::missing_column(&file, c.name()));
        }
    }
    let missing = FocusColumn::FOCUS_1_2
        .iter()
        .filter(|c| cols.get(**c).is_none())
        .map(|c| c.name())
        .collect();
    Ok(Box::new(FocusStream {
        source,
        cols,
        totals: SourceTotals::default(),
        effective: CurrencyTotals::default(),
        missing,
        done: false,
    }))
}

impl Iterator for FocusStream {
    type Item = Result<FocusRecord, NormalizeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rec = match &mut self.source {
            Source::Csv(csv) => match csv.next_row()? {
                Ok(row) => record(&row, &self.cols),
                Err(e) => Err(e),
            },
            Source::Parquet(pq) => match pq.next_row()? {
                Ok(row) => record(&row, &self.cols),
                Err(e) => Err(e),
            },
        };
        match &rec {
            Ok(r) => {
                self.totals.rows += 1;
                self.totals.billed.add(&r.billing_currency, r.billed_cost);
                self.effective.add(&r.billing_currency, r.effective_cost);
            }
            Err(_) => self.done = true,
        }
        Some(rec)
    }
}

impl RecordStream for FocusStream {
    fn dialect(&self) -> Dialect {
        Dialect::Focus
    }

    fn extension_columns(&self) -> Vec<Text> {
        self.cols
            .extensions
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn source_totals(&self) -> SourceTotals {
        let mut t = self.totals.clone();
        t.effective = Some(self.effective.clone());
        t
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.cols.renamed_custom.is_empty() {
            notes.push(format!(
                "non-FOCUS columns kept with the x_ prefix FOCUS requires: {}",
                self.cols.renamed_custom.join(", ")
            ));
        }
        if !self.missing.is_empty() {
            notes.push(format!(
                "{} FOCUS 1.2 columns are absent from the input and are null in the output: {}",
                self.missing.len(),
                self.missing.join(", ")
            ));
        }
        notes
    }
}
