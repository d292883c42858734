//! Commitment simulation over an hourly series of eligible on-demand spend.
//!
//! A commitment of `c` per hour (at commitment rates) with discount `d` covers up to
//! `L = c / (1 - d)` of on-demand spend in every hour; what it does not cover in an hour is lost
//! (unused), what exceeds it is billed on demand. Over `n` hours with on-demand spend `s_h`:
//!
//! * covered = Σ min(s_h, L), used = covered × (1 - d), unused = n·c - used;
//! * cost with the commitment = n·c + (Σ s_h - covered); savings = Σ s_h - cost;
//! * utilization = used / (n·c), coverage = covered / Σ s_h.
//!
//! All of it is exact `Decimal` arithmetic. The only division is `L = c / (1 - d)` when a
//! commitment is given in commitment dollars (28 significant digits), plus the projections per
//! month and the ratios. Instead of walking every hour for every candidate, the simulator sorts the
//! series once and keeps prefix sums: Σ min(s_h, L) = (sum of the k values <= L) + (n - k)·L. This
//! is the same number the hour-by-hour walk gives ([`simulate_hours`], which the tests compare
//! against), for any level, in O(log n).
//!
//! Savings as a function of L is concave and piecewise linear with its breakpoints at the series'
//! values; its slope above the k-th smallest value is (n - k) - n(1 - d). The maximum is therefore
//! at the ⌈n·d⌉-th smallest hourly value (the d-quantile): buying more than the amount used in a
//! fraction (1 - d) of the hours loses more in unused hours than it saves in used ones.

use rust_decimal::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;

/// Hours in a month for projections: 8760 / 12, the convention AWS uses for commitments.
pub const HOURS_PER_MONTH: u32 = 730;
/// Hours in a commitment year.
pub const HOURS_PER_YEAR: u32 = 8760;

/// How a commitment is paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Payment {
    /// Everything monthly.
    NoUpfront,
    /// Half of the term's total at purchase, the rest monthly.
    PartialUpfront,
    /// The whole term at purchase.
    AllUpfront,
}

impl Payment {
    /// Share of the term's total paid at purchase.
    pub fn upfront_share(self) -> Decimal {
        match self {
            Payment::NoUpfront => Decimal::ZERO,
            Payment::PartialUpfront => Decimal::new(5, 1),
            Payment::AllUpfront => Decimal::ONE,
        }
    }

    /// `no-upfront`, `partial-upfront`, `all-upfront`.
    pub fn as_str(self) -> &'static str {
        match self {
            Payment::NoUpfront => "no-upfront",
            Payment::PartialUpfront => "partial-upfront",
            Payment::AllUpfront => "all-upfront",
        }
    }

    /// Parses the names [`Payment::as_str`] gives.
    pub fn parse(s: &str) -> Option<Payment> {
        match s {
            "no-upfront" => Some(Payment::NoUpfront),
            "partial-upfront" => Some(Payment::PartialUpfront),
            "all-upfront" => Some(Payment::AllUpfront),
            _ => None,
        }
    }
}

/// The terms of a candidate commitment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Terms {
    /// Discount against the on-demand spend of the series, as a fraction (`0.28` = 28%).
    pub discount: Decimal,
    /// Term in years (1 or 3).
    pub years: u32,
    /// Payment option.
    pub payment: Payment,
}

impl Terms {
    /// Checks the discount is in [0, 1) and the term is 1 or 3 years.
    pub fn new(discount: Decimal, years: u32, payment: Payment) -> Result<Terms, String> {
        if discount < Decimal::ZERO || discount >= Decimal::ONE {
            return Err(format!(
                "discount {discount} must be a fraction in [0, 1) (0.28 for 28%)"
            ));
        }
        if years != 1 && years != 3 {
            return Err(format!(
                "term of {years} years: commitments run 1 or 3 years"
            ));
        }
        Ok(Terms {
            discount,
            years,
            payment,
        })
    }

