//! `einet sample`: unconditional samples as a PNG grid (images) or CSV.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::SampleArgs;
use einet::images::write_image_grid;
use einet::{data_info, load_model};

/// Column names of a data row: `x0, x1, …` (`x0_c0, …` for several channels).
pub fn column_names(num_vars: usize, channels: usize) -> Vec<String> {
    (0..num_vars)
        .flat_map(|v| {
            (0..channels).map(move |c| {
                if channels == 1 {
                    format!("x{v}")
                } else {
                    format!("x{v}_c{c}")
                }
            })
        })
        .collect()
}

/// Writes CSV lines (a header, then rows) to `path` atomically, or to standard output.
pub fn write_csv(path: Option<&Path>, header: &[String], rows: &[Vec<String>]) -> Result<()> {
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        writeln!(out, "{}", header.join(","))?;
        for row in rows {
            writeln!(out, "{}", row.join(","))?;
        }
        out.flush()
    };
    match path {
        None => write(&mut std::io::stdout().lock()).context("cannot write to standard output"),
        Some(path) => crate::output::atomic_write(path, |out| Ok(write(out)?)),
    }
}

/// A model value on the raw data scale, as CSV text (empty when missing).
pub fn raw_text(value: f32, scale: f32) -> String {
    if value.is_nan() {
        String::new()
    } else {
        format!("{}", value / scale)
    }
}

/// Runs `einet sample`.
pub fn run(args: &SampleArgs) -> Result<()> {
    let device = args.run.device()?;
    if !(args.std_correction >= 0.0 && args.std_correction.is_finite()) {
        bail!("--std-correction must be a number >= 0");
    }
    let einet = load_model(&args.model)?;
    let info = data_info(&einet, &args.model)?;
    let ext = args
        .out
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let png = match ext.as_str() {
        "png" => true,
        "csv" => false,
        _ => bail!(
            "--out {}: the file must end in .png (image models) or .csv",
            args.out.display()
        ),
    };
    let image_info = match info.as_ref().filter(|i| i.is_image()) {
        Some(i) if png => Some(i),
        None if png => bail!(
            "{} was not trained on images (its training record has no image shape); write a \
             .csv file instead",
            args.model.display()
        ),
        _ => None,
    };
    let mut model = device.load(&einet)?;
    let values = model
        .sample(args.n, args.class, args.seed, args.std_correction)
        .context("cannot draw samples")?;
    if let Some(info) = image_info {
        write_image_grid(&values, args.n, info, args.scale, &args.out)?;
    } else {
        let (v, c) = (einet.layout.num_vars, einet.layout.num_channels);
        let scale = info.as_ref().map_or(1.0, |i| i.scale);
        let rows: Vec<Vec<String>> = values
            .chunks_exact(v * c)
            .map(|r| r.iter().map(|&x| raw_text(x, scale)).collect())
            .collect();
        write_csv(Some(&args.out), &column_names(v, c), &rows)?;
    }
    println!("wrote {} samples to {}", args.n, args.out.display());
    Ok(())
}
