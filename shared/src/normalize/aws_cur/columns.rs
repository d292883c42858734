//! Source columns, resolved once from the header so the per-row path only indexes.
//!
//! Every column is declared once by its legacy CUR name (`lineItem/UnblendedCost`); the CUR 2.0
//! name is derived the way AWS derives it (`line_item_unblended_cost`, `reservation/ReservationARN`
//! -> `reservation_reservation_a_r_n`). Product attributes live in a top-level column
//! (`product/regionCode`, `product_region_code`) or, in CUR 2.0, possibly only in the `product`
//! map (`product['product_name']`); both are tried.

use crate::error::NormalizeError;
use crate::text::Text;

macro_rules! columns {
    ($(#[$m:meta])* $name:ident, $list:ident { $($v:ident => $n:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(super) enum $name { $($v),+ }
        /// Legacy CUR names, in the enum's order.
        pub(super) const $list: &[&str] = &[$($n),+];
    };
}

columns! {
    /// A line-level source column.
    C, LEGACY {
        InvoiceId => "bill/InvoiceId",
        InvoicingEntity => "bill/InvoicingEntity",
        BillType => "bill/BillType",
        PayerAccountId => "bill/PayerAccountId",
        PayerAccountName => "bill/PayerAccountName",
        BillingPeriodStart => "bill/BillingPeriodStartDate",
        BillingPeriodEnd => "bill/BillingPeriodEndDate",
        UsageAccountId => "lineItem/UsageAccountId",
        UsageAccountName => "lineItem/UsageAccountName",
        LineItemType => "lineItem/LineItemType",
        UsageStart => "lineItem/UsageStartDate",
        UsageEnd => "lineItem/UsageEndDate",
        ProductCode => "lineItem/ProductCode",
        UsageType => "lineItem/UsageType",
        Operation => "lineItem/Operation",
        AvailabilityZone => "lineItem/AvailabilityZone",
        ResourceId => "lineItem/ResourceId",
        UsageAmount => "lineItem/UsageAmount",
        CurrencyCode => "lineItem/CurrencyCode",
        UnblendedRate => "lineItem/UnblendedRate",
        UnblendedCost => "lineItem/UnblendedCost",
        NetUnblendedRate => "lineItem/NetUnblendedRate",
        NetUnblendedCost => "lineItem/NetUnblendedCost",
        Description => "lineItem/LineItemDescription",
        TaxType => "lineItem/TaxType",
        LegalEntity => "lineItem/LegalEntity",
        RateCode => "pricing/RateCode",
        RateId => "pricing/RateId",
        PricingCurrency => "pricing/currency",
        PublicOnDemandCost => "pricing/publicOnDemandCost",
        PublicOnDemandRate => "pricing/publicOnDemandRate",
        Term => "pricing/term",
        PricingUnit => "pricing/unit",
        ReservationArn => "reservation/ReservationARN",
        RiEffectiveCost => "reservation/EffectiveCost",
        RiNetEffectiveCost => "reservation/NetEffectiveCost",
        RiUnusedUpfront => "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
        RiNetUnusedUpfront => "reservation/NetUnusedAmortizedUpfrontFeeForBillingPeriod",
        RiUnusedRecurring => "reservation/UnusedRecurringFee",
        RiNetUnusedRecurring => "reservation/NetUnusedRecurringFee",
        RiUnusedQuantity => "reservation/UnusedQuantity",
        SavingsPlanArn => "savingsPlan/SavingsPlanARN",
        SpEffectiveCost => "savingsPlan/SavingsPlanEffectiveCost",
        SpNetEffectiveCost => "savingsPlan/NetSavingsPlanEffectiveCost",
        SpTotalCommitment => "savingsPlan/TotalCommitmentToDate",
        SpUsedCommitment => "savingsPlan/UsedCommitment",
        SpOfferingType => "savingsPlan/OfferingType",
    }
}

columns! {
    /// A product attribute (`product/<attr>`).
    P, PRODUCT {
        ProductName => "ProductName",
        ServiceName => "servicename",
        RegionCode => "regionCode",
        Region => "region",
        Location => "location",
        Sku => "sku",
        ProductFamily => "productFamily",
        InstanceType => "instanceType",
        OperatingSystem => "operatingSystem",
        Vcpu => "vcpu",
        StorageClass => "storageClass",
    }
}

/// `SavingsPlanARN` -> `savings_plan_a_r_n`: every capital letter after the first character starts
/// a new word, which is how CUR 2.0 and legacy CUR Parquet name their columns.
pub fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// The CUR 2.0 / Parquet name of a legacy `category/Name` column.
pub fn cur2_name(legacy: &str) -> String {
    match legacy.split_once('/') {
        Some((cat, name)) => format!("{}_{}", snake(cat), snake(name)),
        None => snake(legacy),
    }
}

/// Where a product attribute is found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Loc {
    Absent,
    Column(usize),
    /// A key of the CUR 2.0 `product` map.
    MapKey(String),
}

/// Tag keys: AWS marks user-defined tags with a `user:` prefix (`user_` in CUR 2.0) that is not
/// part of the key the user set, so it is dropped; AWS-defined tags (`aws:createdBy`) keep their
/// prefix, as FOCUS asks for provider-defined keys.
pub fn tag_key(raw: &str, snake_case: bool) -> &str {
    let prefix = if snake_case { "user_" } else { "user:" };
    raw.strip_prefix(prefix)
        .filter(|k| !k.is_empty())
        .unwrap_or(raw)
}

