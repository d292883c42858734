//! FOCUS files in (1.0, 1.1 and 1.2; also the AWS Data Exports FOCUS table and Azure FocusCost).
//!
//! Columns are matched by name. Pre-1.0 names are upgraded (`AmortizedCost` -> `EffectiveCost`,
//! `ChargeType` -> `ChargeCategory`, `Provider` -> `ProviderName`, ...). A FOCUS 1.0 or 1.1 file is
//! upgraded to 1.2 by leaving the columns it does not have null (every column added in 1.1 and 1.2
//! is nullable or Conditional), except where the file carries the same fact in a provider column
//! (Azure FocusCost 1.0 `x_InvoiceId` -> `InvoiceId`, `x_SkuMeterName` -> `SkuMeter`). `x_` columns
//! pass through; any other non-FOCUS column (FOCUS-Sample-Data has an `Id`) is kept as `x_<name>`
//! with a note, because FOCUS requires custom columns to carry the prefix.
//!
//! Real FOCUS files are not always clean, so the reader is lenient where the meaning is certain and
//! says so in [`RecordStream::notes`]:
//! * cells that say `NULL` or `null` are nulls (FOCUS-Sample-Data; the spec's own examples);
//! * amounts written for humans (`"$10,000.00 "`: one leading currency symbol, thousands
//!   separators in groups of three) are read as the number they show (the spec's SaaS examples);
//! * `M/D/YY` dates get a 20YY year, `YYYY-MM-DDTHH:MMZ` (Azure FocusCost 1.0, no seconds) is read
//!   as `:00` seconds, and an hour of 24-47 rolls over into the next day (a spec example writes
//!   `T30:00:00Z`);
//! * ServiceCategory `Database` is read as `Databases`.
//!
//! Anything else that breaks an allowed-value list or a type is an error naming file, line and
//! column: a FOCUS file with ChargeCategory `Refund` is not FOCUS, and guessing would move money.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;

use crate::error::NormalizeError;
use crate::focus::*;
use crate::input::Progress;
use crate::money::{parse_decimal, Currency, CurrencyTotals};
use crate::normalize::csv_input::Cells;
use crate::normalize::table::Table;
use crate::normalize::{Dialect, Job, RecordStream, SourceTotals};
use crate::text::Text;
use crate::time::{parse_timestamp, Timestamp};

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

/// Provider columns of older exports that hold what a later FOCUS version made a column; used
/// only when the FOCUS column itself is absent (Azure FocusCost 1.0 / 1.0r2).
const PROMOTED: &[(&str, FocusColumn)] = &[
    ("x_InvoiceId", FocusColumn::InvoiceId),
    ("x_SkuMeterName", FocusColumn::SkuMeter),
];

/// Columns FOCUS 1.1 added.
const ADDED_IN_1_1: &[FocusColumn] = &[
    FocusColumn::CapacityReservationId,
    FocusColumn::CapacityReservationStatus,
    FocusColumn::CommitmentDiscountQuantity,
    FocusColumn::CommitmentDiscountUnit,
    FocusColumn::ServiceSubcategory,
    FocusColumn::SkuMeter,
    FocusColumn::SkuPriceDetails,
];

/// Columns FOCUS 1.2 added (Azure FocusCost 1.0 already had the two account types).
const ADDED_IN_1_2: &[FocusColumn] = &[
    FocusColumn::InvoiceId,
    FocusColumn::PricingCurrency,
    FocusColumn::PricingCurrencyContractedUnitPrice,
    FocusColumn::PricingCurrencyEffectiveCost,
    FocusColumn::PricingCurrencyListUnitPrice,
];

/// The 1.2 columns derived from their billing-currency twins in a pre-1.2 file.
const PRICING_CURRENCY_COLUMNS: &[FocusColumn] = &[
    FocusColumn::PricingCurrency,
    FocusColumn::PricingCurrencyContractedUnitPrice,
    FocusColumn::PricingCurrencyEffectiveCost,
    FocusColumn::PricingCurrencyListUnitPrice,
];

/// Column positions resolved once from the header.
struct Columns {
    idx: HashMap<FocusColumn, usize>,
    extensions: Vec<(Text, usize)>,
    renamed_custom: Vec<String>,
    renamed_old: Vec<String>,
    promoted: Vec<String>,
    /// True when the file has none of the four PricingCurrency columns (a pre-1.2 file).
    pricing_currency_derived: bool,
}

