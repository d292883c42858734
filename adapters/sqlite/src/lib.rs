//! SQLite store for costkit: the [`CostStore`] port over one embedded database file.
//!
//! Schema (see `docs/store.md`): `loads` (bookkeeping), `slices` (which load owns each
//! provider/billing-account/billing-period slice), `daily` and `daily_tag` (aggregates). Amounts are
//! stored as decimal TEXT and summed in Rust, never by SQLite, whose SUM is floating point.

use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDate;
use costkit_core::aggregate::{DailyKey, DailyRow, LoadBatch, Slice, Sums, TagKey, TagRow};
use costkit_core::money::{Currency, CurrencyTotals};
use costkit_core::store::{CostStore, Filter, LoadInfo, LoadMeta, LoadReport, StoreError};
use costkit_core::text::Text;
use rusqlite::{params, Connection, OptionalExtension, Row};
use rust_decimal::Decimal;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS loads (
    load_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    dialect    TEXT NOT NULL,
    files      TEXT NOT NULL,
    loaded_at  TEXT NOT NULL,
    records    INTEGER NOT NULL,
    billed     TEXT NOT NULL,
    effective  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS slices (
    provider             TEXT NOT NULL,
    billing_account_id   TEXT NOT NULL,
    billing_period       TEXT NOT NULL,
    billing_account_name TEXT,
    load_id              INTEGER NOT NULL REFERENCES loads(load_id),
    PRIMARY KEY (provider, billing_account_id, billing_period)
);
CREATE TABLE IF NOT EXISTS daily (
    provider           TEXT NOT NULL,
    billing_account_id TEXT NOT NULL,
    billing_period     TEXT NOT NULL,
    day                TEXT NOT NULL,
    sub_account_id     TEXT NOT NULL,
    sub_account_name   TEXT NOT NULL,
    service_name       TEXT NOT NULL,
    service_category   TEXT NOT NULL,
    region_id          TEXT NOT NULL,
    charge_category    TEXT NOT NULL,
    currency           TEXT NOT NULL,
    billed             TEXT NOT NULL,
    effective          TEXT NOT NULL,
    list               TEXT NOT NULL,
    contracted         TEXT NOT NULL,
    rows               INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS daily_slice ON daily (provider, billing_account_id, billing_period);
CREATE INDEX IF NOT EXISTS daily_period ON daily (billing_period);
CREATE TABLE IF NOT EXISTS daily_tag (
    provider           TEXT NOT NULL,
    billing_account_id TEXT NOT NULL,
    billing_period     TEXT NOT NULL,
    day                TEXT NOT NULL,
    tag_key            TEXT NOT NULL,
    tag_value          TEXT NOT NULL,
    currency           TEXT NOT NULL,
    billed             TEXT NOT NULL,
    effective          TEXT NOT NULL,
    list               TEXT NOT NULL,
    contracted         TEXT NOT NULL,
    rows               INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS daily_tag_slice ON daily_tag (provider, billing_account_id, billing_period);
CREATE INDEX IF NOT EXISTS daily_tag_key ON daily_tag (tag_key, billing_period);
"#;

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn dec(s: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(s).map_err(|e| StoreError::Corrupt(format!("amount `{s}`: {e}")))
}

fn day(s: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| StoreError::Corrupt(format!("day `{s}`: {e}")))
}

fn totals_json(t: &CurrencyTotals) -> String {
    serde_json::to_string(&t.normalized()).unwrap_or_else(|_| "{}".into())
}

fn totals_from(s: &str) -> Result<CurrencyTotals, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("totals `{s}`: {e}")))
}

/// A costkit store in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("{}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
        Self::init(conn)
    }

    /// An in-memory store (tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(backend)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "the store has schema version {version}, newer than this costkit ({SCHEMA_VERSION}); upgrade costkit"
            )));
        }
        conn.execute_batch(SCHEMA).map_err(backend)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(backend)?;
        Ok(SqliteStore { conn })
    }
}

fn slice_where(filter: &Filter) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    if let Some(p) = &filter.billing_period {
        clauses.push(format!("billing_period = ?{}", args.len() + 1));
        args.push(p.clone());
    }
    if let Some(p) = &filter.provider {
        clauses.push(format!("provider = ?{}", args.len() + 1));
        args.push(p.clone());
    }
    (clauses.join(" AND "), args)
}

fn sums_from(r: &Row<'_>, first: usize) -> Result<Sums, StoreError> {
    let g =
        |i: usize| -> Result<String, StoreError> { r.get::<_, String>(first + i).map_err(backend) };
    Ok(Sums {
        billed: dec(&g(0)?)?,
        effective: dec(&g(1)?)?,
        list: dec(&g(2)?)?,
        contracted: dec(&g(3)?)?,
        rows: r.get::<_, i64>(first + 4).map_err(backend)? as u64,
    })
}

