//! A Prometheus histogram read from a `/metrics` exposition: its cumulative buckets, the
//! difference between two scrapes, and percentiles estimated from the buckets the way
//! PromQL's `histogram_quantile` does (linear within the bucket the rank falls in).

/// One histogram's cumulative buckets: `(upper bound, observations ≤ it)`, in bound order,
/// the last one `+Inf`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Buckets(Vec<(f64, f64)>);

impl Buckets {
    /// The buckets of histogram `name` (without `_bucket`) in the exposition `text`; empty
    /// when it has none. Histograms with labels other than `le` are not read.
    pub fn parse(text: &str, name: &str) -> Buckets {
        let prefix = format!("{name}_bucket{{le=\"");
        let buckets = text
            .lines()
            .filter_map(|line| {
                let (le, count) = line.strip_prefix(&prefix)?.split_once("\"} ")?;
                let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
                let count = count.split_whitespace().next()?.parse().ok()?;
                Some((bound, count))
            })
            .collect();
        Buckets(buckets)
    }

    /// What was observed after `before` was scraped (same histogram, a later scrape).
    pub fn since(&self, before: &Buckets) -> Buckets {
        let earlier = |i: usize| before.0.get(i).map_or(0.0, |b| b.1);
        Buckets(self.0.iter().enumerate().map(|(i, &(le, n))| (le, n - earlier(i))).collect())
    }

    /// Observations counted.
    pub fn count(&self) -> f64 {
        self.0.last().map_or(0.0, |b| b.1)
    }

    /// The `q` quantile (0..=1), interpolated linearly within its bucket from the bucket's
    /// lower bound (0 for the first); the highest finite bound if it falls past them, `None`
    /// without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total <= 0.0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total;
        let (mut lower, mut below) = (0.0, 0.0);
        for &(upper, n) in &self.0 {
            if n >= rank && n > below {
                if upper.is_infinite() {
                    return Some(lower);
                }
                return Some(lower + (upper - lower) * (rank - below) / (n - below));
            }
            (lower, below) = (upper, n);
        }
        Some(lower)
    }

    /// The upper bound of the highest bucket with an observation: the largest observation is
    /// at most this (infinite when it is past every finite bound).
    pub fn max_bound(&self) -> Option<f64> {
        let mut below = 0.0;
        let mut highest = None;
        for &(upper, n) in &self.0 {
            if n > below {
                highest = Some(upper);
            }
            below = n;
        }
        highest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = "\
# TYPE arbiter_x_seconds histogram
arbiter_x_seconds_sum 0.5
arbiter_x_seconds_count 100
arbiter_x_seconds_bucket{le=\"0.001\"} 50
arbiter_x_seconds_bucket{le=\"0.002\"} 90
arbiter_x_seconds_bucket{le=\"0.004\"} 100
arbiter_x_seconds_bucket{le=\"+Inf\"} 100
arbiter_y_seconds_bucket{le=\"0.001\"} 7
";

    fn buckets(counts: &[(f64, f64)]) -> Buckets {
        Buckets(counts.to_vec())
    }

    #[test]
    fn parses_one_histograms_buckets_in_order() {
        let got = Buckets::parse(SCRAPE, "arbiter_x_seconds");
        let want = [(0.001, 50.0), (0.002, 90.0), (0.004, 100.0), (f64::INFINITY, 100.0)];
        assert_eq!(got, buckets(&want));
        assert_eq!(got.count(), 100.0);
        assert_eq!(Buckets::parse(SCRAPE, "arbiter_z_seconds"), Buckets::default());
    }

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let b = Buckets::parse(SCRAPE, "arbiter_x_seconds");
        let close = |q: f64, want: f64| {
            let got = b.quantile(q).expect("observations");
            assert!((got - want).abs() < 1e-12, "q {q}: {got} against {want}");
        };
        close(0.25, 0.0005);
        close(0.5, 0.001);
        close(0.7, 0.0015);
        close(0.99, 0.0038);
        close(1.0, 0.004);
        assert_eq!(Buckets::default().quantile(0.5), None);
    }

    #[test]
    fn a_rank_past_the_finite_bounds_is_the_highest_bound() {
        let b = buckets(&[(0.001, 1.0), (0.002, 1.0), (f64::INFINITY, 10.0)]);
        assert_eq!(b.quantile(0.99), Some(0.002));
        assert_eq!(b.max_bound(), Some(f64::INFINITY));
    }

    #[test]
    fn the_difference_of_two_scrapes_holds_only_what_came_between() {
        let before = buckets(&[(0.001, 40.0), (0.002, 40.0), (f64::INFINITY, 40.0)]);
        let after = buckets(&[(0.001, 50.0), (0.002, 60.0), (f64::INFINITY, 60.0)]);
        let between = after.since(&before);
        assert_eq!(between, buckets(&[(0.001, 10.0), (0.002, 20.0), (f64::INFINITY, 20.0)]));
        assert_eq!(between.max_bound(), Some(0.002));
        assert_eq!(between.quantile(0.5), Some(0.001));
        assert_eq!(after.since(&Buckets::default()), after, "nothing before");
    }
}