impl Columns {
    fn resolve(headers: &[String]) -> Columns {
        let mut idx = HashMap::new();
        let mut extensions = Vec::new();
        let mut renamed_custom = Vec::new();
        let mut renamed_old = Vec::new();
        for (i, h) in headers.iter().enumerate() {
            if let Some(c) = FocusColumn::from_name(h) {
                idx.entry(c).or_insert(i);
            } else if let Some((_, c)) = RENAMED.iter().find(|(old, _)| old == h) {
                idx.entry(*c).or_insert(i);
                renamed_old.push(format!("{h} -> {}", c.name()));
            } else if h.starts_with("x_") {
                extensions.push((Text::from(h.as_str()), i));
            } else if !h.is_empty() {
                extensions.push((Text::from(format!("x_{h}")), i));
                renamed_custom.push(h.clone());
            }
        }
        let mut promoted = Vec::new();
        for (x, c) in PROMOTED {
            if idx.contains_key(c) {
                continue;
            }
            if let Some(i) = headers.iter().position(|h| h == x) {
                idx.insert(*c, i);
                promoted.push(format!("{} from {x}", c.name()));
            }
        }
        let pricing_currency_derived =
            !PRICING_CURRENCY_COLUMNS.iter().any(|c| idx.contains_key(c));
        Columns {
            idx,
            extensions,
            renamed_custom,
            renamed_old,
            promoted,
            pricing_currency_derived,
        }
    }

    fn get(&self, c: FocusColumn) -> Option<usize> {
        self.idx.get(&c).copied()
    }

    fn has(&self, c: FocusColumn) -> bool {
        self.idx.contains_key(&c)
    }

    /// The FOCUS version the header looks like, judged by the newest columns it has.
    fn version(&self) -> &'static str {
        if ADDED_IN_1_2.iter().any(|c| self.has(*c)) {
            "1.2"
        } else if ADDED_IN_1_1.iter().any(|c| self.has(*c)) {
            "1.1"
        } else if !self.renamed_old.is_empty() {
            "1.0-preview or older"
        } else {
            "1.0"
        }
    }
}

/// What the lenient reader repaired, for the notes: per kind of repair, the count, the columns
/// and the first raw value seen.
#[derive(Default)]
struct Repairs(BTreeMap<&'static str, (u64, BTreeSet<&'static str>, String)>);

impl Repairs {
    fn add(&mut self, kind: &'static str, column: FocusColumn, raw: &str) {
        let e = self
            .0
            .entry(kind)
            .or_insert_with(|| (0, BTreeSet::new(), raw.to_string()));
        e.0 += 1;
        e.1.insert(column.name());
    }
}

const FORMATTED_AMOUNT: &str =
    "amounts written with a currency symbol or thousands separators were read as plain numbers";
const TWO_DIGIT_YEAR: &str = "M/D/YY dates were read with a 20YY year";
const HOUR_ROLLOVER: &str = "times with an hour of 24 or more were rolled over into the next day";
const CATEGORY_ALIAS: &str = "ServiceCategory `Database` was read as `Databases`";
const NULL_COST_FILLED: &str =
    "null ListCost/ContractedCost cells (mandatory) were filled: ListCost = BilledCost, ContractedCost = ListCost";
const CATEGORY_NULL: &str = "null ServiceCategory (mandatory) was set to `Other`";

/// The cell text; `NULL`/`null` literals are nulls (`""`).
fn cell<C: Cells>(row: &C, idx: Option<usize>) -> &str {
    let s = row.cell(idx);
    if s.eq_ignore_ascii_case("null") {
        ""
    } else {
        s
    }
}

