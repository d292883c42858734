//! The FOCUS columns whose values come from a fixed list.

use serde::{Deserialize, Serialize};

macro_rules! focus_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every allowed value, in spec order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as FOCUS spells it.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the FOCUS spelling; case and surrounding spaces are ignored.
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.trim();
                $(if s.eq_ignore_ascii_case($text) { return Some($name::$variant); })+
                None
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

focus_enum! {
    /// ChargeCategory: the highest-level classification of a charge.
    ChargeCategory {
        /// Consumption of a service.
        Usage => "Usage",
        /// Purchase of a commitment or other up-front/recurring fee.
        Purchase => "Purchase",
        /// Tax.
        Tax => "Tax",
        /// A credit applied after the fact.
        Credit => "Credit",
        /// Anything else (rounding, general adjustments).
        Adjustment => "Adjustment",
    }
}

focus_enum! {
    /// ChargeClass: only "Correction" exists; null otherwise.
    ChargeClass {
        /// Corrects a previously invoiced billing period.
        Correction => "Correction",
    }
}

focus_enum! {
    /// ChargeFrequency.
    ChargeFrequency {
        /// Charged once.
        OneTime => "One-Time",
        /// Charged on a schedule.
        Recurring => "Recurring",
        /// Charged for measured consumption.
        UsageBased => "Usage-Based",
    }
}

focus_enum! {
    /// PricingCategory.
    PricingCategory {
        /// List or negotiated on-demand price.
        Standard => "Standard",
        /// Variable price (spot, preemptible).
        Dynamic => "Dynamic",
        /// Price from a commitment discount.
        Committed => "Committed",
        /// Anything else.
        Other => "Other",
    }
}

focus_enum! {
    /// CommitmentDiscountCategory.
    CommitmentDiscountCategory {
        /// A spend commitment (Savings Plans, spend-based CUDs).
        Spend => "Spend",
        /// A usage commitment (Reserved Instances, resource-based CUDs).
        Usage => "Usage",
    }
}

focus_enum! {
    /// CommitmentDiscountStatus.
    CommitmentDiscountStatus {
        /// The commitment covered this usage.
        Used => "Used",
        /// The part of the commitment that went unused in the charge period.
        Unused => "Unused",
    }
}

focus_enum! {
    /// CapacityReservationStatus.
    CapacityReservationStatus {
        /// The reservation was used.
        Used => "Used",
        /// The reservation went unused.
        Unused => "Unused",
    }
}

focus_enum! {
    /// ServiceCategory: the 19 FOCUS service categories.
    ServiceCategory {
        /// AI and Machine Learning.
        AiAndMachineLearning => "AI and Machine Learning",
        /// Analytics.
        Analytics => "Analytics",
        /// Business Applications.
        BusinessApplications => "Business Applications",
        /// Compute.
        Compute => "Compute",
        /// Databases.
        Databases => "Databases",
        /// Developer Tools.
        DeveloperTools => "Developer Tools",
        /// Multicloud.
        Multicloud => "Multicloud",
        /// Identity.
        Identity => "Identity",
        /// Integration.
        Integration => "Integration",
        /// Internet of Things.
        InternetOfThings => "Internet of Things",
        /// Management and Governance.
        ManagementAndGovernance => "Management and Governance",
        /// Media.
        Media => "Media",
        /// Migration.
        Migration => "Migration",
        /// Mobile.
        Mobile => "Mobile",
        /// Networking.
        Networking => "Networking",
        /// Security.
        Security => "Security",
        /// Storage.
        Storage => "Storage",
        /// Web.
        Web => "Web",
        /// Other.
        Other => "Other",
    }
}

impl ServiceCategory {
    /// The catch-all subcategory every category has: `Other (<Category>)`.
    pub fn other_subcategory(self) -> String {
        format!("Other ({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for c in ServiceCategory::ALL {
            assert_eq!(ServiceCategory::parse(c.as_str()), Some(*c));
        }
        assert_eq!(ServiceCategory::ALL.len(), 19);
        assert_eq!(
            ChargeFrequency::parse("usage-based"),
            Some(ChargeFrequency::UsageBased)
        );
        assert_eq!(ChargeCategory::parse("Refund"), None);
    }
}
