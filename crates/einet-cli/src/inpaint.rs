//! `einet inpaint`: conditional samples and MPE completions of partly hidden images.

use std::path::Path;

use anyhow::{Context, Result, bail};
use einet_data::Dataset;

use crate::InpaintArgs;
use crate::eval::model_and_data;
use crate::hide::apply;
use crate::image_grid::{auto_scale, grid, write_png};
use crate::sample::tiles;
use einet_data::registry::DataInfo;

/// Colour of hidden pixels in the "masked" column.
const HIDDEN: [u8; 3] = [220, 30, 30];

/// Runs `einet inpaint`.
pub fn run(args: &InpaintArgs) -> Result<()> {
    let device = args.run.device()?;
    if !(args.std_correction >= 0.0 && args.std_correction.is_finite()) {
        bail!("--std-correction must be a number >= 0");
    }
    let (einet, loaded) = model_and_data(&args.data)?;
    let info = &loaded.info;
    let Some([h, w]) = info.image_shape else {
        bail!(
            "inpainting needs image data, but '{}' is tabular; use `einet mpe` for tabular data",
            loaded.spec
        );
    };
    let data = loaded.part(args.data.split);
    let n = args.n.min(data.rows());
    let masks = args.hide.masks(info, n, args.seed)?;
    let scale = args.scale.unwrap_or_else(|| auto_scale(h, w));
    write_grid(data, info, &masks, scale, &args.out, |evidence| {
        let mut model = device.load(&einet)?;
        let sampled = model
            .sample_conditional(evidence, args.seed, args.std_correction)
            .context("conditional sampling failed")?;
        let mpe = model.mpe(evidence, args.mpe.kind()).context("MPE failed")?;
        Ok((sampled, mpe, ()))
    })?;
    let hidden: usize = masks.iter().map(|m| m.iter().filter(|&&b| b).count()).sum();
    println!(
        "wrote {} ({n} rows of {} {}: original | masked | conditional sample | MPE; {} of {} \
         pixels hidden)",
        args.out.display(),
        loaded.spec,
        args.data.split,
        hidden,
        n * info.num_vars
    );
    Ok(())
}

/// Writes the inpainting grid of the first `masks.len()` rows of `data` (which must have that
/// many) to `path`: each row's mask is hidden (set to NaN), `complete` turns that evidence into
/// conditional samples and MPE completions (plus anything its caller wants back, returned
/// here), and each image becomes one grid row of original | masked (hidden pixels in red) |
/// conditional sample | MPE, every pixel `scale × scale`. `einet inpaint` and `einet
/// experiment images` share it.
pub fn write_grid<T>(
    data: &Dataset,
    info: &DataInfo,
    masks: &[Vec<bool>],
    scale: usize,
    path: &Path,
    complete: impl FnOnce(&[f32]) -> Result<(Vec<f32>, Vec<f32>, T)>,
) -> Result<T> {
    let n = masks.len();
    let original = &data.values[..n * data.row_len()];
    let mut evidence = original.to_vec();
    for (row, mask) in evidence.chunks_exact_mut(data.row_len()).zip(masks) {
        apply(row, mask, info.channels);
    }
    let (sampled, mpe, extra) = complete(&evidence)?;
    let [orig, cond, best] = [original, &sampled, &mpe].map(|v| tiles(v, n, info));
    let (orig, cond, best) = (orig?, cond?, best?);
    let mut all = Vec::with_capacity(4 * n);
    for i in 0..n {
        all.push(orig[i].clone());
        all.push(orig[i].paint(&masks[i], HIDDEN));
        all.push(cond[i].clone());
        all.push(best[i].clone());
    }
    write_png(path, &grid(&all, 4, scale)?)?;
    Ok(extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_hides_the_masks_and_shows_four_columns() {
        // Three 2x2 grayscale images; the first two are inpainted with their left column hidden.
        let data = Dataset::new("tiny", 4, 1, (0..12).map(|v| v as f32).collect()).unwrap();
        let info = DataInfo {
            dataset: "tiny".into(),
            data_dir: None,
            num_vars: 4,
            channels: 1,
            image_shape: Some([2, 2]),
            pixel_max: Some(11.0),
            scale: 1.0,
            split_seed: 0,
            rows: [3, 0, 0],
        };
        let left = vec![true, false, true, false];
        let masks = [left.clone(), left];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        let returned = write_grid(&data, &info, &masks, 1, &path, |evidence| {
            assert_eq!(evidence.len(), 8);
            for (i, v) in evidence.iter().enumerate() {
                assert_eq!(v.is_nan(), i % 2 == 0, "value {i}: {v}");
            }
            let filled: Vec<f32> = evidence.iter().map(|v| v.max(0.0)).collect();
            Ok((filled.clone(), filled, "extra"))
        })
        .unwrap();
        assert_eq!(returned, "extra");
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let reader = decoder.read_info().unwrap();
        let png = reader.info();
        // 4 columns × 2 rows of 2×2 tiles with 2 pixels of padding.
        assert_eq!((png.width, png.height), (4 * 4 + 2, 2 * 4 + 2));
        assert_eq!(png.color_type, png::ColorType::Rgb);
    }
}