fn text<C: Cells>(row: &C, cols: &Columns, c: FocusColumn) -> Option<Text> {
    let s = cell(row, cols.get(c));
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
    let s = cell(row, cols.get(c));
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

/// Reads `"$10,000.00 "`, `"-€1,234.5"`, `"$-3"`: at most one sign, at most one leading currency
/// symbol, and either no commas or commas between groups of exactly three digits. Anything looser
/// (European `1.234,56`, stray text) is not guessed at.
fn formatted_amount(s: &str) -> Option<Decimal> {
    let mut t = s.trim();
    let mut negative = false;
    if let Some(r) = t.strip_prefix('-') {
        negative = true;
        t = r;
    }
    let mut symbol = false;
    for sym in ['$', '€', '£', '¥'] {
        if let Some(r) = t.strip_prefix(sym) {
            t = r.trim_start();
            symbol = true;
            break;
        }
    }
    if !negative {
        if let Some(r) = t.strip_prefix('-') {
            negative = true;
            t = r;
        }
    }
    let (int, frac) = match t.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (t, None),
    };
    if int.is_empty()
        || frac.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let groups: Vec<&str> = int.split(',').collect();
    let grouped_ok = groups[0].len() <= 3
        && !groups[0].is_empty()
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()));
    if !grouped_ok || (groups.len() == 1 && !symbol) {
        return None;
    }
    let mut plain = String::with_capacity(s.len());
    if negative {
        plain.push('-');
    }
    plain.push_str(&groups.concat());
    if let Some(f) = frac {
        plain.push('.');
        plain.push_str(f);
    }
    parse_decimal(&plain)
}

fn decimal<C: Cells>(
    row: &C,
    cols: &Columns,
    c: FocusColumn,
    rep: &mut Repairs,
) -> Result<Option<Decimal>, NormalizeError> {
    let Some(i) = cols.get(c) else {
        return Ok(None);
    };
    let s = cell(row, Some(i));
    if s.is_empty() {
        return Ok(None);
    }
    if let Some(d) = parse_decimal(s) {
        return Ok(Some(d));
    }
    if let Some(d) = formatted_amount(s) {
        rep.add(FORMATTED_AMOUNT, c, s);
        return Ok(Some(d));
    }
    Err(row.error(i, format!("`{s}` is not a number")))
}

/// A mandatory metric: `fallback` when the column is absent, an error when a present cell is null.
fn req_decimal<C: Cells>(
    row: &C,
    cols: &Columns,
    c: FocusColumn,
    fallback: Decimal,
    rep: &mut Repairs,
) -> Result<Decimal, NormalizeError> {
    match cols.get(c) {
        None => Ok(fallback),
        Some(i) => decimal(row, cols, c, rep)?
            .ok_or_else(|| row.error(i, format!("{} is mandatory and must not be null", c.name()))),
    }
}

/// `M/D/YY[ time]` with a two-digit year, which `parse_timestamp` would read as year 00YY.
fn two_digit_year(s: &str) -> Option<Timestamp> {
    let mut parts = s.split_whitespace();
    let date = parts.next()?;
    let mut it = date.split('/');
    let (m, d, y) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || y.len() != 2 || m.len() > 2 || d.len() > 2 {
        return None;
    }
    let rest: Vec<&str> = parts.collect();
    let full = format!(
        "{m}/{d}/20{y}{}{}",
        if rest.is_empty() { "" } else { " " },
        rest.join(" ")
    );
    parse_timestamp(&full)
}

/// `YYYY-MM-DDTHH:MM[Z]` (no seconds; Azure FocusCost 1.0) and hours 24-47 rolled over.
fn iso_repair(s: &str, rep: &mut Repairs, c: FocusColumn) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 16
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
    {
        return None;
    }
    let with_seconds = if b.len() == 16 || (b.len() == 17 && (b[16] == b'Z' || b[16] == b'z')) {
        format!("{}:00Z", &s[..16])
    } else {
        s.to_string()
    };
    if let Some(t) = parse_timestamp(&with_seconds) {
        return Some(t);
    }
    let hour: u32 = with_seconds.get(11..13)?.parse().ok()?;
    if !(24..48).contains(&hour) {
        return None;
    }
    let date = NaiveDate::parse_from_str(&with_seconds[..10], "%Y-%m-%d").ok()?;
    let shifted = format!("{}T{:02}{}", date, hour - 24, &with_seconds[13..]);
    let t = parse_timestamp(&shifted)? + Duration::days(1);
    rep.add(HOUR_ROLLOVER, c, s);
    Some(t)
}

fn timestamp<C: Cells>(
    row: &C,
    cols: &Columns,
    c: FocusColumn,
    rep: &mut Repairs,
) -> Result<Option<Timestamp>, NormalizeError> {
    let Some(i) = cols.get(c) else {
        return Ok(None);
    };
    let s = cell(row, Some(i));
    if s.is_empty() {
        return Ok(None);
    }
    if let Some(t) = two_digit_year(s) {
        rep.add(TWO_DIGIT_YEAR, c, s);
        return Ok(Some(t));
    }
    if let Some(t) = parse_timestamp(s).or_else(|| iso_repair(s, rep, c)) {
        return Ok(Some(t));
    }
    Err(row.error(i, format!("`{s}` is not a date or timestamp")))
}

