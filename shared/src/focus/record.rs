//! The FOCUS 1.2 Cost and Usage record.
//!
//! All 57 FOCUS 1.2 columns in spec order, then the two FOCUS 1.3 provider columns, then `x_`
//! extension columns. Costs are exact decimals in [`FocusRecord::billing_currency`]; periods are UTC
//! with exclusive ends.

use std::borrow::Cow;

use rust_decimal::Decimal;

use super::enums::*;
use super::tags::Tags;
use crate::money::Currency;
use crate::text::Text;
use crate::time::{format_timestamp, Timestamp};

/// SkuPriceDetails: a JSON object of FOCUS-named (or `x_`-prefixed) price properties.
pub type SkuPriceDetails = serde_json::Map<String, serde_json::Value>;

/// One FOCUS Cost and Usage row.
#[derive(Clone, Debug, PartialEq)]
pub struct FocusRecord {
    /// FOCUS `AvailabilityZone`.
    pub availability_zone: Option<Text>,
    /// FOCUS `BilledCost`.
    pub billed_cost: Decimal,
    /// FOCUS `BillingAccountId`.
    pub billing_account_id: Text,
    /// FOCUS `BillingAccountName`.
    pub billing_account_name: Option<Text>,
    /// FOCUS `BillingAccountType`.
    pub billing_account_type: Option<Text>,
    /// FOCUS `BillingCurrency`.
    pub billing_currency: Currency,
    /// FOCUS `BillingPeriodEnd`.
    pub billing_period_end: Timestamp,
    /// FOCUS `BillingPeriodStart`.
    pub billing_period_start: Timestamp,
    /// FOCUS `CapacityReservationId`.
    pub capacity_reservation_id: Option<Text>,
    /// FOCUS `CapacityReservationStatus`.
    pub capacity_reservation_status: Option<CapacityReservationStatus>,
    /// FOCUS `ChargeCategory`.
    pub charge_category: ChargeCategory,
    /// FOCUS `ChargeClass`.
    pub charge_class: Option<ChargeClass>,
    /// FOCUS `ChargeDescription`.
    pub charge_description: Option<Text>,
    /// FOCUS `ChargeFrequency`.
    pub charge_frequency: Option<ChargeFrequency>,
    /// FOCUS `ChargePeriodEnd`.
    pub charge_period_end: Timestamp,
    /// FOCUS `ChargePeriodStart`.
    pub charge_period_start: Timestamp,
    /// FOCUS `CommitmentDiscountCategory`.
    pub commitment_discount_category: Option<CommitmentDiscountCategory>,
    /// FOCUS `CommitmentDiscountId`.
    pub commitment_discount_id: Option<Text>,
    /// FOCUS `CommitmentDiscountName`.
    pub commitment_discount_name: Option<Text>,
    /// FOCUS `CommitmentDiscountQuantity`.
    pub commitment_discount_quantity: Option<Decimal>,
    /// FOCUS `CommitmentDiscountStatus`.
    pub commitment_discount_status: Option<CommitmentDiscountStatus>,
    /// FOCUS `CommitmentDiscountType`.
    pub commitment_discount_type: Option<Text>,
    /// FOCUS `CommitmentDiscountUnit`.
    pub commitment_discount_unit: Option<Text>,
    /// FOCUS `ConsumedQuantity`.
    pub consumed_quantity: Option<Decimal>,
    /// FOCUS `ConsumedUnit`.
    pub consumed_unit: Option<Text>,
    /// FOCUS `ContractedCost`.
    pub contracted_cost: Decimal,
    /// FOCUS `ContractedUnitPrice`.
    pub contracted_unit_price: Option<Decimal>,
    /// FOCUS `EffectiveCost`.
    pub effective_cost: Decimal,
    /// FOCUS `InvoiceId`.
    pub invoice_id: Option<Text>,
    /// FOCUS `InvoiceIssuerName`.
    pub invoice_issuer_name: Text,
    /// FOCUS `ListCost`.
    pub list_cost: Decimal,
    /// FOCUS `ListUnitPrice`.
    pub list_unit_price: Option<Decimal>,
    /// FOCUS `PricingCategory`.
    pub pricing_category: Option<PricingCategory>,
    /// FOCUS `PricingCurrency`.
    pub pricing_currency: Option<Currency>,
    /// FOCUS `PricingCurrencyContractedUnitPrice`.
    pub pricing_currency_contracted_unit_price: Option<Decimal>,
    /// FOCUS `PricingCurrencyEffectiveCost`.
    pub pricing_currency_effective_cost: Option<Decimal>,
    /// FOCUS `PricingCurrencyListUnitPrice`.
    pub pricing_currency_list_unit_price: Option<Decimal>,
    /// FOCUS `PricingQuantity`.
    pub pricing_quantity: Option<Decimal>,
    /// FOCUS `PricingUnit`.
    pub pricing_unit: Option<Text>,
    /// FOCUS `ProviderName`.
    pub provider_name: Text,
    /// FOCUS `PublisherName`.
    pub publisher_name: Text,
    /// FOCUS `RegionId`.
    pub region_id: Option<Text>,
    /// FOCUS `RegionName`.
    pub region_name: Option<Text>,
    /// FOCUS `ResourceId`.
    pub resource_id: Option<Text>,
    /// FOCUS `ResourceName`.
    pub resource_name: Option<Text>,
    /// FOCUS `ResourceType`.
    pub resource_type: Option<Text>,
    /// FOCUS `ServiceCategory`.
    pub service_category: ServiceCategory,
    /// FOCUS `ServiceName`.
    pub service_name: Text,
    /// FOCUS `ServiceSubcategory`.
    pub service_subcategory: Option<Text>,
    /// FOCUS `SkuId`.
    pub sku_id: Option<Text>,
    /// FOCUS `SkuMeter`.
    pub sku_meter: Option<Text>,
    /// FOCUS `SkuPriceDetails`.
    pub sku_price_details: Option<SkuPriceDetails>,
    /// FOCUS `SkuPriceId`.
    pub sku_price_id: Option<Text>,
    /// FOCUS `SubAccountId`.
    pub sub_account_id: Option<Text>,
    /// FOCUS `SubAccountName`.
    pub sub_account_name: Option<Text>,
    /// FOCUS `SubAccountType`.
    pub sub_account_type: Option<Text>,
    /// FOCUS `Tags`.
    pub tags: Tags,
    /// FOCUS `ServiceProviderName`.
    pub service_provider_name: Text,
    /// FOCUS `HostProviderName`.
    pub host_provider_name: Text,
    /// `x_` extension columns as (name, value) pairs, in the order the dialect declares them.
    pub extensions: Vec<(Text, Text)>,
}

