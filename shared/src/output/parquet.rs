//! FOCUS Parquet writer: string columns as UTF-8, costs and quantities as `Decimal128(38, 18)`,
//! date/times as UTC microsecond timestamps, Tags and SkuPriceDetails as JSON text.
//!
//! Records are buffered into batches of [`BATCH_ROWS`] and written as row groups, so memory stays
//! flat however large the input is.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{Decimal128Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rust_decimal::Decimal;

use super::{write_err, FocusSink, OutputColumns, OutputError};
use crate::focus::{FocusColumn, FocusRecord};
use crate::time::Timestamp;

/// Rows per Arrow batch handed to the Parquet writer. Small enough that a batch's column buffers
/// (a few hundred KiB each) are reused from the allocator's free lists instead of being mapped,
/// zeroed by the kernel and unmapped again for every batch, which cost a sixth of a run's time
/// at 16k rows.
pub const BATCH_ROWS: usize = 4 * 1024;
/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 32 * 1024;
const SCALE: u32 = 18;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Decimal,
    Time,
}

/// True for the FOCUS metrics (decimal columns).
pub(super) fn is_decimal(c: FocusColumn) -> bool {
    kind(c) == Kind::Decimal
}

fn kind(c: FocusColumn) -> Kind {
    use FocusColumn as F;
    match c {
        F::BilledCost
        | F::CommitmentDiscountQuantity
        | F::ConsumedQuantity
        | F::ContractedCost
        | F::ContractedUnitPrice
        | F::EffectiveCost
        | F::ListCost
        | F::ListUnitPrice
        | F::PricingCurrencyContractedUnitPrice
        | F::PricingCurrencyEffectiveCost
        | F::PricingCurrencyListUnitPrice
        | F::PricingQuantity => Kind::Decimal,
        F::BillingPeriodEnd | F::BillingPeriodStart | F::ChargePeriodEnd | F::ChargePeriodStart => {
            Kind::Time
        }
        _ => Kind::Text,
    }
}

fn decimal_of(r: &FocusRecord, c: FocusColumn) -> Option<Decimal> {
    use FocusColumn as F;
    match c {
        F::BilledCost => Some(r.billed_cost),
        F::CommitmentDiscountQuantity => r.commitment_discount_quantity,
        F::ConsumedQuantity => r.consumed_quantity,
        F::ContractedCost => Some(r.contracted_cost),
        F::ContractedUnitPrice => r.contracted_unit_price,
        F::EffectiveCost => Some(r.effective_cost),
        F::ListCost => Some(r.list_cost),
        F::ListUnitPrice => r.list_unit_price,
        F::PricingCurrencyContractedUnitPrice => r.pricing_currency_contracted_unit_price,
        F::PricingCurrencyEffectiveCost => r.pricing_currency_effective_cost,
        F::PricingCurrencyListUnitPrice => r.pricing_currency_list_unit_price,
        F::PricingQuantity => r.pricing_quantity,
        _ => None,
    }
}

fn time_of(r: &FocusRecord, c: FocusColumn) -> Option<Timestamp> {
    use FocusColumn as F;
    match c {
        F::BillingPeriodEnd => Some(r.billing_period_end),
        F::BillingPeriodStart => Some(r.billing_period_start),
        F::ChargePeriodEnd => Some(r.charge_period_end),
        F::ChargePeriodStart => Some(r.charge_period_start),
        _ => None,
    }
}

/// Scales a decimal to the fixed Parquet scale. Digits past the 18th decimal place (below 1e-18 of
/// a currency unit; no billing export has them) are rounded half-even.
fn to_i128(d: Decimal) -> i128 {
    let mut d = d.round_dp(SCALE);
    d.rescale(SCALE);
    d.mantissa()
}

enum Col {
    Text(StringBuilder),
    Decimal(Decimal128Builder),
    Time(TimestampMicrosecondBuilder),
}

/// Writes FOCUS Parquet.
pub struct ParquetSink {
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    columns: OutputColumns,
    builders: Vec<Col>,
    pending: usize,
    rows: u64,
    path: PathBuf,
}

