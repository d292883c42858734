//! AWS product code (`lineItem/ProductCode`) -> FOCUS ServiceCategory and ServiceSubcategory.
//!
//! Written by hand for the product codes that carry most spend. The subcategory is always one of the
//! FOCUS 1.2 values of its category. An unknown code maps to `Other` / `Other (Other)`: FOCUS wants
//! every ServiceName in exactly one category, and guessing from the name would be wrong as often as
//! right. Tax rows carry the product code they tax, so they land in that product's category.

use crate::focus::ServiceCategory;
use ServiceCategory as S;

/// (product code, category, subcategory). Codes are matched case-sensitively as CUR prints them.
const TABLE: &[(&str, ServiceCategory, &str)] = &[
    // Compute
    ("AmazonEC2", S::Compute, "Virtual Machines"),
    ("AmazonLightsail", S::Compute, "Virtual Machines"),
    ("AWSLambda", S::Compute, "Serverless Compute"),
    ("AmazonECS", S::Compute, "Containers"),
    ("AmazonEKS", S::Compute, "Containers"),
    ("AmazonECR", S::Compute, "Containers"),
    ("AWSAppRunner", S::Compute, "Containers"),
    ("AWSBatch", S::Compute, "Other (Compute)"),
    ("AWSOutposts", S::Compute, "Other (Compute)"),
    ("ComputeSavingsPlans", S::Compute, "Other (Compute)"),
    ("AmazonWorkSpaces", S::Compute, "End User Computing"),
    ("AmazonAppStream", S::Compute, "End User Computing"),
    ("AmazonBraket", S::Compute, "Quantum Compute"),
    // Storage
    ("AmazonS3", S::Storage, "Object Storage"),
    ("AmazonGlacier", S::Storage, "Backup Storage"),
    ("AmazonS3GlacierDeepArchive", S::Storage, "Backup Storage"),
    ("AmazonEFS", S::Storage, "File Storage"),
    ("AmazonFSx", S::Storage, "File Storage"),
    ("AWSBackup", S::Storage, "Backup Storage"),
    ("AWSStorageGateway", S::Storage, "Storage Platforms"),
    // Databases
    ("AmazonRDS", S::Databases, "Relational Databases"),
    ("AmazonDynamoDB", S::Databases, "NoSQL Databases"),
    ("AmazonDocDB", S::Databases, "NoSQL Databases"),
    ("AmazonNeptune", S::Databases, "NoSQL Databases"),
    ("AmazonMCS", S::Databases, "NoSQL Databases"),
    ("AmazonKeyspaces", S::Databases, "NoSQL Databases"),
    ("AmazonElastiCache", S::Databases, "Caching"),
    ("AmazonMemoryDB", S::Databases, "Caching"),
    ("AmazonRedshift", S::Databases, "Data Warehouses"),
    ("AmazonTimestream", S::Databases, "Time Series Databases"),
    ("AmazonQLDB", S::Databases, "Ledger Databases"),
    // Analytics
    ("AmazonAthena", S::Analytics, "Analytics Platforms"),
    ("ElasticMapReduce", S::Analytics, "Data Processing"),
    ("AWSGlue", S::Analytics, "Data Processing"),
    ("AWSDataPipeline", S::Analytics, "Data Processing"),
    ("AmazonKinesis", S::Analytics, "Streaming Analytics"),
    ("AmazonKinesisFirehose", S::Analytics, "Streaming Analytics"),
    (
        "AmazonKinesisAnalytics",
        S::Analytics,
        "Streaming Analytics",
    ),
    ("AmazonMSK", S::Analytics, "Streaming Analytics"),
    ("AmazonES", S::Analytics, "Search"),
    ("AmazonOpenSearchService", S::Analytics, "Search"),
    ("AmazonCloudSearch", S::Analytics, "Search"),
    ("AmazonKendra", S::Analytics, "Search"),
    ("AmazonQuickSight", S::Analytics, "Business Intelligence"),
    ("AWSDataExchange", S::Analytics, "Other (Analytics)"),
    // Networking
    ("AmazonVPC", S::Networking, "Network Infrastructure"),
    ("AWSTransitGateway", S::Networking, "Network Infrastructure"),
    ("AWSDataTransfer", S::Networking, "Network Connectivity"),
    ("AWSDirectConnect", S::Networking, "Network Connectivity"),
    ("AmazonCloudFront", S::Networking, "Content Delivery"),
    ("AmazonRoute53", S::Networking, "Network Routing"),
    ("AWSGlobalAccelerator", S::Networking, "Network Routing"),
    ("AWSELB", S::Networking, "Application Networking"),
    ("AWSCloudMap", S::Networking, "Application Networking"),
    ("AWSAppMesh", S::Networking, "Application Networking"),
    ("AWSNetworkFirewall", S::Networking, "Network Security"),
    ("awswaf", S::Networking, "Network Security"),
    ("AWSWAF", S::Networking, "Network Security"),
    ("AWSShield", S::Networking, "Network Security"),
    ("AmazonRegistrar", S::Networking, "Other (Networking)"),
    // Security and identity
    (
        "AmazonGuardDuty",
        S::Security,
        "Threat Detection and Response",
    ),
    (
        "AmazonDetective",
        S::Security,
        "Threat Detection and Response",
    ),
    ("AWSSecurityHub", S::Security, "Security Posture Management"),
    (
        "AmazonInspector",
        S::Security,
        "Security Posture Management",
    ),
    (
        "AmazonInspectorV2",
        S::Security,
        "Security Posture Management",
    ),
    ("AmazonMacie", S::Security, "Security Posture Management"),
    ("awskms", S::Security, "Secret Management"),
    ("AWSSecretsManager", S::Security, "Secret Management"),
    ("AWSCloudHSM", S::Security, "Secret Management"),
    ("AWSCertificateManager", S::Security, "Secret Management"),
    (
        "AmazonCognito",
        S::Identity,
        "Identity and Access Management",
    ),
    (
        "AWSDirectoryService",
        S::Identity,
        "Identity and Access Management",
    ),
    // Management and governance
    (
        "AmazonCloudWatch",
        S::ManagementAndGovernance,
        "Observability",
    ),
    ("AWSXRay", S::ManagementAndGovernance, "Observability"),
    (
        "AmazonManagedGrafana",
        S::ManagementAndGovernance,
        "Observability",
    ),
    ("AmazonGrafana", S::ManagementAndGovernance, "Observability"),
    (
        "AmazonPrometheus",
        S::ManagementAndGovernance,
        "Observability",
    ),
    ("AWSCloudTrail", S::ManagementAndGovernance, "Compliance"),
    ("AWSConfig", S::ManagementAndGovernance, "Compliance"),
    ("AWSAuditManager", S::ManagementAndGovernance, "Compliance"),
    (
        "AWSSystemsManager",
        S::ManagementAndGovernance,
        "Endpoint Management",
    ),
    (
        "AWSCloudFormation",
        S::ManagementAndGovernance,
        "Architecture",
    ),
    (
        "AWSServiceCatalog",
        S::ManagementAndGovernance,
        "Other (Management and Governance)",
    ),
    (
        "AWSCostExplorer",
        S::ManagementAndGovernance,
        "Cost Management",
    ),
    ("AWSBudgets", S::ManagementAndGovernance, "Cost Management"),
    (
        "AWSLakeFormation",
        S::ManagementAndGovernance,
        "Data Governance",
    ),
    (
        "AmazonDataZone",
        S::ManagementAndGovernance,
        "Data Governance",
    ),
    (
        "AWSElasticDisasterRecovery",
        S::ManagementAndGovernance,
        "Disaster Recovery",
    ),
    ("AWSSupportBusiness", S::ManagementAndGovernance, "Support"),
    (
        "AWSSupportEnterprise",
        S::ManagementAndGovernance,
        "Support",
    ),
    ("AWSDeveloperSupport", S::ManagementAndGovernance, "Support"),
    ("OCBPremiumSupport", S::ManagementAndGovernance, "Support"),
    // Integration
    ("AmazonSNS", S::Integration, "Messaging"),
    ("AWSQueueService", S::Integration, "Messaging"),
    ("AmazonMQ", S::Integration, "Messaging"),
    ("AWSEvents", S::Integration, "Messaging"),
    ("AmazonSES", S::Integration, "Messaging"),
    ("AmazonStates", S::Integration, "Workflow Orchestration"),
    ("AmazonMWAA", S::Integration, "Workflow Orchestration"),
    ("AmazonApiGateway", S::Integration, "API Management"),
    ("AWSAppSync", S::Integration, "API Management"),
    ("AmazonAppFlow", S::Integration, "Other (Integration)"),
    // Developer tools
    ("AWSCodeCommit", S::DeveloperTools, "Source Code Management"),
    (
        "AWSCodeBuild",
        S::DeveloperTools,
        "Continuous Integration and Deployment",
    ),
    (
        "AWSCodePipeline",
        S::DeveloperTools,
        "Continuous Integration and Deployment",
    ),
    (
        "AWSCodeDeploy",
        S::DeveloperTools,
        "Continuous Integration and Deployment",
    ),
    (
        "AWSCodeArtifact",
        S::DeveloperTools,
        "Other (Developer Tools)",
    ),
    ("AWSCloud9", S::DeveloperTools, "Development Environments"),
    (
        "AWSCloudShell",
        S::DeveloperTools,
        "Development Environments",
    ),
    (
        "AmazonCodeCatalyst",
        S::DeveloperTools,
        "Developer Platforms",
    ),
    ("AmazonCodeGuru", S::DeveloperTools, "Quality Assurance"),
    ("AWSDeviceFarm", S::DeveloperTools, "Quality Assurance"),
    // AI and machine learning
    (
        "AmazonSageMaker",
        S::AiAndMachineLearning,
        "Machine Learning",
    ),
    ("AmazonBedrock", S::AiAndMachineLearning, "Generative AI"),
    ("AmazonQ", S::AiAndMachineLearning, "Generative AI"),
    (
        "AmazonComprehend",
        S::AiAndMachineLearning,
        "Natural Language Processing",
    ),
    (
        "AmazonTranslate",
        S::AiAndMachineLearning,
        "Natural Language Processing",
    ),
    (
        "AmazonPolly",
        S::AiAndMachineLearning,
        "Natural Language Processing",
    ),
    (
        "AmazonTranscribe",
        S::AiAndMachineLearning,
        "Natural Language Processing",
    ),
    ("AmazonLex", S::AiAndMachineLearning, "Bots"),
    (
        "AmazonRekognition",
        S::AiAndMachineLearning,
        "Machine Learning",
    ),
    (
        "AmazonTextract",
        S::AiAndMachineLearning,
        "Machine Learning",
    ),
    (
        "AmazonPersonalize",
        S::AiAndMachineLearning,
        "Machine Learning",
    ),
    (
        "AmazonForecast",
        S::AiAndMachineLearning,
        "Machine Learning",
    ),
    // Internet of things
    ("AWSIoT", S::InternetOfThings, "IoT Platforms"),
    ("AWSGreengrass", S::InternetOfThings, "IoT Platforms"),
    ("AWSIoTEvents", S::InternetOfThings, "IoT Platforms"),
    ("AWSIoTAnalytics", S::InternetOfThings, "IoT Analytics"),
    ("AWSIoTSiteWise", S::InternetOfThings, "IoT Analytics"),
    // Media
    ("AmazonIVS", S::Media, "Media Streaming"),
    ("AWSElementalMediaLive", S::Media, "Media Streaming"),
    ("AWSElementalMediaPackage", S::Media, "Media Streaming"),
    ("AWSElementalMediaStore", S::Media, "Media Streaming"),
    ("AmazonKinesisVideo", S::Media, "Media Streaming"),
    ("AWSElementalMediaConvert", S::Media, "Content Creation"),
    ("AmazonGameLift", S::Media, "Gaming"),
    // Migration
    ("AWSDatabaseMigrationSvc", S::Migration, "Data Migration"),
    ("AWSDataSync", S::Migration, "Data Migration"),
    ("AWSTransfer", S::Migration, "Data Migration"),
    ("AWSSnowball", S::Migration, "Data Migration"),
    (
        "AWSApplicationMigrationSvc",
        S::Migration,
        "Resource Migration",
    ),
    ("AWSMigrationHub", S::Migration, "Resource Migration"),
    // Business applications, web, mobile
    (
        "AmazonConnect",
        S::BusinessApplications,
        "Other (Business Applications)",
    ),
    (
        "AmazonChime",
        S::BusinessApplications,
        "Productivity and Collaboration",
    ),
    (
        "AmazonWorkDocs",
        S::BusinessApplications,
        "Productivity and Collaboration",
    ),
    (
        "AmazonWorkMail",
        S::BusinessApplications,
        "Productivity and Collaboration",
    ),
    ("AWSAmplify", S::Web, "Application Platforms"),
    ("AWSElasticBeanstalk", S::Web, "Application Platforms"),
    ("AmazonPinpoint", S::Mobile, "Other (Mobile)"),
];

/// The category and subcategory of an AWS product code; unknown codes are `Other`.
pub fn service_category(product_code: &str) -> (ServiceCategory, &'static str) {
    match TABLE.iter().find(|(code, _, _)| *code == product_code) {
        Some((_, c, s)) => (*c, s),
        None => (S::Other, "Other (Other)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_subcategories_belong_to_their_category() {
        let mut seen = std::collections::HashSet::new();
        for (code, cat, sub) in TABLE {
            assert!(seen.insert(*code), "duplicate {code}");
            if let Some(inner) = sub
                .strip_prefix("Other (")
                .and_then(|s| s.strip_suffix(')'))
            {
                assert_eq!(inner, cat.as_str(), "{code}");
            }
        }
        assert_eq!(
            service_category("AmazonEC2"),
            (S::Compute, "Virtual Machines")
        );
        assert_eq!(
            service_category("SomethingNew"),
            (S::Other, "Other (Other)")
        );
    }
}
