//! AWS Cost and Usage Reports: the legacy CUR (`lineItem/UnblendedCost` headers, CSV) and AWS Data
//! Exports CUR 2.0 (snake_case columns, CSV or Parquet, map columns as JSON text). Both go through
//! one mapping core; only the column names differ (see [`columns`]).
//!
//! The decisions (line item types, Savings Plan negation folding, the RI/SP unused split, refunds,
//! tags, units) are written down for FinOps engineers in `docs/mapping/aws-cur.md`.
//!
//! Streaming: one source row at a time. Two things are buffered, both bounded by the number of
//! commitments rather than rows: a synthetic "Unused" row waits one step behind the fee row it was
//! split from, and Savings Plan covered-usage/negation amounts are summed per (Savings Plan,
//! account, product, billing period, invoice) so any part that does not cancel within the file can
//! be emitted at the end, keeping Σ BilledCost equal to the source's Σ (net) unblended cost.

mod columns;
mod regions;
mod services;
mod units;

use std::collections::BTreeMap;
use std::path::PathBuf;

use indexmap::IndexMap;
use rust_decimal::Decimal;

pub use columns::cur2_name;
pub use regions::region_name;
pub use services::service_category;
pub use units::normalize_unit;

use columns::{Columns, Loc, C, P};

use crate::error::{NormalizeError, NormalizeErrorKind};
use crate::focus::*;
use crate::input::Progress;
use crate::money::{Currency, CurrencyTotals};
use crate::normalize::csv_input::{Cells, CsvInput, RangeEnd, SplitPlan};
use crate::normalize::table::Table;
use crate::normalize::{Dialect, Job, RecordStream, SourceTotals};
use crate::text::Text;
use crate::time::{next_month_start, Timestamp};

/// The `x_` columns every AWS CUR record may carry, in output order.
pub const EXTENSION_COLUMNS: &[&str] = &[
    "x_ServiceCode",
    "x_UsageType",
    "x_Operation",
    "x_LineItemType",
    "x_BillType",
    "x_ProductFamily",
    "x_CostCategories",
    "x_Discounts",
];

/// `lineItem/LineItemType` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lit {
    Usage,
    DiscountedUsage,
    SpCoveredUsage,
    SpNegation,
    SpUpfrontFee,
    SpRecurringFee,
    RiFee,
    Fee,
    Tax,
    Credit,
    Refund,
    /// EdpDiscount, PrivateRateDiscount, BundledDiscount, Discount, DistributorDiscount, RiVolumeDiscount.
    Discount,
    Unknown,
}

impl Lit {
    fn parse(s: &str) -> Lit {
        match s {
            "Usage" => Lit::Usage,
            "DiscountedUsage" => Lit::DiscountedUsage,
            "SavingsPlanCoveredUsage" => Lit::SpCoveredUsage,
            "SavingsPlanNegation" => Lit::SpNegation,
            "SavingsPlanUpfrontFee" => Lit::SpUpfrontFee,
            "SavingsPlanRecurringFee" => Lit::SpRecurringFee,
            "RIFee" => Lit::RiFee,
            "Fee" => Lit::Fee,
            "Tax" => Lit::Tax,
            "Credit" => Lit::Credit,
            "Refund" => Lit::Refund,
            "EdpDiscount"
            | "PrivateRateDiscount"
            | "BundledDiscount"
            | "Discount"
            | "DistributorDiscount"
            | "RiVolumeDiscount" => Lit::Discount,
            _ => Lit::Unknown,
        }
    }
}

/// One source row with its columns resolved; the CUR 2.0 `product` map is parsed once per row,
/// and only when an attribute has no top-level column.
struct View<'a, R: Cells> {
    row: &'a R,
    cols: &'a Columns,
    product: Option<serde_json::Map<String, serde_json::Value>>,
}

impl<'a, R: Cells> View<'a, R> {
    fn new(row: &'a R, cols: &'a Columns) -> Result<Self, NormalizeError> {
        let product = match cols.product_map {
            Some(i) => json_object(row, i)?,
            None => None,
        };
        Ok(View { row, cols, product })
    }

    fn s(&self, c: C) -> &str {
        self.row.cell(self.cols.get(c))
    }

    fn text(&self, c: C) -> Option<Text> {
        self.cols.interner.borrow_mut().non_empty(self.s(c))
    }

    /// A shared [`Text`] for a value that repeats between rows.
    fn intern(&self, s: &str) -> Text {
        self.cols.interner.borrow_mut().get(s)
    }

    /// Like [`View::intern`]; `None` for a blank value.
    fn intern_non_empty(&self, s: &str) -> Option<Text> {
        self.cols.interner.borrow_mut().non_empty(s)
    }

    fn p(&self, p: P) -> &str {
        match self.cols.product(p) {
            Loc::Absent => "",
            Loc::Column(i) => self.row.cell(Some(*i)),
            Loc::MapKey(k) => self
                .product
                .as_ref()
                .and_then(|m| m.get(k.as_str()))
                .and_then(|v| v.as_str())
                .map(str::trim)
                .unwrap_or(""),
        }
    }

    fn dec(&self, c: C) -> Result<Option<Decimal>, NormalizeError> {
        self.row.decimal(self.cols.get(c))
    }

    /// The net variant when the file has it and the cell is filled, else the gross column.
    fn net_or_gross(&self, net: C, gross: C) -> Result<Option<Decimal>, NormalizeError> {
        match self.dec(net)? {
            Some(d) => Ok(Some(d)),
            None => self.dec(gross),
        }
    }

    /// An error naming the column `c` (even when the file does not have that column).
    fn err(&self, c: C, msg: impl Into<String>) -> NormalizeError {
        let mut e = self.row.error(self.cols.get(c).unwrap_or(0), msg.into());
        e.column = Some(self.cols.name(c));
        e
    }

    fn required_dec(&self, net: Option<C>, gross: C, why: &str) -> Result<Decimal, NormalizeError> {
        let v = match net {
            Some(n) => self.net_or_gross(n, gross)?,
            None => self.dec(gross)?,
        };
        v.ok_or_else(|| self.err(gross, format!("is empty but {why}")))
    }
}

fn non_empty(s: &str) -> Option<Text> {
    if s.is_empty() {
        None
    } else {
        Some(Text::from(s))
    }
}

