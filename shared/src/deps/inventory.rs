//! Inventory files: the relations between resources that billing data does not show.
//!
//! Four documented shapes are read, detected from their content:
//!
//! * **AWS Config** configuration items: a configuration snapshot (`{"configurationItems": [...]}`),
//!   `GetResourceConfigHistory` / `BatchGetResourceConfig` output (`configurationItems` or
//!   `baseConfigurationItems`), or a plain array of items. Each item has `resourceId`, `arn` (or
//!   `ARN`), `resourceType`, `resourceName`, `tags` and `relationships[]` with `resourceId`,
//!   `resourceType`, `resourceName` and `relationshipName` (`name` in snapshots).
//! * **Azure Resource Graph** query results: `{"data": [...]}` (REST and `az graph query`), or
//!   a plain array of rows. Each row has `id` (an ARM id) and `properties`; every string in
//!   `properties` that is another ARM id is a reference.
//! * **Google Cloud Asset Inventory** exports: newline-delimited JSON (`gcloud asset export`) or
//!   an array (`gcloud asset list --format=json`) of assets with `name`, `assetType`
//!   (`asset_type`), `resource.parent` and `ancestors`.
//! * A **CSV edge list** with the header `from,to,relation` (relation optional).

use std::path::Path;

use serde_json::Value;
use thiserror::Error;

/// An inventory file that cannot be read or does not have a known shape.
#[derive(Debug, Error)]
pub enum InventoryError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The content is wrong; `line` is 1-based (0 when the whole document is concerned).
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong, naming the field.
        message: String,
    },
}

/// Where a relation came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeSource {
    /// The structure of a resource id in the billing data (an ARN's or ARM id's parent).
    BillingId,
    /// A tag naming the application.
    Tag,
    /// AWS Config relationships.
    AwsConfig,
    /// Azure Resource Graph properties.
    AzureResourceGraph,
    /// Google Cloud Asset Inventory parents and ancestors.
    GcpAssetInventory,
    /// A CSV edge list.
    Csv,
}

impl EdgeSource {
    /// Kebab-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeSource::BillingId => "billing-id",
            EdgeSource::Tag => "tag",
            EdgeSource::AwsConfig => "aws-config",
            EdgeSource::AzureResourceGraph => "azure-resource-graph",
            EdgeSource::GcpAssetInventory => "gcp-asset-inventory",
            EdgeSource::Csv => "csv",
        }
    }
}

/// A resource an inventory describes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Item {
    /// Every id the resource is known by (resource id, ARN, full name); the first is shown.
    pub ids: Vec<String>,
    /// Its type (`AWS::EC2::Volume`, `microsoft.compute/disks`, `compute.googleapis.com/Disk`).
    pub resource_type: Option<String>,
    /// Its name, when the inventory gives one.
    pub name: Option<String>,
}

/// A directed relation: `to` belongs to, or is used by, `from` (deleting `from` may remove `to`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    /// The owning or using side.
    pub from: String,
    /// The owned or used side.
    pub to: String,
    /// The relation as the source names it (`Is attached to Instance`, `parent`, ...).
    pub relation: String,
    /// Where it came from.
    pub source: EdgeSource,
}

/// What one inventory file says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// The resources it lists.
    pub items: Vec<Item>,
    /// The relations between resources (ids as written in the file).
    pub relations: Vec<Relation>,
}