fn req_time<C: Cells>(
    row: &C,
    cols: &Columns,
    c: FocusColumn,
    rep: &mut Repairs,
) -> Result<Timestamp, NormalizeError> {
    let i = cols
        .get(c)
        .ok_or_else(|| row.error(0, format!("{} column is missing", c.name())))?;
    timestamp(row, cols, c, rep)?
        .ok_or_else(|| row.error(i, format!("{} is mandatory and must not be null", c.name())))
}

fn json_object<C: Cells>(
    row: &C,
    cols: &Columns,
    c: FocusColumn,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, NormalizeError> {
    let s = cell(row, cols.get(c));
    if s.is_empty() || s == "{}" {
        return Ok(None);
    }
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(serde_json::Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(row.error(cols.get(c).unwrap_or(0), "must be a JSON object".into())),
        Err(e) => Err(row.error(cols.get(c).unwrap_or(0), format!("is not valid JSON: {e}"))),
    }
}

fn service_category<C: Cells>(
    row: &C,
    cols: &Columns,
    rep: &mut Repairs,
) -> Result<ServiceCategory, NormalizeError> {
    let c = FocusColumn::ServiceCategory;
    let s = cell(row, cols.get(c));
    if s.eq_ignore_ascii_case("Database") {
        rep.add(CATEGORY_ALIAS, c, s);
        return Ok(ServiceCategory::Databases);
    }
    match enum_value(
        row,
        cols,
        c,
        ServiceCategory::parse,
        "the 19 FOCUS service categories",
    )? {
        Some(v) => Ok(v),
        None => {
            if cols.has(c) {
                rep.add(CATEGORY_NULL, c, s);
            }
            Ok(ServiceCategory::Other)
        }
    }
}

/// Builds one record from a FOCUS row.
fn record<C: Cells>(
    row: &C,
    cols: &Columns,
    rep: &mut Repairs,
) -> Result<FocusRecord, NormalizeError> {
    use FocusColumn as F;
    let billed = req_decimal(row, cols, F::BilledCost, Decimal::ZERO, rep)?;
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
    // Absent cost columns (partial files such as the spec examples) fall back to BilledCost, the
    // value FOCUS prescribes for charges without a separate list/contract/amortized view; a note
    // names them.
    let effective = req_decimal(row, cols, F::EffectiveCost, billed, rep)?;
    // A null ListCost or ContractedCost cell breaks FOCUS (FOCUS-Sample-Data's Oracle rows have
    // null ContractedCost). Neither feeds the billed or amortized totals, so the gap is filled the
    // way focus.md prescribes for a missing negotiated rate (ContractedCost = ListCost) and
    // counted in the notes; a null BilledCost or EffectiveCost stays an error.
    let list = match decimal(row, cols, F::ListCost, rep)? {
        Some(d) => d,
        None => {
            if cols.has(F::ListCost) {
                rep.add(NULL_COST_FILLED, F::ListCost, "null");
            }
            billed
        }
    };
    let contracted = match decimal(row, cols, F::ContractedCost, rep)? {
        Some(d) => d,
        None => {
            if cols.has(F::ContractedCost) {
                rep.add(NULL_COST_FILLED, F::ContractedCost, "null");
            }
            if cols.has(F::ListCost) {
                list
            } else {
                billed
            }
        }
    };
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
        let v = cell(row, Some(*i));
        if !v.is_empty() {
            extensions.push((name.clone(), Text::from(v)));
        }
    }
    let billing_currency = Currency::new(cell(row, cols.get(F::BillingCurrency)));
    let list_unit_price = decimal(row, cols, F::ListUnitPrice, rep)?;
    let contracted_unit_price = decimal(row, cols, F::ContractedUnitPrice, rep)?;
    // Before 1.2 every price and cost was in BillingCurrency, so for such a file the pricing
    // currency is the billing currency and the PricingCurrency* metrics equal their billing-currency
    // twins exactly. A file with any PricingCurrency column is taken as it is.
    let (pricing_currency, pc_list, pc_contracted, pc_effective) = if cols.pricing_currency_derived
    {
        let cur = (!billing_currency.as_str().is_empty()).then(|| billing_currency.clone());
        (cur, list_unit_price, contracted_unit_price, Some(effective))
    } else {
        (
            text(row, cols, F::PricingCurrency).map(|t| Currency::new(&t)),
            decimal(row, cols, F::PricingCurrencyListUnitPrice, rep)?,
            decimal(row, cols, F::PricingCurrencyContractedUnitPrice, rep)?,
            decimal(row, cols, F::PricingCurrencyEffectiveCost, rep)?,
        )
    };
    Ok(FocusRecord {
        availability_zone: text(row, cols, F::AvailabilityZone),
        billed_cost: billed,
        billing_account_id: req_text(row, cols, F::BillingAccountId),
        billing_account_name: text(row, cols, F::BillingAccountName),
        billing_account_type: text(row, cols, F::BillingAccountType),
        billing_currency,
        billing_period_end: req_time(row, cols, F::BillingPeriodEnd, rep)?,
        billing_period_start: req_time(row, cols, F::BillingPeriodStart, rep)?,
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
        charge_period_end: req_time(row, cols, F::ChargePeriodEnd, rep)?,
        charge_period_start: req_time(row, cols, F::ChargePeriodStart, rep)?,
        commitment_discount_category: enum_value(
            row,
            cols,
            F::CommitmentDiscountCategory,
            CommitmentDiscountCategory::parse,
            "Spend, Usage",
        )?,
        commitment_discount_id: text(row, cols, F::CommitmentDiscountId),
        commitment_discount_name: text(row, cols, F::CommitmentDiscountName),
        commitment_discount_quantity: decimal(row, cols, F::CommitmentDiscountQuantity, rep)?,
        commitment_discount_status: enum_value(
            row,
            cols,
            F::CommitmentDiscountStatus,
            CommitmentDiscountStatus::parse,
            "Used, Unused",
        )?,
        commitment_discount_type: text(row, cols, F::CommitmentDiscountType),
        commitment_discount_unit: text(row, cols, F::CommitmentDiscountUnit),
        consumed_quantity: decimal(row, cols, F::ConsumedQuantity, rep)?,
        consumed_unit: text(row, cols, F::ConsumedUnit),
        contracted_cost: contracted,
        contracted_unit_price,
        effective_cost: effective,
        invoice_id: text(row, cols, F::InvoiceId),
        invoice_issuer_name: req_text(row, cols, F::InvoiceIssuerName),
        list_cost: list,
        list_unit_price,
        pricing_category: enum_value(
            row,
            cols,
            F::PricingCategory,
            PricingCategory::parse,
            "Standard, Dynamic, Committed, Other",
        )?,
        pricing_currency,
        pricing_currency_contracted_unit_price: pc_contracted,
        pricing_currency_effective_cost: pc_effective,
        pricing_currency_list_unit_price: pc_list,
        pricing_quantity: decimal(row, cols, F::PricingQuantity, rep)?,
        pricing_unit: text(row, cols, F::PricingUnit),
        provider_name: provider,
        publisher_name: publisher,
        region_id: text(row, cols, F::RegionId),
        region_name: text(row, cols, F::RegionName),
        resource_id: text(row, cols, F::ResourceId),
        resource_name: text(row, cols, F::ResourceName),
        resource_type: text(row, cols, F::ResourceType),
        service_category: service_category(row, cols, rep)?,
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

/// The FOCUS record stream.
pub struct FocusStream {
    source: Table,
    cols: Columns,
    totals: SourceTotals,
    effective: CurrencyTotals,
    missing: Vec<&'static str>,
    repairs: Repairs,
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
    let source = Table::open(
        path,
        progress,
        "JSON is not a FOCUS file format (FOCUS data is CSV or Parquet)",
    )?;
    let headers = source.headers().to_vec();
    let file = path.display().to_string();
    let cols = Columns::resolve(&headers);
    for c in [
        FocusColumn::BilledCost,
        FocusColumn::ChargeCategory,
        FocusColumn::ChargePeriodStart,
        FocusColumn::ChargePeriodEnd,
        FocusColumn::BillingPeriodStart,
        FocusColumn::BillingPeriodEnd,
    ] {
        if cols.get(c).is_none() {
            return Err(NormalizeError::missing_column(&file, c.name()));
        }
    }
    let derived = cols.pricing_currency_derived;
    let missing = FocusColumn::FOCUS_1_2
        .iter()
        .filter(|c| cols.get(**c).is_none())
        .filter(|c| !(derived && PRICING_CURRENCY_COLUMNS.contains(*c)))
        .map(|c| c.name())
        .collect();
    Ok(Box::new(FocusStream {
        source,
        cols,
        totals: SourceTotals::default(),
        effective: CurrencyTotals::default(),
        missing,
        repairs: Repairs::default(),
        done: false,
    }))
}

impl Iterator for FocusStream {
    type Item = Result<FocusRecord, NormalizeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rec = match self.source.next_row()? {
            Ok(row) => record(&row, &self.cols, &mut self.repairs),
            Err(e) => Err(e),
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
        let version = self.cols.version();
        if version != "1.2" {
            notes.push(format!(
                "the newest FOCUS columns in the header are from FOCUS {version}; read as 1.2 (columns added since are null unless noted)"
            ));
        }
        if !self.cols.renamed_old.is_empty() {
            notes.push(format!(
                "pre-1.0 column names upgraded: {}",
                self.cols.renamed_old.join(", ")
            ));
        }
        if !self.cols.promoted.is_empty() {
            notes.push(format!(
                "FOCUS 1.2 columns filled from provider columns: {}",
                self.cols.promoted.join(", ")
            ));
        }
        if self.cols.pricing_currency_derived {
            notes.push(
                "no PricingCurrency columns: prices are in BillingCurrency, so PricingCurrency = BillingCurrency and \
                 PricingCurrencyListUnitPrice/ContractedUnitPrice/EffectiveCost copy ListUnitPrice/ContractedUnitPrice/EffectiveCost"
                    .to_string(),
            );
        }
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
            let filled: Vec<&str> = [
                FocusColumn::EffectiveCost,
                FocusColumn::ListCost,
                FocusColumn::ContractedCost,
            ]
            .iter()
            .filter(|c| !self.cols.has(**c))
            .map(|c| c.name())
            .collect();
            if !filled.is_empty() {
                notes.push(format!(
                    "mandatory cost columns absent from the input were filled (EffectiveCost and ListCost = BilledCost, ContractedCost = ListCost): {}",
                    filled.join(", ")
                ));
            }
        }
        for (kind, (n, columns, example)) in &self.repairs.0 {
            let columns: Vec<&str> = columns.iter().copied().collect();
            notes.push(format!(
                "{kind}: {n} cells in {} (e.g. `{example}`)",
                columns.join(", ")
            ));
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> String {
        let mut rep = Repairs::default();
        let t = two_digit_year(s)
            .or_else(|| parse_timestamp(s))
            .or_else(|| iso_repair(s, &mut rep, FocusColumn::ChargePeriodEnd));
        t.map(|t| crate::time::format_timestamp(&t))
            .unwrap_or_else(|| "none".into())
    }

    #[test]
    fn lenient_amounts() {
        let d = |s: &str| formatted_amount(s).map(|d| d.to_string());
        assert_eq!(d("$10,000.00 ").as_deref(), Some("10000"));
        assert_eq!(d("$100.00 ").as_deref(), Some("100"));
        assert_eq!(d("-$1,234.5").as_deref(), Some("-1234.5"));
        assert_eq!(d("1,234,567.25").as_deref(), Some("1234567.25"));
        assert_eq!(d("1,23.5"), None);
        assert_eq!(d("12,3456"), None);
        assert_eq!(d("1.234,56"), None);
        assert_eq!(d("$"), None);
        assert_eq!(d("abc"), None);
    }

    #[test]
    fn lenient_times() {
        assert_eq!(ts("5/1/25"), "2025-05-01T00:00:00Z");
        assert_eq!(ts("12/1/25"), "2025-12-01T00:00:00Z");
        assert_eq!(ts("2024-01-01T00:00Z"), "2024-01-01T00:00:00Z");
        assert_eq!(ts("2024-01-31T13:45"), "2024-01-31T13:45:00Z");
        assert_eq!(ts("2023-02-01T30:00:00Z"), "2023-02-02T06:00:00Z");
        assert_eq!(ts("2023-02-28T24:00:00Z"), "2023-03-01T00:00:00Z");
        assert_eq!(ts("2023-02-01T48:00:00Z"), "none");
        assert_eq!(ts("9/2/2023"), "2023-09-02T00:00:00Z");
    }
}
