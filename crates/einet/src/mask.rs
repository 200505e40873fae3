//! Which variables to hide (treat as missing) for inpainting, conditional sampling and MPE.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use einet_core::rng::Rng;
use einet_data::registry::DataInfo;

use crate::error::{Error, ErrorContext, Result};
use crate::images::read_png;

/// Philox stream of random masks.
const MASK_STREAM: u64 = 0x4D41_534B; // "MASK"

/// A rule for hiding variables.
#[derive(Clone, Debug, PartialEq)]
pub enum HideSpec {
    /// The top half of each image.
    Top,
    /// The bottom half.
    Bottom,
    /// The left half.
    Left,
    /// The right half.
    Right,
    /// The pixels that are bright in a PNG mask of the image's size, or the variables with
    /// a non-zero entry in a text file of one number per variable.
    Mask(PathBuf),
    /// The listed variables (0-based).
    Vars(Vec<usize>),
    /// A random fraction of the variables of each row (fixed by `--seed`).
    Random(f64),
    /// Every variable (unconditional MPE or sampling).
    All,
}

impl FromStr for HideSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let help = "use top, bottom, left, right, mask:PATH, vars:I,J,..., random:FRACTION or all";
        match s {
            "top" => Ok(HideSpec::Top),
            "bottom" => Ok(HideSpec::Bottom),
            "left" => Ok(HideSpec::Left),
            "right" => Ok(HideSpec::Right),
            "all" => Ok(HideSpec::All),
            _ => {
                if let Some(p) = s.strip_prefix("mask:").filter(|p| !p.is_empty()) {
                    Ok(HideSpec::Mask(PathBuf::from(p)))
                } else if let Some(list) = s.strip_prefix("vars:") {
                    list.split(',')
                        .map(|v| v.trim().parse::<usize>())
                        .collect::<Result<Vec<_>, _>>()
                        .map(HideSpec::Vars)
                        .map_err(|_| format!("'{s}': vars: needs 0-based variable indices"))
                } else if let Some(f) = s.strip_prefix("random:") {
                    match f.parse::<f64>() {
                        Ok(f) if (0.0..=1.0).contains(&f) => Ok(HideSpec::Random(f)),
                        _ => Err(format!("'{s}': random: needs a fraction in [0, 1]")),
                    }
                } else {
                    Err(format!("unknown --hide '{s}'; {help}"))
                }
            }
        }
    }
}

impl HideSpec {
    /// The default: the top half of images, else a random half of the variables.
    pub fn default_for(info: &DataInfo) -> HideSpec {
        if info.is_image() {
            HideSpec::Top
        } else {
            HideSpec::Random(0.5)
        }
    }

    /// One mask (true = hidden) per row, over the variables.
    pub fn masks(&self, info: &DataInfo, rows: usize, seed: u64) -> Result<Vec<Vec<bool>>> {
        let v = info.num_vars;
        let image = || -> Result<[usize; 2]> {
            info.image_shape.ok_or_else(|| {
                Error::invalid(format!(
                    "--hide {} needs image data; use vars:, random:, mask: or all",
                    format!("{self:?}").to_lowercase()
                ))
            })
        };
        let by_pixel = |f: &dyn Fn(usize, usize, usize, usize) -> bool| -> Result<Vec<bool>> {
            let [h, w] = image()?;
            Ok((0..h * w).map(|i| f(i / w, i % w, h, w)).collect())
        };
        let one = match self {
            HideSpec::Top => by_pixel(&|y, _, h, _| y < h / 2)?,
            HideSpec::Bottom => by_pixel(&|y, _, h, _| y >= h / 2)?,
            HideSpec::Left => by_pixel(&|_, x, _, w| x < w / 2)?,
            HideSpec::Right => by_pixel(&|_, x, _, w| x >= w / 2)?,
            HideSpec::All => vec![true; v],
            HideSpec::Vars(list) => {
                let mut m = vec![false; v];
                for &i in list {
                    if i >= v {
                        return Err(Error::invalid(format!(
                            "--hide vars: variable {i} does not exist; there are {v} (0-based)"
                        )));
                    }
                    m[i] = true;
                }
                m
            }
            HideSpec::Mask(path) => read_mask(path, info)?,
            HideSpec::Random(fraction) => {
                let hide = ((fraction * v as f64).round() as usize).min(v);
                return Ok((0..rows)
                    .map(|r| {
                        let mut order: Vec<usize> = (0..v).collect();
                        Rng::new(seed, MASK_STREAM + r as u64).shuffle(&mut order);
                        let mut m = vec![false; v];
                        order[..hide].iter().for_each(|&i| m[i] = true);
                        m
                    })
                    .collect());
            }
        };
        Ok(vec![one; rows])
    }
}