/// A FOCUS column: the 57 columns of FOCUS 1.2 in spec order, then the FOCUS 1.3
/// `ServiceProviderName` and `HostProviderName`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FocusColumn {
    /// `AvailabilityZone`.
    AvailabilityZone,
    /// `BilledCost`.
    BilledCost,
    /// `BillingAccountId`.
    BillingAccountId,
    /// `BillingAccountName`.
    BillingAccountName,
    /// `BillingAccountType`.
    BillingAccountType,
    /// `BillingCurrency`.
    BillingCurrency,
    /// `BillingPeriodEnd`.
    BillingPeriodEnd,
    /// `BillingPeriodStart`.
    BillingPeriodStart,
    /// `CapacityReservationId`.
    CapacityReservationId,
    /// `CapacityReservationStatus`.
    CapacityReservationStatus,
    /// `ChargeCategory`.
    ChargeCategory,
    /// `ChargeClass`.
    ChargeClass,
    /// `ChargeDescription`.
    ChargeDescription,
    /// `ChargeFrequency`.
    ChargeFrequency,
    /// `ChargePeriodEnd`.
    ChargePeriodEnd,
    /// `ChargePeriodStart`.
    ChargePeriodStart,
    /// `CommitmentDiscountCategory`.
    CommitmentDiscountCategory,
    /// `CommitmentDiscountId`.
    CommitmentDiscountId,
    /// `CommitmentDiscountName`.
    CommitmentDiscountName,
    /// `CommitmentDiscountQuantity`.
    CommitmentDiscountQuantity,
    /// `CommitmentDiscountStatus`.
    CommitmentDiscountStatus,
    /// `CommitmentDiscountType`.
    CommitmentDiscountType,
    /// `CommitmentDiscountUnit`.
    CommitmentDiscountUnit,
    /// `ConsumedQuantity`.
    ConsumedQuantity,
    /// `ConsumedUnit`.
    ConsumedUnit,
    /// `ContractedCost`.
    ContractedCost,
    /// `ContractedUnitPrice`.
    ContractedUnitPrice,
    /// `EffectiveCost`.
    EffectiveCost,
    /// `InvoiceId`.
    InvoiceId,
    /// `InvoiceIssuerName`.
    InvoiceIssuerName,
    /// `ListCost`.
    ListCost,
    /// `ListUnitPrice`.
    ListUnitPrice,
    /// `PricingCategory`.
    PricingCategory,
    /// `PricingCurrency`.
    PricingCurrency,
    /// `PricingCurrencyContractedUnitPrice`.
    PricingCurrencyContractedUnitPrice,
    /// `PricingCurrencyEffectiveCost`.
    PricingCurrencyEffectiveCost,
    /// `PricingCurrencyListUnitPrice`.
    PricingCurrencyListUnitPrice,
    /// `PricingQuantity`.
    PricingQuantity,
    /// `PricingUnit`.
    PricingUnit,
    /// `ProviderName`.
    ProviderName,
    /// `PublisherName`.
    PublisherName,
    /// `RegionId`.
    RegionId,
    /// `RegionName`.
    RegionName,
    /// `ResourceId`.
    ResourceId,
    /// `ResourceName`.
    ResourceName,
    /// `ResourceType`.
    ResourceType,
    /// `ServiceCategory`.
    ServiceCategory,
    /// `ServiceName`.
    ServiceName,
    /// `ServiceSubcategory`.
    ServiceSubcategory,
    /// `SkuId`.
    SkuId,
    /// `SkuMeter`.
    SkuMeter,
    /// `SkuPriceDetails`.
    SkuPriceDetails,
    /// `SkuPriceId`.
    SkuPriceId,
    /// `SubAccountId`.
    SubAccountId,
    /// `SubAccountName`.
    SubAccountName,
    /// `SubAccountType`.
    SubAccountType,
    /// `Tags`.
    Tags,
    /// `ServiceProviderName`.
    ServiceProviderName,
    /// `HostProviderName`.
    HostProviderName,
}

