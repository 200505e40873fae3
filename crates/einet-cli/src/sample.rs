//! `einet sample`: unconditional samples as a PNG grid (images) or CSV.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::SampleArgs;
use einet::images::write_image_grid;
use einet::registry::value_names;
use einet::{DataInfo, data_info, load_model};

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

/// Rows of model values as the data writes them ([`DataInfo::value_text`]).
pub fn text_rows(values: &[f32], info: &DataInfo) -> Vec<Vec<String>> {
    values
        .chunks_exact(info.row_len())
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, &x)| info.value_text(i, x))
                .collect()
        })
        .collect()
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
        let (names, rows) = match &info {
            Some(info) => (info.column_names(), text_rows(&values, info)),
            None => (
                value_names(v, c),
                values
                    .chunks_exact(v * c)
                    .map(|r| r.iter().map(|x| x.to_string()).collect())
                    .collect(),
            ),
        };
        write_csv(Some(&args.out), &names, &rows)?;
    }
    println!("wrote {} samples to {}", args.n, args.out.display());
    Ok(())
}
