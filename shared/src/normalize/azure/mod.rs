//! Azure Cost Management cost details exports (EA and MCA column sets; actual and amortized).
//!
//! Columns are found by name, case-insensitively, so the EA spelling (`Cost`, `BillingCurrency`,
//! `MM/DD/YYYY` dates) and the MCA spelling (`costInBillingCurrency`, `billingCurrency`, ISO dates)
//! go through one mapping. The decisions are written down in `docs/mapping/azure.md`.
//!
//! Three ways to read:
//! * actual cost alone ([`Dialect::AzureActual`]): BilledCost is the cost; EffectiveCost equals it
//!   (commitment purchases are not amortized, commitment-covered usage shows 0);
//! * amortized cost alone ([`Dialect::AzureAmortized`]): EffectiveCost is the cost; BilledCost is the
//!   cost too, except 0 on commitment-covered usage and unused-commitment rows (what the invoice
//!   shows for them); commitment purchases are absent from amortized data;
//! * both ([`group_jobs`] pairs exports of one billing account and period): the actual rows are
//!   buffered by row identity, the amortized rows stream and take their BilledCost from their actual
//!   twin, and actual rows left over (commitment purchases and refunds) follow with EffectiveCost 0.

pub(crate) mod lookup;

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use chrono::Duration;
use rust_decimal::Decimal;

pub use lookup::{lookups, Lookups, PricingUnit, Region, Service};

use crate::error::{NormalizeError, NormalizeErrorKind};
use crate::focus::*;
use crate::input::Progress;
use crate::money::{Currency, CurrencyTotals};
use crate::normalize::csv_input::Cells;
use crate::normalize::table::Table;
use crate::normalize::{Dialect, Job, RecordStream, SourceTotals};
use crate::text::Text;

/// The `x_` columns every Azure record may carry, in output order.
pub const EXTENSION_COLUMNS: &[&str] = &[
    "x_ResourceGroupName",
    "x_MeterCategory",
    "x_MeterSubCategory",
    "x_MeterId",
    "x_MeterName",
    "x_MeterRegion",
    "x_PublisherType",
    "x_CostCenter",
    "x_ChargeType",
    "x_PricingModel",
    "x_ConsumedService",
    "x_PricingUnitDescription",
    "x_PricingBlockSize",
    "x_EffectivePrice",
    "x_BillingAccountId",
    "x_BillingAccountName",
    "x_BillingProfileId",
    "x_BillingProfileName",
    "x_InvoiceSectionId",
    "x_InvoiceSectionName",
    "x_AccountName",
    "x_AccountOwnerId",
    "x_PartNumber",
    "x_ProductOrderId",
    "x_ProductOrderName",
    "x_OfferId",
    "x_PlanName",
    "x_Term",
    "x_ServiceFamily",
    "x_CostAllocationRuleName",
    "x_BillingExchangeRate",
    "x_CostInUsd",
    "x_AdditionalInfo",
];

/// Column positions of one file, resolved once from its header (names matched case-insensitively;
/// the first of several alternative names that is present wins).
#[derive(Debug, Clone, Default)]
struct Cols {
    billing_account_id: Option<usize>,
    billing_account_name: Option<usize>,
    billing_profile_id: Option<usize>,
    billing_profile_name: Option<usize>,
    period_start: Option<usize>,
    period_end: Option<usize>,
    date: Option<usize>,
    subscription_id: Option<usize>,
    subscription_name: Option<usize>,
    cost: Option<usize>,
    currency: Option<usize>,
    pricing_currency: Option<usize>,
    exchange_rate: Option<usize>,
    cost_in_pricing: Option<usize>,
    payg_cost: Option<usize>,
    payg_price: Option<usize>,
    unit_price: Option<usize>,
    effective_price: Option<usize>,
    quantity: Option<usize>,
    unit_of_measure: Option<usize>,
    charge_type: Option<usize>,
    frequency: Option<usize>,
    pricing_model: Option<usize>,
    publisher_type: Option<usize>,
    publisher_name: Option<usize>,
    invoice_id: Option<usize>,
    partner_name: Option<usize>,
    meter_category: Option<usize>,
    meter_subcategory: Option<usize>,
    meter_id: Option<usize>,
    meter_name: Option<usize>,
    meter_region: Option<usize>,
    product: Option<usize>,
    product_id: Option<usize>,
    part_number: Option<usize>,
    consumed_service: Option<usize>,
    resource_id: Option<usize>,
    resource_name: Option<usize>,
    resource_location: Option<usize>,
    availability_zone: Option<usize>,
    resource_group: Option<usize>,
    tags: Option<usize>,
    additional_info: Option<usize>,
    cost_center: Option<usize>,
    benefit_id: Option<usize>,
    benefit_name: Option<usize>,
    reservation_id: Option<usize>,
    reservation_name: Option<usize>,
    product_order_id: Option<usize>,
    product_order_name: Option<usize>,
    term: Option<usize>,
    invoice_section_id: Option<usize>,
    invoice_section_name: Option<usize>,
    offer_id: Option<usize>,
    plan_name: Option<usize>,
    service_family: Option<usize>,
    cost_allocation_rule: Option<usize>,
    account_name: Option<usize>,
    account_owner: Option<usize>,
    cost_in_usd: Option<usize>,
}

/// Names of the cost column, best first: MCA and newer EA exports say `CostInBillingCurrency`,
/// older EA exports `Cost`, the oldest `PreTaxCost`.
const COST_NAMES: &[&str] = &["CostInBillingCurrency", "Cost", "PreTaxCost"];
const CURRENCY_NAMES: &[&str] = &["BillingCurrencyCode", "BillingCurrency", "Currency"];

/// Columns that legitimately differ between the actual and the amortized row of one charge, so
/// they are left out of the row identity used by the join.
const MEASURE_COLUMNS: &[&str] = &[
    "cost",
    "costinbillingcurrency",
    "costinpricingcurrency",
    "costinusd",
    "pretaxcost",
    "effectiveprice",
    "unitprice",
    "paygprice",
    "paygcostinbillingcurrency",
    "paygcostinusd",
    "exchangeratepricingtobilling",
    "exchangeratedate",
];