fn json_object<R: Cells>(
    row: &R,
    idx: usize,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, NormalizeError> {
    let s = row.cell(Some(idx));
    if s.is_empty() || s == "{}" {
        return Ok(None);
    }
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(serde_json::Value::Object(m)) => Ok(Some(m)),
        Ok(serde_json::Value::Null) => Ok(None),
        Ok(_) => Err(row.error(idx, "must be a JSON object (a CUR 2.0 map column)".into())),
        Err(e) => Err(row.error(idx, format!("is not valid JSON: {e}"))),
    }
}

/// AWS account ids are 12 digits; a spreadsheet round trip or an integer-typed column loses the
/// leading zeros, which are put back. Anything that is not all digits is kept as is.
fn account_id(s: &str) -> Text {
    if !s.is_empty() && s.len() < 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Text::from(format!("{s:0>12}"))
    } else {
        Text::from(s)
    }
}

/// `arn:aws:rds:us-east-1:123:db:name` -> `rds:db`; bare EC2-style ids by their prefix; S3 bucket
/// names by the product code. `None` when the id says nothing about its type.
fn resource_type(id: &str, product_code: &str) -> Option<Text> {
    if let Some(rest) = id.strip_prefix("arn:") {
        let mut parts = rest.splitn(5, ':');
        let (_partition, service, _region, _account) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let resource = parts.next()?;
        let kind = resource.split(['/', ':']).next().unwrap_or("");
        if service.is_empty() {
            return None;
        }
        if kind.is_empty() || kind == resource {
            // `arn:aws:s3:::bucket`, `arn:aws:sns:...:topic-name`: the service is all we know.
            return Some(Text::from(service));
        }
        return Some(Text::from(format!("{service}:{kind}")));
    }
    const PREFIXES: &[(&str, &str)] = &[
        ("i-", "ec2:instance"),
        ("vol-", "ec2:volume"),
        ("snap-", "ec2:snapshot"),
        ("eni-", "ec2:network-interface"),
        ("nat-", "ec2:natgateway"),
        ("eipalloc-", "ec2:elastic-ip"),
        ("vpce-", "ec2:vpc-endpoint"),
        ("vpc-", "ec2:vpc"),
        ("tgw-attach-", "ec2:transit-gateway-attachment"),
        ("tgw-", "ec2:transit-gateway"),
        ("ami-", "ec2:image"),
    ];
    if let Some((_, t)) = PREFIXES.iter().find(|(p, _)| id.starts_with(p)) {
        return Some(Text::from(*t));
    }
    if product_code == "AmazonS3" {
        return Some(Text::from("s3:bucket"));
    }
    None
}

/// The category a refund belongs to: FOCUS keeps refunds in the category of what they refund.
/// CUR repeats the refunded charge's product, usage type and tax type on the refund row.
fn refunded_category<R: Cells>(v: &View<'_, R>) -> ChargeCategory {
    let usage_type = v.s(C::UsageType);
    if !v.s(C::TaxType).is_empty() {
        ChargeCategory::Tax
    } else if usage_type.contains("HeavyUsage") || usage_type.contains("SP:") {
        // RI fee usage types are `HeavyUsage:...`; Savings Plan fees `ComputeSP:1yrNoUpfront` etc.
        ChargeCategory::Purchase
    } else {
        ChargeCategory::Usage
    }
}

fn is_spot<R: Cells>(v: &View<'_, R>) -> bool {
    v.s(C::UsageType).contains("SpotUsage") || v.s(C::Term).eq_ignore_ascii_case("Spot")
}

/// The key Savings Plan covered usage and its negation are summed under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ResidualKey {
    currency: Currency,
    payer: Text,
    account: Text,
    savings_plan: Text,
    product_code: Text,
    billing_period_start: Timestamp,
    invoice: Option<Text>,
}

#[derive(Debug)]
struct Residual {
    amount: Decimal,
    /// Built from the first contributing row; emitted only when `amount` is not zero.
    record: FocusRecord,
}

/// What one source row becomes.
struct Mapped {
    primary: Option<FocusRecord>,
    unused: Option<FocusRecord>,
}

/// Running state: source totals and the negation fold.
#[derive(Default)]
struct Acc {
    billed: CurrencyTotals,
    effective: CurrencyTotals,
    rows: u64,
    residuals: IndexMap<ResidualKey, Residual>,
    negation_rows: u64,
    covered_rows: u64,
    unused_rows: u64,
    unused_without_quantity: u64,
    unknown_types: BTreeMap<String, u64>,
}

impl Acc {
    /// Folds in the state of a source read after this one. Savings Plan aggregates keep the order
    /// in which they first appeared and the record template of their first row, as one sequential
    /// read would.
    fn merge(&mut self, later: Acc) {
        for (c, v) in later.billed.0 {
            self.billed.add(&c, v);
        }
        for (c, v) in later.effective.0 {
            self.effective.add(&c, v);
        }
        self.rows += later.rows;
        for (key, res) in later.residuals {
            match self.residuals.get_mut(&key) {
                Some(r) => r.amount += res.amount,
                None => {
                    self.residuals.insert(key, res);
                }
            }
        }
        self.negation_rows += later.negation_rows;
        self.covered_rows += later.covered_rows;
        self.unused_rows += later.unused_rows;
        self.unused_without_quantity += later.unused_without_quantity;
        for (t, n) in later.unknown_types {
            *self.unknown_types.entry(t).or_default() += n;
        }
    }
}

/// The source's amortized measure of one row: AWS's standard amortized-cost formula by line item
/// type. Kept apart from the mapping so the two can check each other.
fn amortized_measure<R: Cells>(
    v: &View<'_, R>,
    lit: Lit,
    billed: Decimal,
) -> Result<Decimal, NormalizeError> {
    Ok(match lit {
        Lit::DiscountedUsage => v.required_dec(
            Some(C::RiNetEffectiveCost),
            C::RiEffectiveCost,
            "DiscountedUsage rows must have it",
        )?,
        Lit::SpCoveredUsage => v.required_dec(
            Some(C::SpNetEffectiveCost),
            C::SpEffectiveCost,
            "SavingsPlanCoveredUsage rows must have it",
        )?,
        Lit::SpNegation | Lit::SpUpfrontFee => Decimal::ZERO,
        Lit::SpRecurringFee => {
            v.required_dec(
                None,
                C::SpTotalCommitment,
                "SavingsPlanRecurringFee rows must have it",
            )? - v.dec(C::SpUsedCommitment)?.unwrap_or_default()
        }
        Lit::RiFee => {
            v.net_or_gross(C::RiNetUnusedUpfront, C::RiUnusedUpfront)?
                .unwrap_or_default()
                + v.net_or_gross(C::RiNetUnusedRecurring, C::RiUnusedRecurring)?
                    .unwrap_or_default()
        }
        Lit::Fee if !v.s(C::ReservationArn).is_empty() => Decimal::ZERO,
        _ => billed,
    })
}