impl FocusColumn {
    /// Every column in output order.
    pub const ALL: &'static [FocusColumn] = &[
        FocusColumn::AvailabilityZone,
        FocusColumn::BilledCost,
        FocusColumn::BillingAccountId,
        FocusColumn::BillingAccountName,
        FocusColumn::BillingAccountType,
        FocusColumn::BillingCurrency,
        FocusColumn::BillingPeriodEnd,
        FocusColumn::BillingPeriodStart,
        FocusColumn::CapacityReservationId,
        FocusColumn::CapacityReservationStatus,
        FocusColumn::ChargeCategory,
        FocusColumn::ChargeClass,
        FocusColumn::ChargeDescription,
        FocusColumn::ChargeFrequency,
        FocusColumn::ChargePeriodEnd,
        FocusColumn::ChargePeriodStart,
        FocusColumn::CommitmentDiscountCategory,
        FocusColumn::CommitmentDiscountId,
        FocusColumn::CommitmentDiscountName,
        FocusColumn::CommitmentDiscountQuantity,
        FocusColumn::CommitmentDiscountStatus,
        FocusColumn::CommitmentDiscountType,
        FocusColumn::CommitmentDiscountUnit,
        FocusColumn::ConsumedQuantity,
        FocusColumn::ConsumedUnit,
        FocusColumn::ContractedCost,
        FocusColumn::ContractedUnitPrice,
        FocusColumn::EffectiveCost,
        FocusColumn::InvoiceId,
        FocusColumn::InvoiceIssuerName,
        FocusColumn::ListCost,
        FocusColumn::ListUnitPrice,
        FocusColumn::PricingCategory,
        FocusColumn::PricingCurrency,
        FocusColumn::PricingCurrencyContractedUnitPrice,
        FocusColumn::PricingCurrencyEffectiveCost,
        FocusColumn::PricingCurrencyListUnitPrice,
        FocusColumn::PricingQuantity,
        FocusColumn::PricingUnit,
        FocusColumn::ProviderName,
        FocusColumn::PublisherName,
        FocusColumn::RegionId,
        FocusColumn::RegionName,
        FocusColumn::ResourceId,
        FocusColumn::ResourceName,
        FocusColumn::ResourceType,
        FocusColumn::ServiceCategory,
        FocusColumn::ServiceName,
        FocusColumn::ServiceSubcategory,
        FocusColumn::SkuId,
        FocusColumn::SkuMeter,
        FocusColumn::SkuPriceDetails,
        FocusColumn::SkuPriceId,
        FocusColumn::SubAccountId,
        FocusColumn::SubAccountName,
        FocusColumn::SubAccountType,
        FocusColumn::Tags,
        FocusColumn::ServiceProviderName,
        FocusColumn::HostProviderName,
    ];

    /// The 57 FOCUS 1.2 columns.
    pub const FOCUS_1_2: &'static [FocusColumn] = FocusColumn::ALL.split_at(57).0;

    /// The column name as FOCUS spells it.
    pub fn name(self) -> &'static str {
        match self {
            FocusColumn::AvailabilityZone => "AvailabilityZone",
            FocusColumn::BilledCost => "BilledCost",
            FocusColumn::BillingAccountId => "BillingAccountId",
            FocusColumn::BillingAccountName => "BillingAccountName",
            FocusColumn::BillingAccountType => "BillingAccountType",
            FocusColumn::BillingCurrency => "BillingCurrency",
            FocusColumn::BillingPeriodEnd => "BillingPeriodEnd",
            FocusColumn::BillingPeriodStart => "BillingPeriodStart",
            FocusColumn::CapacityReservationId => "CapacityReservationId",
            FocusColumn::CapacityReservationStatus => "CapacityReservationStatus",
            FocusColumn::ChargeCategory => "ChargeCategory",
            FocusColumn::ChargeClass => "ChargeClass",
            FocusColumn::ChargeDescription => "ChargeDescription",
            FocusColumn::ChargeFrequency => "ChargeFrequency",
            FocusColumn::ChargePeriodEnd => "ChargePeriodEnd",
            FocusColumn::ChargePeriodStart => "ChargePeriodStart",
            FocusColumn::CommitmentDiscountCategory => "CommitmentDiscountCategory",
            FocusColumn::CommitmentDiscountId => "CommitmentDiscountId",
            FocusColumn::CommitmentDiscountName => "CommitmentDiscountName",
            FocusColumn::CommitmentDiscountQuantity => "CommitmentDiscountQuantity",
            FocusColumn::CommitmentDiscountStatus => "CommitmentDiscountStatus",
            FocusColumn::CommitmentDiscountType => "CommitmentDiscountType",
            FocusColumn::CommitmentDiscountUnit => "CommitmentDiscountUnit",
            FocusColumn::ConsumedQuantity => "ConsumedQuantity",
            FocusColumn::ConsumedUnit => "ConsumedUnit",
            FocusColumn::ContractedCost => "ContractedCost",
            FocusColumn::ContractedUnitPrice => "ContractedUnitPrice",
            FocusColumn::EffectiveCost => "EffectiveCost",
            FocusColumn::InvoiceId => "InvoiceId",
            FocusColumn::InvoiceIssuerName => "InvoiceIssuerName",
            FocusColumn::ListCost => "ListCost",
            FocusColumn::ListUnitPrice => "ListUnitPrice",
            FocusColumn::PricingCategory => "PricingCategory",
            FocusColumn::PricingCurrency => "PricingCurrency",
            FocusColumn::PricingCurrencyContractedUnitPrice => "PricingCurrencyContractedUnitPrice",
            FocusColumn::PricingCurrencyEffectiveCost => "PricingCurrencyEffectiveCost",
            FocusColumn::PricingCurrencyListUnitPrice => "PricingCurrencyListUnitPrice",
            FocusColumn::PricingQuantity => "PricingQuantity",
            FocusColumn::PricingUnit => "PricingUnit",
            FocusColumn::ProviderName => "ProviderName",
            FocusColumn::PublisherName => "PublisherName",
            FocusColumn::RegionId => "RegionId",
            FocusColumn::RegionName => "RegionName",
            FocusColumn::ResourceId => "ResourceId",
            FocusColumn::ResourceName => "ResourceName",
            FocusColumn::ResourceType => "ResourceType",
            FocusColumn::ServiceCategory => "ServiceCategory",
            FocusColumn::ServiceName => "ServiceName",
            FocusColumn::ServiceSubcategory => "ServiceSubcategory",
            FocusColumn::SkuId => "SkuId",
            FocusColumn::SkuMeter => "SkuMeter",
            FocusColumn::SkuPriceDetails => "SkuPriceDetails",
            FocusColumn::SkuPriceId => "SkuPriceId",
            FocusColumn::SubAccountId => "SubAccountId",
            FocusColumn::SubAccountName => "SubAccountName",
            FocusColumn::SubAccountType => "SubAccountType",
            FocusColumn::Tags => "Tags",
            FocusColumn::ServiceProviderName => "ServiceProviderName",
            FocusColumn::HostProviderName => "HostProviderName",
        }
    }

    /// Looks a column up by its FOCUS name (exact match).
    pub fn from_name(name: &str) -> Option<Self> {
        FocusColumn::ALL.iter().copied().find(|c| c.name() == name)
    }
}

