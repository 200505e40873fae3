//! `einet sample`: unconditional samples as a PNG grid (images) or CSV.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::SampleArgs;
use crate::image_grid::{Tile, auto_scale, grid, write_png};
use einet::{data_info, load_model};
use einet_data::registry::DataInfo;

/// Image tiles of `rows` rows of model values, on the raw pixel scale of `info`.
pub fn tiles(values: &[f32], rows: usize, info: &DataInfo) -> Result<Vec<Tile>> {
    let Some([h, w]) = info.image_shape else {
        bail!("the model was not trained on images; write a .csv file instead");
    };
    if info.row_len() == 0 {
        bail!("the data set '{}' has no values per row", info.dataset);
    }
    let max = info.pixel_max.unwrap_or(1.0) * info.scale;
    Ok(values
        .chunks_exact(info.row_len())
        .take(rows)
        .map(|row| Tile::from_values(row, h, w, info.channels, max))
        .collect())
}

/// Writes `rows` rows of model values as a square-ish PNG grid.
pub fn write_image_grid(
    values: &[f32],
    rows: usize,
    info: &DataInfo,
    scale: Option<usize>,
    path: &Path,
) -> Result<()> {
    let tiles = tiles(values, rows, info)?;
    let [h, w] = info.image_shape.unwrap_or([1, 1]);
    let cols = (rows as f64).sqrt().ceil() as usize;
    let image = grid(&tiles, cols, scale.unwrap_or_else(|| auto_scale(h, w)))?;
    write_png(path, &image)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn image_info(num_vars: usize, image_shape: [usize; 2]) -> DataInfo {
        DataInfo {
            dataset: "digits".into(),
            data_dir: None,
            num_vars,
            channels: 1,
            image_shape: Some(image_shape),
            pixel_max: Some(16.0),
            scale: 1.0,
            split_seed: 0,
            rows: [0; 3],
        }
    }

    #[test]
    fn tiles_of_inconsistent_data_information_are_errors() {
        let err = tiles(&[1.0; 4], 2, &image_info(0, [0, 0])).unwrap_err();
        assert!(err.to_string().contains("no values per row"), "{err}");
        // Rows of 4 values drawn as 3x3 images.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        let err = write_image_grid(&[1.0; 8], 2, &image_info(4, [3, 3]), None, &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("3x3 pixels of 1 channels has 4 values"),
            "{err}"
        );
        assert!(!path.exists());
    }
}
