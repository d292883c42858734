//! Lookup tables used by the normalizers (service categories, regions, pricing units).