impl Inventory {
    /// Reads an inventory file of any of the supported shapes.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Io {
            file: file.clone(),
            source,
        })?;
        Inventory::parse(&text, &file)
    }

    /// Parses inventory text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Inventory, InventoryError> {
        let text = text.trim_start_matches('\u{feff}');
        let first = text.trim_start().chars().next();
        match first {
            Some('{') | Some('[') => {}
            None => {
                return Err(invalid(file, 0, "the file is empty".into()));
            }
            _ => return parse_csv(text, file),
        }
        // One JSON document, or newline-delimited JSON (Cloud Asset Inventory exports).
        let values: Vec<(usize, Value)> = match serde_json::from_str::<Value>(text) {
            Ok(v) => vec![(0, v)],
            Err(whole) => {
                let mut out = Vec::new();
                for (i, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let v = serde_json::from_str::<Value>(line).map_err(|e| {
                        // A single document that is broken gives the document's own error.
                        if i == 0 && whole.line() > 1 {
                            invalid(file, whole.line(), format!("not valid JSON: {whole}"))
                        } else {
                            invalid(file, i + 1, format!("not valid JSON: {e}"))
                        }
                    })?;
                    out.push((i + 1, v));
                }
                out
            }
        };
        let mut inv = Inventory::default();
        for (line, v) in values {
            inv.add_document(&v, file, line)?;
        }
        Ok(inv)
    }

    fn add_document(&mut self, v: &Value, file: &str, line: usize) -> Result<(), InventoryError> {
        let rows: Vec<&Value> =
            match v {
                Value::Array(a) => a.iter().collect(),
                Value::Object(o) => {
                    if let Some(items) = o
                        .get("configurationItems")
                        .or_else(|| o.get("baseConfigurationItems"))
                    {
                        let Value::Array(a) = items else {
                            return Err(invalid(
                                file,
                                line,
                                "configurationItems: expected an array".into(),
                            ));
                        };
                        a.iter().collect()
                    } else if let Some(data) = o.get("data") {
                        match data {
                            Value::Array(a) => a.iter().collect(),
                            // The table result format ({"columns": [...], "rows": [[...]]}).
                            Value::Object(_) => return Err(invalid(
                                file,
                                line,
                                "data: the Resource Graph table result format is not read; save \
                                 the result as objectArray (the default of `az graph query` and \
                                 the REST API)"
                                    .into(),
                            )),
                            _ => return Err(invalid(file, line, "data: expected an array".into())),
                        }
                    } else {
                        vec![v]
                    }
                }
                _ => {
                    return Err(invalid(
                        file,
                        line,
                        "expected a JSON object or array".into(),
                    ))
                }
            };
        let mut owned = Vec::new();
        for (i, row) in rows.into_iter().enumerate() {
            let Value::Object(o) = row else {
                return Err(invalid(file, line, format!("[{i}]: expected an object")));
            };
            let at = |m: String| invalid(file, line, format!("[{i}].{m}"));
            if o.contains_key("configurationItemCaptureTime")
                || o.contains_key("relationships")
                || o.contains_key("configurationItemStatus")
            {
                self.aws_config(o).map_err(at)?;
            } else if o.contains_key("ancestors")
                || o.contains_key("assetType")
                || o.contains_key("asset_type")
            {
                self.gcp_asset(o).map_err(at)?;
            } else if o
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|s| s.to_ascii_lowercase().starts_with("/subscriptions/"))
            {
                owned.push(o);
            } else {
                return Err(at(
                    "unknown inventory row: expected an AWS Config configuration item \
                     (resourceId, relationships), an Azure Resource Graph row (id = an ARM id) \
                     or a Cloud Asset Inventory asset (name, assetType, ancestors)"
                        .into(),
                ));
            }
        }
        self.azure_rows(&owned);
        Ok(())
    }

    fn aws_config(&mut self, o: &serde_json::Map<String, Value>) -> Result<(), String> {
        let id = str_field(o, "resourceId").ok_or("resourceId: missing or not a string")?;
        let mut ids = vec![id.to_string()];
        if let Some(arn) = str_field(o, "arn").or_else(|| str_field(o, "ARN")) {
            if arn != id {
                ids.push(arn.to_string());
            }
        }
        self.items.push(Item {
            ids,
            resource_type: str_field(o, "resourceType").map(str::to_string),
            name: str_field(o, "resourceName").map(str::to_string),
        });
        let Some(rels) = o.get("relationships") else {
            return Ok(());
        };
        let Value::Array(rels) = rels else {
            return Err("relationships: expected an array".into());
        };
        for (j, r) in rels.iter().enumerate() {
            let Value::Object(r) = r else {
                return Err(format!("relationships[{j}]: expected an object"));
            };
            let other = str_field(r, "resourceId")
                .ok_or_else(|| format!("relationships[{j}].resourceId: missing"))?;
            let name = str_field(r, "relationshipName")
                .or_else(|| str_field(r, "name"))
                .unwrap_or("related to");
            let other_type = str_field(r, "resourceType");
            let self_type = str_field(o, "resourceType");
            // Network placement is not ownership: a VPC would otherwise own every instance in
            // it and every application would look shared.
            if other_type.is_some_and(is_network_container)
                || self_type.is_some_and(is_network_container)
            {
                continue;
            }
            if let Some(t) = other_type {
                // The other side may be known by its id only; keep its type for the label.
                self.items.push(Item {
                    ids: vec![other.to_string()],
                    resource_type: Some(t.to_string()),
                    name: str_field(r, "resourceName").map(str::to_string),
                });
            }
            // "Is contained in X": X owns this one; "Contains X": this one owns X. "Is attached
            // to" and "Is associated with" are written from both sides (a volume "Is attached to
            // Instance", the instance "Is attached to Volume"): the more central kind owns.
            let lower = name.to_ascii_lowercase();
            let other_owns = if lower.contains("contained in") {
                true
            } else if lower.starts_with("contains") {
                false
            } else {
                rank(other_type) > rank(self_type)
            };
            let (from, to) = if other_owns { (other, id) } else { (id, other) };
            self.relations.push(Relation {
                from: from.to_string(),
                to: to.to_string(),
                relation: name.to_string(),
                source: EdgeSource::AwsConfig,
            });
        }
        Ok(())
    }

    fn gcp_asset(&mut self, o: &serde_json::Map<String, Value>) -> Result<(), String> {
        let name = crm(str_field(o, "name").ok_or("name: missing or not a string")?);
        let asset_type = str_field(o, "assetType").or_else(|| str_field(o, "asset_type"));
        let mut ids = vec![name.to_string()];
        let resource = o.get("resource").and_then(Value::as_object);
        // The billing export's resource.global_name uses the numeric id where the asset name
        // uses the resource's name (compute instances): alias the numeric form too.
        if let Some(num) = resource
            .and_then(|r| r.get("data"))
            .and_then(|d| d.get("id"))
            .and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or(v.as_u64().map(|n| n.to_string()))
            })
        {
            if let Some((head, last)) = name.rsplit_once('/') {
                if last != num {
                    ids.push(format!("{head}/{num}"));
                }
            }
        }
        self.items.push(Item {
            ids,
            resource_type: asset_type.map(str::to_string),
            name: name.rsplit('/').next().map(str::to_string),
        });
        let parent = resource.and_then(|r| str_field(r, "parent")).map(crm);
        if let Some(p) = parent {
            self.relations.push(Relation {
                from: p.to_string(),
                to: name.to_string(),
                relation: "parent".into(),
                source: EdgeSource::GcpAssetInventory,
            });
        }
        if let Some(anc) = o.get("ancestors") {
            let Value::Array(anc) = anc else {
                return Err("ancestors: expected an array".into());
            };
            let anc: Vec<&str> = anc.iter().filter_map(Value::as_str).collect();
            // ancestors = [the asset's project (or itself), folder..., organization].
            for w in anc.windows(2) {
                self.relations.push(Relation {
                    from: w[1].to_string(),
                    to: w[0].to_string(),
                    relation: "ancestor".into(),
                    source: EdgeSource::GcpAssetInventory,
                });
            }
            // Without resource.parent, the nearest ancestor other than the asset itself.
            if parent.is_none() {
                if let Some(first) = anc.iter().find(|a| !name.ends_with(*a)) {
                    self.relations.push(Relation {
                        from: first.to_string(),
                        to: name.to_string(),
                        relation: "ancestor".into(),
                        source: EdgeSource::GcpAssetInventory,
                    });
                }
            }
        }
        Ok(())
    }

    /// Azure Resource Graph rows: references are found after all rows are known, so that only
    /// strings naming an ARM id count (not free text that happens to start with a slash).
    fn azure_rows(&mut self, rows: &[&serde_json::Map<String, Value>]) {
        for o in rows {
            let Some(id) = str_field(o, "id") else {
                continue;
            };
            self.items.push(Item {
                ids: vec![id.to_string()],
                resource_type: str_field(o, "type").map(str::to_string),
                name: str_field(o, "name").map(str::to_string),
            });
            let mut refs = Vec::new();
            if let Some(p) = o.get("properties") {
                collect_arm_ids(p, "properties", &mut refs);
            }
            if let Some(m) = str_field(o, "managedBy") {
                refs.push(("managedBy".to_string(), m.to_string()));
            }
            for (path, other) in refs {
                if other.eq_ignore_ascii_case(id) {
                    continue;
                }
                // managedBy and a NIC's virtualMachine name the owner; every other reference
                // is something this resource uses (disks, NICs, subnets, public IPs).
                if is_network_container(&other) {
                    continue;
                }
                let owner = path == "managedBy" || path.ends_with(".virtualMachine.id");
                let (from, to) = if owner {
                    (other.clone(), id.to_string())
                } else {
                    (id.to_string(), other.clone())
                };
                self.relations.push(Relation {
                    from,
                    to,
                    relation: path,
                    source: EdgeSource::AzureResourceGraph,
                });
            }
        }
    }
}

