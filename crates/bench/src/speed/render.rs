//! The speed report as Markdown (`SPEED.md`, the speed section of `REPORT.md`), its targets,
//! and its figure.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{cases::has_memory, CaseKey, Kernels, SpeedError, SpeedReport, FIGURE_STEM};
use crate::plot::{self, Line};

/// The indices of grey and black in [`plot::COLOURS`].
const GREY: usize = 7;
const BLACK: usize = 10;

/// A target met when the measurement is at most `limit`.
fn at_most(target: String, measured: f64, shown: String, limit: f64) -> Target {
    Target {
        target,
        measured,
        shown,
        limit,
        bound: Bound::AtMost,
    }
}

/// Which side of its limit a [`Target`] wants the measurement on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// measured ≤ limit.
    AtMost,
    /// measured ≥ limit.
    AtLeast,
}

/// One performance target of the speed suite, checked on the numbers of one run: what the
/// "Targets" table of `SPEED.md` lists, kept as data so that callers can test them.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// What is targeted, in words (with its limit).
    pub target: String,
    /// The measured value.
    pub measured: f64,
    /// The measured value as the table shows it (`1.07×`).
    pub shown: String,
    /// The limit.
    pub limit: f64,
    /// Which side of the limit is met.
    pub bound: Bound,
}

impl Target {
    /// Whether the measurement is on the right side of the limit.
    pub fn met(&self) -> bool {
        match self.bound {
            Bound::AtMost => self.measured <= self.limit,
            Bound::AtLeast => self.measured >= self.limit,
        }
    }

    /// `met`, or `missed by N×` (how far off, as a factor ≥ 1).
    pub fn status(&self) -> String {
        if self.met() {
            "met".into()
        } else {
            let factor = match self.bound {
                Bound::AtMost => self.measured / self.limit,
                Bound::AtLeast => self.limit / self.measured,
            };
            format!("missed by {factor:.1}×")
        }
    }
}

/// `10^k` for powers of ten, the number otherwise.
fn pow10(d: usize) -> String {
    let e = (d as f64).log10().round() as u32;
    if 10usize.checked_pow(e) == Some(d) {
        format!("10^{e}")
    } else {
        d.to_string()
    }
}

/// The sizes of the large-D table and the targets: beyond the caches, D ≥ 10⁶.
fn big_sizes(r: &SpeedReport) -> Vec<usize> {
    r.sizes
        .iter()
        .copied()
        .filter(|&d| d >= 1_000_000)
        .collect()
}

impl SpeedReport {
    /// The model table, the fixed cost per tensor and the profile of a Meta-SGD step, where
    /// measured.
    fn render_profile(&self, s: &mut String) {
        let r = self;
        if !r.models.is_empty() {
            let _ = writeln!(
                s,
                "\nOne online training update (forward, backward, the step over every tensor; \
                 batch 1) of the papers' models, µs (×Adam): the LeNet on MNIST-sized images \
                 (8 tensors of 2–16,000 coordinates, 21,432 parameters) and the forward-dynamics LSTM (128-step \
                 subsequences):\n"
            );
            let _ = write!(s, "| optimizer |");
            for m in super::MODELS {
                let _ = write!(s, " {m} |");
            }
            let _ = writeln!(s, "\n|---|{}", "---:|".repeat(super::MODELS.len()));
            for key in r.cases.iter().filter(|k| k.kernels == Kernels::Dispatched) {
                let _ = write!(s, "| {} |", key.label());
                for m in super::MODELS {
                    match r.model_row(m, key) {
                        Some(x) => {
                            let _ = write!(s, " {:.0} ({:.2}) |", x.us_per_update, x.ratio_to_adam);
                        }
                        None => {
                            let _ = write!(s, " – |");
                        }
                    }
                }
                let _ = writeln!(s);
            }
        }
        if !r.fixed.is_empty() {
            let _ = writeln!(
                s,
                "\nFixed cost per tensor: one step of a tensor of {} coordinates, ns (×Adam) — \
                 what every tensor pays whatever its size:\n",
                super::FIXED_D
            );
            let _ = writeln!(s, "| optimizer | ns per step | ×Adam |\n|---|---:|---:|");
            for x in &r.fixed {
                let _ = writeln!(
                    s,
                    "| {} | {:.0} | {:.1} |",
                    x.case.label(),
                    x.ns_per_step,
                    x.ratio_to_adam
                );
            }
        }
        if !r.phases.is_empty() {
            let _ = writeln!(
                s,
                "\nProfile of one Meta-SGD step (M = 20, default kernels), ns per coordinate, side \
                 by side: the memory's update (signal, G, θ: one pass over z_{{t−1}} and z_t), the \
                 memory's whole step (the update, then the second pass: every rate, the move, the \
                 trace), the optimizer's whole step (plus its checks and bookkeeping), Adam's \
                 step, and a copy of the tensor:\n"
            );
            let _ = writeln!(
                s,
                "| D | update | prediction + move (step − update) | memory step | optimizer step | Adam | copy | optimizer ×Adam |"
            );
            let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|");
            for p in &r.phases {
                let _ = writeln!(
                    s,
                    "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
                    pow10(p.d),
                    p.learn_ns,
                    p.step_ns - p.learn_ns,
                    p.step_ns,
                    p.optimizer_ns,
                    p.adam_ns,
                    p.copy_ns,
                    p.optimizer_ns / p.adam_ns
                );
            }
        }
    }