/// The FOCUS values every record of a row shares.
fn base_record<R: Cells>(
    v: &View<'_, R>,
    lit_raw: &str,
    currency: &Currency,
) -> Result<FocusRecord, NormalizeError> {
    let cols = v.cols;
    let bp_start = v
        .row
        .timestamp(cols.get(C::BillingPeriodStart))?
        .ok_or_else(|| v.err(C::BillingPeriodStart, "is empty but is required"))?;
    let bp_end = v
        .row
        .timestamp(cols.get(C::BillingPeriodEnd))?
        .unwrap_or_else(|| next_month_start(&bp_start));
    let start = v
        .row
        .timestamp(cols.get(C::UsageStart))?
        .ok_or_else(|| v.err(C::UsageStart, "is empty but is required"))?;
    let end = v
        .row
        .timestamp(cols.get(C::UsageEnd))?
        .ok_or_else(|| v.err(C::UsageEnd, "is empty but is required"))?;
    let payer = v.s(C::PayerAccountId);
    if payer.is_empty() {
        return Err(v.err(C::PayerAccountId, "is empty but is required"));
    }
    let product_code = v.s(C::ProductCode);
    let service_name = [v.p(P::ProductName), v.p(P::ServiceName), product_code]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or("");
    if service_name.is_empty() {
        return Err(v.err(
            C::ProductCode,
            "is empty and the row has no product name: ServiceName would be empty",
        ));
    }
    let (category, subcategory) = services::service_category(product_code);
    let region_id = [v.p(P::RegionCode), v.p(P::Region)]
        .into_iter()
        .find(|s| !s.is_empty() && !s.eq_ignore_ascii_case("global"))
        .map(Text::from);
    let account = v.s(C::UsageAccountId);
    let tags = tags(v)?;
    // Parsed in lean mode too: a malformed map is an error whatever the command.
    let cost_categories = cost_categories(v)?;
    let discounts = match v.cols.discount_map {
        Some(i) => json_object(v.row, i)?,
        None => None,
    };
    let mut rec = FocusRecord {
        billing_account_id: account_id(payer),
        billing_account_name: v.text(C::PayerAccountName),
        billing_currency: currency.clone(),
        billing_period_start: bp_start,
        billing_period_end: bp_end,
        charge_period_start: start,
        charge_period_end: end,
        // Kept in lean mode: Savings Plan amounts fold per invoice.
        invoice_id: v.text(C::InvoiceId),
        provider_name: Text::from("AWS"),
        host_provider_name: Text::from("AWS"),
        service_category: category,
        service_subcategory: Some(Text::new_static(subcategory)),
        service_name: v.intern(service_name),
        sub_account_id: if account.is_empty() {
            None
        } else {
            Some(account_id(account))
        },
        sub_account_name: v.text(C::UsageAccountName),
        sub_account_type: if account.is_empty() {
            None
        } else {
            Some(Text::from("Account"))
        },
        ..FocusRecord::default()
    };
    if !v.cols.lean {
        describe(
            v,
            &mut rec,
            lit_raw,
            product_code,
            region_id.as_deref(),
            &tags,
        );
        if let Some(cc) = cost_categories {
            rec.extensions
                .push((Text::from("x_CostCategories"), Text::from(cc)));
        }
        if let Some(m) = discounts {
            rec.extensions.push((
                Text::from("x_Discounts"),
                Text::from(serde_json::Value::Object(m).to_string()),
            ));
        }
    }
    rec.region_id = region_id;
    rec.tags = tags;
    Ok(rec)
}

/// The descriptive fields of a record: what an output file shows and no aggregate keeps.
fn describe<R: Cells>(
    v: &View<'_, R>,
    rec: &mut FocusRecord,
    lit_raw: &str,
    product_code: &str,
    region_id: Option<&str>,
    tags: &Tags,
) {
    rec.region_name = region_id.and_then(|r| match regions::region_name(r) {
        Some(n) => Some(Text::new_static(n)),
        None => non_empty(v.p(P::Location)),
    });
    let legal = [v.s(C::LegalEntity), v.s(C::InvoicingEntity)]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or("Amazon Web Services, Inc.");
    let issuer = [v.s(C::InvoicingEntity), v.s(C::LegalEntity)]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or("Amazon Web Services, Inc.");
    rec.invoice_issuer_name = v.intern(issuer);
    rec.publisher_name = v.intern(legal);
    rec.service_provider_name = v.intern(legal);
    rec.resource_id = v.text(C::ResourceId);
    rec.resource_name = tags
        .get(if v.cols.snake_case { "name" } else { "Name" })
        .and_then(|t| match t {
            TagValue::Str(s) if !s.is_empty() => Some(Text::from(s.as_str())),
            _ => None,
        });
    rec.resource_type = rec
        .resource_id
        .as_deref()
        .and_then(|id| resource_type(id, product_code));
    rec.availability_zone = v.text(C::AvailabilityZone);
    rec.charge_description = v.text(C::Description);
    rec.sku_id = v.intern_non_empty(v.p(P::Sku));
    rec.sku_meter = v.text(C::UsageType);
    rec.sku_price_id = v.text(C::RateCode).or_else(|| v.text(C::RateId));
    rec.sku_price_details = sku_price_details(v);
    rec.extensions = Vec::with_capacity(8);
    for (name, value) in [
        ("x_ServiceCode", product_code),
        ("x_UsageType", v.s(C::UsageType)),
        ("x_Operation", v.s(C::Operation)),
        ("x_LineItemType", lit_raw),
        ("x_BillType", v.s(C::BillType)),
        ("x_ProductFamily", v.p(P::ProductFamily)),
    ] {
        if !value.is_empty() {
            rec.extensions
                .push((Text::new_static(name), v.intern(value)));
        }
    }
}