/// Every string under `v` that is an ARM resource id, with the JSON path it was found at.
fn collect_arm_ids(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => {
            let l = s.to_ascii_lowercase();
            if l.starts_with("/subscriptions/") && l.contains("/providers/") {
                out.push((path.to_string(), s.clone()));
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_arm_ids(x, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                collect_arm_ids(x, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// Projects, folders and organizations are `projects/123` in `ancestors` and
/// `//cloudresourcemanager.googleapis.com/projects/123` in names and parents: one form for both.
fn crm(s: &str) -> &str {
    s.strip_prefix("//cloudresourcemanager.googleapis.com/")
        .unwrap_or(s)
}

/// VPCs, subnets, security groups, route tables and network ACLs (AWS Config types or ARM ids).
fn is_network_container(t: &str) -> bool {
    let l = t.to_ascii_lowercase();
    [
        "aws::ec2::vpc",
        "aws::ec2::subnet",
        "aws::ec2::securitygroup",
        "aws::ec2::routetable",
        "aws::ec2::networkacl",
        "aws::ec2::internetgateway",
    ]
    .contains(&l.as_str())
        || (l.starts_with("/subscriptions/")
            && [
                "/virtualnetworks/",
                "/networksecuritygroups/",
                "/routetables/",
            ]
            .iter()
            .any(|p| l.contains(p)))
}

/// How central a resource kind is when a relation is written from both sides: instances and
/// other compute own network interfaces, which own addresses and volumes.
fn rank(t: Option<&str>) -> u8 {
    let Some(t) = t else { return 0 };
    let l = t.to_ascii_lowercase();
    if l.contains("networkinterface") {
        2
    } else if l.contains("instance")
        || l.contains("function")
        || l.contains("loadbalancer")
        || l.contains("cluster")
        || l.contains("virtualmachine")
    {
        3
    } else {
        1
    }
}

fn str_field<'a>(o: &'a serde_json::Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn invalid(file: &str, line: usize, message: String) -> InventoryError {
    InventoryError::Invalid {
        file: file.to_string(),
        line,
        message,
    }
}

fn parse_csv(text: &str, file: &str) -> Result<Inventory, InventoryError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| invalid(file, 1, format!("not a CSV edge list: {e}")))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(from), Some(to)) = (col("from"), col("to")) else {
        return Err(invalid(
            file,
            1,
            format!(
                "a CSV edge list needs the header from,to[,relation] (found {})",
                headers.iter().collect::<Vec<_>>().join(",")
            ),
        ));
    };
    let relation = col("relation");
    let mut inv = Inventory::default();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
            invalid(file, line, e.to_string())
        })?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        let get = |i: usize, name: &str| -> Result<String, InventoryError> {
            rec.get(i)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| invalid(file, line, format!("column `{name}`: empty")))
        };
        let (f, t) = (get(from, "from")?, get(to, "to")?);
        if f == t {
            return Err(invalid(
                file,
                line,
                format!("column `to`: `{t}` is the same as `from`"),
            ));
        }
        inv.relations.push(Relation {
            from: f,
            to: t,
            relation: relation
                .and_then(|i| rec.get(i))
                .filter(|s| !s.is_empty())
                .unwrap_or("depends on")
                .to_string(),
            source: EdgeSource::Csv,
        });
    }
    Ok(inv)
}
