//! Reads rows of a GCP billing export, newline-delimited JSON or flattened CSV, into one shape
//! ([`RawRow`]) so that a single mapping serves both encodings.
//!
//! Fields are found by their BigQuery path (`service.description`). In JSON the path is followed
//! through nested objects; a flattened key (`"service.description"`) or an underscore alias
//! (`service_description`, what `SELECT service.description AS service_description` writes) is
//! accepted too. Repeated records (`labels`, `credits`, ...) are JSON arrays; in CSV they are JSON
//! arrays serialised into one cell.

use std::io::BufRead;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::error::{NormalizeError, NormalizeErrorKind};
use crate::money::parse_decimal;
use crate::normalize::csv_input::CsvInput;

macro_rules! fields {
    ($($(#[$m:meta])* $v:ident => $p:literal),+ $(,)?) => {
        /// A scalar field of the export, by its BigQuery path.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(super) enum F { $($(#[$m])* $v),+ }

        impl F {
            /// Every scalar field, in declaration order (the index of a field is `f as usize`).
            pub(super) const ALL: &'static [F] = &[$(F::$v),+];

            /// The BigQuery path.
            pub(super) fn path(self) -> &'static str {
                match self { $(F::$v => $p),+ }
            }
        }
    };
}

fields! {
    BillingAccountId => "billing_account_id",
    ServiceId => "service.id",
    ServiceDescription => "service.description",
    SkuId => "sku.id",
    SkuDescription => "sku.description",
    UsageStartTime => "usage_start_time",
    UsageEndTime => "usage_end_time",
    ProjectId => "project.id",
    ProjectNumber => "project.number",
    ProjectName => "project.name",
    ProjectAncestryNumbers => "project.ancestry_numbers",
    LocationLocation => "location.location",
    LocationCountry => "location.country",
    LocationRegion => "location.region",
    LocationZone => "location.zone",
    ResourceName => "resource.name",
    ResourceGlobalName => "resource.global_name",
    PriceEffectivePrice => "price.effective_price",
    PriceTierStartAmount => "price.tier_start_amount",
    PriceUnit => "price.unit",
    PricePricingUnitQuantity => "price.pricing_unit_quantity",
    TransactionType => "transaction_type",
    SellerName => "seller_name",
    ExportTime => "export_time",
    Cost => "cost",
    CostAtList => "cost_at_list",
    CostAtEffectivePriceDefault => "cost_at_effective_price_default",
    Currency => "currency",
    CurrencyConversionRate => "currency_conversion_rate",
    UsageAmount => "usage.amount",
    UsageUnit => "usage.unit",
    UsageAmountInPricingUnits => "usage.amount_in_pricing_units",
    UsagePricingUnit => "usage.pricing_unit",
    InvoiceMonth => "invoice.month",
    InvoicePublisherType => "invoice.publisher_type",
    CostType => "cost_type",
    AdjustmentId => "adjustment_info.id",
    AdjustmentDescription => "adjustment_info.description",
    AdjustmentMode => "adjustment_info.mode",
    AdjustmentType => "adjustment_info.type",
    SubscriptionInstanceId => "subscription.instance_id",
    ConsumptionModelId => "consumption_model.id",
    ConsumptionModelDescription => "consumption_model.description",
}

/// The repeated records of the export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum R {
    Labels,
    ProjectLabels,
    SystemLabels,
    Tags,
    Credits,
}

impl R {
    const ALL: [R; 5] = [
        R::Labels,
        R::ProjectLabels,
        R::SystemLabels,
        R::Tags,
        R::Credits,
    ];

    fn path(self) -> &'static str {
        match self {
            R::Labels => "labels",
            R::ProjectLabels => "project.labels",
            R::SystemLabels => "system_labels",
            R::Tags => "tags",
            R::Credits => "credits",
        }
    }
}

/// Columns without which a CSV export cannot be read (checked against the header).
const REQUIRED: &[F] = &[
    F::BillingAccountId,
    F::Cost,
    F::Currency,
    F::UsageStartTime,
    F::UsageEndTime,
    F::InvoiceMonth,
];

/// One entry of `tags[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RawTag {
    pub key: String,
    pub value: String,
    pub namespace: Option<String>,
    pub inherited: Option<bool>,
}

/// One entry of `credits[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RawCredit {
    pub name: Option<String>,
    pub amount: Decimal,
    pub full_name: Option<String>,
    pub id: Option<String>,
    pub kind: Option<String>,
}