/// Sets the hidden variables (all their channels) of `row` to NaN.
pub fn apply(row: &mut [f32], mask: &[bool], channels: usize) {
    for (vals, &hidden) in row.chunks_exact_mut(channels).zip(mask) {
        if hidden {
            vals.fill(f32::NAN);
        }
    }
}

fn read_mask(path: &Path, info: &DataInfo) -> Result<Vec<bool>> {
    let is_png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if is_png {
        let [h, w] = info.image_shape.ok_or_else(|| {
            Error::invalid("a PNG mask needs image data; give a text file of one 0/1 per variable")
        })?;
        let img = read_png(path)?;
        if (img.height, img.width) != (h, w) {
            return Err(Error::invalid(format!(
                "the mask {} is {}x{} pixels, but the images are {h}x{w}",
                path.display(),
                img.height,
                img.width
            )));
        }
        return Ok(img
            .pixels
            .chunks_exact(img.channels)
            .map(|p| p[0] > 127)
            .collect());
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the mask {}", path.display()))?;
    let values = parse_text_mask(&text)
        .map_err(|e| Error::invalid(format!("the mask {}: {e}", path.display())))?;
    if values.len() != info.num_vars {
        return Err(Error::invalid(format!(
            "the mask {} has {} entries, but there are {} variables",
            path.display(),
            values.len(),
            info.num_vars
        )));
    }
    Ok(values)
}

/// The entries of a text mask (numbers separated by white space or commas; 0 = keep, any
/// other number = hide), or which entry is not a number, by line, column and entry number.
fn parse_text_mask(text: &str) -> Result<Vec<bool>, String> {
    let mut values = Vec::new();
    for (l, line) in text.lines().enumerate() {
        let mut start = None;
        // A separator after the line ends its last entry.
        for (i, c) in line.char_indices().chain([(line.len(), ',')]) {
            let separator = c.is_whitespace() || c == ',';
            match start {
                None if !separator => start = Some(i),
                Some(s) if separator => {
                    let entry = &line[s..i];
                    let x = entry.parse::<f64>().map_err(|_| {
                        format!(
                            "line {}, column {}: entry {} '{entry}' is not a number (0 = keep, \
                             other numbers = hide)",
                            l + 1,
                            line[..s].chars().count() + 1,
                            values.len() + 1
                        )
                    })?;
                    values.push(x != 0.0);
                    start = None;
                }
                _ => {}
            }
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_masks_name_the_bad_entry() {
        assert_eq!(
            parse_text_mask("0 1, 0\n\n2.5,0\r\n"),
            Ok(vec![false, true, false, true, false])
        );
        let err = parse_text_mask("0,1,0\n1, 0  éx 1\n").unwrap_err();
        assert_eq!(
            err,
            "line 2, column 7: entry 6 'éx' is not a number (0 = keep, other numbers = hide)"
        );
    }

    #[test]
    fn a_bad_mask_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mask.txt");
        std::fs::write(&path, "0\n1\nyes\n").unwrap();
        let info = DataInfo {
            dataset: "nltcs".into(),
            data_dir: None,
            num_vars: 3,
            channels: 1,
            image_shape: None,
            pixel_max: None,
            scale: 1.0,
            split_seed: 0,
            rows: [0; 3],
            table: None,
        };
        let err = HideSpec::Mask(path)
            .masks(&info, 1, 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mask.txt: line 3, column 1: entry 3 'yes'"),
            "{err}"
        );
    }
}