impl Cols {
    fn resolve(headers: &[String]) -> Cols {
        let mut lower: HashMap<String, usize> = HashMap::with_capacity(headers.len());
        for (i, h) in headers.iter().enumerate() {
            lower.entry(h.to_ascii_lowercase()).or_insert(i);
        }
        let f = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| lower.get(&n.to_ascii_lowercase()).copied())
        };
        Cols {
            billing_account_id: f(&["BillingAccountId"]),
            billing_account_name: f(&["BillingAccountName"]),
            billing_profile_id: f(&["BillingProfileId"]),
            billing_profile_name: f(&["BillingProfileName"]),
            period_start: f(&["BillingPeriodStartDate"]),
            period_end: f(&["BillingPeriodEndDate"]),
            date: f(&["Date", "UsageDate"]),
            subscription_id: f(&["SubscriptionId", "SubscriptionGuid"]),
            subscription_name: f(&["SubscriptionName"]),
            cost: f(COST_NAMES),
            currency: f(CURRENCY_NAMES),
            pricing_currency: f(&["PricingCurrency", "PricingCurrencyCode"]),
            exchange_rate: f(&["ExchangeRatePricingToBilling"]),
            cost_in_pricing: f(&["CostInPricingCurrency"]),
            payg_cost: f(&["PaygCostInBillingCurrency"]),
            payg_price: f(&["PayGPrice"]),
            unit_price: f(&["UnitPrice"]),
            effective_price: f(&["EffectivePrice"]),
            quantity: f(&["Quantity"]),
            unit_of_measure: f(&["UnitOfMeasure"]),
            charge_type: f(&["ChargeType"]),
            frequency: f(&["Frequency"]),
            pricing_model: f(&["PricingModel"]),
            publisher_type: f(&["PublisherType"]),
            publisher_name: f(&["PublisherName"]),
            invoice_id: f(&["InvoiceId"]),
            partner_name: f(&["PartnerName"]),
            meter_category: f(&["MeterCategory"]),
            meter_subcategory: f(&["MeterSubCategory"]),
            meter_id: f(&["MeterId"]),
            meter_name: f(&["MeterName"]),
            meter_region: f(&["MeterRegion"]),
            product: f(&["ProductName", "Product"]),
            product_id: f(&["ProductId"]),
            part_number: f(&["PartNumber"]),
            consumed_service: f(&["ConsumedService"]),
            resource_id: f(&["ResourceId", "InstanceId"]),
            resource_name: f(&["ResourceName"]),
            resource_location: f(&["ResourceLocation"]),
            availability_zone: f(&["AvailabilityZone"]),
            resource_group: f(&["ResourceGroup", "ResourceGroupName"]),
            tags: f(&["Tags"]),
            additional_info: f(&["AdditionalInfo"]),
            cost_center: f(&["CostCenter"]),
            benefit_id: f(&["BenefitId"]),
            benefit_name: f(&["BenefitName"]),
            reservation_id: f(&["ReservationId"]),
            reservation_name: f(&["ReservationName"]),
            product_order_id: f(&["ProductOrderId"]),
            product_order_name: f(&["ProductOrderName"]),
            term: f(&["Term"]),
            invoice_section_id: f(&["InvoiceSectionId"]),
            invoice_section_name: f(&["InvoiceSectionName", "InvoiceSection"]),
            offer_id: f(&["OfferId"]),
            plan_name: f(&["PlanName"]),
            service_family: f(&["ServiceFamily"]),
            cost_allocation_rule: f(&["CostAllocationRuleName"]),
            account_name: f(&["AccountName"]),
            account_owner: f(&["AccountOwnerId"]),
            cost_in_usd: f(&["CostInUsd"]),
        }
    }

    /// Fails on the first column the mapping cannot work without.
    fn check_required(&self, file: &str) -> Result<(), NormalizeError> {
        let required: [(Option<usize>, &str); 6] = [
            (self.cost, COST_NAMES[0]),
            (self.currency, "BillingCurrency"),
            (self.date, "Date"),
            (self.period_start, "BillingPeriodStartDate"),
            (self.period_end, "BillingPeriodEndDate"),
            (self.charge_type, "ChargeType"),
        ];
        for (idx, name) in required {
            if idx.is_none() {
                return Err(NormalizeError::missing_column(file, name));
            }
        }
        if self.billing_account_id.is_none() && self.billing_profile_id.is_none() {
            return Err(NormalizeError::missing_column(file, "BillingAccountId"));
        }
        Ok(())
    }
}

/// What kind of charge a row is, as far as commitments are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Anything not tied to a reservation or savings plan (on-demand, spot, marketplace, tax...).
    Plain,
    /// Usage covered by a reservation or savings plan (PricingModel Reservation/SavingsPlan).
    CommitmentUsed,
    /// `UnusedReservation` / `UnusedSavingsPlan` rows (amortized data only).
    CommitmentUnused,
    /// A reservation or savings plan purchase, or the refund of one (actual data only).
    CommitmentPurchase,
}

/// One source row mapped to FOCUS, before its BilledCost and EffectiveCost are decided.
struct Parsed {
    rec: FocusRecord,
    /// The row's own cost column.
    cost: Decimal,
    /// `CostInPricingCurrency` (MCA), when present.
    cost_in_pricing: Option<Decimal>,
    kind: Kind,
    /// ListCost and ContractedCost when price and quantity give them; `None` means "equal to BilledCost".
    list: Option<Decimal>,
    contracted: Option<Decimal>,
    unknown_charge_type: Option<Text>,
    duplicate_tag_keys: u64,
}

fn text(row: &dyn Cells, idx: Option<usize>) -> Option<Text> {
    let s = row.cell(idx);
    if s.is_empty() {
        None
    } else {
        Some(Text::from(s))
    }
}

