//! Lookup tables for the GCP billing export: service categories, FOCUS unit names, region names.
//!
//! The export names services by their invoice description (`Compute Engine`) and an opaque id;
//! FOCUS wants one of 19 categories, so costkit keeps its own table of the common services.
//! Anything not listed falls back on keywords, then on `Other`.

use crate::focus::ServiceCategory;

use ServiceCategory as C;

/// (lower-case service description, category, subcategory).
const SERVICES: &[(&str, ServiceCategory, &str)] = &[
    ("compute engine", C::Compute, "Virtual Machines"),
    ("vmware engine", C::Compute, "Virtual Machines"),
    ("google cloud vmware engine", C::Compute, "Virtual Machines"),
    ("kubernetes engine", C::Compute, "Containers"),
    ("google kubernetes engine", C::Compute, "Containers"),
    ("cloud run", C::Compute, "Serverless Compute"),
    ("cloud run functions", C::Compute, "Serverless Compute"),
    ("cloud functions", C::Compute, "Serverless Compute"),
    ("batch", C::Compute, "Other (Compute)"),
    ("app engine", C::Web, "Application Platforms"),
    ("firebase hosting", C::Web, "Application Platforms"),
    ("cloud storage", C::Storage, "Object Storage"),
    ("filestore", C::Storage, "File Storage"),
    ("cloud filestore", C::Storage, "File Storage"),
    ("netapp volumes", C::Storage, "File Storage"),
    ("backup and dr service", C::Storage, "Backup Storage"),
    ("backup for gke", C::Storage, "Backup Storage"),
    ("bigquery", C::Databases, "Data Warehouses"),
    ("bigquery reservation api", C::Databases, "Data Warehouses"),
    ("bigquery storage api", C::Databases, "Data Warehouses"),
    ("bigquery bi engine", C::Databases, "Data Warehouses"),
    (
        "bigquery data transfer service",
        C::Databases,
        "Data Warehouses",
    ),
    ("cloud sql", C::Databases, "Relational Databases"),
    ("cloud spanner", C::Databases, "Relational Databases"),
    ("spanner", C::Databases, "Relational Databases"),
    ("alloydb", C::Databases, "Relational Databases"),
    (
        "alloydb for postgresql",
        C::Databases,
        "Relational Databases",
    ),
    ("cloud bigtable", C::Databases, "NoSQL Databases"),
    ("cloud firestore", C::Databases, "NoSQL Databases"),
    ("firestore", C::Databases, "NoSQL Databases"),
    ("cloud datastore", C::Databases, "NoSQL Databases"),
    ("cloud memorystore for redis", C::Databases, "Caching"),
    ("memorystore for redis", C::Databases, "Caching"),
    ("memorystore for redis cluster", C::Databases, "Caching"),
    ("memorystore for memcached", C::Databases, "Caching"),
    ("memorystore for valkey", C::Databases, "Caching"),
    ("networking", C::Networking, "Network Infrastructure"),
    ("cloud cdn", C::Networking, "Content Delivery"),
    ("media cdn", C::Networking, "Content Delivery"),
    ("cloud dns", C::Networking, "Network Routing"),
    (
        "cloud load balancing",
        C::Networking,
        "Application Networking",
    ),
    ("cloud nat", C::Networking, "Network Connectivity"),
    ("cloud vpn", C::Networking, "Network Connectivity"),
    ("cloud interconnect", C::Networking, "Network Connectivity"),
    (
        "network connectivity center",
        C::Networking,
        "Network Connectivity",
    ),
    ("cloud armor", C::Networking, "Network Security"),
    ("cloud ids", C::Networking, "Network Security"),
    ("cloud ngfw", C::Networking, "Network Security"),
    (
        "network intelligence center",
        C::Networking,
        "Other (Networking)",
    ),
    ("cloud logging", C::ManagementAndGovernance, "Observability"),
    (
        "stackdriver logging",
        C::ManagementAndGovernance,
        "Observability",
    ),
    (
        "cloud monitoring",
        C::ManagementAndGovernance,
        "Observability",
    ),
    (
        "stackdriver monitoring",
        C::ManagementAndGovernance,
        "Observability",
    ),
    ("cloud trace", C::ManagementAndGovernance, "Observability"),
    (
        "cloud profiler",
        C::ManagementAndGovernance,
        "Observability",
    ),
    ("support", C::ManagementAndGovernance, "Support"),
    ("cloud support", C::ManagementAndGovernance, "Support"),
    (
        "google cloud support",
        C::ManagementAndGovernance,
        "Support",
    ),
    ("dataplex", C::ManagementAndGovernance, "Data Governance"),
    (
        "data catalog",
        C::ManagementAndGovernance,
        "Data Governance",
    ),
    ("cloud pub/sub", C::Integration, "Messaging"),
    ("pub/sub", C::Integration, "Messaging"),
    ("cloud tasks", C::Integration, "Messaging"),
    ("eventarc", C::Integration, "Messaging"),
    ("cloud scheduler", C::Integration, "Workflow Orchestration"),
    ("workflows", C::Integration, "Workflow Orchestration"),
    ("cloud composer", C::Integration, "Workflow Orchestration"),
    ("api gateway", C::Integration, "API Management"),
    ("apigee", C::Integration, "API Management"),
    ("cloud endpoints", C::Integration, "API Management"),
    ("dataflow", C::Analytics, "Data Processing"),
    ("cloud dataflow", C::Analytics, "Data Processing"),
    ("dataproc", C::Analytics, "Data Processing"),
    ("cloud dataproc", C::Analytics, "Data Processing"),
    ("cloud data fusion", C::Analytics, "Data Processing"),
    ("datastream", C::Analytics, "Streaming Analytics"),
    ("looker", C::Analytics, "Business Intelligence"),
    ("looker studio", C::Analytics, "Business Intelligence"),
    ("vertex ai", C::AiAndMachineLearning, "AI Platforms"),
    ("gemini api", C::AiAndMachineLearning, "Generative AI"),
    (
        "generative language api",
        C::AiAndMachineLearning,
        "Generative AI",
    ),
    (
        "gemini for google cloud",
        C::AiAndMachineLearning,
        "Generative AI",
    ),
    (
        "cloud vision api",
        C::AiAndMachineLearning,
        "Machine Learning",
    ),
    (
        "cloud video intelligence api",
        C::AiAndMachineLearning,
        "Machine Learning",
    ),
    ("document ai", C::AiAndMachineLearning, "Machine Learning"),
    (
        "cloud natural language api",
        C::AiAndMachineLearning,
        "Natural Language Processing",
    ),
    (
        "cloud translation api",
        C::AiAndMachineLearning,
        "Natural Language Processing",
    ),
    (
        "cloud translation",
        C::AiAndMachineLearning,
        "Natural Language Processing",
    ),
    (
        "cloud speech api",
        C::AiAndMachineLearning,
        "Natural Language Processing",
    ),
    (
        "cloud text-to-speech api",
        C::AiAndMachineLearning,
        "Natural Language Processing",
    ),
    ("dialogflow", C::AiAndMachineLearning, "Bots"),
    ("secret manager", C::Security, "Secret Management"),
    (
        "cloud key management service (kms)",
        C::Security,
        "Secret Management",
    ),
    ("cloud kms", C::Security, "Secret Management"),
    (
        "security command center",
        C::Security,
        "Security Posture Management",
    ),
    (
        "cloud identity",
        C::Identity,
        "Identity and Access Management",
    ),
    (
        "identity platform",
        C::Identity,
        "Identity and Access Management",
    ),
    (
        "identity-aware proxy",
        C::Identity,
        "Identity and Access Management",
    ),
    (
        "artifact registry",
        C::DeveloperTools,
        "Continuous Integration and Deployment",
    ),
    (
        "container registry",
        C::DeveloperTools,
        "Continuous Integration and Deployment",
    ),
    (
        "cloud build",
        C::DeveloperTools,
        "Continuous Integration and Deployment",
    ),
    (
        "cloud deploy",
        C::DeveloperTools,
        "Continuous Integration and Deployment",
    ),
    (
        "cloud source repositories",
        C::DeveloperTools,
        "Source Code Management",
    ),
    (
        "secure source manager",
        C::DeveloperTools,
        "Source Code Management",
    ),
    (
        "cloud workstations",
        C::DeveloperTools,
        "Development Environments",
    ),
    ("storage transfer service", C::Migration, "Data Migration"),
    ("transfer appliance", C::Migration, "Data Migration"),
    ("database migration service", C::Migration, "Data Migration"),
    (
        "migrate to virtual machines",
        C::Migration,
        "Resource Migration",
    ),
    ("anthos", C::Multicloud, "Multicloud Integration"),
    ("gke enterprise", C::Multicloud, "Multicloud Integration"),
    ("transcoder api", C::Media, "Media Streaming"),
    ("live stream api", C::Media, "Media Streaming"),
    ("invoice", C::Other, "Other (Other)"),
    ("tax", C::Other, "Other (Other)"),
];