    /// Hours in the term.
    pub fn term_hours(&self) -> u32 {
        HOURS_PER_YEAR * self.years
    }

    /// Months in the term.
    pub fn term_months(&self) -> u32 {
        12 * self.years
    }

    /// What the commitment costs at purchase: share × hourly × term hours.
    pub fn upfront(&self, hourly: Decimal) -> Decimal {
        self.payment.upfront_share() * hourly * Decimal::from(self.term_hours())
    }

    /// What it costs per hour after the upfront payment.
    pub fn recurring_hourly(&self, hourly: Decimal) -> Decimal {
        (Decimal::ONE - self.payment.upfront_share()) * hourly
    }
}

/// One commitment level simulated over the series.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Point {
    /// On-demand spend per hour the commitment covers (`L`).
    pub level: Decimal,
    /// The commitment per hour, at commitment rates (`c = L × (1 - d)`).
    pub commitment: Decimal,
    /// Hours simulated.
    pub hours: u64,
    /// Σ on-demand eligible spend over the hours.
    pub eligible: Decimal,
    /// On-demand spend covered.
    pub covered: Decimal,
    /// Commitment dollars used.
    pub used: Decimal,
    /// Commitment dollars paid for and not used.
    pub unused: Decimal,
    /// Spend still billed on demand.
    pub on_demand: Decimal,
    /// Total cost with the commitment (commitment + remaining on-demand).
    pub cost: Decimal,
    /// `eligible - cost` (negative: the commitment loses money).
    pub savings: Decimal,
    /// used / commitment (0..1); 1 for a zero commitment.
    pub utilization: Decimal,
    /// covered / eligible (0..1).
    pub coverage: Decimal,
    /// Savings projected to a 730-hour month.
    pub monthly_savings: Decimal,
    /// Paid at purchase for the whole term.
    pub upfront: Decimal,
    /// Paid per hour after the upfront payment.
    pub recurring_hourly: Decimal,
    /// First month (1-based) at whose end the cumulative cash savings cover the upfront payment;
    /// `None` when they never do within the term.
    pub break_even_month: Option<u32>,
}

/// One hour of a simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hour {
    /// Commitment dollars used.
    pub used: Decimal,
    /// Commitment dollars not used.
    pub unused: Decimal,
    /// On-demand spend covered.
    pub covered: Decimal,
    /// Spend still billed on demand.
    pub on_demand: Decimal,
}

/// Walks the series hour by hour with a commitment of `commitment` per hour (commitment rates).
/// The reference the sorted evaluation is tested against, and the per-hour split FOCUS writes as
/// Used / Unused / on-demand rows.
pub fn simulate_hours(values: &[Decimal], commitment: Decimal, discount: Decimal) -> Vec<Hour> {
    let keep = Decimal::ONE - discount;
    values
        .iter()
        .map(|&s| {
            let at_rate = s * keep;
            if at_rate >= commitment {
                let covered = if discount.is_zero() {
                    commitment
                } else {
                    commitment / keep
                };
                Hour {
                    used: commitment,
                    unused: Decimal::ZERO,
                    covered,
                    on_demand: s - covered,
                }
            } else {
                Hour {
                    used: at_rate,
                    unused: commitment - at_rate,
                    covered: s,
                    on_demand: Decimal::ZERO,
                }
            }
        })
        .collect()
}

/// The series sorted once, with prefix sums, for O(log n) evaluation of any level.
#[derive(Clone, Debug)]
pub struct Simulator {
    sorted: Vec<Decimal>,
    /// `prefix[k]` = sum of the `k` smallest values.
    prefix: Vec<Decimal>,
    terms: Terms,
}