fn lower_compact(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The ARM resource type of a (lower-cased) resource id: the namespace after the last
/// `/providers/`, then every other segment (`.../providers/microsoft.sql/servers/s/databases/d`
/// -> `microsoft.sql/servers/databases`).
pub fn arm_resource_type(resource_id: &str) -> Option<String> {
    let lower = resource_id.to_ascii_lowercase();
    let pos = lower.rfind("/providers/")?;
    let rest = &lower[pos + "/providers/".len()..];
    let mut parts = rest.split('/');
    let namespace = parts.next().filter(|s| !s.is_empty())?;
    let mut out = namespace.to_string();
    for (i, seg) in parts.enumerate() {
        if i % 2 == 0 && !seg.is_empty() {
            out.push('/');
            out.push_str(seg);
        }
    }
    if out.contains('/') {
        Some(out)
    } else {
        None
    }
}

/// Parses Azure tags: a JSON object, or (EA CSV) its members without the outer braces. Keys that
/// differ only in case are one tag to Azure: the first spelling and value are kept, later ones are
/// counted. Empty text means no tags.
pub fn parse_tags(raw: &str) -> Result<(Tags, u64), String> {
    let s = raw.trim();
    if s.is_empty() || s == "{}" {
        return Ok((Tags::default(), 0));
    }
    let wrapped;
    let json = if s.starts_with('{') {
        s
    } else {
        wrapped = format!("{{{s}}}");
        &wrapped
    };
    let pairs: Pairs =
        serde_json::from_str(json).map_err(|e| format!("tags are not a JSON object: {e}"))?;
    let mut tags = Tags::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut dups = 0;
    for (k, v) in pairs.0 {
        if !seen.insert(k.to_lowercase()) {
            dups += 1;
            continue;
        }
        match v {
            serde_json::Value::String(s) => tags.insert_or_true(&k, &s),
            serde_json::Value::Null => tags.insert_or_true(&k, ""),
            serde_json::Value::Bool(b) => {
                tags.0.insert(Text::from(k.as_str()), TagValue::Bool(b));
            }
            serde_json::Value::Number(n) => {
                tags.0.insert(Text::from(k.as_str()), TagValue::Number(n));
            }
            other => tags.insert(&k, &other.to_string()),
        }
    }
    Ok((tags, dups))
}

/// A JSON object read as its (key, value) pairs in order, duplicates included.
struct Pairs(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Pairs, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, serde_json::Value>()? {
                    out.push((k, v));
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn mul(
    row: &dyn Cells,
    idx: Option<usize>,
    a: Decimal,
    b: Decimal,
) -> Result<Decimal, NormalizeError> {
    a.checked_mul(b).ok_or_else(|| {
        row.error(
            idx.unwrap_or(0),
            format!("{a} x {b} overflows the decimal range"),
        )
    })
}

/// Maps every column of one row except BilledCost and EffectiveCost.
fn describe(row: &dyn Cells, c: &Cols, lk: &Lookups) -> Result<Parsed, NormalizeError> {
    let cost_idx = c.cost.unwrap_or(0);
    let cost = row
        .decimal(c.cost)?
        .ok_or_else(|| row.error(cost_idx, "the cost is empty but must hold a number".into()))?;
    let currency_text = row.cell(c.currency);
    if currency_text.is_empty() {
        return Err(row.error(
            c.currency.unwrap_or(0),
            "the billing currency is empty".into(),
        ));
    }
    let billing_currency = Currency::new(currency_text);

    let date = row
        .timestamp(c.date)?
        .ok_or_else(|| row.error(c.date.unwrap_or(0), "the date is empty".into()))?;
    let period_start = row.timestamp(c.period_start)?.ok_or_else(|| {
        row.error(
            c.period_start.unwrap_or(0),
            "the billing period start is empty".into(),
        )
    })?;
    // Azure's BillingPeriodEndDate is the last day of the period (inclusive); FOCUS ends are exclusive.
    let period_end = row.timestamp(c.period_end)?.ok_or_else(|| {
        row.error(
            c.period_end.unwrap_or(0),
            "the billing period end is empty".into(),
        )
    })? + Duration::days(1);

    let charge_type = row.cell(c.charge_type);
    let ct = charge_type.to_ascii_lowercase();
    let frequency = row.cell(c.frequency).to_ascii_lowercase();
    let pricing_model = lower_compact(row.cell(c.pricing_model));
    let committed_model = matches!(pricing_model.as_str(), "reservation" | "savingsplan");
    let mut unknown_charge_type = None;
    let (category, unused) = match ct.as_str() {
        "usage" => (ChargeCategory::Usage, false),
        "purchase" => (ChargeCategory::Purchase, false),
        "tax" => (ChargeCategory::Tax, false),
        "credit" => (ChargeCategory::Credit, false),
        "unusedreservation" | "unusedsavingsplan" => (ChargeCategory::Usage, true),
        // A refund keeps the category of what it refunds: usage-based charges are usage, the rest
        // (reservation and savings plan cancellations, marketplace purchases) are purchases.
        "refund" if frequency == "usagebased" => (ChargeCategory::Usage, false),
        "refund" => (ChargeCategory::Purchase, false),
        "roundingadjustment" => (ChargeCategory::Adjustment, false),
        "" => {
            return Err(row.error(
                c.charge_type.unwrap_or(0),
                "the charge type is empty".into(),
            ))
        }
        _ => {
            unknown_charge_type = Some(Text::from(charge_type));
            (ChargeCategory::Adjustment, false)
        }
    };

    // Commitment: benefitId (full ARM id) first, the older ReservationId otherwise.
    let benefit_id = text(row, c.benefit_id);
    let reservation_id = text(row, c.reservation_id);
    let commitment_id = benefit_id.clone().or_else(|| reservation_id.clone());
    let commitment_name = text(row, c.benefit_name).or_else(|| text(row, c.reservation_name));
    let id_lower = commitment_id.as_deref().unwrap_or("").to_ascii_lowercase();
    let commitment_cat = if id_lower.contains("/microsoft.capacity/") {
        Some(CommitmentDiscountCategory::Usage)
    } else if id_lower.contains("/microsoft.billingbenefits/") {
        Some(CommitmentDiscountCategory::Spend)
    } else if commitment_id.is_some() && pricing_model == "reservation" || ct == "unusedreservation"
    {
        Some(CommitmentDiscountCategory::Usage)
    } else if commitment_id.is_some() && pricing_model == "savingsplan" || ct == "unusedsavingsplan"
    {
        Some(CommitmentDiscountCategory::Spend)
    } else {
        None
    };
    let kind = if unused {
        Kind::CommitmentUnused
    } else if matches!(ct.as_str(), "purchase" | "refund")
        && (committed_model || commitment_cat.is_some())
    {
        Kind::CommitmentPurchase
    } else if ct == "usage" && committed_model {
        Kind::CommitmentUsed
    } else {
        Kind::Plain
    };
    let is_commitment_row = kind != Kind::Plain && commitment_id.is_some();
    let (cd_id, cd_name, cd_cat, cd_type) = if is_commitment_row {
        let t = match commitment_cat {
            Some(CommitmentDiscountCategory::Usage) => Some(Text::from("Reservation")),
            Some(CommitmentDiscountCategory::Spend) => Some(Text::from("Savings Plan")),
            None => None,
        };
        (commitment_id.clone(), commitment_name, commitment_cat, t)
    } else {
        (None, None, None, None)
    };
    let cd_status = match kind {
        Kind::CommitmentUsed if cd_id.is_some() => Some(CommitmentDiscountStatus::Used),
        Kind::CommitmentUnused => Some(CommitmentDiscountStatus::Unused),
        _ => None,
    };

    // FOCUS asks for a PricingCategory on usage and purchases; tax, credits and adjustments have none.
    let pricing_category = match (category, pricing_model.as_str()) {
        (ChargeCategory::Tax | ChargeCategory::Credit | ChargeCategory::Adjustment, _) => None,
        // FOCUS: the purchase of a commitment is not itself priced by a commitment.
        (ChargeCategory::Purchase, "reservation" | "savingsplan") => {
            Some(PricingCategory::Standard)
        }
        (_, "reservation" | "savingsplan") => Some(PricingCategory::Committed),
        (_, "spot") => Some(PricingCategory::Dynamic),
        (_, "ondemand" | "") => Some(PricingCategory::Standard),
        _ => Some(PricingCategory::Other),
    };
    let charge_frequency = match frequency.as_str() {
        "onetime" => Some(ChargeFrequency::OneTime),
        "recurring" => Some(ChargeFrequency::Recurring),
        "usagebased" => Some(ChargeFrequency::UsageBased),
        _ => None,
    };

    // Billing account: the EA enrollment, or for MCA (billing profile differs from the billing
    // account) the billing profile, which is what an MCA invoice is issued to.
    let ba_id = row.cell(c.billing_account_id);
    let bp_id = row.cell(c.billing_profile_id);
    let mca = !bp_id.is_empty() && bp_id != ba_id;
    let (account_id, account_name, account_type) = if mca {
        (bp_id, text(row, c.billing_profile_name), "Billing Profile")
    } else {
        (ba_id, text(row, c.billing_account_name), "Enrollment")
    };
    if account_id.is_empty() {
        return Err(row.error(
            c.billing_account_id.or(c.billing_profile_id).unwrap_or(0),
            "the billing account id is empty".into(),
        ));
    }

    let resource_id = text(row, c.resource_id).map(|r| Text::from(r.to_ascii_lowercase()));
    let resource_type = resource_id.as_deref().and_then(arm_resource_type);
    let consumed = row.cell(c.consumed_service);
    let meter_category = row.cell(c.meter_category);
    let service = match lk.service(consumed, resource_type.as_deref()) {
        Some(s) => s.clone(),
        None => {
            let name = [meter_category, consumed, row.cell(c.product)]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or("Azure");
            match lk.service_named(name) {
                Some(s) => s.clone(),
                None => Service {
                    name: Text::from(name),
                    category: ServiceCategory::Other,
                    subcategory: Some(Text::from(ServiceCategory::Other.other_subcategory())),
                },
            }
        }
    };

    let location = row.cell(c.resource_location);
    let (region_id, region_name) = if location.is_empty()
        || location.eq_ignore_ascii_case("unknown")
        || location.eq_ignore_ascii_case("unassigned")
    {
        (None, None)
    } else if let Some(r) = lk.region(location) {
        (Some(r.id.clone()), Some(r.name.clone()))
    } else {
        (
            Some(Text::from(lower_compact(location))),
            Some(Text::from(location)),
        )
    };

    // Quantities: Azure's Quantity is the usage amount; its UnitOfMeasure may carry a pricing
    // block (`10K`, `100 Hours`). PricingQuantity = Quantity / block; unit prices are then per
    // block, so ListUnitPrice x PricingQuantity = PayGPrice x Quantity, the list cost Azure computes.
    let quantity = row.decimal(c.quantity)?;
    let uom = row.cell(c.unit_of_measure);
    let unit = lk.pricing_unit(uom).cloned().or_else(|| {
        (!uom.is_empty()).then(|| PricingUnit {
            block_size: Decimal::ONE,
            unit: Text::from(uom),
        })
    });
    let block = unit.as_ref().map(|u| u.block_size).unwrap_or(Decimal::ONE);
    let is_tax = category == ChargeCategory::Tax;
    let priced = matches!(category, ChargeCategory::Usage | ChargeCategory::Purchase);
    let (pricing_quantity, pricing_unit) = match (&quantity, &unit) {
        (Some(q), Some(u)) if !is_tax => {
            let pq = q.checked_div(u.block_size).ok_or_else(|| {
                row.error(
                    c.quantity.unwrap_or(0),
                    "quantity / block size failed".into(),
                )
            })?;
            (Some(pq.normalize()), Some(u.unit.clone()))
        }
        (Some(q), None) if !is_tax => (Some(*q), None),
        _ => (None, None),
    };
    let consumed_ok = category == ChargeCategory::Usage && !unused;
    let (consumed_quantity, consumed_unit) = if consumed_ok {
        (quantity, unit.as_ref().map(|u| u.unit.clone()))
    } else {
        (None, None)
    };

    let rate = row
        .decimal(c.exchange_rate)?
        .filter(|r| !r.is_zero())
        .unwrap_or(Decimal::ONE);
    let payg = row.decimal(c.payg_price)?;
    let unit_price = row.decimal(c.unit_price)?;
    let per_block =
        |p: Option<Decimal>, idx: Option<usize>| -> Result<Option<Decimal>, NormalizeError> {
            match p {
                Some(p) => Ok(Some(
                    mul(row, idx, mul(row, idx, p, rate)?, block)?.normalize(),
                )),
                None => Ok(None),
            }
        };
    let cost_of = |p: Option<Decimal>,
                   idx: Option<usize>|
     -> Result<Option<Decimal>, NormalizeError> {
        match (p, quantity) {
            (Some(p), Some(q)) => Ok(Some(mul(row, idx, mul(row, idx, p, rate)?, q)?.normalize())),
            _ => Ok(None),
        }
    };
    let (list_unit_price, contracted_unit_price, list, contracted) = if !priced {
        (None, None, None, None)
    } else if kind == Kind::CommitmentPurchase {
        // Commitment purchases carry PayGPrice 0: the price paid is both the list and the
        // contracted price, and both costs follow BilledCost. The unit price stays only when it
        // multiplies out to the cost.
        let up = per_block(unit_price, c.unit_price)?.filter(|p| {
            pricing_quantity
                .and_then(|q| p.checked_mul(q))
                .map(|v| v.normalize())
                == Some(cost.normalize())
        });
        (up, up, None, None)
    } else {
        let list = cost_of(payg, c.payg_price)?;
        let contracted = cost_of(unit_price, c.unit_price)?;
        let list_unit_price = if list.is_some() {
            per_block(payg, c.payg_price)?
        } else {
            None
        };
        let contracted_unit_price = if contracted.is_some() {
            per_block(unit_price, c.unit_price)?
        } else {
            None
        };
        // No price: MCA's paygCostInBillingCurrency still gives the list cost.
        let list = match list {
            Some(v) => Some(v),
            None => row.decimal(c.payg_cost)?,
        };
        (list_unit_price, contracted_unit_price, list, contracted)
    };

    let pricing_currency = text(row, c.pricing_currency).map(|t| Currency::new(&t));
    let (pc_list, pc_contracted) = if pricing_currency.is_some() && priced {
        let pb = |p: Option<Decimal>, idx| -> Result<Option<Decimal>, NormalizeError> {
            p.map(|p| mul(row, idx, p, block).map(|v| v.normalize()))
                .transpose()
        };
        (
            pb(payg, c.payg_price)?.filter(|_| list_unit_price.is_some()),
            pb(unit_price, c.unit_price)?.filter(|_| contracted_unit_price.is_some()),
        )
    } else {
        (None, None)
    };
    let cost_in_pricing = if pricing_currency.is_some() {
        row.decimal(c.cost_in_pricing)?
    } else {
        None
    };

    let (tags, duplicate_tag_keys) = match parse_tags(row.cell(c.tags)) {
        Ok(t) => t,
        Err(m) => return Err(row.error(c.tags.unwrap_or(0), m)),
    };

    let marketplace = row
        .cell(c.publisher_type)
        .eq_ignore_ascii_case("marketplace");
    let publisher = if marketplace {
        text(row, c.publisher_name).unwrap_or_else(|| Text::from("Microsoft"))
    } else {
        Text::from("Microsoft")
    };
    let invoice_issuer = text(row, c.partner_name).unwrap_or_else(|| Text::from("Microsoft"));
    let sub_account_id = text(row, c.subscription_id);
    let charge_class = (date < period_start).then_some(ChargeClass::Correction);

    let mut ext: Vec<(Text, Text)> = Vec::new();
    let mut push = |name: &str, v: Option<Text>| {
        if let Some(v) = v {
            ext.push((Text::from(name), v));
        }
    };
    push("x_ResourceGroupName", text(row, c.resource_group));
    push("x_MeterCategory", text(row, c.meter_category));
    push("x_MeterSubCategory", text(row, c.meter_subcategory));
    push("x_MeterId", text(row, c.meter_id));
    push("x_MeterName", text(row, c.meter_name));
    push("x_MeterRegion", text(row, c.meter_region));
    push("x_PublisherType", text(row, c.publisher_type));
    push("x_CostCenter", text(row, c.cost_center));
    push("x_ChargeType", text(row, c.charge_type));
    push("x_PricingModel", text(row, c.pricing_model));
    push("x_ConsumedService", text(row, c.consumed_service));
    push("x_PricingUnitDescription", text(row, c.unit_of_measure));
    push(
        "x_PricingBlockSize",
        unit.as_ref()
            .map(|u| Text::from(u.block_size.normalize().to_string())),
    );
    push("x_EffectivePrice", text(row, c.effective_price));
    push("x_BillingAccountId", text(row, c.billing_account_id));
    push("x_BillingAccountName", text(row, c.billing_account_name));
    push("x_BillingProfileId", text(row, c.billing_profile_id));
    push("x_BillingProfileName", text(row, c.billing_profile_name));
    push("x_InvoiceSectionId", text(row, c.invoice_section_id));
    push("x_InvoiceSectionName", text(row, c.invoice_section_name));
    push("x_AccountName", text(row, c.account_name));
    push("x_AccountOwnerId", text(row, c.account_owner));
    push("x_PartNumber", text(row, c.part_number));
    push("x_ProductOrderId", text(row, c.product_order_id));
    push("x_ProductOrderName", text(row, c.product_order_name));
    push("x_OfferId", text(row, c.offer_id));
    push("x_PlanName", text(row, c.plan_name));
    push("x_Term", text(row, c.term));
    push("x_ServiceFamily", text(row, c.service_family));
    push(
        "x_CostAllocationRuleName",
        text(row, c.cost_allocation_rule),
    );
    push("x_BillingExchangeRate", text(row, c.exchange_rate));
    push("x_CostInUsd", text(row, c.cost_in_usd));
    push("x_AdditionalInfo", text(row, c.additional_info));

    let rec = FocusRecord {
        availability_zone: text(row, c.availability_zone),
        billed_cost: Decimal::ZERO,
        billing_account_id: Text::from(account_id),
        billing_account_name: account_name,
        billing_account_type: Some(Text::from(account_type)),
        billing_currency,
        billing_period_end: period_end,
        billing_period_start: period_start,
        capacity_reservation_id: None,
        capacity_reservation_status: None,
        charge_category: category,
        charge_class,
        charge_description: text(row, c.product),
        charge_frequency,
        charge_period_end: date + Duration::days(1),
        charge_period_start: date,
        commitment_discount_category: cd_cat,
        commitment_discount_id: cd_id,
        commitment_discount_name: cd_name,
        commitment_discount_quantity: None,
        commitment_discount_status: cd_status,
        commitment_discount_type: cd_type,
        commitment_discount_unit: None,
        consumed_quantity,
        consumed_unit,
        contracted_cost: Decimal::ZERO,
        contracted_unit_price,
        effective_cost: Decimal::ZERO,
        invoice_id: text(row, c.invoice_id),
        invoice_issuer_name: invoice_issuer,
        list_cost: Decimal::ZERO,
        list_unit_price,
        pricing_category,
        pricing_currency: pricing_currency.clone(),
        pricing_currency_contracted_unit_price: pc_contracted,
        pricing_currency_effective_cost: None,
        pricing_currency_list_unit_price: pc_list,
        pricing_quantity,
        pricing_unit,
        provider_name: Text::from("Microsoft"),
        publisher_name: publisher.clone(),
        region_id,
        region_name,
        resource_id,
        resource_name: text(row, c.resource_name),
        resource_type: resource_type.map(Text::from),
        service_category: service.category,
        service_name: service.name,
        service_subcategory: service.subcategory,
        sku_id: text(row, c.product_id).or_else(|| text(row, c.part_number)),
        sku_meter: text(row, c.meter_name),
        sku_price_details: None,
        sku_price_id: None,
        sub_account_id: sub_account_id.clone(),
        sub_account_name: text(row, c.subscription_name),
        sub_account_type: sub_account_id.map(|_| Text::from("Subscription")),
        tags,
        service_provider_name: publisher,
        host_provider_name: Text::from("Microsoft"),
        extensions: ext,
    };
    Ok(Parsed {
        rec,
        cost,
        cost_in_pricing,
        kind,
        list,
        contracted,
        unknown_charge_type,
        duplicate_tag_keys,
    })
}

/// A 128-bit fingerprint of a row's identity columns (values trimmed and lower-cased), used as the
/// join key; two independent SipHash passes make an accidental collision negligible
/// (about 1e-20 for ten million rows).
fn fingerprint(row: &dyn Cells, key_idx: &[Option<usize>]) -> u128 {
    let mut a = std::collections::hash_map::DefaultHasher::new();
    let mut b = std::collections::hash_map::DefaultHasher::new();
    0xA5u8.hash(&mut b);
    for idx in key_idx {
        let v = row.cell(*idx).to_ascii_lowercase();
        v.hash(&mut a);
        v.hash(&mut b);
    }
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

/// One open export file.
struct OpenFile {
    source: Table,
    cols: Cols,
    headers: Vec<String>,
    ordinal: u64,
}

impl OpenFile {
    fn open(path: &Path, progress: &Progress) -> Result<OpenFile, NormalizeError> {
        let file = path.display().to_string();
        let source = Table::open(
            path,
            progress,
            "an Azure cost details export is CSV or Parquet, not JSON",
        )?;
        let headers = source.headers().to_vec();
        let cols = Cols::resolve(&headers);
        cols.check_required(&file)?;
        Ok(OpenFile {
            source,
            cols,
            headers,
            ordinal: 0,
        })
    }

    /// Reads the next row and hands it to `f`; `None` at the end of the file.
    fn next_with<R>(
        &mut self,
        f: impl FnOnce(&dyn Cells, &Cols, u64) -> Result<R, NormalizeError>,
    ) -> Option<Result<R, NormalizeError>> {
        self.ordinal += 1;
        let ordinal = self.ordinal;
        match self.source.next_row()? {
            Ok(row) => Some(f(&row, &self.cols, ordinal)),
            Err(e) => Some(Err(e)),
        }
    }
}

/// The identity columns of a join: every column both files have, except the cost and price
/// columns that differ between actual and amortized data, in a fixed (sorted) order.
fn key_columns(actual_headers: &[Vec<String>], amortized_headers: &[Vec<String>]) -> Vec<String> {
    let set = |hs: &[Vec<String>]| -> Option<HashSet<String>> {
        hs.iter()
            .map(|h| {
                h.iter()
                    .map(|s| s.to_ascii_lowercase())
                    .collect::<HashSet<String>>()
            })
            .reduce(|a, b| a.intersection(&b).cloned().collect())
    };
    let (Some(a), Some(b)) = (set(actual_headers), set(amortized_headers)) else {
        return Vec::new();
    };
    let mut cols: Vec<String> = a
        .intersection(&b)
        .filter(|c| !c.is_empty() && !MEASURE_COLUMNS.contains(&c.as_str()))
        .cloned()
        .collect();
    cols.sort();
    cols
}

fn key_indexes(headers: &[String], key: &[String]) -> Vec<Option<usize>> {
    key.iter()
        .map(|k| headers.iter().position(|h| h.eq_ignore_ascii_case(k)))
        .collect()
}

/// How the rows of the file being read get their costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Actual cost alone.
    Actual,
    /// Amortized cost alone.
    Amortized,
    /// Amortized file of a joined job (BilledCost from the buffered actual twin).
    JoinAmortized,
    /// Actual file of a joined job, second pass: only rows no amortized row claimed.
    JoinLeftover,
}

/// A buffered actual row waiting for its amortized twin.
#[derive(Clone, Copy, Debug)]
struct Slot {
    file: u32,
    ordinal: u64,
    cost: Decimal,
}

#[derive(Debug, Default)]
struct Stats {
    rows: u64,
    covered_usage: u64,
    commitment_purchases: u64,
    unused_rows: u64,
    unknown_charge_types: Vec<Text>,
    duplicate_tag_keys: u64,
    matched: u64,
    buffered: u64,
    amortized_orphans: u64,
    amortized_orphan_cost: CurrencyTotals,
    actual_orphans: u64,
    actual_orphan_cost: CurrencyTotals,
}

/// The Azure record stream.
pub struct AzureStream {
    dialect: Dialect,
    plan: Vec<(PathBuf, Role, u32)>,
    next_file: usize,
    current: Option<(OpenFile, Role, u32, Vec<Option<usize>>)>,
    key: Vec<String>,
    pending: HashMap<u128, Vec<Slot>>,
    leftover: Option<HashSet<(u32, u64)>>,
    lookups: &'static Lookups,
    progress: Progress,
    billed: CurrencyTotals,
    effective: Option<CurrencyTotals>,
    stats: Stats,
    done: bool,
}

/// Opens an Azure job: actual alone, amortized alone, or actual joined with amortized.
pub fn open(job: &Job, progress: &Progress) -> Result<Box<dyn RecordStream>, NormalizeError> {
    if job.inputs.is_empty() {
        return Err(NormalizeError::file(
            "(none)",
            NormalizeErrorKind::Malformed("no input file".into()),
        ));
    }
    let lk = lookups();
    let mut stream = AzureStream {
        dialect: job.dialect,
        plan: Vec::new(),
        next_file: 0,
        current: None,
        key: Vec::new(),
        pending: HashMap::new(),
        leftover: None,
        lookups: lk,
        progress: progress.clone(),
        billed: CurrencyTotals::default(),
        effective: None,
        stats: Stats::default(),
        done: false,
    };
    let joined = job.dialect == Dialect::AzureActual && !job.amortized.is_empty();
    if !joined {
        let role = if job.dialect == Dialect::AzureAmortized {
            Role::Amortized
        } else {
            Role::Actual
        };
        if role == Role::Amortized {
            stream.effective = Some(CurrencyTotals::default());
        }
        stream.plan = job
            .inputs
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), role, i as u32))
            .collect();
        return Ok(Box::new(stream));
    }

    // Join: headers first, to fix the identity columns, then buffer the actual side.
    let mut actual_headers = Vec::new();
    let mut actual_files = Vec::new();
    for p in &job.inputs {
        let f = OpenFile::open(p, progress)?;
        actual_headers.push(f.headers.clone());
        actual_files.push(f);
    }
    let mut amortized_headers = Vec::new();
    for p in &job.amortized {
        amortized_headers.push(OpenFile::open(p, &Progress::default())?.headers);
    }
    stream.key = key_columns(&actual_headers, &amortized_headers);
    for (i, mut f) in actual_files.into_iter().enumerate() {
        let key_idx = key_indexes(&f.headers, &stream.key);
        while let Some(r) = f.next_with(|row, cols, ordinal| {
            let cost = row.decimal(cols.cost)?.ok_or_else(|| {
                row.error(
                    cols.cost.unwrap_or(0),
                    "the cost is empty but must hold a number".into(),
                )
            })?;
            let currency = Currency::new(row.cell(cols.currency));
            Ok((fingerprint(row, &key_idx), ordinal, cost, currency))
        }) {
            let (key, ordinal, cost, currency) = r?;
            stream.billed.add(&currency, cost);
            stream.stats.buffered += 1;
            stream.stats.rows += 1;
            stream.pending.entry(key).or_default().push(Slot {
                file: i as u32,
                ordinal,
                cost,
            });
        }
    }
    stream.effective = Some(CurrencyTotals::default());
    stream.plan = job
        .amortized
        .iter()
        .enumerate()
        .map(|(i, p)| (p.clone(), Role::JoinAmortized, i as u32))
        .chain(
            job.inputs
                .iter()
                .enumerate()
                .map(|(i, p)| (p.clone(), Role::JoinLeftover, i as u32)),
        )
        .collect();
    Ok(Box::new(stream))
}