/// Tags from one-column-per-tag files and from the CUR 2.0 `resource_tags` map. An empty value
/// means the resource does not carry the tag: legacy CUR prints every activated tag key on every
/// row and cannot tell "no tag" from "empty value", so empty cells are skipped (never `true`).
fn tags<R: Cells>(v: &View<'_, R>) -> Result<Tags, NormalizeError> {
    let mut t = Tags::new();
    for (i, key) in &v.cols.tag_columns {
        let val = v.row.cell(Some(*i));
        if !val.is_empty() {
            t.insert(key, val);
        }
    }
    if let Some(i) = v.cols.tag_map {
        if let Some(m) = json_object(v.row, i)? {
            for (k, val) in m {
                let key = columns::tag_key(&k, true);
                match val {
                    serde_json::Value::String(s) if s.is_empty() => {}
                    serde_json::Value::String(s) => t.insert(key, &s),
                    serde_json::Value::Null => {}
                    serde_json::Value::Bool(b) => {
                        t.0.insert(Text::from(key), TagValue::Bool(b));
                    }
                    serde_json::Value::Number(n) => {
                        t.0.insert(Text::from(key), TagValue::Number(n));
                    }
                    other => t.insert(key, &other.to_string()),
                }
            }
        }
    }
    Ok(t)
}

/// Cost categories as one JSON object (`x_CostCategories`, the name AWS's own FOCUS export uses).
fn cost_categories<R: Cells>(v: &View<'_, R>) -> Result<Option<String>, NormalizeError> {
    let mut m = serde_json::Map::new();
    for (i, key) in &v.cols.cost_category_columns {
        let val = v.row.cell(Some(*i));
        if !val.is_empty() {
            m.insert(key.to_string(), serde_json::Value::String(val.to_string()));
        }
    }
    if let Some(i) = v.cols.cost_category_map {
        if let Some(map) = json_object(v.row, i)? {
            for (k, val) in map {
                if val.as_str() != Some("") && !val.is_null() {
                    m.insert(k, val);
                }
            }
        }
    }
    Ok(if m.is_empty() {
        None
    } else {
        Some(serde_json::Value::Object(m).to_string())
    })
}

/// Product attributes that describe the price, under FOCUS SkuPriceDetails property names.
fn sku_price_details<R: Cells>(v: &View<'_, R>) -> Option<SkuPriceDetails> {
    let mut m = SkuPriceDetails::new();
    for (p, key) in [
        (P::InstanceType, "InstanceType"),
        (P::OperatingSystem, "OperatingSystem"),
        (P::StorageClass, "StorageClass"),
    ] {
        let s = v.p(p);
        if !s.is_empty() {
            m.insert(key.to_string(), serde_json::Value::String(s.to_string()));
        }
    }
    if let Ok(n) = v.p(P::Vcpu).parse::<u64>() {
        m.insert("CoreCount".to_string(), serde_json::Value::from(n));
    }
    if m.is_empty() {
        None
    } else {
        Some(m)
    }
}