impl Simulator {
    /// Prepares the series (on-demand eligible spend per hour, zeros included: a commitment is
    /// paid in every hour, used or not). Negative hours (refund-like usage) count as zero.
    pub fn new(values: &[Decimal], terms: Terms) -> Simulator {
        let mut sorted: Vec<Decimal> = values.iter().map(|v| (*v).max(Decimal::ZERO)).collect();
        sorted.sort_unstable();
        let mut prefix = Vec::with_capacity(sorted.len() + 1);
        let mut acc = Decimal::ZERO;
        prefix.push(acc);
        for v in &sorted {
            acc += *v;
            prefix.push(acc);
        }
        Simulator {
            sorted,
            prefix,
            terms,
        }
    }

    /// Hours in the series.
    pub fn hours(&self) -> usize {
        self.sorted.len()
    }

    /// Σ eligible spend.
    pub fn total(&self) -> Decimal {
        self.prefix.last().copied().unwrap_or_default()
    }

    /// The terms simulated.
    pub fn terms(&self) -> Terms {
        self.terms
    }

    /// The hourly value at quantile `q` in [0, 1] (nearest rank on the sorted series).
    pub fn quantile(&self, q: Decimal) -> Decimal {
        if self.sorted.is_empty() {
            return Decimal::ZERO;
        }
        let n = self.sorted.len() - 1;
        let idx = (q.clamp(Decimal::ZERO, Decimal::ONE) * Decimal::from(n))
            .round()
            .to_usize()
            .unwrap_or(0)
            .min(n);
        self.sorted[idx]
    }

    fn covered(&self, level: Decimal) -> Decimal {
        let k = self.sorted.partition_point(|v| *v <= level);
        self.prefix[k] + Decimal::from(self.sorted.len() - k) * level
    }

    /// The simulation at on-demand level `level` (commitment = level × (1 - d), exact).
    pub fn at_level(&self, level: Decimal) -> Point {
        let commitment = level * (Decimal::ONE - self.terms.discount);
        let k = self.sorted.partition_point(|v| *v <= level);
        self.point(level, commitment, k)
    }

    /// The simulation at a commitment of `commitment` per hour at commitment rates.
    pub fn at_commitment(&self, commitment: Decimal) -> Point {
        let keep = Decimal::ONE - self.terms.discount;
        let level = if self.terms.discount.is_zero() {
            commitment
        } else {
            commitment / keep
        };
        // Hours the commitment fully absorbs, decided without the division.
        let k = self.sorted.partition_point(|v| *v * keep <= commitment);
        self.point(level, commitment, k)
    }

    /// The point at `level` / `commitment` where the `k` smallest hours are fully covered and
    /// the others use the whole commitment: exact sums, no per-hour rounding.
    fn point(&self, level: Decimal, commitment: Decimal, k: usize) -> Point {
        let level = level.max(Decimal::ZERO);
        let commitment = commitment.max(Decimal::ZERO);
        let n = self.sorted.len() as u64;
        let nd = Decimal::from(n);
        let eligible = self.total();
        let rest = Decimal::from(self.sorted.len() - k);
        let covered = self.prefix[k] + rest * level;
        let keep = Decimal::ONE - self.terms.discount;
        let used = self.prefix[k] * keep + rest * commitment;
        let paid = nd * commitment;
        let unused = paid - used;
        let on_demand = eligible - covered;
        let cost = paid + on_demand;
        let savings = eligible - cost;
        let utilization = if paid.is_zero() {
            Decimal::ONE
        } else {
            used / paid
        };
        let coverage = if eligible.is_zero() {
            Decimal::ZERO
        } else {
            covered / eligible
        };
        let monthly_savings = if n == 0 {
            Decimal::ZERO
        } else {
            savings * Decimal::from(HOURS_PER_MONTH) / nd
        };
        let upfront = self.terms.upfront(commitment);
        let recurring_hourly = self.terms.recurring_hourly(commitment);
        Point {
            level,
            commitment,
            hours: n,
            eligible,
            covered,
            used,
            unused,
            on_demand,
            cost,
            savings,
            utilization,
            coverage,
            monthly_savings,
            upfront,
            recurring_hourly,
            break_even_month: self.break_even(monthly_savings, commitment, upfront),
        }
    }

