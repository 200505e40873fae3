//! Grids of small images, written as 8-bit grayscale or RGB PNG files.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// Padding between tiles and around the grid, in output pixels.
pub const PAD: usize = 2;
/// Colour of the padding.
const BACKGROUND: u8 = 0x40;

/// One image: `height × width` pixels of `channels` (1 or 3) bytes each, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// `height · width · channels` bytes.
    pub pixels: Vec<u8>,
}

impl Tile {
    /// A tile from model values: `values[(y·width + x)·channels + c]`, mapped from
    /// `[0, max]` to `[0, 255]` (clamped; NaN becomes mid-grey).
    pub fn from_values(
        values: &[f32],
        height: usize,
        width: usize,
        channels: usize,
        max: f32,
    ) -> Tile {
        let pixels = values
            .iter()
            .map(|&v| {
                if v.is_nan() {
                    128
                } else {
                    (v / max * 255.0).round().clamp(0.0, 255.0) as u8
                }
            })
            .collect();
        Tile {
            height,
            width,
            channels,
            pixels,
        }
    }

    /// The same tile with three channels.
    pub fn to_rgb(&self) -> Tile {
        if self.channels == 3 {
            return self.clone();
        }
        Tile {
            height: self.height,
            width: self.width,
            channels: 3,
            pixels: self.pixels.iter().flat_map(|&p| [p, p, p]).collect(),
        }
    }

    /// Paints the pixels whose `mask` entry is true with `colour` (the tile becomes RGB).
    pub fn paint(&self, mask: &[bool], colour: [u8; 3]) -> Tile {
        let mut rgb = self.to_rgb();
        for (px, &hidden) in rgb.pixels.chunks_exact_mut(3).zip(mask) {
            if hidden {
                px.copy_from_slice(&colour);
            }
        }
        rgb
    }
}

/// An 8-bit image in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// 1 or 3.
    pub channels: usize,
    /// Row-major pixels.
    pub pixels: Vec<u8>,
}

/// A good upscaling factor for tiles of this size (small images are enlarged).
pub fn auto_scale(height: usize, width: usize) -> usize {
    let side = height.max(width).max(1);
    (32 / side).clamp(1, 8)
}

/// Lays `tiles` (all the same size) out in rows of `cols`, each pixel enlarged to
/// `scale × scale`, with [`PAD`] pixels of padding between and around the tiles. The grid is
/// grayscale when every tile is, else RGB.
pub fn grid(tiles: &[Tile], cols: usize, scale: usize) -> Result<Image> {
    let Some(first) = tiles.first() else {
        bail!("no images to put in a grid");
    };
    let (th, tw) = (first.height, first.width);
    if tiles.iter().any(|t| t.height != th || t.width != tw) {
        bail!("images of different sizes cannot share a grid");
    }
    let cols = cols.clamp(1, tiles.len());
    let rows = tiles.len().div_ceil(cols);
    let scale = scale.max(1);
    let channels = if tiles.iter().all(|t| t.channels == 1) {
        1
    } else {
        3
    };
    let (cell_h, cell_w) = (th * scale, tw * scale);
    let width = cols * (cell_w + PAD) + PAD;
    let height = rows * (cell_h + PAD) + PAD;
    let mut pixels = vec![BACKGROUND; width * height * channels];
    for (i, tile) in tiles.iter().enumerate() {
        let tile = if channels == 3 {
            tile.to_rgb()
        } else {
            tile.clone()
        };
        let (r, c) = (i / cols, i % cols);
        let (y0, x0) = (PAD + r * (cell_h + PAD), PAD + c * (cell_w + PAD));
        for y in 0..cell_h {
            for x in 0..cell_w {
                let src = ((y / scale) * tw + x / scale) * channels;
                let dst = ((y0 + y) * width + x0 + x) * channels;
                pixels[dst..dst + channels].copy_from_slice(&tile.pixels[src..src + channels]);
            }
        }
    }
    Ok(Image {
        width,
        height,
        channels,
        pixels,
    })
}

/// Writes `image` as a PNG file, atomically (a temporary file in the same folder is renamed
/// over `path`).
pub fn write_png(path: &Path, image: &Image) -> Result<()> {
    crate::output::atomic_write(path, |out| {
        let mut encoder = png::Encoder::new(out, image.width as u32, image.height as u32);
        encoder.set_color(if image.channels == 3 {
            png::ColorType::Rgb
        } else {
            png::ColorType::Grayscale
        });
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&image.pixels)?;
        writer.finish()?;
        Ok(())
    })
}

/// Reads a PNG file as 8-bit grayscale or RGB (alpha dropped, 16-bit reduced).
pub fn read_png(path: &Path) -> Result<Image> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .with_context(|| format!("{} is not a readable PNG file", path.display()))?;
    let size = reader
        .output_buffer_size()
        .with_context(|| format!("{}: image too large", path.display()))?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .with_context(|| format!("{} is not a readable PNG file", path.display()))?;
    buf.truncate(info.buffer_size());
    let (width, height) = (info.width as usize, info.height as usize);
    let src_channels = info.color_type.samples();
    let channels = if src_channels >= 3 { 3 } else { 1 };
    let pixels = buf
        .chunks_exact(src_channels)
        .flat_map(|p| p[..channels].to_vec())
        .collect();
    Ok(Image {
        width,
        height,
        channels,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_tiles_with_padding_and_scale() {
        let a = Tile::from_values(&[0.0, 16.0, 8.0, 16.0], 2, 2, 1, 16.0);
        let b = Tile::from_values(&[16.0; 4], 2, 2, 1, 16.0);
        let img = grid(&[a, b.clone(), b], 2, 3).unwrap();
        assert_eq!(img.width, 2 * (6 + PAD) + PAD);
        assert_eq!(img.height, 2 * (6 + PAD) + PAD);
        assert_eq!(img.channels, 1);
        let at = |x: usize, y: usize| img.pixels[y * img.width + x];
        assert_eq!(at(PAD, PAD), 0);
        assert_eq!(at(PAD + 3, PAD), 255);
        assert_eq!(at(PAD + 2, PAD + 3), 128);
        assert_eq!(at(0, 0), BACKGROUND);
    }

    #[test]
    fn png_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        let t = Tile::from_values(&[0.0, 1.0, 0.5], 1, 1, 3, 1.0).paint(&[false], [255, 0, 0]);
        let img = grid(&[t], 1, 1).unwrap();
        write_png(&path, &img).unwrap();
        assert_eq!(read_png(&path).unwrap(), img);
    }
}
