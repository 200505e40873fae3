//! Training curves: the train, validation and test log-likelihood of every epoch as a line
//! chart with a title, a legend and numbered axes, drawn with a built-in 5×7 bitmap font.

use super::font::{self, GLYPH_HEIGHT, GLYPH_WIDTH};
use super::grid::Image;
use crate::train::EpochMetrics;

/// Width of a training-curve picture, in pixels.
pub const CURVE_WIDTH: usize = 800;
/// Height of a training-curve picture, in pixels.
pub const CURVE_HEIGHT: usize = 500;

/// An RGB colour.
type Rgb = [u8; 3];

const WHITE: Rgb = [255, 255, 255];
/// Text, frame and ticks.
const INK: Rgb = [40, 40, 40];
/// Grid lines at the ticks.
const GRID: Rgb = [225, 225, 225];
/// The lines of the train, validation and test log-likelihood.
const TRAIN: Rgb = [31, 119, 180];
const VALID: Rgb = [255, 127, 14];
const TEST: Rgb = [44, 160, 44];

/// Output pixels per font pixel, each way.
const TEXT_SCALE: usize = 2;
/// Horizontal distance between the starts of two characters.
const ADVANCE: usize = (GLYPH_WIDTH + 1) * TEXT_SCALE;
/// Height of a line of text, descenders included.
const LINE: usize = GLYPH_HEIGHT * TEXT_SCALE;
/// Height of capitals and digits.
const CAP: usize = 7 * TEXT_SCALE;
/// Space around the picture's contents.
const MARGIN: usize = 12;
/// Space between the plot's frame and the extreme points of its lines.
const INSET: usize = 10;
/// Length of a tick mark outside the frame.
const TICK: usize = 5;
/// Every point of a series with at most this many points gets a marker; longer series mark
/// only points without a neighbour to draw a line to.
const MARKED: usize = 60;

/// Draws the train, validation and test log-likelihood (nats per instance) of each epoch in
/// `history` as a [`CURVE_WIDTH`] × [`CURVE_HEIGHT`] RGB line chart headed by `title`, with a
/// legend, the epochs numbered along x and the log-likelihood along y. Values that are not
/// finite are left out (lines break there); a series without a finite value is not drawn
/// and not in the legend. One epoch gives one marker per series; equal values a flat line.
pub fn training_curve(history: &[EpochMetrics], title: &str) -> Image {
    training_chart(history, title).0
}

/// [`training_curve`] and where its values went.
fn training_chart(history: &[EpochMetrics], title: &str) -> (Image, Plot) {
    let series = |name, colour, ll: fn(&EpochMetrics) -> f64| Series {
        name,
        colour,
        points: history.iter().map(|m| (m.epoch as f64, ll(m))).collect(),
    };
    chart(
        title,
        "LL (nats/instance)",
        "epoch",
        &[
            series("train", TRAIN, |m| m.train_ll),
            series("valid", VALID, |m| m.valid_ll),
            series("test", TEST, |m| m.test_ll),
        ],
    )
}

/// One line of a chart: its `(x, y)` points in order.
struct Series {
    name: &'static str,
    colour: Rgb,
    points: Vec<(f64, f64)>,
}

impl Series {
    /// The points whose coordinates are both finite, each with its index.
    fn finite(&self) -> impl Iterator<Item = (usize, (f64, f64))> + '_ {
        self.points
            .iter()
            .enumerate()
            .filter(|(_, p)| is_finite(**p))
            .map(|(i, &p)| (i, p))
    }
}

fn is_finite((x, y): (f64, f64)) -> bool {
    x.is_finite() && y.is_finite()
}

/// Maps values from `lo..=hi` linearly to pixels from `start` to `end` (either way round).
#[derive(Clone, Copy, Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    start: f64,
    end: f64,
}

impl Axis {
    /// The pixel of `v`, clamped to the axis.
    fn pixel(&self, v: f64) -> i64 {
        let t = ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        let t = if t.is_nan() { 0.0 } else { t };
        (self.start + t * (self.end - self.start)).round() as i64
    }
}

/// Where a chart's values went: its axes and the frame of its plot.
#[derive(Clone, Copy, Debug)]
struct Plot {
    x: Axis,
    y: Axis,
    left: usize,
    top: usize,
    right: usize,
    bottom: usize,
}

