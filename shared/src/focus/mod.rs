//! The FOCUS 1.2 data model (plus the FOCUS 1.3 provider columns and `x_` extensions).

mod enums;
mod record;
mod tags;

pub use enums::*;
pub use record::{FocusColumn, FocusRecord, SkuPriceDetails};
pub use tags::{TagValue, Tags};