/// Maps one source row. Updates the source totals and the negation fold in `acc`.
fn map_row<R: Cells>(row: &R, cols: &Columns, acc: &mut Acc) -> Result<Mapped, NormalizeError> {
    let v = View::new(row, cols)?;
    let lit_raw = v.s(C::LineItemType);
    if lit_raw.is_empty() {
        return Err(v.err(C::LineItemType, "is empty but is required"));
    }
    let lit = Lit::parse(lit_raw);
    let code = v.s(C::CurrencyCode);
    if code.is_empty() {
        return Err(v.err(C::CurrencyCode, "is empty but is required"));
    }
    let currency = Currency::new(code);
    let billed = v.required_dec(
        Some(C::NetUnblendedCost),
        C::UnblendedCost,
        "every line item has a cost",
    )?;
    let amortized = amortized_measure(&v, lit, billed)?;
    acc.rows += 1;
    acc.billed.add(&currency, billed);
    acc.effective.add(&currency, amortized);

    let mut rec = base_record(&v, lit_raw, &currency)?;
    let usage_amount = v.dec(C::UsageAmount)?;
    let unit = normalize_unit(v.s(C::PricingUnit));
    let rate = v.net_or_gross(C::NetUnblendedRate, C::UnblendedRate)?;
    let public_cost = v.dec(C::PublicOnDemandCost)?;
    let public_rate = v.dec(C::PublicOnDemandRate)?;
    let ri_arn = v.text(C::ReservationArn);
    let sp_arn = v.text(C::SavingsPlanArn);
    let sp_type = v
        .text(C::SpOfferingType)
        .unwrap_or_else(|| Text::from("Savings Plan"));
    let hours = || Some(Text::from("Hours"));
    // A fee row's usage amount without a unit counts what was bought (one Savings Plan, one
    // support month, N reservations): FOCUS's recommended count unit.
    let units = || Some(Text::from("Units"));
    let currency_unit = Some(Text::from(currency.as_str()));
    let mut unused: Option<FocusRecord> = None;

    rec.billed_cost = billed;
    match lit {
        Lit::Usage | Lit::DiscountedUsage | Lit::SpCoveredUsage => {
            rec.charge_category = ChargeCategory::Usage;
            rec.charge_frequency = Some(ChargeFrequency::UsageBased);
            rec.pricing_quantity = usage_amount;
            rec.pricing_unit = unit.clone();
            rec.consumed_quantity = usage_amount;
            rec.consumed_unit = unit;
            rec.list_unit_price = public_rate;
            match lit {
                Lit::Usage => {
                    rec.effective_cost = billed;
                    rec.contracted_cost = billed;
                    rec.contracted_unit_price = rate;
                    rec.list_cost = public_cost.unwrap_or(billed);
                    rec.pricing_category = Some(if is_spot(&v) {
                        PricingCategory::Dynamic
                    } else {
                        PricingCategory::Standard
                    });
                }
                Lit::DiscountedUsage => {
                    rec.effective_cost = v.required_dec(
                        Some(C::RiNetEffectiveCost),
                        C::RiEffectiveCost,
                        "DiscountedUsage rows must have it",
                    )?;
                    // CUR shows RI-covered usage at rate 0: the negotiated on-demand rate is not in
                    // the row, so the public price stands in for it.
                    rec.list_cost = public_cost.unwrap_or(rec.effective_cost);
                    rec.contracted_cost = rec.list_cost;
                    rec.contracted_unit_price = public_rate;
                    rec.pricing_category = Some(PricingCategory::Committed);
                    rec.commitment_discount_id = ri_arn.clone();
                    rec.commitment_discount_category = Some(CommitmentDiscountCategory::Usage);
                    rec.commitment_discount_type = Some(Text::from("Reserved Instance"));
                    rec.commitment_discount_status = Some(CommitmentDiscountStatus::Used);
                    rec.commitment_discount_quantity = usage_amount;
                    rec.commitment_discount_unit = usage_amount.and_then(|_| hours());
                }
                _ => {
                    // Folded with its SavingsPlanNegation: the Savings Plan fee row bills this usage.
                    rec.billed_cost = Decimal::ZERO;
                    rec.effective_cost = v.required_dec(
                        Some(C::SpNetEffectiveCost),
                        C::SpEffectiveCost,
                        "SavingsPlanCoveredUsage rows must have it",
                    )?;
                    rec.contracted_cost = billed;
                    rec.contracted_unit_price = rate;
                    rec.list_cost = public_cost.unwrap_or(billed);
                    rec.pricing_category = Some(PricingCategory::Committed);
                    rec.commitment_discount_id = sp_arn.clone();
                    rec.commitment_discount_category = Some(CommitmentDiscountCategory::Spend);
                    rec.commitment_discount_type = Some(sp_type.clone());
                    rec.commitment_discount_status = Some(CommitmentDiscountStatus::Used);
                    rec.commitment_discount_quantity = Some(rec.effective_cost);
                    rec.commitment_discount_unit = currency_unit.clone();
                    acc.covered_rows += 1;
                    fold(acc, &v, &rec, sp_arn.clone(), billed);
                }
            }
        }
        Lit::SpNegation => {
            acc.negation_rows += 1;
            fold(acc, &v, &rec, sp_arn, billed);
            return Ok(Mapped {
                primary: None,
                unused: None,
            });
        }
        Lit::RiFee | Lit::SpRecurringFee | Lit::SpUpfrontFee | Lit::Fee => {
            rec.charge_category = ChargeCategory::Purchase;
            rec.pricing_category = Some(PricingCategory::Standard);
            rec.list_cost = billed;
            rec.contracted_cost = billed;
            rec.contracted_unit_price = rate;
            rec.pricing_quantity = usage_amount;
            rec.pricing_unit = unit;
            rec.effective_cost = Decimal::ZERO;
            match lit {
                Lit::RiFee => {
                    rec.charge_frequency = Some(ChargeFrequency::Recurring);
                    if rec.pricing_unit.is_none() && rec.pricing_quantity.is_some() {
                        rec.pricing_unit = hours();
                    }
                    rec.commitment_discount_id = ri_arn.clone();
                    rec.commitment_discount_category = Some(CommitmentDiscountCategory::Usage);
                    rec.commitment_discount_type = Some(Text::from("Reserved Instance"));
                    rec.commitment_discount_quantity = usage_amount;
                    rec.commitment_discount_unit = usage_amount.and_then(|_| hours());
                    let amount = v
                        .net_or_gross(C::RiNetUnusedUpfront, C::RiUnusedUpfront)?
                        .unwrap_or_default()
                        + v.net_or_gross(C::RiNetUnusedRecurring, C::RiUnusedRecurring)?
                            .unwrap_or_default();
                    if !amount.is_zero() {
                        let qty = v.dec(C::RiUnusedQuantity)?;
                        if qty.is_none() {
                            acc.unused_without_quantity += 1;
                        }
                        unused = Some(unused_row(&rec, amount, qty, qty.and_then(|_| hours())));
                    }
                }
                Lit::SpRecurringFee => {
                    rec.charge_frequency = Some(ChargeFrequency::Recurring);
                    if rec.pricing_unit.is_none() && rec.pricing_quantity.is_some() {
                        rec.pricing_unit = hours();
                    }
                    let total = v.required_dec(
                        None,
                        C::SpTotalCommitment,
                        "SavingsPlanRecurringFee rows must have it",
                    )?;
                    let used = v.dec(C::SpUsedCommitment)?.unwrap_or_default();
                    rec.commitment_discount_id = sp_arn.clone();
                    rec.commitment_discount_category = Some(CommitmentDiscountCategory::Spend);
                    rec.commitment_discount_type = Some(sp_type.clone());
                    rec.commitment_discount_quantity = Some(total);
                    rec.commitment_discount_unit = currency_unit.clone();
                    let amount = total - used;
                    if !amount.is_zero() {
                        unused = Some(unused_row(
                            &rec,
                            amount,
                            Some(amount),
                            currency_unit.clone(),
                        ));
                    }
                }
                Lit::SpUpfrontFee => {
                    rec.charge_frequency = Some(ChargeFrequency::OneTime);
                    if rec.pricing_unit.is_none() && rec.pricing_quantity.is_some() {
                        rec.pricing_unit = units();
                    }
                    rec.commitment_discount_id = sp_arn.clone();
                    rec.commitment_discount_category = Some(CommitmentDiscountCategory::Spend);
                    rec.commitment_discount_type = Some(sp_type.clone());
                    rec.commitment_discount_quantity = Some(billed);
                    rec.commitment_discount_unit = currency_unit.clone();
                }
                _ => {
                    // Fee: an RI upfront payment (it has a reservation ARN) pays for future usage;
                    // any other fee is its own cost.
                    let one_time = ri_arn.is_some()
                        || v.s(C::BillType).eq_ignore_ascii_case("Purchase")
                        || rec.charge_period_start == rec.charge_period_end;
                    rec.charge_frequency = Some(if one_time {
                        ChargeFrequency::OneTime
                    } else {
                        ChargeFrequency::Recurring
                    });
                    if rec.pricing_unit.is_none() && rec.pricing_quantity.is_some() {
                        rec.pricing_unit = units();
                    }
                    if ri_arn.is_some() {
                        rec.commitment_discount_id = ri_arn.clone();
                        rec.commitment_discount_category = Some(CommitmentDiscountCategory::Usage);
                        rec.commitment_discount_type = Some(Text::from("Reserved Instance"));
                    } else {
                        rec.effective_cost = billed;
                    }
                }
            }
            if let Some(u) = &unused {
                acc.unused_rows += 1;
                debug_assert_eq!(u.charge_category, ChargeCategory::Usage);
            }
        }
        Lit::Tax | Lit::Credit | Lit::Refund | Lit::Discount | Lit::Unknown => {
            rec.effective_cost = billed;
            rec.list_cost = billed;
            rec.contracted_cost = billed;
            let earlier_period = rec.charge_period_start < rec.billing_period_start;
            let purchase_bill = v.s(C::BillType).eq_ignore_ascii_case("Purchase");
            match lit {
                Lit::Tax => {
                    rec.charge_category = ChargeCategory::Tax;
                    rec.charge_frequency = Some(if purchase_bill {
                        ChargeFrequency::OneTime
                    } else {
                        ChargeFrequency::Recurring
                    });
                }
                Lit::Credit | Lit::Discount => {
                    rec.charge_category = ChargeCategory::Credit;
                    rec.charge_frequency = Some(ChargeFrequency::OneTime);
                    if lit == Lit::Credit && earlier_period {
                        rec.charge_class = Some(ChargeClass::Correction);
                    }
                }
                Lit::Refund => {
                    rec.charge_category = refunded_category(&v);
                    if earlier_period {
                        rec.charge_class = Some(ChargeClass::Correction);
                    }
                    match rec.charge_category {
                        ChargeCategory::Usage => {
                            rec.charge_frequency = Some(ChargeFrequency::UsageBased);
                            rec.pricing_category = Some(if is_spot(&v) {
                                PricingCategory::Dynamic
                            } else {
                                PricingCategory::Standard
                            });
                        }
                        ChargeCategory::Purchase => {
                            rec.charge_frequency = Some(ChargeFrequency::OneTime);
                            rec.pricing_category = Some(PricingCategory::Standard);
                        }
                        _ => rec.charge_frequency = Some(ChargeFrequency::OneTime),
                    }
                    if rec.charge_category != ChargeCategory::Tax {
                        rec.pricing_quantity = usage_amount;
                        rec.pricing_unit = unit;
                    }
                }
                _ => {
                    rec.charge_category = ChargeCategory::Adjustment;
                    *acc.unknown_types.entry(lit_raw.to_string()).or_default() += 1;
                }
            }
            if rec.charge_category == ChargeCategory::Tax {
                // FOCUS: SkuMeter is null when SkuId is; the usage type stays in x_UsageType.
                rec.sku_id = None;
                rec.sku_meter = None;
                rec.sku_price_id = None;
                rec.sku_price_details = None;
            }
        }
    }
    let pricing_currency = v.text(C::PricingCurrency).map(|c| Currency::new(&c));
    for r in std::iter::once(&mut rec).chain(unused.as_mut()) {
        set_pricing_currency(r, pricing_currency.as_ref());
    }
    Ok(Mapped {
        primary: Some(rec),
        unused,
    })
}