impl ParquetSink {
    /// Starts a Parquet file.
    pub fn new(
        file: File,
        path: &Path,
        columns: OutputColumns,
    ) -> Result<ParquetSink, OutputError> {
        let mut fields = Vec::new();
        for c in &columns.focus {
            let dt = match kind(*c) {
                Kind::Text => DataType::Utf8,
                Kind::Decimal => DataType::Decimal128(38, SCALE as i8),
                Kind::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            };
            fields.push(Field::new(c.name(), dt, true));
        }
        for e in &columns.extensions {
            fields.push(Field::new(e.as_str(), DataType::Utf8, true));
        }
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        // Statistics only where readers prune on them (the period columns): arrow-rs keeps the
        // min/max of a byte-array column (strings, and decimals stored as fixed-length bytes) as
        // slices of the batch buffers they came from, so those statistics
        // would pin every batch in memory until the file is closed.
        let mut props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
        for c in &columns.focus {
            if kind(*c) == Kind::Time {
                props = props.set_column_statistics_enabled(
                    ColumnPath::from(c.name()),
                    EnabledStatistics::Chunk,
                );
            }
        }
        let props = props.build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| write_err(path, e))?;
        let mut sink = ParquetSink {
            writer,
            schema,
            columns,
            builders: Vec::new(),
            pending: 0,
            rows: 0,
            path: path.to_path_buf(),
        };
        sink.builders = sink.new_builders();
        Ok(sink)
    }

    fn new_builders(&self) -> Vec<Col> {
        let mut b = Vec::new();
        for c in &self.columns.focus {
            b.push(match kind(*c) {
                Kind::Text => Col::Text(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16)),
                Kind::Decimal => Col::Decimal(
                    Decimal128Builder::with_capacity(BATCH_ROWS)
                        .with_data_type(DataType::Decimal128(38, SCALE as i8)),
                ),
                Kind::Time => Col::Time(
                    TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC"),
                ),
            });
        }
        for _ in &self.columns.extensions {
            b.push(Col::Text(StringBuilder::with_capacity(
                BATCH_ROWS,
                BATCH_ROWS * 8,
            )));
        }
        b
    }

    fn flush_batch(&mut self) -> Result<(), OutputError> {
        if self.pending == 0 {
            return Ok(());
        }
        let fresh = self.new_builders();
        let builders = std::mem::replace(&mut self.builders, fresh);
        let arrays: Vec<ArrayRef> = builders
            .into_iter()
            .map(|b| -> ArrayRef {
                match b {
                    Col::Text(mut b) => Arc::new(b.finish()),
                    Col::Decimal(mut b) => Arc::new(b.finish()),
                    Col::Time(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| write_err(&self.path, e))?;
        self.writer
            .write(&batch)
            .map_err(|e| write_err(&self.path, e))?;
        self.pending = 0;
        Ok(())
    }
}

impl FocusSink for ParquetSink {
    fn write(&mut self, r: &FocusRecord) -> Result<(), OutputError> {
        let nf = self.columns.focus.len();
        for (i, b) in self.builders.iter_mut().enumerate() {
            match b {
                Col::Decimal(b) => {
                    b.append_option(decimal_of(r, self.columns.focus[i]).map(to_i128))
                }
                Col::Time(b) => {
                    b.append_option(time_of(r, self.columns.focus[i]).map(|t| t.timestamp_micros()))
                }
                Col::Text(b) if i < nf => {
                    // FOCUS nulls are real nulls: an empty mandatory text (a column the source did
                    // not have) must not turn into a non-null "" that hides the gap from validators.
                    b.append_option(r.cell_ref(self.columns.focus[i]).filter(|s| !s.is_empty()))
                }
                Col::Text(b) => b.append_option(r.extension(&self.columns.extensions[i - nf])),
            }
        }
        self.pending += 1;
        self.rows += 1;
        if self.pending >= BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64, OutputError> {
        self.flush_batch()?;
        let path = self.path.clone();
        let file = self.writer.into_inner().map_err(|e| write_err(&path, e))?;
        file.sync_all().map_err(|e| write_err(&path, e))?;
        Ok(self.rows)
    }
}