fn slice_from(r: &Row<'_>) -> Result<Slice, StoreError> {
    Ok(Slice {
        provider: Text::from(r.get::<_, String>(0).map_err(backend)?),
        billing_account_id: Text::from(r.get::<_, String>(1).map_err(backend)?),
        billing_period: r.get::<_, String>(2).map_err(backend)?,
    })
}

impl CostStore for SqliteStore {
    fn replace(&mut self, batch: &LoadBatch, meta: &LoadMeta) -> Result<LoadReport, StoreError> {
        let tx = self.conn.transaction().map_err(backend)?;
        tx.execute(
            "INSERT INTO loads (dialect, files, loaded_at, records, billed, effective) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                meta.dialect,
                serde_json::to_string(&meta.files).unwrap_or_else(|_| "[]".into()),
                meta.loaded_at,
                batch.records as i64,
                totals_json(&batch.billed),
                totals_json(&batch.effective),
            ],
        )
        .map_err(backend)?;
        let load_id = tx.last_insert_rowid();
        let mut replaced = Vec::new();
        {
            let mut owner = tx
                .prepare_cached(
                    "SELECT load_id FROM slices WHERE provider = ?1 AND billing_account_id = ?2 AND billing_period = ?3",
                )
                .map_err(backend)?;
            let mut del_daily = tx
                .prepare_cached("DELETE FROM daily WHERE provider = ?1 AND billing_account_id = ?2 AND billing_period = ?3")
                .map_err(backend)?;
            let mut del_tags = tx
                .prepare_cached(
                    "DELETE FROM daily_tag WHERE provider = ?1 AND billing_account_id = ?2 AND billing_period = ?3",
                )
                .map_err(backend)?;
            let mut up_slice = tx
                .prepare_cached(
                    "INSERT INTO slices (provider, billing_account_id, billing_period, billing_account_name, load_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (provider, billing_account_id, billing_period)
                     DO UPDATE SET billing_account_name = excluded.billing_account_name, load_id = excluded.load_id",
                )
                .map_err(backend)?;
            let mut ins_daily = tx
                .prepare_cached(
                    "INSERT INTO daily VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                )
                .map_err(backend)?;
            let mut ins_tag = tx
                .prepare_cached("INSERT INTO daily_tag VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")
                .map_err(backend)?;
            for (slice, data) in &batch.slices {
                let sp = params![
                    slice.provider.as_str(),
                    slice.billing_account_id.as_str(),
                    slice.billing_period
                ];
                let previous: Option<i64> = owner
                    .query_row(sp, |r| r.get(0))
                    .optional()
                    .map_err(backend)?;
                if previous.is_some() {
                    replaced.push(slice.clone());
                }
                del_daily.execute(sp).map_err(backend)?;
                del_tags.execute(sp).map_err(backend)?;
                up_slice
                    .execute(params![
                        slice.provider.as_str(),
                        slice.billing_account_id.as_str(),
                        slice.billing_period,
                        data.billing_account_name.as_deref(),
                        load_id
                    ])
                    .map_err(backend)?;
                for (k, s) in &data.daily {
                    ins_daily
                        .execute(params![
                            slice.provider.as_str(),
                            slice.billing_account_id.as_str(),
                            slice.billing_period,
                            k.day.format("%Y-%m-%d").to_string(),
                            k.sub_account_id.as_str(),
                            k.sub_account_name.as_str(),
                            k.service_name.as_str(),
                            k.service_category.as_str(),
                            k.region_id.as_str(),
                            k.charge_category.as_str(),
                            k.currency.as_str(),
                            s.billed.normalize().to_string(),
                            s.effective.normalize().to_string(),
                            s.list.normalize().to_string(),
                            s.contracted.normalize().to_string(),
                            s.rows as i64,
                        ])
                        .map_err(backend)?;
                }
                for (k, s) in &data.tags {
                    ins_tag
                        .execute(params![
                            slice.provider.as_str(),
                            slice.billing_account_id.as_str(),
                            slice.billing_period,
                            k.day.format("%Y-%m-%d").to_string(),
                            k.key.as_str(),
                            k.value.as_str(),
                            k.currency.as_str(),
                            s.billed.normalize().to_string(),
                            s.effective.normalize().to_string(),
                            s.list.normalize().to_string(),
                            s.contracted.normalize().to_string(),
                            s.rows as i64,
                        ])
                        .map_err(backend)?;
                }
            }
        }
        tx.commit().map_err(backend)?;
        Ok(LoadReport {
            load_id,
            slices: batch.slices.keys().cloned().collect(),
            replaced,
            records: batch.records,
        })
    }