/// PricingCurrency from `pricing/currency`; the PricingCurrency* metrics only when it is the
/// billing currency, because CUR carries no exchange rate to convert with.
fn set_pricing_currency(r: &mut FocusRecord, pricing: Option<&Currency>) {
    if r.charge_category == ChargeCategory::Tax {
        return;
    }
    let Some(pc) = pricing else { return };
    r.pricing_currency = Some(pc.clone());
    if *pc == r.billing_currency {
        r.pricing_currency_list_unit_price = r.list_unit_price;
        r.pricing_currency_contracted_unit_price = r.contracted_unit_price;
        r.pricing_currency_effective_cost = Some(r.effective_cost);
    }
}

/// The explicit Unused row FOCUS wants for the unused part of a commitment fee: a Usage row with
/// no billed cost whose EffectiveCost is the unused amortized amount.
fn unused_row(
    purchase: &FocusRecord,
    amount: Decimal,
    quantity: Option<Decimal>,
    unit: Option<Text>,
) -> FocusRecord {
    let mut u = purchase.clone();
    u.charge_category = ChargeCategory::Usage;
    u.charge_frequency = Some(ChargeFrequency::UsageBased);
    u.pricing_category = Some(PricingCategory::Committed);
    u.billed_cost = Decimal::ZERO;
    u.effective_cost = amount;
    u.list_cost = Decimal::ZERO;
    u.contracted_cost = Decimal::ZERO;
    u.list_unit_price = None;
    u.contracted_unit_price = None;
    u.consumed_quantity = None;
    u.consumed_unit = None;
    u.pricing_quantity = quantity;
    u.pricing_unit = unit.clone();
    u.commitment_discount_status = Some(CommitmentDiscountStatus::Unused);
    u.commitment_discount_quantity = quantity;
    u.commitment_discount_unit = unit;
    u.resource_id = purchase.commitment_discount_id.clone();
    u.resource_type = purchase
        .resource_id
        .as_ref()
        .and(purchase.resource_type.clone());
    u
}

/// Adds a covered-usage amount (positive) or a negation (negative) to its Savings Plan aggregate.
fn fold<R: Cells>(
    acc: &mut Acc,
    v: &View<'_, R>,
    rec: &FocusRecord,
    sp_arn: Option<Text>,
    amount: Decimal,
) {
    let key = ResidualKey {
        currency: rec.billing_currency.clone(),
        payer: rec.billing_account_id.clone(),
        account: rec.sub_account_id.clone().unwrap_or_default(),
        savings_plan: sp_arn.unwrap_or_default(),
        product_code: Text::from(v.s(C::ProductCode)),
        billing_period_start: rec.billing_period_start,
        invoice: rec.invoice_id.clone(),
    };
    match acc.residuals.get_mut(&key) {
        Some(r) => r.amount += amount,
        None => {
            let record = residual_template(rec, &key);
            acc.residuals.insert(key, Residual { amount, record });
        }
    }
}