impl Plot {
    /// The plot of x values `x[0]..=x[1]` and y values `y[0]..=y[1]` framed by the columns
    /// `left` and `right` and the rows `top` and `bottom`, the extremes [`INSET`] inside.
    fn new(x: [f64; 2], y: [f64; 2], left: usize, top: usize, right: usize, bottom: usize) -> Plot {
        Plot {
            x: Axis {
                lo: x[0],
                hi: x[1],
                start: (left + INSET) as f64,
                end: (right - INSET) as f64,
            },
            y: Axis {
                lo: y[0],
                hi: y[1],
                start: (bottom - INSET) as f64,
                end: (top + INSET) as f64,
            },
            left,
            top,
            right,
            bottom,
        }
    }

    /// The pixel of the point `(x, y)`.
    fn pixel(&self, (x, y): (f64, f64)) -> (i64, i64) {
        (self.x.pixel(x), self.y.pixel(y))
    }
}

/// Draws `series` as a line chart of [`CURVE_WIDTH`] × [`CURVE_HEIGHT`] pixels, headed by
/// `title`, with `caption` (the y quantity) above the plot, left, and the legend right.
fn chart(title: &str, caption: &str, x_label: &str, series: &[Series]) -> (Image, Plot) {
    let (width, height) = (CURVE_WIDTH, CURVE_HEIGHT);
    let mut canvas = Canvas::new(width, height);
    let title = truncate(title, width - 2 * MARGIN);
    canvas.text((width - text_width(&title)) / 2, MARGIN, &title, INK);

    // The caption and the legend share the row under the title.
    let row = MARGIN + LINE + 8;
    canvas.text(MARGIN, row, caption, INK);
    let shown: Vec<&Series> = series.iter().filter(|s| s.finite().count() > 0).collect();
    let (swatch, gap) = (20, 24);
    let legend: usize = shown
        .iter()
        .map(|s| swatch + 6 + text_width(s.name) + gap)
        .sum();
    let mut x = (width - MARGIN + gap).saturating_sub(legend);
    for s in &shown {
        let middle = row + CAP / 2;
        canvas.fill(x, middle - 1, swatch, 3, s.colour);
        canvas.text(x + swatch + 6, row, s.name, INK);
        x += swatch + 6 + text_width(s.name) + gap;
    }

    let all = |coordinate: fn((f64, f64)) -> f64| {
        series
            .iter()
            .flat_map(|s| s.finite().map(move |(_, p)| coordinate(p)))
            .collect::<Vec<_>>()
    };
    let (x_lo, x_hi) = range(&all(|p| p.0));
    let (y_lo, y_hi) = range(&all(|p| p.1));
    let (x_ticks, x_decimals) = ticks(x_lo, x_hi, 8, 1.0);
    let (y_ticks, y_decimals) = ticks(y_lo, y_hi, 6, 0.0);
    let y_labels: Vec<String> = y_ticks.iter().map(|&v| label(v, y_decimals)).collect();
    let label_width = y_labels.iter().map(|l| text_width(l)).max().unwrap_or(0);
    let plot = Plot::new(
        [x_lo, x_hi],
        [y_lo, y_hi],
        (MARGIN + label_width + 6 + TICK).min(width / 2),
        row + LINE + 10,
        width - 3 * MARGIN,
        height - MARGIN - LINE - 6 - LINE - 4 - TICK,
    );
    let Plot {
        left,
        top,
        right,
        bottom,
        ..
    } = plot;

    for (&v, l) in y_ticks.iter().zip(&y_labels) {
        let y = plot.y.pixel(v) as usize;
        canvas.fill(left + 1, y, right - left - 1, 1, GRID);
        canvas.fill(left - TICK, y, TICK, 1, INK);
        let x = (left - TICK - 6).saturating_sub(text_width(l));
        canvas.text(x, y.saturating_sub(CAP / 2), l, INK);
    }
    for &v in &x_ticks {
        let x = plot.x.pixel(v) as usize;
        let l = label(v, x_decimals);
        canvas.fill(x, top + 1, 1, bottom - top - 1, GRID);
        canvas.fill(x, bottom, 1, TICK, INK);
        let lx = x.saturating_sub(text_width(&l) / 2);
        canvas.text(lx, bottom + TICK + 4, &l, INK);
    }
    canvas.fill(left, top, right - left + 1, 1, INK);
    canvas.fill(left, bottom, right - left + 1, 1, INK);
    canvas.fill(left, top, 1, bottom - top + 1, INK);
    canvas.fill(right, top, 1, bottom - top + 1, INK);
    let label_x = (left + right).saturating_sub(text_width(x_label)) / 2;
    canvas.text(label_x, height - MARGIN - LINE, x_label, INK);

    for s in series {
        let finite: Vec<(usize, (f64, f64))> = s.finite().collect();
        for pair in finite.windows(2) {
            let ((i, a), (j, b)) = (pair[0], pair[1]);
            if j == i + 1 {
                canvas.line(plot.pixel(a), plot.pixel(b), s.colour);
            }
        }
        let has_neighbour = |i: usize| {
            [i.wrapping_sub(1), i + 1]
                .iter()
                .any(|&n| s.points.get(n).is_some_and(|&p| is_finite(p)))
        };
        for &(i, p) in &finite {
            if s.points.len() <= MARKED || !has_neighbour(i) {
                let (x, y) = plot.pixel(p);
                let (x, y) = (x.max(2) as usize - 2, y.max(2) as usize - 2);
                canvas.fill(x, y, 5, 5, s.colour);
            }
        }
    }
    (canvas.0, plot)
}