    /// The targets of the suite on this run's numbers: the isolated Meta-SGD step within 1.5×
    /// of Adam's at D ≥ 10⁶ and 2.5× at D = 10³ (M = 20), 2× at M = 100; ≥ 100× faster than
    /// the authors' PyTorch step ([`super::AUTHORS_STEP_MS`]) and than the dense D×M
    /// formulation at D = 10⁶; the portable kernels within 2× of the fastest at the largest
    /// D; one online update of each model with Meta-SGD within 1.10× of Adam's, with
    /// Meta-Adam within 1.15×; ns per coordinate flat in D beyond the caches and nearly flat in
    /// M (≤ 1.25); every optimizer within 2× of the copy-bandwidth bound at the largest D.
    /// Targets whose rows are missing are left out.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        self.step_targets(&mut out);
        self.speedup_targets(&mut out);
        self.model_targets(&mut out);
        self.scaling_targets(&mut out);
        out
    }

    /// Meta-SGD's step against Adam's at D = 10³ and beyond the caches.
    fn step_targets(&self, out: &mut Vec<Target>) {
        let big = big_sizes(self);
        let m20 = CaseKey::of("meta-sgd:m=20");
        let m100 = CaseKey::of("meta-sgd:m=100");
        let small = self.sizes.iter().copied().filter(|&d| d == 1_000);
        for d in small.chain(big.iter().copied()) {
            for (key, limit) in [(&m20, if d < 1_000_000 { 2.5 } else { 1.5 }), (&m100, 2.0)] {
                if d < 1_000_000 && key == &m100 {
                    continue;
                }
                if let Some(x) = self.row(key, d) {
                    out.push(at_most(
                        format!(
                            "Meta-SGD step ≤ {limit}× Adam's, D={}, M={}",
                            pow10(d),
                            key.centers().unwrap_or_default()
                        ),
                        x.ratio_to_adam,
                        format!("{:.2}×", x.ratio_to_adam),
                        limit,
                    ));
                }
            }
        }
    }

    /// Meta-SGD against the authors' PyTorch step and against the dense formulation.
    fn speedup_targets(&self, out: &mut Vec<Target>) {
        let m20 = CaseKey::of("meta-sgd:m=20");
        if let Some(x) = self.row(&m20, 1_000_000) {
            let speedup = super::AUTHORS_STEP_MS / x.ns_per_coord;
            out.push(Target {
                target: format!(
                    "Meta-SGD ≥ 100× faster than the authors' PyTorch step ({} ms), D=10^6, M=20",
                    super::AUTHORS_STEP_MS
                ),
                measured: speedup,
                shown: format!("{speedup:.0}× ({:.2} ms)", x.ns_per_coord),
                limit: 100.0,
                bound: Bound::AtLeast,
            });
        }
        if let Some(x) = self.dense_at(1_000_000) {
            out.push(Target {
                target: format!("Meta-SGD ≥ 100× faster than dense, D=10^6, M={}", x.centers),
                measured: x.speedup_of_meta_sgd,
                shown: format!("{:.0}×", x.speedup_of_meta_sgd),
                limit: 100.0,
                bound: Bound::AtLeast,
            });
        }
    }

    /// One online update of each model with the memory, against Adam's.
    fn model_targets(&self, out: &mut Vec<Target>) {
        for (spec, limit) in [("meta-sgd:m=20", 1.10), ("meta-adam:m=20", 1.15)] {
            for model in super::MODELS {
                if let Some(x) = self.model_row(model, &CaseKey::of(spec)) {
                    out.push(at_most(
                        format!("one online {model} update with {spec} ≤ {limit:.2}× Adam's"),
                        x.ratio_to_adam,
                        format!("{:.2}×", x.ratio_to_adam),
                        limit,
                    ));
                }
            }
        }
    }

    /// Beyond the caches: the portable kernels, flatness in D and in M, the roofline.
    fn scaling_targets(&self, out: &mut Vec<Target>) {
        let big = big_sizes(self);
        let m20 = CaseKey::of("meta-sgd:m=20");
        let m100 = CaseKey::of("meta-sgd:m=100");
        let adam = CaseKey::of(super::REFERENCE);
        let (Some(&lo), Some(&hi)) = (big.first(), big.last()) else {
            return;
        };
        let portable = m20.clone().portable();
        if let Some(p) = self.row(&portable, hi) {
            let best = [m20.clone(), m20.clone().fastest()]
                .iter()
                .filter_map(|k| self.row(k, hi))
                .map(|x| x.ns_per_coord)
                .fold(f64::INFINITY, f64::min);
            if best.is_finite() {
                let ratio = p.ns_per_coord / best;
                out.push(at_most(
                    format!(
                        "Meta-SGD's portable kernels within 2× of the fastest, D={}",
                        pow10(hi)
                    ),
                    ratio,
                    format!("{ratio:.2}×"),
                    2.0,
                ));
            }
        }
        for key in [&m20, &m100, &adam] {
            if let (Some(a), Some(b)) = (self.row(key, lo), self.row(key, hi)) {
                let growth = b.ns_per_coord / a.ns_per_coord;
                out.push(at_most(
                    format!(
                        "{}: ns/coord flat in D beyond the caches (D={} over D={}, ≤ 1.25)",
                        key.label(),
                        pow10(hi),
                        pow10(lo)
                    ),
                    growth,
                    format!("{growth:.2}"),
                    1.25,
                ));
            }
        }
        if let (Some(a), Some(b)) = (self.row(&m20, hi), self.row(&m100, hi)) {
            let growth = b.ns_per_coord / a.ns_per_coord;
            out.push(at_most(
                format!(
                    "Meta-SGD nearly flat in M (M=100 over M=20 at D={}, ≤ 1.25)",
                    pow10(hi)
                ),
                growth,
                format!("{growth:.2}"),
                1.25,
            ));
        }
        for key in self
            .cases
            .iter()
            .filter(|k| k.kernels == Kernels::Dispatched)
        {
            if let Some(x) = self.row(key, hi) {
                out.push(at_most(
                    format!(
                        "{} within 2× of the copy-bandwidth bound at D={}",
                        key.label(),
                        pow10(hi)
                    ),
                    x.roofline_ratio,
                    format!("{:.2}×", x.roofline_ratio),
                    2.0,
                ));
            }
        }
    }

    /// `SPEED.md`: the speed section of `REPORT.md`. Per case: state and traffic per
    /// coordinate; at each D ≥ 10⁶ ns/coordinate, the ratio to Adam in the same run, GB/s, the
    /// fraction of the copy bandwidth and × roofline; ns/coordinate (×Adam) at every D; the
    /// bandwidth and the dense baseline; the [`targets`](SpeedReport::targets); the state per
    /// coordinate; the scaling figure (`speed_scaling.png`, beside the Markdown file).
    pub fn render_markdown(&self) -> String {
        let mut s = String::new();
        self.render_intro(&mut s);
        self.render_large(&mut s);
        self.render_every_size(&mut s);
        self.render_bandwidth(&mut s);
        self.render_profile(&mut s);
        self.render_targets(&mut s);
        self.render_state(&mut s);
        s
    }

    /// The title and how the numbers were measured.
    fn render_intro(&self, s: &mut String) {
        let r = self;
        let _ = writeln!(s, "## Speed: one optimizer step on one tensor\n");
        let _ = writeln!(
            s,
            "{} · memory kernels: `{}` · {} profile, {} interleaved rounds per size, {:.0} s. \
             Times are medians over rounds; ratios are medians of per-round ratios taken side by \
             side (the machine is shared: quote ratios, not absolute times). Gradients: \
             `lrmem_bench::speed::gradients` (clip 1; most |g| ≈ 0.02, some ≈ 0.3, 2% beyond the clip). \
             Optimizers are named by their specs (`lrmem_optimizers::OptimizerSpec`, defaults \
             elsewhere); meta optimizers: lm_scale 0.5, cutoff 9σ, Adam on θ. Bytes per \
             coordinate are the traffic a step needs (`lrmem_bench::speed::cases`, from the optimizers' registry: Adam reads g, w, m, \
             v and writes w, m, v = 28 B); \"of copy\" divides the resulting GB/s by the copy \
             bandwidth measured at the same D, and \"× roofline\" is the time over that \
             bandwidth's time for those bytes.\n",
            r.cpu,
            r.kernel,
            if r.quick { "quick" } else { "full" },
            r.rounds,
            r.seconds
        );
    }

    /// Per case at every D ≥ 10⁶: ns/coordinate, ×Adam, GB/s, the fraction of copy, ×roofline.
    fn render_large(&self, s: &mut String) {
        let r = self;
        let big = big_sizes(r);
        // Large-D table.
        let _ = write!(s, "| optimizer | state B/coord | bytes/coord |");
        for &d in &big {
            let _ = write!(
                s,
                " D={} ns/coord | ×Adam | GB/s | of copy | ×roofline |",
                pow10(d)
            );
        }
        let _ = writeln!(s);
        let _ = write!(s, "|---|---:|---:|");
        for _ in &big {
            let _ = write!(s, "---:|---:|---:|---:|---:|");
        }
        let _ = writeln!(s);
        for key in &r.cases {
            let Some(any) = r.any_row(key) else {
                continue;
            };
            let state = if has_memory(&key.spec) {
                format!("{} + O(M)", any.state_bytes)
            } else {
                any.state_bytes.to_string()
            };
            let _ = write!(s, "| {} | {state} | {} |", key.label(), any.bytes_per_coord);
            for &d in &big {
                match r.row(key, d) {
                    Some(x) => {
                        let _ = write!(
                            s,
                            " {:.3} | {:.2} | {:.1} | {:.0}% | {:.2} |",
                            x.ns_per_coord,
                            x.ratio_to_adam,
                            x.gbps,
                            100.0 * x.frac_copy,
                            x.roofline_ratio
                        );
                    }
                    None => {
                        let _ = write!(s, " – | – | – | – | – |");
                    }
                }
            }
            let _ = writeln!(s);
        }
    }

    /// ns/coordinate (×Adam) per case at every D.
    fn render_every_size(&self, s: &mut String) {
        let r = self;
        // Every size.
        let _ = writeln!(
            s,
            "\nns per coordinate at every size (×Adam in parentheses):\n"
        );
        let _ = write!(s, "| optimizer |");
        for &d in &r.sizes {
            let _ = write!(s, " D={} |", pow10(d));
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "|---|{}", "---:|".repeat(r.sizes.len()));
        for key in &r.cases {
            let _ = write!(s, "| {} |", key.label());
            for &d in &r.sizes {
                match r.row(key, d) {
                    Some(x) => {
                        let _ = write!(s, " {:.3} ({:.2}) |", x.ns_per_coord, x.ratio_to_adam);
                    }
                    None => {
                        let _ = write!(s, " – |");
                    }
                }
            }
            let _ = writeln!(s);
        }
    }

    /// The memory bandwidth and the dense baseline per D.
    fn render_bandwidth(&self, s: &mut String) {
        let r = self;
        // Bandwidth and dense.
        let _ = writeln!(
            s,
            "\nMemory bandwidth (STREAM copy 8 B/element, triad 12 B/element) and the dense D×M \
             baseline (the authors' formulation, `lrmem_bench::speed::dense`, M = 20, against {}):\n",
            r.dense
                .first()
                .map_or(super::DENSE_PEER.to_string(), |x| x.peer.label())
        );
        let _ = writeln!(
            s,
            "| D | copy GB/s | triad GB/s | copy ns/coord | dense ns/coord | Meta-SGD speedup over dense |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|");
        for b in &r.bandwidth {
            let dense = r.dense_at(b.d);
            let _ = writeln!(
                s,
                "| {} | {:.1} | {:.1} | {:.3} | {} | {} |",
                pow10(b.d),
                b.copy_gbps,
                b.triad_gbps,
                b.copy_ns_per_coord,
                dense.map_or("–".into(), |x| format!("{:.1}", x.ns_per_coord)),
                dense.map_or("–".into(), |x| format!("{:.0}×", x.speedup_of_meta_sgd))
            );
        }
    }

    /// The targets, checked on this run's numbers.
    fn render_targets(&self, s: &mut String) {
        let r = self;
        // Targets.
        let targets = r.targets();
        if !targets.is_empty() {
            let _ = writeln!(s, "\nTargets (same run):\n");
            let _ = writeln!(s, "| target | measured | status |");
            let _ = writeln!(s, "|---|---:|---|");
            for t in &targets {
                let _ = writeln!(s, "| {} | {} | {} |", t.target, t.shown, t.status());
            }
        }
    }

    /// The state per coordinate, and the figure.
    fn render_state(&self, s: &mut String) {
        let r = self;
        // State.
        let state: Vec<String> = r
            .cases
            .iter()
            .filter(|k| k.kernels == Kernels::Dispatched)
            .filter_map(|k| {
                r.any_row(k)
                    .map(|x| format!("{} {}", k.label(), x.state_bytes))
            })
            .collect();
        let _ = writeln!(
            s,
            "\nState per coordinate (bytes): {}. A memory adds O(M) per tensor: θ and its Adam \
             moments (3M f32) and, for evenly spaced centres, the large-tensor update's bins \
             (M·nb·32 B, nb ≈ 225 bins per centre at lm_scale 0.5: 144 KB for M = 20) plus fixed \
             tables (~100 KB).\n",
            state.join(", ")
        );
        let _ = writeln!(s, "![ns per coordinate against D]({FIGURE_STEM}.png)\n");
    }

    /// The scaling figure: ns per coordinate against D (log–log), a line per case, copy
    /// (dashed grey) and the dense baseline (dashed black). Writes `stem.svg` and `stem.png`.
    pub fn plot(&self, stem: &Path) -> Result<[PathBuf; 2], SpeedError> {
        // Grey and black mark the references (copy, dense); the cases get the other colours.
        let palette: Vec<_> = plot::COLOURS
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != GREY && i != BLACK)
            .map(|(_, c)| *c)
            .collect();
        let mut lines: Vec<Line> = self
            .cases
            .iter()
            .enumerate()
            .map(|(i, key)| Line {
                label: key.label(),
                points: self
                    .rows
                    .iter()
                    .filter(|r| &r.case == key)
                    .map(|r| (r.d as f64, r.ns_per_coord))
                    .collect(),
                colour: palette[i % palette.len()],
                dashed: false,
            })
            .collect();
        lines.push(Line {
            label: "copy (8 B/coord)".into(),
            points: self
                .bandwidth
                .iter()
                .map(|b| (b.d as f64, b.copy_ns_per_coord))
                .collect(),
            colour: plot::COLOURS[GREY],
            dashed: true,
        });
        if let Some(first) = self.dense.first() {
            lines.push(Line {
                label: format!("dense D×M, M={}", first.centers),
                points: self
                    .dense
                    .iter()
                    .map(|x| (x.d as f64, x.ns_per_coord))
                    .collect(),
                colour: plot::COLOURS[BLACK],
                dashed: true,
            });
        }
        Ok(plot::log_log_lines(
            stem,
            [
                &format!("One optimizer step: ns per coordinate ({})", self.kernel),
                "D (coordinates in the tensor)",
                "ns per coordinate",
            ],
            &lines,
        )?)
    }

    /// The lines the `speed` binary prints after measuring size `d`: copy bandwidth, then per
    /// case ns/coordinate, ×Adam and ×roofline, then the dense baseline.
    pub fn size_summary(&self, d: usize) -> String {
        let mut s = String::new();
        if let Some(b) = self.bandwidth_at(d) {
            let _ = writeln!(s, "D = {d}: copy {:.1} GB/s", b.copy_gbps);
        }
        for row in self.rows.iter().filter(|r| r.d == d) {
            let _ = writeln!(
                s,
                "  {:<34} {:>8.3} ns/coord {:>6.2}x adam {:>5.2}x roofline",
                row.case.label(),
                row.ns_per_coord,
                row.ratio_to_adam,
                row.roofline_ratio
            );
        }
        if let Some(dn) = self.dense_at(d) {
            let _ = writeln!(
                s,
                "  dense M={} {:>8.3} ns/coord, {} {:.0}x faster",
                dn.centers,
                dn.ns_per_coord,
                dn.peer.label(),
                dn.speedup_of_meta_sgd
            );
        }
        s
    }
}