/// The record that carries a Savings Plan aggregate's non-cancelling remainder.
fn residual_template(rec: &FocusRecord, key: &ResidualKey) -> FocusRecord {
    let mut r = FocusRecord {
        billing_account_id: rec.billing_account_id.clone(),
        billing_account_name: rec.billing_account_name.clone(),
        billing_currency: rec.billing_currency.clone(),
        billing_period_start: rec.billing_period_start,
        billing_period_end: rec.billing_period_end,
        charge_period_start: rec.billing_period_start,
        charge_period_end: rec.billing_period_end,
        charge_category: ChargeCategory::Adjustment,
        charge_frequency: Some(ChargeFrequency::UsageBased),
        charge_description: Some(Text::from(
            "Savings Plan covered usage and SavingsPlanNegation amounts that do not cancel out within this file",
        )),
        invoice_id: rec.invoice_id.clone(),
        invoice_issuer_name: rec.invoice_issuer_name.clone(),
        provider_name: rec.provider_name.clone(),
        publisher_name: rec.publisher_name.clone(),
        service_provider_name: rec.service_provider_name.clone(),
        host_provider_name: rec.host_provider_name.clone(),
        service_name: rec.service_name.clone(),
        service_category: rec.service_category,
        service_subcategory: rec.service_subcategory.clone(),
        sub_account_id: rec.sub_account_id.clone(),
        sub_account_name: rec.sub_account_name.clone(),
        sub_account_type: rec.sub_account_type.clone(),
        ..FocusRecord::default()
    };
    if !key.savings_plan.is_empty() {
        r.commitment_discount_id = Some(key.savings_plan.clone());
        r.commitment_discount_category = Some(CommitmentDiscountCategory::Spend);
        r.commitment_discount_type = rec
            .commitment_discount_type
            .clone()
            .or_else(|| Some(Text::from("Savings Plan")));
    }
    if !key.product_code.is_empty() {
        r.extensions
            .push((Text::from("x_ServiceCode"), key.product_code.clone()));
    }
    r.extensions.push((
        Text::from("x_LineItemType"),
        Text::from("SavingsPlanNegation"),
    ));
    r
}

/// The AWS CUR record stream (legacy CUR and CUR 2.0).
pub struct AwsCurStream {
    dialect: Dialect,
    progress: Progress,
    pending_inputs: std::vec::IntoIter<PathBuf>,
    current: Option<(Table, Columns)>,
    unused: Option<FocusRecord>,
    acc: Acc,
    residual_rows: Option<indexmap::map::IntoIter<ResidualKey, Residual>>,
    residuals_emitted: Vec<(Currency, Decimal)>,
    done: bool,
}

fn open_source(
    path: &std::path::Path,
    progress: &Progress,
) -> Result<(Table, Columns), NormalizeError> {
    let file = path.display().to_string();
    let source = Table::open(
        path,
        progress,
        "JSON is not a Cost and Usage Report format (CSV or Parquet)",
    )?;
    let cols = columns_for(&source, &file)?;
    Ok((source, cols))
}

/// Resolves the columns of an opened source and checks the required ones are there.
fn columns_for(source: &Table, file: &str) -> Result<Columns, NormalizeError> {
    let headers = source.headers().to_vec();
    // Legacy CUR CSV names have a `category/` part; CUR 2.0 and legacy CUR Parquet are snake_case.
    let snake_case = !headers.iter().any(|h| h.contains('/'));
    let cols = Columns::resolve(&headers, snake_case);
    for c in [
        C::LineItemType,
        C::UnblendedCost,
        C::CurrencyCode,
        C::UsageStart,
        C::UsageEnd,
        C::BillingPeriodStart,
        C::PayerAccountId,
        C::ProductCode,
    ] {
        cols.require(file, c)?;
    }
    Ok(cols)
}

/// Opens an AWS CUR job (legacy or CUR 2.0; CSV, gzip CSV or Parquet). Several inputs are read one
/// after the other as one stream, so Savings Plan negations fold across the files of a month.
pub fn open(job: &Job, progress: &Progress) -> Result<Box<dyn RecordStream>, NormalizeError> {
    let mut inputs = job.inputs.clone().into_iter();
    let first = inputs.next().ok_or_else(|| {
        NormalizeError::file(
            "(none)",
            NormalizeErrorKind::Malformed("no input file".into()),
        )
    })?;
    let current = open_source(&first, progress)?;
    Ok(Box::new(AwsCurStream {
        dialect: job.dialect,
        progress: progress.clone(),
        pending_inputs: inputs,
        current: Some(current),
        unused: None,
        acc: Acc::default(),
        residual_rows: None,
        residuals_emitted: Vec::new(),
        done: false,
    }))
}

/// One part of a job read on its own, with its own running state: a whole file, or one byte
/// range of a large plain CSV file ([`SplitPlan`]). Parts of a job are read on separate threads and
/// their states merged in file order with [`PartState::merge`]; [`finish`] then emits what only
/// the whole job can know (Savings Plan amounts that do not cancel out).
///
/// Parts exist for aggregation, so their records are lean: every field a [`crate::aggregate`]
/// key, sum or Savings Plan fold uses is filled, the descriptive ones are not.
pub struct CurPart {
    table: Table,
    cols: Columns,
    unused: Option<FocusRecord>,
    acc: Acc,
    failed: bool,
}

/// The running state of a finished [`CurPart`] (or of several, merged).
#[derive(Default)]
pub struct PartState(Acc);

impl PartState {
    /// Folds in the state of the part that follows this one in the job.
    pub fn merge(&mut self, later: PartState) {
        self.0.merge(later.0);
    }
}

/// The inputs of an AWS CUR job, each with its split plan when it is large enough to be read as
/// `parts` byte ranges (plain CSV of at least `min_bytes`).
pub fn split_plans(
    job: &Job,
    parts: usize,
    min_bytes: u64,
) -> Result<Vec<(PathBuf, Option<SplitPlan>)>, NormalizeError> {
    job.inputs
        .iter()
        .map(|p| Ok((p.clone(), SplitPlan::new(p, parts, min_bytes)?)))
        .collect()
}

impl CurPart {
    /// A whole input file.
    pub fn open_file(
        path: &std::path::Path,
        progress: &Progress,
    ) -> Result<CurPart, NormalizeError> {
        let (table, cols) = open_source(path, progress)?;
        Ok(CurPart::new(table, cols))
    }

    /// Range `index` of a split file. Its rows' line numbers are relative until the caller adds
    /// the delta it gets from the [`RangeEnd`] of the range before.
    pub fn open_range(
        plan: &SplitPlan,
        index: usize,
        progress: &Progress,
    ) -> Result<CurPart, NormalizeError> {
        let table = Table::Csv(CsvInput::open_range(plan, index, progress)?);
        let cols = columns_for(&table, &plan.path().display().to_string())?;
        Ok(CurPart::new(table, cols))
    }

    fn new(table: Table, mut cols: Columns) -> CurPart {
        cols.lean = true;
        CurPart {
            table,
            cols,
            unused: None,
            acc: Acc::default(),
            failed: false,
        }
    }