/// One source row, encoding-independent.
#[derive(Clone, Debug, Default)]
pub(super) struct RawRow {
    /// 1-based line where the row starts.
    pub line: u64,
    vals: Vec<Option<String>>,
    pub labels: Vec<(String, String)>,
    pub project_labels: Vec<(String, String)>,
    pub system_labels: Vec<(String, String)>,
    pub tags: Vec<RawTag>,
    pub credits: Vec<RawCredit>,
}

impl RawRow {
    /// The trimmed text of a scalar field; `None` when absent, null or empty.
    pub fn get(&self, f: F) -> Option<&str> {
        self.vals.get(f as usize).and_then(|v| v.as_deref())
    }
}

/// A problem inside a field: `path` names the element (`credits[1].amount`).
struct FieldErr {
    path: String,
    msg: String,
}

enum Kind {
    Json {
        reader: Box<dyn BufRead + Send>,
        line: u64,
        buf: String,
    },
    Csv {
        csv: Box<CsvInput>,
        cols: Vec<Option<usize>>,
        repeated: Vec<Option<usize>>,
    },
}

/// Reads [`RawRow`]s from one file.
pub(super) struct RawReader {
    file: String,
    kind: Kind,
    names: Vec<String>,
    /// True once a data row has been read (an NDJSON file with none is an error: `Empty`).
    seen_row: bool,
}

fn alias(path: &str) -> String {
    path.replace('.', "_")
}

impl RawReader {
    /// Newline-delimited JSON: one object per line, blank lines skipped.
    pub fn json(file: String, reader: Box<dyn BufRead + Send>) -> Self {
        RawReader {
            file,
            kind: Kind::Json {
                reader,
                line: 0,
                buf: String::new(),
            },
            names: F::ALL.iter().map(|f| f.path().to_string()).collect(),
            seen_row: false,
        }
    }

    /// Flattened CSV: columns found by dotted path or underscore alias.
    pub fn csv(csv: CsvInput) -> Result<Self, NormalizeError> {
        let file = csv.file().to_string();
        if csv.headers().iter().all(|h| h.is_empty()) {
            return Err(NormalizeError::file(file, NormalizeErrorKind::Empty));
        }
        let find = |p: &str| csv.col(p).or_else(|| csv.col(&alias(p)));
        let cols: Vec<Option<usize>> = F::ALL.iter().map(|f| find(f.path())).collect();
        let repeated: Vec<Option<usize>> = R::ALL.iter().map(|r| find(r.path())).collect();
        for f in REQUIRED {
            if cols[*f as usize].is_none() {
                return Err(NormalizeError::missing_column(&file, f.path()));
            }
        }
        let names = F::ALL
            .iter()
            .zip(&cols)
            .map(|(f, c)| match c {
                Some(i) => csv.headers()[*i].clone(),
                None => f.path().to_string(),
            })
            .collect();
        Ok(RawReader {
            file,
            kind: Kind::Csv {
                csv: Box::new(csv),
                cols,
                repeated,
            },
            names,
            seen_row: true,
        })
    }

    /// The file name for messages.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The name of a field as the file spells it (for error messages).
    pub fn name(&self, f: F) -> &str {
        &self.names[f as usize]
    }

    /// The next row, `None` at the end.
    pub fn next_row(&mut self) -> Option<Result<RawRow, NormalizeError>> {
        let file = &self.file;
        match &mut self.kind {
            Kind::Json { reader, line, buf } => loop {
                buf.clear();
                match reader.read_line(buf) {
                    Ok(0) => {
                        if !self.seen_row {
                            self.seen_row = true;
                            return Some(Err(NormalizeError::file(
                                file,
                                NormalizeErrorKind::Empty,
                            )));
                        }
                        return None;
                    }
                    Ok(_) => {
                        *line += 1;
                        if buf.trim().is_empty() {
                            continue;
                        }
                        self.seen_row = true;
                        return Some(json_row(file, *line, buf));
                    }
                    Err(e) => {
                        *line += 1;
                        return Some(Err(NormalizeError::line(
                            file,
                            *line,
                            NormalizeErrorKind::Io(e.to_string()),
                        )));
                    }
                }
            },
            Kind::Csv {
                csv,
                cols,
                repeated,
            } => {
                let row = match csv.next_row()? {
                    Ok(r) => r,
                    Err(e) => return Some(Err(e)),
                };
                let line = row.line();
                let vals = cols
                    .iter()
                    .map(|c| row.text(*c).map(|t| t.to_string()))
                    .collect();
                let mut raw = RawRow {
                    line,
                    vals,
                    ..RawRow::default()
                };
                for (r, idx) in R::ALL.iter().zip(repeated.iter()) {
                    let Some(i) = idx else { continue };
                    let cell = row.get(Some(*i));
                    if cell.is_empty() {
                        continue;
                    }
                    let header = row.column_name(*i).to_string();
                    let value: Value = match serde_json::from_str(cell) {
                        Ok(v) => v,
                        Err(e) => {
                            return Some(Err(NormalizeError::cell(
                                file,
                                line,
                                header,
                                NormalizeErrorKind::InvalidValue(format!("is not valid JSON: {e}")),
                            )))
                        }
                    };
                    if let Err(e) = fill_repeated(&mut raw, *r, &value) {
                        return Some(Err(NormalizeError::cell(
                            file,
                            line,
                            header,
                            NormalizeErrorKind::InvalidValue(format!("{}: {}", e.path, e.msg)),
                        )));
                    }
                }
                Some(Ok(raw))
            }
        }
    }
}