/// The smallest and largest of `values`; `0..=1` when there are none, and widened around
/// the value when they are (about) equal.
fn range(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo > hi {
        return (0.0, 1.0);
    }
    let middle = lo / 2.0 + hi / 2.0;
    if hi - lo > 1e-9 * middle.abs().max(1.0) {
        (lo, hi)
    } else {
        let half = (0.05 * middle.abs()).max(0.5);
        (middle - half, middle + half)
    }
}

/// About `target` round-numbered ticks within `lo..=hi`, 1, 2 or 5 times a power of ten
/// apart and at least `min_step`, and the decimals their labels need.
fn ticks(lo: f64, hi: f64, target: usize, min_step: f64) -> (Vec<f64>, usize) {
    let raw = (hi - lo) / target as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return (Vec::new(), 0);
    }
    let mut exponent = raw.log10().floor() as i32;
    let power = 10f64.powi(exponent);
    let multiple = [1.0, 2.0, 5.0]
        .into_iter()
        .find(|&m| m * power >= raw)
        .unwrap_or_else(|| {
            exponent += 1;
            1.0
        });
    let mut step = multiple * 10f64.powi(exponent);
    if step < min_step {
        step = min_step;
        exponent = min_step.log10().floor() as i32;
    }
    let (first, last) = ((lo / step).ceil(), (hi / step).floor());
    if !(first.is_finite() && last.is_finite()) || last < first || last - first > 100.0 {
        return (Vec::new(), 0);
    }
    let ticks = (0..=(last - first) as usize)
        .map(|k| (first + k as f64) * step + 0.0)
        .collect();
    (ticks, (-exponent).clamp(0, 9) as usize)
}

/// A tick label: `decimals` fixed decimals, or scientific notation if that is long.
fn label(v: f64, decimals: usize) -> String {
    let fixed = format!("{v:.decimals$}");
    if fixed.len() > 12 {
        format!("{v:.3e}")
    } else {
        fixed
    }
}

/// Width in pixels of `text` drawn by [`Canvas::text`].
fn text_width(text: &str) -> usize {
    (text.chars().count() * ADVANCE).saturating_sub(TEXT_SCALE)
}

/// `text`, shortened with `...` to at most `width` pixels.
fn truncate(text: &str, width: usize) -> String {
    if text_width(text) <= width {
        return text.to_string();
    }
    let keep = ((width + TEXT_SCALE) / ADVANCE).saturating_sub(3);
    text.chars().take(keep).chain("...".chars()).collect()
}

/// An RGB image being drawn; drawing outside it is ignored.
struct Canvas(Image);

impl Canvas {
    fn new(width: usize, height: usize) -> Canvas {
        Canvas(Image {
            width,
            height,
            channels: 3,
            pixels: WHITE.repeat(width * height),
        })
    }

    fn set(&mut self, x: usize, y: usize, colour: Rgb) {
        if x < self.0.width && y < self.0.height {
            let i = (y * self.0.width + x) * 3;
            self.0.pixels[i..i + 3].copy_from_slice(&colour);
        }
    }