/// Column positions for one file.
#[derive(Debug)]
pub(super) struct Columns {
    /// Shares repeated long values (service names, legal entities, descriptions, resource ids)
    /// between rows instead of allocating them again for every record.
    pub interner: std::cell::RefCell<crate::text::Interner>,
    /// Position of each [`C`] column.
    cols: Vec<Option<usize>>,
    /// Location of each [`P`] attribute.
    product: Vec<Loc>,
    /// The CUR 2.0 `product` map column, when some attribute must be read from it.
    pub product_map: Option<usize>,
    /// One column per tag (legacy CSV `resourceTags/user:Team`, Parquet `resource_tags_user_team`).
    pub tag_columns: Vec<(usize, Text)>,
    /// The CUR 2.0 `resource_tags` map column.
    pub tag_map: Option<usize>,
    /// One column per cost category (legacy `costCategory/Name`).
    pub cost_category_columns: Vec<(usize, Text)>,
    /// The CUR 2.0 `cost_category` map column.
    pub cost_category_map: Option<usize>,
    /// The CUR 2.0 `discount` map column.
    pub discount_map: Option<usize>,
    /// True when the file uses snake_case names.
    pub snake_case: bool,
    /// Records are only aggregated ([`super::CurPart`]): the descriptive fields no aggregate keeps
    /// (descriptions, resources, SKUs, extensions) are left empty, which saves most of the
    /// per-row string work of a load.
    pub lean: bool,
}

impl Columns {
    /// Resolves names; `snake_case` selects CUR 2.0 / Parquet naming.
    pub fn resolve(headers: &[String], snake_case: bool) -> Columns {
        let find = |name: &str| headers.iter().position(|h| h == name);
        let cols = LEGACY
            .iter()
            .map(|n| {
                if snake_case {
                    find(&cur2_name(n))
                } else {
                    find(n)
                }
            })
            .collect();
        let product_col = if snake_case { find("product") } else { None };
        let product: Vec<Loc> = PRODUCT
            .iter()
            .map(|attr| {
                let top = if snake_case {
                    find(&format!("product_{}", snake(attr)))
                } else {
                    find(&format!("product/{attr}"))
                };
                match (top, product_col) {
                    (Some(i), _) => Loc::Column(i),
                    (None, Some(_)) => Loc::MapKey(snake(attr)),
                    (None, None) => Loc::Absent,
                }
            })
            .collect();
        let needs_map = product.iter().any(|l| matches!(l, Loc::MapKey(_)));
        let mut tag_columns = Vec::new();
        let mut cost_category_columns = Vec::new();
        for (i, h) in headers.iter().enumerate() {
            if snake_case {
                if let Some(k) = h.strip_prefix("resource_tags_") {
                    tag_columns.push((i, Text::from(tag_key(k, true))));
                } else if let Some(k) = h.strip_prefix("cost_category_") {
                    cost_category_columns.push((i, Text::from(k)));
                }
            } else if let Some(k) = h.strip_prefix("resourceTags/") {
                tag_columns.push((i, Text::from(tag_key(k, false))));
            } else if let Some(k) = h.strip_prefix("costCategory/") {
                cost_category_columns.push((i, Text::from(k)));
            }
        }
        let map_col = |n: &str| if snake_case { find(n) } else { None };
        Columns {
            interner: Default::default(),
            cols,
            product,
            product_map: if needs_map { product_col } else { None },
            tag_columns,
            tag_map: map_col("resource_tags"),
            cost_category_columns,
            cost_category_map: map_col("cost_category"),
            discount_map: map_col("discount"),
            snake_case,
            lean: false,
        }
    }

    /// Position of a column.
    pub fn get(&self, c: C) -> Option<usize> {
        self.cols[c as usize]
    }

    /// Where a product attribute is.
    pub fn product(&self, p: P) -> &Loc {
        &self.product[p as usize]
    }

    /// The file's own name of a column (for messages).
    pub fn name(&self, c: C) -> String {
        let legacy = LEGACY[c as usize];
        if self.snake_case {
            cur2_name(legacy)
        } else {
            legacy.to_string()
        }
    }

    /// Position of a column the mapping cannot work without.
    pub fn require(&self, file: &str, c: C) -> Result<usize, NormalizeError> {
        self.get(c)
            .ok_or_else(|| NormalizeError::missing_column(file, self.name(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_cur2_names() {
        assert_eq!(
            cur2_name("lineItem/UnblendedCost"),
            "line_item_unblended_cost"
        );
        assert_eq!(
            cur2_name("reservation/ReservationARN"),
            "reservation_reservation_a_r_n"
        );
        assert_eq!(
            cur2_name("savingsPlan/SavingsPlanARN"),
            "savings_plan_savings_plan_a_r_n"
        );
        assert_eq!(
            cur2_name("pricing/publicOnDemandCost"),
            "pricing_public_on_demand_cost"
        );
        assert_eq!(
            cur2_name("lineItem/LineItemType"),
            "line_item_line_item_type"
        );
        assert_eq!(cur2_name("bill/PayerAccountId"), "bill_payer_account_id");
        assert_eq!(tag_key("user:Team", false), "Team");
        assert_eq!(tag_key("aws:createdBy", false), "aws:createdBy");
        assert_eq!(tag_key("user_team", true), "team");
    }
}