impl AzureStream {
    /// Opens the next file of the plan; `false` when there is none left.
    fn advance(&mut self) -> Result<bool, NormalizeError> {
        let Some((path, role, file_no)) = self.plan.get(self.next_file).cloned() else {
            return Ok(false);
        };
        self.next_file += 1;
        if role == Role::JoinLeftover && self.leftover.is_none() {
            // Every actual row still pending had no amortized twin: keep only their positions.
            let pending = std::mem::take(&mut self.pending);
            self.leftover = Some(
                pending
                    .into_values()
                    .flatten()
                    .map(|s| (s.file, s.ordinal))
                    .collect(),
            );
        }
        // The second pass over the actual files re-reads bytes already counted by the first.
        let progress = if role == Role::JoinLeftover {
            Progress::default()
        } else {
            self.progress.clone()
        };
        let f = OpenFile::open(&path, &progress)?;
        let key_idx = if role == Role::JoinAmortized {
            key_indexes(&f.headers, &self.key)
        } else {
            Vec::new()
        };
        self.current = Some((f, role, file_no, key_idx));
        Ok(true)
    }

    fn finish(&mut self, role: Role, mut p: Parsed, key: Option<u128>) -> FocusRecord {
        let cur = p.rec.billing_currency.clone();
        let (billed, effective) = match role {
            Role::Actual => {
                self.billed.add(&cur, p.cost);
                (p.cost, p.cost)
            }
            Role::Amortized => {
                let billed = match p.kind {
                    Kind::CommitmentUsed | Kind::CommitmentUnused => Decimal::ZERO,
                    _ => p.cost,
                };
                self.billed.add(&cur, billed);
                if let Some(e) = self.effective.as_mut() {
                    e.add(&cur, p.cost);
                }
                (billed, p.cost)
            }
            Role::JoinAmortized => {
                if let Some(e) = self.effective.as_mut() {
                    e.add(&cur, p.cost);
                }
                let slot = key.and_then(|k| {
                    let v = self.pending.get_mut(&k)?;
                    let s = if v.is_empty() {
                        None
                    } else {
                        Some(v.remove(0))
                    };
                    if v.is_empty() {
                        self.pending.remove(&k);
                    }
                    s
                });
                match slot {
                    Some(s) => {
                        self.stats.matched += 1;
                        (s.cost, p.cost)
                    }
                    None => {
                        if p.kind == Kind::Plain {
                            self.stats.amortized_orphans += 1;
                            self.stats.amortized_orphan_cost.add(&cur, p.cost);
                        }
                        (Decimal::ZERO, p.cost)
                    }
                }
            }
            Role::JoinLeftover => {
                if p.kind != Kind::CommitmentPurchase {
                    self.stats.actual_orphans += 1;
                    self.stats.actual_orphan_cost.add(&cur, p.cost);
                }
                if p.cost_in_pricing.is_some() {
                    p.cost_in_pricing = Some(Decimal::ZERO);
                }
                (p.cost, Decimal::ZERO)
            }
        };
        match p.kind {
            Kind::CommitmentUsed => self.stats.covered_usage += 1,
            Kind::CommitmentUnused => self.stats.unused_rows += 1,
            Kind::CommitmentPurchase => self.stats.commitment_purchases += 1,
            Kind::Plain => {}
        }
        if let Some(t) = p.unknown_charge_type.take() {
            if !self.stats.unknown_charge_types.contains(&t) {
                self.stats.unknown_charge_types.push(t);
            }
        }
        self.stats.duplicate_tag_keys += p.duplicate_tag_keys;
        if role != Role::JoinLeftover {
            // Leftover actual rows were already counted when the actual side was buffered.
            self.stats.rows += 1;
        }
        let mut rec = p.rec;
        rec.billed_cost = billed;
        rec.effective_cost = effective;
        rec.list_cost = p.list.unwrap_or(billed);
        rec.contracted_cost = p.contracted.unwrap_or(billed);
        rec.pricing_currency_effective_cost = p.cost_in_pricing;
        rec
    }
}