    /// Month by month, the cash saved is the monthly savings plus the prepaid share of the
    /// commitment (already counted in the savings as a cost, but paid at purchase); break-even is
    /// the first month whose cumulative cash savings reach the upfront payment.
    fn break_even(
        &self,
        monthly_savings: Decimal,
        commitment: Decimal,
        upfront: Decimal,
    ) -> Option<u32> {
        if commitment.is_zero() || monthly_savings <= Decimal::ZERO {
            return None;
        }
        if upfront.is_zero() {
            return Some(1);
        }
        let monthly_cash = monthly_savings
            + self.terms.payment.upfront_share() * commitment * Decimal::from(HOURS_PER_MONTH);
        let months = (upfront / monthly_cash).ceil().to_u32()?;
        let months = months.max(1);
        (months <= self.terms.term_months()).then_some(months)
    }

    /// The on-demand level with the highest savings: the ⌈n·d⌉-th smallest hourly value (the
    /// smallest of equally good levels, which has the highest utilization).
    pub fn max_savings_level(&self) -> Decimal {
        let n = self.sorted.len();
        if n == 0 || self.terms.discount.is_zero() {
            return Decimal::ZERO;
        }
        let k = (Decimal::from(n) * self.terms.discount)
            .ceil()
            .to_usize()
            .unwrap_or(n)
            .clamp(1, n);
        self.sorted[k - 1]
    }

    fn utilization_at(&self, level: Decimal) -> Decimal {
        if level <= Decimal::ZERO {
            return Decimal::ONE;
        }
        self.covered(level) / (Decimal::from(self.sorted.len()) * level)
    }

    /// The highest level, not above the max-savings level, at which utilization stays at or above
    /// `min_utilization` (e.g. 0.95). Utilization never rises with the level, so this is found by
    /// bisection over the breakpoints and solved exactly inside the last segment.
    pub fn conservative_level(&self, min_utilization: Decimal) -> Decimal {
        let best = self.max_savings_level();
        if self.sorted.is_empty() || self.utilization_at(best) >= min_utilization {
            return best;
        }
        // The last breakpoint (below `best`) whose utilization is still high enough.
        let upto = self.sorted.partition_point(|v| *v <= best);
        let (mut lo, mut hi) = (0usize, upto);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.utilization_at(self.sorted[mid]) >= min_utilization {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo == 0 {
            return Decimal::ZERO;
        }
        let at = self.sorted[lo - 1];
        let next = self.sorted.get(lo).copied().unwrap_or(best).min(best);
        // Inside [at, next): covered(L) = P_k + (n - k)·L with k values <= at, so
        // utilization(L) = u  <=>  L = P_k / (u·n - (n - k)).
        let n = self.sorted.len();
        let k = self.sorted.partition_point(|v| *v <= at);
        let denom = min_utilization * Decimal::from(n) - Decimal::from(n - k);
        if denom <= Decimal::ZERO {
            return next;
        }
        (self.prefix[k] / denom).clamp(at, next)
    }

    /// Levels for the savings curve: every 5% quantile of the hourly series plus the exact
    /// max-savings and conservative levels, ascending, without repeats.
    pub fn curve_levels(&self, min_utilization: Decimal) -> Vec<Decimal> {
        let mut levels: Vec<Decimal> = (0..=20)
            .map(|i| self.quantile(Decimal::new(i * 5, 2)))
            .collect();
        levels.push(self.max_savings_level());
        levels.push(self.conservative_level(min_utilization));
        levels.sort_unstable();
        levels.dedup();
        levels
    }
}

/// A commitment rounded down to what can be bought: 0.001 per hour (the Savings Plans increment).
pub fn purchasable(commitment: Decimal) -> Decimal {
    commitment.round_dp_with_strategy(3, RoundingStrategy::ToZero)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect(s)
    }