    fn daily(&self, filter: &Filter) -> Result<Vec<DailyRow>, StoreError> {
        let (w, args) = slice_where(filter);
        let sql = format!(
            "SELECT provider, billing_account_id, billing_period, day, sub_account_id, sub_account_name, service_name,
                    service_category, region_id, charge_category, currency, billed, effective, list, contracted, rows
             FROM daily {} ORDER BY day",
            if w.is_empty() { String::new() } else { format!("WHERE {w}") }
        );
        let mut stmt = self.conn.prepare(&sql).map_err(backend)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args.iter()))
            .map_err(backend)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(backend)? {
            let t = |i: usize| -> Result<Text, StoreError> {
                Ok(Text::from(r.get::<_, String>(i).map_err(backend)?))
            };
            out.push(DailyRow {
                slice: slice_from(r)?,
                key: DailyKey {
                    day: day(&r.get::<_, String>(3).map_err(backend)?)?,
                    sub_account_id: t(4)?,
                    sub_account_name: t(5)?,
                    service_name: t(6)?,
                    service_category: t(7)?,
                    region_id: t(8)?,
                    charge_category: t(9)?,
                    currency: Currency::new(&r.get::<_, String>(10).map_err(backend)?),
                },
                sums: sums_from(r, 11)?,
            });
        }
        Ok(out)
    }

    fn daily_tags(&self, tag_key: &str, filter: &Filter) -> Result<Vec<TagRow>, StoreError> {
        let (w, mut args) = slice_where(filter);
        args.push(tag_key.to_string());
        let key_arg = args.len();
        let sql = format!(
            "SELECT provider, billing_account_id, billing_period, day, tag_key, tag_value, currency,
                    billed, effective, list, contracted, rows
             FROM daily_tag WHERE {} tag_key = ?{key_arg} ORDER BY day",
            if w.is_empty() { String::new() } else { format!("{w} AND") }
        );
        let mut stmt = self.conn.prepare(&sql).map_err(backend)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args.iter()))
            .map_err(backend)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(backend)? {
            out.push(TagRow {
                slice: slice_from(r)?,
                key: TagKey {
                    day: day(&r.get::<_, String>(3).map_err(backend)?)?,
                    key: Text::from(r.get::<_, String>(4).map_err(backend)?),
                    value: Text::from(r.get::<_, String>(5).map_err(backend)?),
                    currency: Currency::new(&r.get::<_, String>(6).map_err(backend)?),
                },
                sums: sums_from(r, 7)?,
            });
        }
        Ok(out)
    }

    fn tag_keys(&self, filter: &Filter) -> Result<Vec<String>, StoreError> {
        let (w, args) = slice_where(filter);
        let sql = format!(
            "SELECT DISTINCT tag_key FROM daily_tag {} ORDER BY tag_key",
            if w.is_empty() {
                String::new()
            } else {
                format!("WHERE {w}")
            }
        );
        let mut stmt = self.conn.prepare(&sql).map_err(backend)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args.iter()))
            .map_err(backend)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(backend)? {
            out.push(r.get::<_, String>(0).map_err(backend)?);
        }
        Ok(out)
    }

    fn loads(&self) -> Result<Vec<LoadInfo>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT load_id, dialect, files, loaded_at, records, billed, effective FROM loads ORDER BY load_id DESC")
            .map_err(backend)?;
        let mut slices_stmt = self
            .conn
            .prepare("SELECT provider, billing_account_id, billing_period FROM slices WHERE load_id = ?1 ORDER BY 1, 2, 3")
            .map_err(backend)?;
        let mut rows = stmt.query([]).map_err(backend)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(backend)? {
            let load_id: i64 = r.get(0).map_err(backend)?;
            let files: String = r.get(2).map_err(backend)?;
            let mut slices = Vec::new();
            let mut srows = slices_stmt.query([load_id]).map_err(backend)?;
            while let Some(s) = srows.next().map_err(backend)? {
                slices.push(slice_from(s)?);
            }
            out.push(LoadInfo {
                load_id,
                meta: LoadMeta {
                    dialect: r.get(1).map_err(backend)?,
                    files: serde_json::from_str(&files)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    loaded_at: r.get(3).map_err(backend)?,
                },
                records: r.get::<_, i64>(4).map_err(backend)? as u64,
                billed: totals_from(&r.get::<_, String>(5).map_err(backend)?)?,
                effective: totals_from(&r.get::<_, String>(6).map_err(backend)?)?,
                slices,
            });
        }
        Ok(out)
    }
}