    /// Fills the `w × h` rectangle whose top left pixel is `(x, y)`.
    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, colour: Rgb) {
        for yy in y..y.saturating_add(h) {
            for xx in x..x.saturating_add(w) {
                self.set(xx, yy, colour);
            }
        }
    }

    /// A line two pixels thick from `a` to `b` (Bresenham's).
    fn line(&mut self, a: (i64, i64), b: (i64, i64), colour: Rgb) {
        let (dx, dy) = ((b.0 - a.0).abs(), -(b.1 - a.1).abs());
        let (sx, sy) = ((b.0 - a.0).signum(), (b.1 - a.1).signum());
        let (mut x, mut y, mut error) = (a.0, a.1, dx + dy);
        loop {
            if let (Ok(px), Ok(py)) = (usize::try_from(x), usize::try_from(y)) {
                self.fill(px, py, 2, 2, colour);
            }
            if (x, y) == b {
                break;
            }
            let twice = 2 * error;
            if twice >= dy {
                error += dy;
                x += sx;
            }
            if twice <= dx {
                error += dx;
                y += sy;
            }
        }
    }

    /// Writes `text` with its top left corner at `(x, y)`.
    fn text(&mut self, x: usize, y: usize, text: &str, colour: Rgb) {
        for (i, c) in text.chars().enumerate() {
            let x0 = x + i * ADVANCE;
            for gy in 0..GLYPH_HEIGHT {
                for gx in 0..GLYPH_WIDTH {
                    if font::ink(c, gx, gy) {
                        let (px, py) = (x0 + gx * TEXT_SCALE, y + gy * TEXT_SCALE);
                        self.fill(px, py, TEXT_SCALE, TEXT_SCALE, colour);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::{read_png, write_png};

    fn epoch(epoch: usize, train_ll: f64, valid_ll: f64, test_ll: f64) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_ll,
            train_ll_running: train_ll,
            valid_ll,
            test_ll,
            seconds: 1.0,
            eval_seconds: 0.1,
            samples_per_s: 1000.0,
            improved: true,
        }
    }

    /// A run whose three curves rise and stay well apart.
    fn rising(epochs: usize) -> Vec<EpochMetrics> {
        (1..=epochs)
            .map(|e| {
                let ll = -10.0 + e as f64;
                epoch(e, ll, ll - 3.0, ll - 6.0)
            })
            .collect()
    }

    fn colour_at(image: &Image, (x, y): (i64, i64)) -> Rgb {
        let i = (y as usize * image.width + x as usize) * 3;
        [image.pixels[i], image.pixels[i + 1], image.pixels[i + 2]]
    }

    /// Pixels of `colour` in the image, and those of them inside the plot's frame.
    fn count(image: &Image, plot: &Plot, colour: Rgb) -> (usize, usize) {
        let (mut all, mut inside) = (0, 0);
        for (i, px) in image.pixels.chunks_exact(3).enumerate() {
            if px == colour {
                all += 1;
                let (x, y) = (i % image.width, i / image.width);
                if (plot.left..=plot.right).contains(&x) && (plot.top..=plot.bottom).contains(&y) {
                    inside += 1;
                }
            }
        }
        (all, inside)
    }

    /// Whether any pixel of the `w × h` rectangle at `(x, y)` is `colour`.
    fn any_in(image: &Image, (x, y, w, h): (usize, usize, usize, usize), colour: Rgb) -> bool {
        (y..y + h).any(|yy| (x..x + w).any(|xx| colour_at(image, (xx as i64, yy as i64)) == colour))
    }

    #[test]
    fn the_chart_writes_a_png_of_the_stated_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("training_curve.png");
        let image = training_curve(&rising(5), "digits: log-likelihood per epoch");
        write_png(&path, &image).unwrap();
        let read = read_png(&path).unwrap();
        assert_eq!(
            (read.width, read.height, read.channels),
            (CURVE_WIDTH, CURVE_HEIGHT, 3)
        );
        assert_eq!(read, image);
    }

    #[test]
    fn each_series_is_drawn_in_its_colour_through_its_points() {
        let history = rising(5);
        let (image, plot) = training_chart(&history, "t");
        for (colour, ll) in [
            (
                TRAIN,
                (|m: &EpochMetrics| m.train_ll) as fn(&EpochMetrics) -> f64,
            ),
            (VALID, |m| m.valid_ll),
            (TEST, |m| m.test_ll),
        ] {
            let (all, inside) = count(&image, &plot, colour);
            assert!(inside > 100, "{colour:?}: {inside} pixels in the plot");
            // The legend's swatch is the rest.
            assert!(all > inside, "{colour:?} has no legend entry");
            for m in &history {
                let p = plot.pixel((m.epoch as f64, ll(m)));
                assert_eq!(colour_at(&image, p), colour, "epoch {} at {p:?}", m.epoch);
            }
        }
        // Higher log-likelihoods are higher up, later epochs further right, all in the frame.
        let first = plot.pixel((1.0, history[0].test_ll));
        let best = plot.pixel((5.0, history[4].train_ll));
        assert!(best.1 < first.1 && best.0 > first.0, "{first:?} {best:?}");
        for (x, y) in [first, best] {
            assert!(x > plot.left as i64 && x < plot.right as i64);
            assert!(y > plot.top as i64 && y < plot.bottom as i64);
        }
    }

    #[test]
    fn the_axes_carry_numbered_ticks() {
        let (image, plot) = training_chart(&rising(5), "t");
        // Epochs 1 to 5 are labelled under their ticks, log-likelihoods -14 to -6 left of theirs.
        let (x_ticks, _) = ticks(plot.x.lo, plot.x.hi, 8, 1.0);
        assert_eq!(x_ticks, [1.0, 2.0, 3.0, 4.0, 5.0]);
        let (y_ticks, decimals) = ticks(plot.y.lo, plot.y.hi, 6, 0.0);
        assert_eq!(
            (y_ticks, decimals),
            (vec![-14.0, -12.0, -10.0, -8.0, -6.0], 0)
        );
        for v in [1.0, 5.0] {
            let x = plot.x.pixel(v) as usize;
            assert!(
                any_in(&image, (x - 6, plot.bottom + TICK + 4, 12, LINE), INK),
                "x {v}"
            );
        }
        let y = plot.y.pixel(-14.0) as usize;
        assert!(any_in(
            &image,
            (MARGIN, y - CAP / 2, plot.left - MARGIN - TICK, CAP),
            INK
        ));
        assert_eq!(label(-11.0, 0), "-11");
        assert_eq!(label(-0.25, 2), "-0.25");
        assert_eq!(label(-123456789.5, 3), "-1.235e8");
    }

    #[test]
    fn values_that_are_not_finite_are_left_out() {
        // The test LL is never finite; the valid LL has a gap at epoch 3.
        let history: Vec<EpochMetrics> = (1..=5)
            .map(|e| {
                let valid = if e == 3 { f64::NAN } else { -5.0 - e as f64 };
                let test = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][e % 3];
                epoch(e, -(e as f64), valid, test)
            })
            .collect();
        let (image, plot) = training_chart(&history, "t");
        assert_eq!(count(&image, &plot, TEST), (0, 0));
        assert!(count(&image, &plot, VALID).1 > 0);
        // No line through the gap: the pixel halfway from epoch 2 to 4 is not orange.
        let (a, b) = (plot.pixel((2.0, -7.0)), plot.pixel((4.0, -9.0)));
        let halfway = ((a.0 + b.0) / 2, (a.1 + b.1) / 2);
        assert_ne!(colour_at(&image, halfway), VALID);
        // The range is that of the finite values.
        assert_eq!((plot.y.lo, plot.y.hi), (-10.0, -1.0));
        // Nothing finite at all still draws the frame.
        let empty = vec![epoch(1, f64::NAN, f64::NAN, f64::NAN)];
        let (image, plot) = training_chart(&empty, "t");
        for colour in [TRAIN, VALID, TEST] {
            assert_eq!(count(&image, &plot, colour), (0, 0));
        }
        assert_eq!(colour_at(&image, (plot.left as i64, plot.top as i64)), INK);
        assert_eq!(
            training_curve(&[], "t").pixels.len(),
            CURVE_WIDTH * CURVE_HEIGHT * 3
        );
    }

    #[test]
    fn one_epoch_and_flat_curves_are_drawn() {
        let (image, plot) = training_chart(&[epoch(1, -2.0, -2.5, -3.0)], "one epoch");
        for (colour, ll) in [(TRAIN, -2.0), (VALID, -2.5), (TEST, -3.0)] {
            assert_eq!(colour_at(&image, plot.pixel((1.0, ll))), colour);
        }
        assert_eq!(ticks(plot.x.lo, plot.x.hi, 8, 1.0).0, [1.0]);
        // All values equal: a flat line in the middle, a range around it.
        let flat: Vec<EpochMetrics> = (1..=4).map(|e| epoch(e, -6.0, -6.0, -6.0)).collect();
        let (image, plot) = training_chart(&flat, "flat");
        assert!(plot.y.lo < -6.0 && plot.y.hi > -6.0);
        let (a, b) = (plot.pixel((1.0, -6.0)), plot.pixel((4.0, -6.0)));
        assert_eq!(a.1, b.1);
        assert_eq!(colour_at(&image, ((a.0 + b.0) / 2, a.1)), TEST);
        assert!(!ticks(plot.y.lo, plot.y.hi, 6, 0.0).0.is_empty());
    }

    #[test]
    fn extreme_values_do_not_break_the_chart() {
        for (lo, hi) in [(-1e308, 1e308), (-1e-300, 1e-300), (1e15, 1e15 + 1.0)] {
            let history = [epoch(1, lo, hi, lo), epoch(2, hi, lo, hi)];
            let image = training_curve(&history, &"a very long title ".repeat(20));
            assert_eq!(image.pixels.len(), CURVE_WIDTH * CURVE_HEIGHT * 3);
        }
        assert_eq!(truncate(&"x".repeat(100), 10 * ADVANCE).chars().count(), 10);
    }
}