    /// Where a range part stopped (`None` for a whole file).
    pub fn range_end(&self) -> Option<RangeEnd> {
        match &self.table {
            Table::Csv(c) => c.range_end(),
            Table::Parquet(_) => None,
        }
    }

    /// The part's running state, to merge.
    pub fn into_state(self) -> PartState {
        PartState(self.acc)
    }
}

impl Iterator for CurPart {
    type Item = Result<FocusRecord, NormalizeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(u) = self.unused.take() {
            return Some(Ok(u));
        }
        if self.failed {
            return None;
        }
        loop {
            let mapped = self
                .table
                .next_row()?
                .and_then(|row| map_row(&row, &self.cols, &mut self.acc));
            match mapped {
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
                Ok(Mapped { primary, unused }) => {
                    self.unused = unused;
                    if let Some(p) = primary {
                        return Some(Ok(p));
                    }
                }
            }
        }
    }
}

/// The end of a job read in parts: a stream that yields the records only the merged state can
/// produce (Savings Plan amounts that do not cancel out within the job) and then reports the
/// job's source totals and notes.
pub fn finish(dialect: Dialect, state: PartState) -> Box<dyn RecordStream> {
    Box::new(AwsCurStream {
        dialect,
        progress: Progress::default(),
        pending_inputs: Vec::new().into_iter(),
        current: None,
        unused: None,
        acc: state.0,
        residual_rows: None,
        residuals_emitted: Vec::new(),
        done: false,
    })
}

impl AwsCurStream {
    /// Reads source rows until one yields a record; `None` when all inputs are exhausted.
    fn next_from_source(&mut self) -> Option<Result<FocusRecord, NormalizeError>> {
        loop {
            let (source, cols) = self.current.as_mut()?;
            let mapped = source
                .next_row()
                .map(|r| r.and_then(|row| map_row(&row, cols, &mut self.acc)));
            match mapped {
                None => {
                    self.current = match self.pending_inputs.next() {
                        Some(p) => match open_source(&p, &self.progress) {
                            Ok(c) => Some(c),
                            Err(e) => return Some(Err(e)),
                        },
                        None => None,
                    };
                }
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(Mapped { primary, unused })) => {
                    self.unused = unused;
                    if let Some(p) = primary {
                        return Some(Ok(p));
                    }
                }
            }
        }
    }
}

impl Iterator for AwsCurStream {
    type Item = Result<FocusRecord, NormalizeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(u) = self.unused.take() {
            return Some(Ok(u));
        }
        if self.done {
            return None;
        }
        if self.residual_rows.is_none() {
            match self.next_from_source() {
                Some(Ok(r)) => return Some(Ok(r)),
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                None => {
                    self.residual_rows = Some(std::mem::take(&mut self.acc.residuals).into_iter());
                }
            }
        }
        let rows = self.residual_rows.as_mut()?;
        for (_, res) in rows.by_ref() {
            if !res.amount.is_zero() {
                let mut r = res.record;
                r.billed_cost = res.amount;
                self.residuals_emitted
                    .push((r.billing_currency.clone(), res.amount));
                return Some(Ok(r));
            }
        }
        self.done = true;
        None
    }
}

impl RecordStream for AwsCurStream {
    fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn extension_columns(&self) -> Vec<Text> {
        EXTENSION_COLUMNS.iter().map(|c| Text::from(*c)).collect()
    }

    fn source_totals(&self) -> SourceTotals {
        SourceTotals {
            billed: self.acc.billed.clone(),
            effective: Some(self.acc.effective.clone()),
            rows: self.acc.rows,
        }
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.acc.negation_rows > 0 || self.acc.covered_rows > 0 {
            notes.push(format!(
                "{} SavingsPlanNegation rows folded into {} Savings Plan covered usage rows (covered usage is billed through the Savings Plan fee, so its BilledCost is 0)",
                self.acc.negation_rows, self.acc.covered_rows
            ));
        }
        if !self.residuals_emitted.is_empty() {
            let mut per_currency = CurrencyTotals::default();
            for (c, a) in &self.residuals_emitted {
                per_currency.add(c, *a);
            }
            let totals: Vec<String> = per_currency
                .normalized()
                .0
                .iter()
                .map(|(c, a)| format!("{a} {c}"))
                .collect();
            notes.push(format!(
                "{} Adjustment rows carry Savings Plan covered usage and negations that did not cancel out within the input (net {}); a complete month normally has none",
                self.residuals_emitted.len(),
                totals.join(", ")
            ));
        }
        if self.acc.unused_rows > 0 {
            notes.push(format!(
                "{} RIFee/SavingsPlanRecurringFee rows split into a Purchase row and an Unused commitment row",
                self.acc.unused_rows
            ));
        }
        if self.acc.unused_without_quantity > 0 {
            notes.push(format!(
                "{} unused Reserved Instance rows have no PricingQuantity: the export lacks reservation/UnusedQuantity",
                self.acc.unused_without_quantity
            ));
        }
        if !self.acc.unknown_types.is_empty() {
            let list: Vec<String> = self
                .acc
                .unknown_types
                .iter()
                .map(|(t, n)| format!("{t} ({n})"))
                .collect();
            notes.push(format!(
                "unknown line item types mapped to ChargeCategory Adjustment: {}",
                list.join(", ")
            ));
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_keep_twelve_digits() {
        assert_eq!(account_id("012345678901"), "012345678901");
        assert_eq!(account_id("12345678901"), "012345678901");
        assert_eq!(account_id("abc"), "abc");
    }

    #[test]
    fn resource_types_from_ids() {
        let t = |id: &str, code: &str| resource_type(id, code).map(|t| t.to_string());
        assert_eq!(
            t("arn:aws:rds:us-east-1:123:db:prod", "AmazonRDS").as_deref(),
            Some("rds:db")
        );
        assert_eq!(
            t("arn:aws:lambda:us-east-1:123:function/f", "AWSLambda").as_deref(),
            Some("lambda:function")
        );
        assert_eq!(t("i-0abc", "AmazonEC2").as_deref(), Some("ec2:instance"));
        assert_eq!(t("my-bucket", "AmazonS3").as_deref(), Some("s3:bucket"));
        assert_eq!(t("something", "AmazonSNS"), None);
    }
}