    fn terms(discount: &str, payment: Payment) -> Terms {
        Terms::new(d(discount), 1, payment).expect("terms")
    }

    fn series(v: &[&str]) -> Vec<Decimal> {
        v.iter().map(|s| d(s)).collect()
    }

    #[test]
    fn hand_computed_four_hours() {
        // Hours of 1, 2, 3, 4 $ on demand, 50% discount. Level 2 covers 1+2+2+2 = 7, commitment
        // 1 $/h costs 4, remaining on demand 1+2 = 3: cost 7, savings 10 - 7 = 3.
        let s = Simulator::new(
            &series(&["1", "2", "3", "4"]),
            terms("0.5", Payment::NoUpfront),
        );
        let p = s.at_level(d("2"));
        assert_eq!(p.commitment, d("1"));
        assert_eq!(p.covered, d("7"));
        assert_eq!(p.used, d("3.5"));
        assert_eq!(p.unused, d("0.5"));
        assert_eq!(p.on_demand, d("3"));
        assert_eq!(p.cost, d("7"));
        assert_eq!(p.savings, d("3"));
        assert_eq!(p.utilization, d("0.875"));
        assert_eq!(p.coverage, d("0.7"));
        // 3 $ over 4 hours = 0.75 $/h = 547.5 $ per 730-hour month.
        assert_eq!(p.monthly_savings, d("547.5"));
        assert_eq!(p.break_even_month, Some(1));
        // The maximum is the ⌈4 × 0.5⌉ = 2nd smallest value; level 3 ties (slope 0), level 1 and
        // 4 are worse: 1 → 4 - 2 = 2; 4 → 10 - 8 = 2.
        assert_eq!(s.max_savings_level(), d("2"));
        assert_eq!(s.at_level(d("3")).savings, d("3"));
        assert_eq!(s.at_level(d("1")).savings, d("2"));
        assert_eq!(s.at_level(d("4")).savings, d("2"));
        // Conservative at 95%: utilization(L) = (1 + 3L)/(4L) for 1 <= L < 2 → L = 1/(3.8 - 3) = 1.25.
        assert_eq!(s.conservative_level(d("0.95")), d("1.25"));
        assert_eq!(s.at_level(d("1.25")).utilization, d("0.95"));
    }

    #[test]
    fn daily_average_overbuys_a_fleet_that_scales_up_part_of_the_day() {
        // 8 hours at 10 $/h and 16 hours at 1 $/h: the daily average is 4 $/h. With a 30%
        // discount, buying at the average wastes 16 × 3 × 0.7 of commitment a day and saves less
        // than buying the hourly optimum (the ⌈24 × 0.3⌉ = 8th smallest hour = 1 $/h).
        let mut v = vec![d("10"); 8];
        v.extend(vec![d("1"); 16]);
        let s = Simulator::new(&v, terms("0.3", Payment::NoUpfront));
        let best = s.max_savings_level();
        assert_eq!(best, d("1"));
        let at_best = s.at_level(best);
        let at_avg = s.at_level(d("4"));
        // At 1 $/h: covered 24, commitment 24 × 0.7 = 16.8 → savings 7.2.
        assert_eq!(at_best.savings, d("7.2"));
        // At 4 $/h: covered 8×4 + 16×1 = 48, commitment 24 × 2.8 = 67.2 → savings 48 - 67.2 = -19.2.
        assert_eq!(at_avg.savings, d("-19.2"));
        assert!(at_best.savings > at_avg.savings);
    }