/// Keyword fallbacks for services the table does not list (checked in order).
const KEYWORDS: &[(&str, ServiceCategory)] = &[
    ("kubernetes", C::Compute),
    ("compute", C::Compute),
    ("storage", C::Storage),
    ("sql", C::Databases),
    ("database", C::Databases),
    ("network", C::Networking),
    ("cdn", C::Networking),
    ("dns", C::Networking),
    ("logging", C::ManagementAndGovernance),
    ("monitoring", C::ManagementAndGovernance),
    ("vertex", C::AiAndMachineLearning),
    ("gemini", C::AiAndMachineLearning),
    ("security", C::Security),
];

/// The FOCUS ServiceCategory and ServiceSubcategory of a GCP service description.
pub fn service_category(description: &str) -> (ServiceCategory, String) {
    let d = description.trim().to_ascii_lowercase();
    if let Some((_, c, s)) = SERVICES.iter().find(|(name, _, _)| *name == d) {
        return (*c, (*s).to_string());
    }
    if let Some((_, c)) = KEYWORDS.iter().find(|(k, _)| d.contains(k)) {
        return (*c, c.other_subcategory());
    }
    (C::Other, C::Other.other_subcategory())
}

fn data_unit(word: &str) -> Option<&'static str> {
    Some(match word {
        "bit" | "bits" => "b",
        "byte" | "bytes" => "B",
        "kilobyte" | "kilobytes" => "KB",
        "megabyte" | "megabytes" => "MB",
        "gigabyte" | "gigabytes" => "GB",
        "terabyte" | "terabytes" => "TB",
        "petabyte" | "petabytes" => "PB",
        "kibibyte" | "kibibytes" => "KiB",
        "mebibyte" | "mebibytes" => "MiB",
        "gibibyte" | "gibibytes" => "GiB",
        "tebibyte" | "tebibytes" => "TiB",
        "pebibyte" | "pebibytes" => "PiB",
        "kilobit" | "kilobits" => "Kb",
        "megabit" | "megabits" => "Mb",
        "gigabit" | "gigabits" => "Gb",
        _ => return None,
    })
}