fn json_row(file: &str, line: u64, text: &str) -> Result<RawRow, NormalizeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        NormalizeError::line(
            file,
            line,
            NormalizeErrorKind::Malformed(format!("invalid JSON at character {}: {e}", e.column())),
        )
    })?;
    let Value::Object(obj) = value else {
        return Err(NormalizeError::line(
            file,
            line,
            NormalizeErrorKind::Malformed(
                "the line is not a JSON object (one export row per line expected)".into(),
            ),
        ));
    };
    let cell_err = |e: FieldErr| {
        NormalizeError::cell(file, line, e.path, NormalizeErrorKind::InvalidValue(e.msg))
    };
    let mut vals = Vec::with_capacity(F::ALL.len());
    for f in F::ALL {
        let v = match lookup(&obj, f.path()) {
            None => None,
            Some(v) => scalar(v).map_err(|msg| {
                cell_err(FieldErr {
                    path: f.path().into(),
                    msg,
                })
            })?,
        };
        vals.push(v);
    }
    let mut raw = RawRow {
        line,
        vals,
        ..RawRow::default()
    };
    for r in R::ALL {
        if let Some(v) = lookup(&obj, r.path()) {
            // Some tools write a repeated record as a JSON string holding the array.
            let parsed;
            let v = match v {
                Value::String(s) if !s.trim().is_empty() => {
                    parsed = serde_json::from_str::<Value>(s).map_err(|e| {
                        cell_err(FieldErr {
                            path: r.path().into(),
                            msg: format!("is not valid JSON: {e}"),
                        })
                    })?;
                    &parsed
                }
                other => other,
            };
            fill_repeated(&mut raw, r, v).map_err(cell_err)?;
        }
    }
    Ok(raw)
}

/// Follows a dotted path through nested objects, then tries the flattened and underscore keys.
fn lookup<'a>(obj: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        match cur.get(p) {
            Some(v) if parts.peek().is_none() => return Some(v),
            Some(Value::Object(inner)) => cur = inner,
            _ => break,
        }
    }
    obj.get(path).or_else(|| obj.get(&alias(path)))
}

/// A scalar as text: numbers keep the text serde_json gives them (the shortest round-trip form,
/// which is what BigQuery writes for FLOAT64), nulls and empty strings are `None`.
fn scalar(v: &Value) -> Result<Option<String>, String> {
    Ok(match v {
        Value::Null => None,
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                None
            } else {
                Some(t.to_string())
            }
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(_) => return Err("holds a JSON array where a single value is expected".into()),
        Value::Object(_) => {
            return Err("holds a JSON object where a single value is expected".into())
        }
    })
}

fn text_field(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, FieldErr> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => scalar(v).map_err(|msg| FieldErr {
            path: format!("{path}.{key}"),
            msg,
        }),
    }
}

fn elements<'a>(v: &'a Value, path: &str) -> Result<&'a [Value], FieldErr> {
    match v {
        Value::Null => Ok(&[]),
        Value::Array(a) => Ok(a),
        _ => Err(FieldErr {
            path: path.into(),
            msg: "must be a JSON array of records".into(),
        }),
    }
}

fn element<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, FieldErr> {
    match v {
        Value::Object(o) => Ok(o),
        _ => Err(FieldErr {
            path: path.into(),
            msg: "must be a JSON object".into(),
        }),
    }
}

