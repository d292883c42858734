//! Test support (feature `testkit`): the shared replay server (re-exported from `costkit-rest`)
//! and Azure's documented response shapes.

pub use costkit_rest::testkit::{Replay, Seen};

/// A Cost Management Query response page in the documented shape (`id`, `name`, `type`,
/// `properties.nextLink`, `properties.columns`, `properties.rows`), grouped by `ServiceName` and
/// `SubscriptionId`, daily. `rows` is JSON text (an array of rows), so amounts keep every digit
/// as Azure sends them (a `json!` number would pass through a double).
pub fn query_page(rows: &str, next: Option<String>) -> String {
    serde_json::json!({
        "id": "subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.CostManagement/query/6dc7b06a",
        "name": "6dc7b06a",
        "type": "microsoft.costmanagement/Query",
        "location": null,
        "sku": null,
        "eTag": null,
        "properties": {
            "nextLink": next,
            "columns": [
                {"name": "Cost", "type": "Number"},
                {"name": "UsageDate", "type": "Number"},
                {"name": "ServiceName", "type": "String"},
                {"name": "SubscriptionId", "type": "String"},
                {"name": "Currency", "type": "String"}
            ],
            "rows": "ROWS"
        }
    })
    .to_string()
    .replace("\"ROWS\"", rows)
}