fn time_unit(word: &str) -> Option<&'static str> {
    Some(match word {
        "second" | "seconds" => "Seconds",
        "minute" | "minutes" => "Minutes",
        "hour" | "hours" => "Hours",
        "day" | "days" => "Days",
        "week" | "weeks" => "Weeks",
        "month" | "months" => "Months",
        "year" | "years" => "Years",
        _ => return None,
    })
}

fn count_unit(word: &str) -> Option<&'static str> {
    Some(match word {
        "count" | "counts" => "Count",
        "request" | "requests" => "Requests",
        "call" | "calls" => "Calls",
        "token" | "tokens" => "Tokens",
        "character" | "characters" => "Characters",
        "image" | "images" => "Images",
        "page" | "pages" => "Pages",
        "operation" | "operations" => "Operations",
        "vcpu" | "vcpus" => "vCPUs",
        "core" | "cores" => "Cores",
        "instance" | "instances" => "Instances",
        "node" | "nodes" => "Nodes",
        _ => return None,
    })
}

/// Maps a GCP unit (`gibibyte month`, `byte-seconds`, `hour`, `requests`) to the FOCUS Unit Format
/// (`GiB-Months`, `B-Seconds`, `Hours`, `Requests`). Returns `None` for a unit it does not know;
/// the caller then keeps the source text.
pub fn focus_unit(unit: &str) -> Option<String> {
    let lower = unit.trim().to_ascii_lowercase().replace('-', " ");
    let mut words: Vec<&str> = lower.split_whitespace().collect();
    if words.is_empty() {
        return None;
    }
    // A block size such as "1000 requests" keeps its number: FOCUS writes "1000 Requests".
    let mut prefix = String::new();
    if words[0].bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        prefix = format!("{} ", words[0]);
        words.remove(0);
    }
    let body = match words.as_slice() {
        [w] => data_unit(w)
            .or_else(|| time_unit(w))
            .or_else(|| count_unit(w))?
            .to_string(),
        [a, b] => {
            let first = data_unit(a).or_else(|| count_unit(a))?;
            let per_time = time_unit(b)?;
            format!("{first}-{per_time}")
        }
        [a, "per", b] => {
            let first = data_unit(a).or_else(|| count_unit(a))?;
            let t = time_unit(b)?;
            // "gibibyte per second" is a rate: FOCUS writes rates as `GiB/Second`.
            format!("{first}/{}", t.trim_end_matches('s'))
        }
        _ => return None,
    };
    Some(format!("{prefix}{body}"))
}

