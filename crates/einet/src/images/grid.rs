//! Grids of small images, written as 8-bit grayscale or RGB PNG files.

use std::path::Path;

use crate::error::{Error, ErrorContext, Result};

/// Padding between tiles and around the grid, in output pixels.
pub const PAD: usize = 2;
/// Colour of the padding.
const BACKGROUND: u8 = 0x40;
/// The largest `--scale`: each pixel becomes at most `MAX_SCALE × MAX_SCALE` output pixels.
pub const MAX_SCALE: usize = 64;
/// The largest width or height of a PNG image (2³¹ − 1, by the PNG specification).
const PNG_MAX_SIDE: usize = (1 << 31) - 1;

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

/// Parses `--scale`: an integer from 1 to [`MAX_SCALE`].
pub fn parse_scale(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i128>() {
        Ok(n) if (1..=MAX_SCALE as i128).contains(&n) => Ok(n as usize),
        _ => Err(format!(
            "must be an integer from 1 to {MAX_SCALE} (output pixels per image pixel), got '{s}'"
        )),
    }
}

/// A good upscaling factor for tiles of this size (small images are enlarged).
pub fn auto_scale(height: usize, width: usize) -> usize {
    let side = height.max(width).max(1);
    (32 / side).clamp(1, 8)
}

/// Lays `tiles` (all the same size) out in rows of `cols`, each pixel enlarged to
/// `scale × scale`, with [`PAD`] pixels of padding between and around the tiles. The grid is
/// grayscale when every tile is, else RGB. An image larger than a PNG file can hold, or than
/// memory allows, is an error.
pub fn grid(tiles: &[Tile], cols: usize, scale: usize) -> Result<Image> {
    let Some(first) = tiles.first() else {
        return Err(Error::invalid("no images to put in a grid"));
    };
    let (th, tw) = (first.height, first.width);
    if tiles.iter().any(|t| t.height != th || t.width != tw) {
        return Err(Error::invalid(
            "images of different sizes cannot share a grid",
        ));
    }
    for t in tiles {
        if !matches!(t.channels, 1 | 3) {
            return Err(Error::invalid(format!(
                "images of {} channels cannot be drawn; PNG grids take 1 (grayscale) or 3 (RGB)",
                t.channels
            )));
        }
        if Some(t.pixels.len()) != th.checked_mul(tw).and_then(|n| n.checked_mul(t.channels)) {
            return Err(Error::invalid(format!(
                "an image of {th}x{tw} pixels of {} channels has {} values",
                t.channels,
                t.pixels.len()
            )));
        }
    }
    let cols = cols.clamp(1, tiles.len());
    let rows = tiles.len().div_ceil(cols);
    let scale = scale.max(1);
    let channels = if tiles.iter().all(|t| t.channels == 1) {
        1
    } else {
        3
    };
    // One side of the grid: `count` tiles of `tile · scale` output pixels, `PAD` between and
    // around them; `None` beyond what a PNG image can hold.
    let side = |count: usize, tile: usize| {
        tile.checked_mul(scale)?
            .checked_add(PAD)?
            .checked_mul(count)?
            .checked_add(PAD)
            .filter(|&n| n <= PNG_MAX_SIDE)
    };
    let (Some(width), Some(height)) = (side(cols, tw), side(rows, th)) else {
        return Err(Error::invalid(format!(
            "a grid of {rows}x{cols} images of {th}x{tw} pixels at scale {scale} is larger \
             than a PNG image can be ({PNG_MAX_SIDE} pixels a side); use a smaller --scale or \
             fewer images"
        )));
    };
    let (cell_h, cell_w) = (th * scale, tw * scale);
    let bytes = width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(channels))
        .ok_or_else(|| Error::invalid("the grid image is too large for memory"))?;
    let mut pixels = Vec::new();
    pixels.try_reserve_exact(bytes).map_err(|_| {
        Error::invalid(format!(
            "cannot allocate a {width}x{height} grid image ({bytes} bytes); use a smaller \
             --scale or fewer images"
        ))
    })?;
    pixels.resize(bytes, BACKGROUND);
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
    let side = |n: usize| {
        u32::try_from(n)
            .ok()
            .filter(|&n| n > 0 && n as usize <= PNG_MAX_SIDE)
    };
    let (Some(width), Some(height)) = (side(image.width), side(image.height)) else {
        return Err(Error::invalid(format!(
            "cannot write {}: a PNG image is 1 to {PNG_MAX_SIDE} pixels a side, not {}x{}",
            path.display(),
            image.width,
            image.height
        )));
    };
    let encoded = einet_core::write_atomic(path, |out| -> Result<(), PngError> {
        let mut encoder = png::Encoder::new(out, width, height);
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
    });
    encoded
        .map_err(|e| match e {
            PngError::Io(e) => Error::from(e),
            PngError::Encoding(e) => Error::invalid(e.to_string()),
        })
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Why a PNG file could not be written.
enum PngError {
    Io(std::io::Error),
    Encoding(png::EncodingError),
}

impl From<std::io::Error> for PngError {
    fn from(e: std::io::Error) -> Self {
        PngError::Io(e)
    }
}

impl From<png::EncodingError> for PngError {
    fn from(e: png::EncodingError) -> Self {
        PngError::Encoding(e)
    }
}

/// Reads a PNG file as 8-bit grayscale or RGB (alpha dropped, 16-bit reduced).
pub fn read_png(path: &Path) -> Result<Image> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let unreadable = |e: png::DecodingError| {
        Error::invalid(format!(
            "{} is not a readable PNG file: {e}",
            path.display()
        ))
    };
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(unreadable)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| Error::invalid(format!("{}: image too large", path.display())))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(unreadable)?;
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
    fn scale_is_bounded() {
        assert_eq!(parse_scale("1"), Ok(1));
        assert_eq!(parse_scale("64"), Ok(64));
        for bad in ["0", "65", "-3", "99999999999999999999999", "x"] {
            let err = parse_scale(bad).unwrap_err();
            assert!(err.contains("from 1 to 64"), "{bad}: {err}");
        }
    }

    #[test]
    fn grids_too_large_for_png_are_errors() {
        let t = Tile::from_values(&[0.5; 4], 2, 2, 1, 1.0);
        for scale in [usize::MAX / 2, 1 << 31] {
            let err = grid(std::slice::from_ref(&t), 1, scale)
                .unwrap_err()
                .to_string();
            assert!(err.contains("larger than a PNG image can be"), "{err}");
        }
        let err = write_png(
            Path::new("never-written.png"),
            &Image {
                width: 1 << 32,
                height: 1,
                channels: 1,
                pixels: Vec::new(),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("never-written.png") && err.contains("pixels a side"),
            "{err}"
        );
    }

    #[test]
    fn tiles_whose_pixels_do_not_fit_their_shape_are_errors() {
        let short = Tile {
            height: 2,
            width: 2,
            channels: 1,
            pixels: vec![0; 3],
        };
        let err = grid(&[short], 1, 1).unwrap_err().to_string();
        assert!(
            err.contains("2x2 pixels of 1 channels has 3 values"),
            "{err}"
        );
        let two = Tile {
            height: 1,
            width: 1,
            channels: 2,
            pixels: vec![0; 2],
        };
        assert!(grid(&[two], 1, 1).is_err());
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