fn dec(d: &Decimal) -> String {
    d.normalize().to_string()
}

impl FocusRecord {
    /// The value of a column as FOCUS text (`None` is a null). Decimals print without trailing zeros,
    /// times as `YYYY-MM-DDTHH:MM:SSZ`, Tags and SkuPriceDetails as JSON objects.
    pub fn cell(&self, col: FocusColumn) -> Option<String> {
        match col {
            FocusColumn::AvailabilityZone => self.availability_zone.as_ref().map(|v| v.to_string()),
            FocusColumn::BilledCost => Some(dec(&self.billed_cost)),
            FocusColumn::BillingAccountId => Some(self.billing_account_id.to_string()),
            FocusColumn::BillingAccountName => {
                self.billing_account_name.as_ref().map(|v| v.to_string())
            }
            FocusColumn::BillingAccountType => {
                self.billing_account_type.as_ref().map(|v| v.to_string())
            }
            FocusColumn::BillingCurrency => Some(self.billing_currency.to_string()),
            FocusColumn::BillingPeriodEnd => Some(format_timestamp(&self.billing_period_end)),
            FocusColumn::BillingPeriodStart => Some(format_timestamp(&self.billing_period_start)),
            FocusColumn::CapacityReservationId => {
                self.capacity_reservation_id.as_ref().map(|v| v.to_string())
            }
            FocusColumn::CapacityReservationStatus => self
                .capacity_reservation_status
                .map(|v| v.as_str().to_string()),
            FocusColumn::ChargeCategory => Some(self.charge_category.as_str().to_string()),
            FocusColumn::ChargeClass => self.charge_class.map(|v| v.as_str().to_string()),
            FocusColumn::ChargeDescription => {
                self.charge_description.as_ref().map(|v| v.to_string())
            }
            FocusColumn::ChargeFrequency => self.charge_frequency.map(|v| v.as_str().to_string()),
            FocusColumn::ChargePeriodEnd => Some(format_timestamp(&self.charge_period_end)),
            FocusColumn::ChargePeriodStart => Some(format_timestamp(&self.charge_period_start)),
            FocusColumn::CommitmentDiscountCategory => self
                .commitment_discount_category
                .map(|v| v.as_str().to_string()),
            FocusColumn::CommitmentDiscountId => {
                self.commitment_discount_id.as_ref().map(|v| v.to_string())
            }
            FocusColumn::CommitmentDiscountName => self
                .commitment_discount_name
                .as_ref()
                .map(|v| v.to_string()),
            FocusColumn::CommitmentDiscountQuantity => {
                self.commitment_discount_quantity.as_ref().map(dec)
            }
            FocusColumn::CommitmentDiscountStatus => self
                .commitment_discount_status
                .map(|v| v.as_str().to_string()),
            FocusColumn::CommitmentDiscountType => self
                .commitment_discount_type
                .as_ref()
                .map(|v| v.to_string()),
            FocusColumn::CommitmentDiscountUnit => self
                .commitment_discount_unit
                .as_ref()
                .map(|v| v.to_string()),
            FocusColumn::ConsumedQuantity => self.consumed_quantity.as_ref().map(dec),
            FocusColumn::ConsumedUnit => self.consumed_unit.as_ref().map(|v| v.to_string()),
            FocusColumn::ContractedCost => Some(dec(&self.contracted_cost)),
            FocusColumn::ContractedUnitPrice => self.contracted_unit_price.as_ref().map(dec),
            FocusColumn::EffectiveCost => Some(dec(&self.effective_cost)),
            FocusColumn::InvoiceId => self.invoice_id.as_ref().map(|v| v.to_string()),
            FocusColumn::InvoiceIssuerName => Some(self.invoice_issuer_name.to_string()),
            FocusColumn::ListCost => Some(dec(&self.list_cost)),
            FocusColumn::ListUnitPrice => self.list_unit_price.as_ref().map(dec),
            FocusColumn::PricingCategory => self.pricing_category.map(|v| v.as_str().to_string()),
            FocusColumn::PricingCurrency => self.pricing_currency.as_ref().map(|v| v.to_string()),
            FocusColumn::PricingCurrencyContractedUnitPrice => self
                .pricing_currency_contracted_unit_price
                .as_ref()
                .map(dec),
            FocusColumn::PricingCurrencyEffectiveCost => {
                self.pricing_currency_effective_cost.as_ref().map(dec)
            }
            FocusColumn::PricingCurrencyListUnitPrice => {
                self.pricing_currency_list_unit_price.as_ref().map(dec)
            }
            FocusColumn::PricingQuantity => self.pricing_quantity.as_ref().map(dec),
            FocusColumn::PricingUnit => self.pricing_unit.as_ref().map(|v| v.to_string()),
            FocusColumn::ProviderName => Some(self.provider_name.to_string()),
            FocusColumn::PublisherName => Some(self.publisher_name.to_string()),
            FocusColumn::RegionId => self.region_id.as_ref().map(|v| v.to_string()),
            FocusColumn::RegionName => self.region_name.as_ref().map(|v| v.to_string()),
            FocusColumn::ResourceId => self.resource_id.as_ref().map(|v| v.to_string()),
            FocusColumn::ResourceName => self.resource_name.as_ref().map(|v| v.to_string()),
            FocusColumn::ResourceType => self.resource_type.as_ref().map(|v| v.to_string()),
            FocusColumn::ServiceCategory => Some(self.service_category.as_str().to_string()),
            FocusColumn::ServiceName => Some(self.service_name.to_string()),
            FocusColumn::ServiceSubcategory => {
                self.service_subcategory.as_ref().map(|v| v.to_string())
            }
            FocusColumn::SkuId => self.sku_id.as_ref().map(|v| v.to_string()),
            FocusColumn::SkuMeter => self.sku_meter.as_ref().map(|v| v.to_string()),
            FocusColumn::SkuPriceDetails => self
                .sku_price_details
                .as_ref()
                // Serialized in place: the same compact text as `Value::Object`, without a copy of
                // the map for every row written.
                .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "{}".to_string())),
            FocusColumn::SkuPriceId => self.sku_price_id.as_ref().map(|v| v.to_string()),
            FocusColumn::SubAccountId => self.sub_account_id.as_ref().map(|v| v.to_string()),
            FocusColumn::SubAccountName => self.sub_account_name.as_ref().map(|v| v.to_string()),
            FocusColumn::SubAccountType => self.sub_account_type.as_ref().map(|v| v.to_string()),
            FocusColumn::Tags => {
                if self.tags.is_empty() {
                    None
                } else {
                    Some(self.tags.to_json())
                }
            }
            FocusColumn::ServiceProviderName => Some(self.service_provider_name.to_string()),
            FocusColumn::HostProviderName => Some(self.host_provider_name.to_string()),
        }
    }

    /// Like [`FocusRecord::cell`], but borrows text columns instead of copying them (the output
    /// writers call this once per cell, so it matters at a million rows).
    pub fn cell_ref(&self, col: FocusColumn) -> Option<Cow<'_, str>> {
        match col {
            FocusColumn::AvailabilityZone => self
                .availability_zone
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::BilledCost => self.cell(col).map(Cow::Owned),
            FocusColumn::BillingAccountId => Some(Cow::Borrowed(self.billing_account_id.as_str())),
            FocusColumn::BillingAccountName => self
                .billing_account_name
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::BillingAccountType => self
                .billing_account_type
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::BillingCurrency => Some(Cow::Borrowed(self.billing_currency.as_str())),
            FocusColumn::BillingPeriodEnd => self.cell(col).map(Cow::Owned),
            FocusColumn::BillingPeriodStart => self.cell(col).map(Cow::Owned),
            FocusColumn::CapacityReservationId => self
                .capacity_reservation_id
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::CapacityReservationStatus => self
                .capacity_reservation_status
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::ChargeCategory => Some(Cow::Borrowed(self.charge_category.as_str())),
            FocusColumn::ChargeClass => self.charge_class.map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::ChargeDescription => self
                .charge_description
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::ChargeFrequency => {
                self.charge_frequency.map(|v| Cow::Borrowed(v.as_str()))
            }
            FocusColumn::ChargePeriodEnd => self.cell(col).map(Cow::Owned),
            FocusColumn::ChargePeriodStart => self.cell(col).map(Cow::Owned),
            FocusColumn::CommitmentDiscountCategory => self
                .commitment_discount_category
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::CommitmentDiscountId => self
                .commitment_discount_id
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::CommitmentDiscountName => self
                .commitment_discount_name
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::CommitmentDiscountQuantity => self.cell(col).map(Cow::Owned),
            FocusColumn::CommitmentDiscountStatus => self
                .commitment_discount_status
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::CommitmentDiscountType => self
                .commitment_discount_type
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::CommitmentDiscountUnit => self
                .commitment_discount_unit
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::ConsumedQuantity => self.cell(col).map(Cow::Owned),
            FocusColumn::ConsumedUnit => self
                .consumed_unit
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::ContractedCost => self.cell(col).map(Cow::Owned),
            FocusColumn::ContractedUnitPrice => self.cell(col).map(Cow::Owned),
            FocusColumn::EffectiveCost => self.cell(col).map(Cow::Owned),
            FocusColumn::InvoiceId => self.invoice_id.as_ref().map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::InvoiceIssuerName => {
                Some(Cow::Borrowed(self.invoice_issuer_name.as_str()))
            }
            FocusColumn::ListCost => self.cell(col).map(Cow::Owned),
            FocusColumn::ListUnitPrice => self.cell(col).map(Cow::Owned),
            FocusColumn::PricingCategory => {
                self.pricing_category.map(|v| Cow::Borrowed(v.as_str()))
            }
            FocusColumn::PricingCurrency => self
                .pricing_currency
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::PricingCurrencyContractedUnitPrice => self.cell(col).map(Cow::Owned),
            FocusColumn::PricingCurrencyEffectiveCost => self.cell(col).map(Cow::Owned),
            FocusColumn::PricingCurrencyListUnitPrice => self.cell(col).map(Cow::Owned),
            FocusColumn::PricingQuantity => self.cell(col).map(Cow::Owned),
            FocusColumn::PricingUnit => self
                .pricing_unit
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::ProviderName => Some(Cow::Borrowed(self.provider_name.as_str())),
            FocusColumn::PublisherName => Some(Cow::Borrowed(self.publisher_name.as_str())),
            FocusColumn::RegionId => self.region_id.as_ref().map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::RegionName => self.region_name.as_ref().map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::ResourceId => self.resource_id.as_ref().map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::ResourceName => self
                .resource_name
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::ResourceType => self
                .resource_type
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::ServiceCategory => Some(Cow::Borrowed(self.service_category.as_str())),
            FocusColumn::ServiceName => Some(Cow::Borrowed(self.service_name.as_str())),
            FocusColumn::ServiceSubcategory => self
                .service_subcategory
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::SkuId => self.sku_id.as_ref().map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::SkuMeter => self.sku_meter.as_ref().map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::SkuPriceDetails => self.cell(col).map(Cow::Owned),
            FocusColumn::SkuPriceId => self
                .sku_price_id
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::SubAccountId => self
                .sub_account_id
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::SubAccountName => self
                .sub_account_name
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::SubAccountType => self
                .sub_account_type
                .as_ref()
                .map(|v| Cow::Borrowed(v.as_str())),
            FocusColumn::Tags => self.cell(col).map(Cow::Owned),
            FocusColumn::ServiceProviderName => {
                Some(Cow::Borrowed(self.service_provider_name.as_str()))
            }
            FocusColumn::HostProviderName => Some(Cow::Borrowed(self.host_provider_name.as_str())),
        }
    }

    /// The value of an `x_` extension column.
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Default for FocusRecord {
    /// A blank record: every nullable column null, costs zero, times at the Unix epoch, categories at
    /// their most generic value. Normalizers start from it and must set every mandatory column; the
    /// validator tests catch one that is forgotten.
    fn default() -> Self {
        let epoch = Timestamp::default();
        FocusRecord {
            availability_zone: None,
            billed_cost: Decimal::ZERO,
            billing_account_id: Text::default(),
            billing_account_name: None,
            billing_account_type: None,
            billing_currency: Currency::new("USD"),
            billing_period_end: epoch,
            billing_period_start: epoch,
            capacity_reservation_id: None,
            capacity_reservation_status: None,
            charge_category: ChargeCategory::Usage,
            charge_class: None,
            charge_description: None,
            charge_frequency: None,
            charge_period_end: epoch,
            charge_period_start: epoch,
            commitment_discount_category: None,
            commitment_discount_id: None,
            commitment_discount_name: None,
            commitment_discount_quantity: None,
            commitment_discount_status: None,
            commitment_discount_type: None,
            commitment_discount_unit: None,
            consumed_quantity: None,
            consumed_unit: None,
            contracted_cost: Decimal::ZERO,
            contracted_unit_price: None,
            effective_cost: Decimal::ZERO,
            invoice_id: None,
            invoice_issuer_name: Text::default(),
            list_cost: Decimal::ZERO,
            list_unit_price: None,
            pricing_category: None,
            pricing_currency: None,
            pricing_currency_contracted_unit_price: None,
            pricing_currency_effective_cost: None,
            pricing_currency_list_unit_price: None,
            pricing_quantity: None,
            pricing_unit: None,
            provider_name: Text::default(),
            publisher_name: Text::default(),
            region_id: None,
            region_name: None,
            resource_id: None,
            resource_name: None,
            resource_type: None,
            service_category: ServiceCategory::Other,
            service_name: Text::default(),
            service_subcategory: None,
            sku_id: None,
            sku_meter: None,
            sku_price_details: None,
            sku_price_id: None,
            sub_account_id: None,
            sub_account_name: None,
            sub_account_type: None,
            tags: Tags::default(),
            service_provider_name: Text::default(),
            host_provider_name: Text::default(),
            extensions: Vec::new(),
        }
    }
}