/// Display names of GCP regions (RegionName), from Google's published region list.
const REGIONS: &[(&str, &str)] = &[
    ("africa-south1", "Johannesburg"),
    ("asia-east1", "Taiwan"),
    ("asia-east2", "Hong Kong"),
    ("asia-northeast1", "Tokyo"),
    ("asia-northeast2", "Osaka"),
    ("asia-northeast3", "Seoul"),
    ("asia-south1", "Mumbai"),
    ("asia-south2", "Delhi"),
    ("asia-southeast1", "Singapore"),
    ("asia-southeast2", "Jakarta"),
    ("australia-southeast1", "Sydney"),
    ("australia-southeast2", "Melbourne"),
    ("europe-central2", "Warsaw"),
    ("europe-north1", "Finland"),
    ("europe-north2", "Stockholm"),
    ("europe-southwest1", "Madrid"),
    ("europe-west1", "Belgium"),
    ("europe-west2", "London"),
    ("europe-west3", "Frankfurt"),
    ("europe-west4", "Netherlands"),
    ("europe-west6", "Zurich"),
    ("europe-west8", "Milan"),
    ("europe-west9", "Paris"),
    ("europe-west10", "Berlin"),
    ("europe-west12", "Turin"),
    ("me-central1", "Doha"),
    ("me-central2", "Dammam"),
    ("me-west1", "Tel Aviv"),
    ("northamerica-northeast1", "Montréal"),
    ("northamerica-northeast2", "Toronto"),
    ("northamerica-south1", "Querétaro"),
    ("southamerica-east1", "São Paulo"),
    ("southamerica-west1", "Santiago"),
    ("us-central1", "Iowa"),
    ("us-east1", "South Carolina"),
    ("us-east4", "Northern Virginia"),
    ("us-east5", "Columbus"),
    ("us-south1", "Dallas"),
    ("us-west1", "Oregon"),
    ("us-west2", "Los Angeles"),
    ("us-west3", "Salt Lake City"),
    ("us-west4", "Las Vegas"),
    ("us", "United States (multi-region)"),
    ("eu", "European Union (multi-region)"),
    ("asia", "Asia (multi-region)"),
    ("global", "Global"),
];

/// The display name of a region or multi-region id, when known.
pub fn region_name(id: &str) -> Option<&'static str> {
    let id = id.trim().to_ascii_lowercase();
    REGIONS.iter().find(|(r, _)| *r == id).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_the_focus_unit_format() {
        let u = |s: &str| focus_unit(s);
        assert_eq!(u("gibibyte month").as_deref(), Some("GiB-Months"));
        assert_eq!(u("gibibyte hour").as_deref(), Some("GiB-Hours"));
        assert_eq!(u("byte-seconds").as_deref(), Some("B-Seconds"));
        assert_eq!(u("hour").as_deref(), Some("Hours"));
        assert_eq!(u("seconds").as_deref(), Some("Seconds"));
        assert_eq!(u("tebibyte").as_deref(), Some("TiB"));
        assert_eq!(u("bytes").as_deref(), Some("B"));
        assert_eq!(u("count").as_deref(), Some("Count"));
        assert_eq!(u("1000 requests").as_deref(), Some("1000 Requests"));
        assert_eq!(u("gibibyte per second").as_deref(), Some("GiB/Second"));
        assert_eq!(u("frobnicator month"), None);
        assert_eq!(u(""), None);
    }

    #[test]
    fn services_map_to_one_category() {
        assert_eq!(
            service_category("Compute Engine"),
            (C::Compute, "Virtual Machines".into())
        );
        assert_eq!(
            service_category("BigQuery"),
            (C::Databases, "Data Warehouses".into())
        );
        assert_eq!(
            service_category("Cloud Storage"),
            (C::Storage, "Object Storage".into())
        );
        assert_eq!(
            service_category("Cloud Spanner Autoscaler"),
            (C::Other, "Other (Other)".into())
        );
        assert_eq!(
            service_category("Acme Managed Kubernetes"),
            (C::Compute, "Other (Compute)".into())
        );
    }

    #[test]
    fn region_names() {
        assert_eq!(region_name("europe-west1"), Some("Belgium"));
        assert_eq!(region_name("US"), Some("United States (multi-region)"));
        assert_eq!(region_name("mars-north1"), None);
    }
}
