//! The FinOps toolkit open-data lookups (Services, Regions, PricingUnits), embedded at build time
//! from `shared/data/azure/` (MIT, (c) Microsoft Corporation; see the README there) and parsed once.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::focus::ServiceCategory;
use crate::text::Text;

const SERVICES_CSV: &str = include_str!("../../../data/azure/Services.csv");
const REGIONS_CSV: &str = include_str!("../../../data/azure/Regions.csv");
const PRICING_UNITS_CSV: &str = include_str!("../../../data/azure/PricingUnits.csv");

/// A service as Services.csv names it.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// FOCUS ServiceName.
    pub name: Text,
    /// FOCUS ServiceCategory.
    pub category: ServiceCategory,
    /// FOCUS ServiceSubcategory.
    pub subcategory: Option<Text>,
}

/// A region as Regions.csv names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// FOCUS RegionId (`eastus`).
    pub id: Text,
    /// FOCUS RegionName (`East US`).
    pub name: Text,
}

/// A pricing unit as PricingUnits.csv describes an Azure UnitOfMeasure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricingUnit {
    /// How many distinct units one priced unit holds (`10K` -> 10000).
    pub block_size: rust_decimal::Decimal,
    /// The distinct unit in FOCUS Unit Format (`Hours`, `GB/Month`, `Units`).
    pub unit: Text,
}

/// All three lookups.
#[derive(Debug, Default)]
pub struct Lookups {
    /// (consumed service, resource type), both lower-case.
    services_exact: HashMap<(String, String), Service>,
    /// Resource type alone (lower-case), preferring the row whose consumed service is the type's namespace.
    services_by_type: HashMap<String, Service>,
    /// Consumed service alone (lower-case), only when all its rows name one service.
    services_by_consumed: HashMap<String, Service>,
    /// Service names (lower-case), so a MeterCategory fallback keeps the category the table gives that name.
    services_by_name: HashMap<String, Service>,
    regions: HashMap<String, Region>,
    units: HashMap<String, PricingUnit>,
}

/// The embedded lookups, parsed on first use.
pub fn lookups() -> &'static Lookups {
    static CELL: OnceLock<Lookups> = OnceLock::new();
    CELL.get_or_init(Lookups::parse_embedded)
}

fn rows(text: &str) -> Vec<csv::StringRecord> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .filter_map(Result::ok)
        .collect()
}

fn field(r: &csv::StringRecord, i: usize) -> &str {
    r.get(i).unwrap_or("").trim()
}

impl Lookups {
    fn parse_embedded() -> Lookups {
        let mut l = Lookups::default();
        // Services.csv: ConsumedService,ResourceType,ServiceName,ServiceCategory,ServiceSubcategory,...
        let mut consumed_names: HashMap<String, Option<Service>> = HashMap::new();
        for r in rows(SERVICES_CSV) {
            let consumed = field(&r, 0).to_ascii_lowercase();
            let rtype = field(&r, 1).to_ascii_lowercase();
            let name = field(&r, 2);
            if name.is_empty() {
                continue;
            }
            let category = ServiceCategory::parse(field(&r, 3)).unwrap_or(ServiceCategory::Other);
            let sub = field(&r, 4);
            let svc = Service {
                name: Text::from(name),
                category,
                subcategory: if sub.is_empty() {
                    Some(Text::from(category.other_subcategory()))
                } else {
                    Some(Text::from(sub))
                },
            };
            l.services_exact
                .entry((consumed.clone(), rtype.clone()))
                .or_insert_with(|| svc.clone());
            let namespace = rtype.split('/').next().unwrap_or("");
            if !rtype.is_empty() {
                match l.services_by_type.get(&rtype) {
                    None => {
                        l.services_by_type.insert(rtype.clone(), svc.clone());
                    }
                    Some(_) if consumed == namespace => {
                        l.services_by_type.insert(rtype.clone(), svc.clone());
                    }
                    Some(_) => {}
                }
            }
            if !consumed.is_empty() {
                let e = consumed_names
                    .entry(consumed)
                    .or_insert_with(|| Some(svc.clone()));
                if e.as_ref().is_some_and(|s| s.name != svc.name) {
                    *e = None;
                }
            }
            l.services_by_name
                .entry(name.to_ascii_lowercase())
                .or_insert(svc);
        }
        l.services_by_consumed = consumed_names
            .into_iter()
            .filter_map(|(k, v)| v.map(|s| (k, s)))
            .collect();
        // Regions.csv: OriginalValue,RegionId,RegionName
        for r in rows(REGIONS_CSV) {
            let original = field(&r, 0).to_ascii_lowercase();
            let (id, name) = (field(&r, 1), field(&r, 2));
            if original.is_empty() || id.is_empty() {
                continue;
            }
            l.regions.entry(original).or_insert(Region {
                id: Text::from(id),
                name: Text::from(name),
            });
        }
        // PricingUnits.csv: UnitOfMeasure,AccountTypes,PricingBlockSize,DistinctUnits
        for r in rows(PRICING_UNITS_CSV) {
            let uom = field(&r, 0);
            let Some(block) = crate::money::parse_decimal(field(&r, 2)) else {
                continue;
            };
            let unit = field(&r, 3);
            if unit.is_empty() {
                continue;
            }
            l.units.entry(uom.to_string()).or_insert(PricingUnit {
                block_size: block,
                unit: Text::from(unit),
            });
        }
        l
    }