impl Iterator for AzureStream {
    type Item = Result<FocusRecord, NormalizeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            if self.current.is_none() {
                match self.advance() {
                    Ok(true) => {}
                    Ok(false) => {
                        self.done = true;
                        return None;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
            let lk = self.lookups;
            let leftover = self.leftover.as_ref();
            let Some((file, role, file_no, key_idx)) = self.current.as_mut() else {
                continue;
            };
            let (role, file_no) = (*role, *file_no);
            let res = file.next_with(|row, cols, ordinal| {
                if role == Role::JoinLeftover
                    && !leftover.is_some_and(|l| l.contains(&(file_no, ordinal)))
                {
                    return Ok(None);
                }
                let key = (role == Role::JoinAmortized).then(|| fingerprint(row, key_idx));
                Ok(Some((describe(row, cols, lk)?, key)))
            });
            match res {
                None => self.current = None,
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(Ok(None)) => {}
                Some(Ok(Some((parsed, key)))) => return Some(Ok(self.finish(role, parsed, key))),
            }
        }
    }
}

fn totals_text(t: &CurrencyTotals) -> String {
    t.normalized()
        .0
        .iter()
        .map(|(c, v)| format!("{v} {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl RecordStream for AzureStream {
    fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn extension_columns(&self) -> Vec<Text> {
        EXTENSION_COLUMNS.iter().map(|c| Text::from(*c)).collect()
    }

    fn source_totals(&self) -> SourceTotals {
        SourceTotals {
            billed: self.billed.clone(),
            effective: self.effective.clone(),
            rows: self.stats.rows,
        }
    }

    fn notes(&self) -> Vec<String> {
        let s = &self.stats;
        let mut notes = Vec::new();
        let joined = self.plan.iter().any(|(_, r, _)| *r == Role::JoinAmortized);
        if joined {
            notes.push(format!(
                "actual and amortized exports joined on row identity ({} columns: every shared column except costs and prices); {} of {} actual rows matched an amortized row; the actual side was buffered in memory (about 100 bytes per actual row)",
                self.key.len(),
                s.matched,
                s.buffered
            ));
            if s.unused_rows > 0 {
                notes.push(format!(
                    "{} unused reservation/savings plan rows became Usage rows with CommitmentDiscountStatus Unused and BilledCost 0",
                    s.unused_rows
                ));
            }
            if s.commitment_purchases > 0 {
                notes.push(format!(
                    "{} reservation/savings plan purchase or refund rows from the actual export kept their BilledCost with EffectiveCost 0 (their cost is amortized into the usage rows)",
                    s.commitment_purchases
                ));
            }
            if s.amortized_orphans > 0 {
                notes.push(format!(
                    "{} amortized rows that are not commitment usage had no twin in the actual export ({}): their BilledCost is unknown and set to 0; are the exports of the same scope and period, and complete?",
                    s.amortized_orphans,
                    totals_text(&s.amortized_orphan_cost)
                ));
            }
            if s.actual_orphans > 0 {
                notes.push(format!(
                    "{} actual rows that are not commitment purchases had no twin in the amortized export ({} billed): their EffectiveCost is unknown and set to 0",
                    s.actual_orphans,
                    totals_text(&s.actual_orphan_cost)
                ));
            }
        } else if self.dialect == Dialect::AzureAmortized {
            notes.push(format!(
                "amortized cost only: BilledCost is derived (0 for {} commitment-covered and {} unused-commitment rows, the cost otherwise); reservation and savings plan purchases are not in amortized data, so BilledCost misses them; add the actual cost export to join them",
                s.covered_usage, s.unused_rows
            ));
        } else if s.covered_usage > 0 || s.commitment_purchases > 0 {
            notes.push(format!(
                "actual cost only: EffectiveCost = BilledCost; {} commitment-covered usage rows show 0 (their amortized cost is unknown) and {} reservation/savings plan purchase rows are not amortized (EffectiveCost = what was paid); add the amortized cost export to amortize them",
                s.covered_usage, s.commitment_purchases
            ));
        } else {
            // Without commitments, actual and amortized cost are the same thing.
            notes.push(
                "actual cost only: no reservation or savings plan rows, so EffectiveCost = BilledCost is exact".into(),
            );
        }
        if !s.unknown_charge_types.is_empty() {
            let names: Vec<&str> = s.unknown_charge_types.iter().map(Text::as_str).collect();
            notes.push(format!(
                "unknown ChargeType values mapped to Adjustment: {}",
                names.join(", ")
            ));
        }
        if s.duplicate_tag_keys > 0 {
            notes.push(format!(
                "{} tag keys repeated a key of the same row in another letter case; the first spelling and value were kept",
                s.duplicate_tag_keys
            ));
        }
        notes
    }
}

/// What pairs an actual export with its amortized twin: the billing account (or MCA billing
/// profile) and the billing period start, read from the first data row.
fn pairing_key(path: &Path) -> Option<(String, String)> {
    let mut f = OpenFile::open(path, &Progress::default()).ok()?;
    let r = f.next_with(|row, cols, _| {
        let account = format!(
            "{}|{}",
            row.cell(cols.billing_account_id),
            row.cell(cols.billing_profile_id)
        );
        let period = row
            .timestamp(cols.period_start)?
            .map(|t| crate::time::period_key(&t))
            .unwrap_or_default();
        Ok((account.to_ascii_lowercase(), period))
    })?;
    r.ok()
}

/// Groups Azure actual and amortized exports into jobs: actual and amortized files of the same
/// billing account and billing period become one joined job (`inputs` = actual files, `amortized`
/// = amortized files); any other file is a job of its own. Files whose first row cannot be read
/// (header-only, unreadable) are jobs of their own, so their error or emptiness shows when opened.
pub fn group_jobs(actual: Vec<PathBuf>, amortized: Vec<PathBuf>) -> Vec<Job> {
    let actual_keys: Vec<Option<(String, String)>> =
        actual.iter().map(|p| pairing_key(p)).collect();
    let amortized_keys: Vec<Option<(String, String)>> =
        amortized.iter().map(|p| pairing_key(p)).collect();
    let mut jobs = Vec::new();
    let mut used_amortized = vec![false; amortized.len()];
    let mut used_actual = vec![false; actual.len()];
    for i in 0..actual.len() {
        if used_actual[i] {
            continue;
        }
        let Some(key) = &actual_keys[i] else {
            used_actual[i] = true;
            jobs.push(Job {
                dialect: Dialect::AzureActual,
                inputs: vec![actual[i].clone()],
                amortized: Vec::new(),
            });
            continue;
        };
        let twins: Vec<usize> = (0..amortized.len())
            .filter(|&j| !used_amortized[j] && amortized_keys[j].as_ref() == Some(key))
            .collect();
        if twins.is_empty() {
            used_actual[i] = true;
            jobs.push(Job {
                dialect: Dialect::AzureActual,
                inputs: vec![actual[i].clone()],
                amortized: Vec::new(),
            });
            continue;
        }
        let mut inputs = Vec::new();
        for k in i..actual.len() {
            if !used_actual[k] && actual_keys[k].as_ref() == Some(key) {
                used_actual[k] = true;
                inputs.push(actual[k].clone());
            }
        }
        let mut am = Vec::new();
        for j in twins {
            used_amortized[j] = true;
            am.push(amortized[j].clone());
        }
        jobs.push(Job {
            dialect: Dialect::AzureActual,
            inputs,
            amortized: am,
        });
    }
    for (j, p) in amortized.into_iter().enumerate() {
        if !used_amortized[j] {
            jobs.push(Job {
                dialect: Dialect::AzureAmortized,
                inputs: vec![p],
                amortized: Vec::new(),
            });
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_types() {
        assert_eq!(
            arm_resource_type(
                "/subscriptions/s/resourcegroups/rg/providers/microsoft.sql/servers/a/databases/b"
            )
            .as_deref(),
            Some("microsoft.sql/servers/databases")
        );
        assert_eq!(
            arm_resource_type("/providers/microsoft.capacity/reservationorders/1/reservations/")
                .as_deref(),
            Some("microsoft.capacity/reservationorders/reservations")
        );
        assert_eq!(arm_resource_type("not-an-id"), None);
    }

    #[test]
    fn ea_tags_without_braces_and_case_duplicates() {
        let (t, dups) =
            parse_tags(r#""CostCenter": "1234","env": "prod","costcenter": "x","org": """#)
                .expect("tags");
        assert_eq!(dups, 1);
        assert_eq!(t.get("CostCenter"), Some(&TagValue::Str("1234".into())));
        assert_eq!(t.get("org"), Some(&TagValue::Bool(true)));
        assert_eq!(t.0.len(), 3);
        let (t, _) = parse_tags(r#"{"a":"b"}"#).expect("json");
        assert_eq!(t.get("a"), Some(&TagValue::Str("b".into())));
        assert!(parse_tags("").expect("empty").0.is_empty());
        assert!(parse_tags("\"a\": ").is_err());
    }
}
