//! Pictures of image data: model values as tiles, square grids of samples, and inpainting
//! grids (original | masked | conditional sample | MPE); and training curves. All are written
//! as PNG files.

pub mod curve;
mod font;
pub mod grid;

use std::path::Path;

use einet_data::Dataset;
use einet_data::registry::DataInfo;

pub use self::curve::{CURVE_HEIGHT, CURVE_WIDTH, training_curve};
pub use self::grid::{
    Image, MAX_SCALE, PAD, Tile, auto_scale, grid, parse_scale, read_png, write_png,
};
use crate::error::{Error, Result};
use crate::mask::apply;

/// Colour of hidden pixels in the "masked" column of an inpainting grid.
const HIDDEN: [u8; 3] = [220, 30, 30];

/// Image tiles of `rows` rows of model values, on the raw pixel scale of `info`.
pub fn tiles(values: &[f32], rows: usize, info: &DataInfo) -> Result<Vec<Tile>> {
    let Some([h, w]) = info.image_shape else {
        return Err(Error::invalid(
            "the model was not trained on images; write a .csv file instead",
        ));
    };
    if info.row_len() == 0 {
        return Err(Error::invalid(format!(
            "the data set '{}' has no values per row",
            info.dataset
        )));
    }
    let max = info.pixel_max.unwrap_or(1.0) * info.scale;
    Ok(values
        .chunks_exact(info.row_len())
        .take(rows)
        .map(|row| Tile::from_values(row, h, w, info.channels, max))
        .collect())
}

/// Writes `rows` rows of model values as a square-ish PNG grid, each pixel `scale × scale`
/// ([`auto_scale`] when `None`).
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

/// Writes the inpainting grid of the first `masks.len()` rows of `data` (which must have that
/// many) to `path`: each row's mask is hidden (set to NaN), `complete` turns that evidence into
/// conditional samples and MPE completions (plus anything its caller wants back, returned
/// here), and each image becomes one grid row of original | masked (hidden pixels in red) |
/// conditional sample | MPE, every pixel `scale × scale`.
pub fn write_inpainting_grid<T>(
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

    fn image_info(num_vars: usize, image_shape: [usize; 2], pixel_max: f32) -> DataInfo {
        DataInfo {
            dataset: "tiny".into(),
            data_dir: None,
            num_vars,
            channels: 1,
            image_shape: Some(image_shape),
            pixel_max: Some(pixel_max),
            scale: 1.0,
            split_seed: 0,
            rows: [3, 0, 0],
            table: None,
        }
    }

    #[test]
    fn tiles_of_inconsistent_data_information_are_errors() {
        let err = tiles(&[1.0; 4], 2, &image_info(0, [0, 0], 16.0)).unwrap_err();
        assert!(err.to_string().contains("no values per row"), "{err}");
        // Rows of 4 values drawn as 3x3 images.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        let err = write_image_grid(&[1.0; 8], 2, &image_info(4, [3, 3], 16.0), None, &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("3x3 pixels of 1 channels has 4 values"),
            "{err}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn the_inpainting_grid_hides_the_masks_and_shows_four_columns() {
        // Three 2x2 grayscale images; the first two are inpainted with their left column hidden.
        let data = Dataset::new("tiny", 4, 1, (0..12).map(|v| v as f32).collect()).unwrap();
        let info = image_info(4, [2, 2], 11.0);
        let left = vec![true, false, true, false];
        let masks = [left.clone(), left];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        let returned = write_inpainting_grid(&data, &info, &masks, 1, &path, |evidence| {
            assert_eq!(evidence.len(), 8);
            for (i, v) in evidence.iter().enumerate() {
                assert_eq!(v.is_nan(), i % 2 == 0, "value {i}: {v}");
            }
            let filled: Vec<f32> = evidence.iter().map(|v| v.max(0.0)).collect();
            Ok((filled.clone(), filled, "extra"))
        })
        .unwrap();
        assert_eq!(returned, "extra");
        let image = read_png(&path).unwrap();
        // 4 columns × 2 rows of 2×2 tiles with 2 pixels of padding, in colour (red mask).
        assert_eq!((image.width, image.height), (4 * 4 + 2, 2 * 4 + 2));
        assert_eq!(image.channels, 3);
    }
}