fn key_values(v: &Value, path: &str) -> Result<Vec<(String, String)>, FieldErr> {
    // A label map written as an object ({"env": "prod"}) is accepted as well as BigQuery's array.
    if let Value::Object(m) = v {
        let mut out = Vec::with_capacity(m.len());
        for (k, val) in m {
            let val = scalar(val).map_err(|msg| FieldErr {
                path: format!("{path}.{k}"),
                msg,
            })?;
            out.push((k.clone(), val.unwrap_or_default()));
        }
        return Ok(out);
    }
    let items = elements(v, path)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let o = element(item, &p)?;
        let key = text_field(o, "key", &p)?.ok_or_else(|| FieldErr {
            path: format!("{p}.key"),
            msg: "is missing or empty".into(),
        })?;
        let value = text_field(o, "value", &p)?.unwrap_or_default();
        out.push((key, value));
    }
    Ok(out)
}

fn tags(v: &Value, path: &str) -> Result<Vec<RawTag>, FieldErr> {
    let items = elements(v, path)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let o = element(item, &p)?;
        let key = text_field(o, "key", &p)?.ok_or_else(|| FieldErr {
            path: format!("{p}.key"),
            msg: "is missing or empty".into(),
        })?;
        let inherited = match text_field(o, "inherited", &p)?.as_deref() {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(s) if s.eq_ignore_ascii_case("false") => Some(false),
            Some(s) => {
                return Err(FieldErr {
                    path: format!("{p}.inherited"),
                    msg: format!("`{s}` is not true or false"),
                })
            }
        };
        out.push(RawTag {
            key,
            value: text_field(o, "value", &p)?.unwrap_or_default(),
            namespace: text_field(o, "namespace", &p)?,
            inherited,
        });
    }
    Ok(out)
}

fn credits(v: &Value, path: &str) -> Result<Vec<RawCredit>, FieldErr> {
    let items = elements(v, path)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let o = element(item, &p)?;
        let amount_text = text_field(o, "amount", &p)?.ok_or_else(|| FieldErr {
            path: format!("{p}.amount"),
            msg: "is missing but every credit has an amount".into(),
        })?;
        let amount = parse_decimal(&amount_text).ok_or_else(|| FieldErr {
            path: format!("{p}.amount"),
            msg: format!("`{amount_text}` is not a number"),
        })?;
        out.push(RawCredit {
            name: text_field(o, "name", &p)?,
            amount,
            full_name: text_field(o, "full_name", &p)?,
            id: text_field(o, "id", &p)?,
            kind: text_field(o, "type", &p)?,
        });
    }
    Ok(out)
}

fn fill_repeated(raw: &mut RawRow, r: R, v: &Value) -> Result<(), FieldErr> {
    let path = r.path();
    match r {
        R::Labels => raw.labels = key_values(v, path)?,
        R::ProjectLabels => raw.project_labels = key_values(v, path)?,
        R::SystemLabels => raw.system_labels = key_values(v, path)?,
        R::Tags => raw.tags = tags(v, path)?,
        R::Credits => raw.credits = credits(v, path)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str) -> Result<RawRow, NormalizeError> {
        json_row("t.ndjson", 7, text)
    }

    #[test]
    fn nested_flat_and_underscore_paths_all_resolve() {
        let r = row(r#"{"service":{"description":"BigQuery"},"sku.description":"Analysis","project_id":"p1","cost":1.5}"#)
            .expect("valid row");
        assert_eq!(r.get(F::ServiceDescription), Some("BigQuery"));
        assert_eq!(r.get(F::SkuDescription), Some("Analysis"));
        assert_eq!(r.get(F::ProjectId), Some("p1"));
        assert_eq!(r.get(F::Cost), Some("1.5"));
        assert_eq!(r.get(F::Currency), None);
    }

    #[test]
    fn credit_errors_name_the_element() {
        let e = row(r#"{"cost":1,"credits":[{"amount":-1},{"amount":"ten","type":"PROMOTION"}]}"#)
            .expect_err("bad amount");
        assert_eq!(e.line, Some(7));
        assert_eq!(e.column.as_deref(), Some("credits[1].amount"));
        let e = row(r#"{"cost":{"units":1}}"#).expect_err("object as cost");
        assert_eq!(e.column.as_deref(), Some("cost"));
    }

    #[test]
    fn labels_accept_arrays_maps_and_stringified_arrays() {
        let r = row(r#"{"labels":[{"key":"a","value":"1"},{"key":"b","value":null}],"project":{"labels":{"c":"3"}},"system_labels":"[{\"key\":\"goog-x\",\"value\":\"y\"}]"}"#)
            .expect("valid");
        assert_eq!(
            r.labels,
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), String::new())
            ]
        );
        assert_eq!(r.project_labels, vec![("c".to_string(), "3".to_string())]);
        assert_eq!(
            r.system_labels,
            vec![("goog-x".to_string(), "y".to_string())]
        );
    }
}