    #[test]
    fn sorted_evaluation_equals_the_hour_by_hour_walk() {
        let v = series(&[
            "0", "0.5", "3.25", "1.75", "2", "0", "7.125", "2", "1.1", "4.4",
        ]);
        for disc in ["0", "0.2", "0.25", "0.5"] {
            let s = Simulator::new(&v, terms(disc, Payment::NoUpfront));
            for c in ["0", "0.4", "1", "1.5", "2.2", "8"] {
                let p = s.at_commitment(d(c));
                let hours = simulate_hours(&v, d(c), d(disc));
                let sum = |f: fn(&Hour) -> Decimal| hours.iter().map(f).sum::<Decimal>();
                assert_eq!(p.used, sum(|h| h.used), "used d={disc} c={c}");
                assert_eq!(p.unused, sum(|h| h.unused), "unused d={disc} c={c}");
                // covered and on-demand divide by (1 - d): exact when it divides evenly (0.5,
                // 0.8), within the 28th significant digit otherwise (0.75).
                let close = |a: Decimal, b: Decimal| (a - b).abs() < d("0.00000000000000000001");
                assert!(
                    close(p.covered, sum(|h| h.covered)),
                    "covered d={disc} c={c}"
                );
                assert!(
                    close(p.on_demand, sum(|h| h.on_demand)),
                    "on demand d={disc} c={c}"
                );
                if disc != "0.25" {
                    assert_eq!(p.covered, sum(|h| h.covered), "covered d={disc} c={c}");
                }
            }
            // The closed-form optimum is at least as good as every breakpoint.
            let best = s.at_level(s.max_savings_level()).savings;
            for x in &v {
                assert!(s.at_level(*x).savings <= best, "d={disc} level {x}");
            }
        }
    }

    #[test]
    fn upfront_payments_and_break_even() {
        // 1 $/h for a year all upfront is 8760 at purchase (the FOCUS purchase scenario 1); partial
        // upfront is 4380 plus 0.50 $/h (scenario 3).
        let all = terms("0.4", Payment::AllUpfront);
        assert_eq!(all.upfront(d("1")), d("8760"));
        assert_eq!(all.recurring_hourly(d("1")), d("0"));
        let partial = terms("0.4", Payment::PartialUpfront);
        assert_eq!(partial.upfront(d("1")), d("4380"));
        assert_eq!(partial.recurring_hourly(d("1")), d("0.5"));
        // Flat 2 $/h on demand, 40% discount, 1.2 $/h committed (level 2): savings 0.8 $/h =
        // 584 a month. All upfront: the month's cash saving is 584 + 1.2 × 730 = 1460 (the
        // on-demand bill avoided), 10512 upfront / 1460 = 7.2 → paid back in month 8.
        let s = Simulator::new(&vec![d("2"); 48], all);
        let p = s.at_level(d("2"));
        assert_eq!(p.commitment, d("1.2"));
        assert_eq!(p.monthly_savings, d("584"));
        assert_eq!(p.upfront, d("10512"));
        assert_eq!(p.break_even_month, Some(8));
        // Partial: 5256 upfront, cash 584 + 0.6 × 730 = 1022 a month → 5.14 → month 6.
        let s = Simulator::new(&vec![d("2"); 48], partial);
        assert_eq!(s.at_level(d("2")).break_even_month, Some(6));
        // A commitment that loses money never breaks even.
        let s = Simulator::new(&series(&["0", "0", "2"]), all);
        assert_eq!(s.at_level(d("2")).break_even_month, None);
    }

    #[test]
    fn edge_cases() {
        let s = Simulator::new(&[], terms("0.3", Payment::NoUpfront));
        assert_eq!(s.max_savings_level(), Decimal::ZERO);
        assert_eq!(s.at_level(Decimal::ZERO).savings, Decimal::ZERO);
        let s = Simulator::new(&series(&["0", "0"]), terms("0.3", Payment::NoUpfront));
        assert_eq!(s.conservative_level(d("0.95")), Decimal::ZERO);
        assert!(Terms::new(d("1"), 1, Payment::NoUpfront).is_err());
        assert!(Terms::new(d("0.2"), 2, Payment::NoUpfront).is_err());
        assert_eq!(purchasable(d("1.23456")), d("1.234"));
    }
}