    /// The service of a charge: exact (ConsumedService, ResourceType) match, then ResourceType
    /// alone, then ConsumedService alone; `None` when the table does not know it.
    pub fn service(&self, consumed_service: &str, resource_type: Option<&str>) -> Option<&Service> {
        let consumed = consumed_service.to_ascii_lowercase();
        if let Some(rt) = resource_type {
            let rt = rt.to_ascii_lowercase();
            if let Some(s) = self.services_exact.get(&(consumed.clone(), rt.clone())) {
                return Some(s);
            }
            if let Some(s) = self.services_by_type.get(&rt) {
                return Some(s);
            }
        }
        self.services_by_consumed.get(&consumed)
    }

    /// A service by its name (case-insensitive), used to classify the MeterCategory fallback.
    pub fn service_named(&self, name: &str) -> Option<&Service> {
        self.services_by_name.get(&name.to_ascii_lowercase())
    }

    /// The region of a raw Azure location (`EastUS`, `US East`, `eastus`; case-insensitive).
    pub fn region(&self, location: &str) -> Option<&Region> {
        self.regions.get(&location.trim().to_ascii_lowercase())
    }

    /// The pricing unit of an Azure UnitOfMeasure (exact text, as the table keys it).
    pub fn pricing_unit(&self, unit_of_measure: &str) -> Option<&PricingUnit> {
        self.units.get(unit_of_measure.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn embedded_tables_parse() {
        let l = lookups();
        // Row counts of the embedded files minus duplicates and blank keys: all non-trivial.
        assert!(l.services_exact.len() > 350, "{}", l.services_exact.len());
        assert!(l.regions.len() > 450, "{}", l.regions.len());
        assert!(l.units.len() > 350, "{}", l.units.len());
    }

    #[test]
    fn services_by_pair_type_and_consumed() {
        let l = lookups();
        let vm = l
            .service(
                "Microsoft.Compute",
                Some("microsoft.compute/virtualmachinescalesets"),
            )
            .expect("vmss");
        assert_eq!(vm.name, "Virtual Machine Scale Sets");
        assert_eq!(vm.category, ServiceCategory::Compute);
        let kv = l
            .service("MICROSOFT.KEYVAULT", Some("MICROSOFT.KEYVAULT/VAULTS"))
            .expect("kv");
        assert_eq!(
            (kv.name.as_str(), kv.category),
            ("Key Vault", ServiceCategory::Security)
        );
        // Unknown consumed service, known type: the type decides, preferring its own namespace.
        let eh = l
            .service("something.else", Some("microsoft.eventhub/namespaces"))
            .expect("eh");
        assert_eq!(eh.name, "Event Hubs");
        assert!(l
            .service("nothing.known", Some("nothing.known/things"))
            .is_none());
        assert_eq!(
            l.service_named("virtual machines").map(|s| s.category),
            Some(ServiceCategory::Compute)
        );
    }

    #[test]
    fn regions_and_units() {
        let l = lookups();
        assert_eq!(l.region("US East").map(|r| r.id.as_str()), Some("eastus"));
        assert_eq!(
            l.region("EastUS2").map(|r| r.name.as_str()),
            Some("East US 2")
        );
        let u = l.pricing_unit("10K").expect("10K");
        assert_eq!(
            (u.block_size, u.unit.as_str()),
            (Decimal::new(10000, 0), "Units")
        );
        let h = l.pricing_unit("100 Hours").expect("100 Hours");
        assert_eq!(
            (h.block_size, h.unit.as_str()),
            (Decimal::new(100, 0), "Hours")
        );
    }
}
