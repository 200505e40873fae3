//! Delimited text: generic CSV, the DEBD binary benchmarks and scikit-learn's digits.

use std::path::Path;

use crate::dataset::{Provenance, Splits};
use crate::file::{find_data_file, read_bytes};
use crate::{DataError, Dataset};

/// The names of the 20 DEBD density-estimation benchmarks, in the usual order.
pub const DEBD_NAMES: [&str; 20] = [
    "nltcs",
    "msnbc",
    "kdd",
    "plants",
    "baudio",
    "jester",
    "bnetflix",
    "accidents",
    "tretail",
    "pumsb_star",
    "dna",
    "kosarek",
    "msweb",
    "book",
    "tmovie",
    "cwebkb",
    "cr52",
    "c20ng",
    "bbc",
    "ad",
];

/// How to read a delimited text file with [`csv()`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// Whether the first non-blank line is a header: `None` = detect (a header has no field
    /// that is a number, and a field that is not a missing-value marker).
    pub header: Option<bool>,
    /// The field separator; `' '` splits on runs of whitespace.
    pub delimiter: char,
    /// 0-based index of a column of integer class labels, taken out of the variables.
    pub label_column: Option<usize>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: None,
            delimiter: ',',
            label_column: None,
        }
    }
}

/// Reads a numeric delimited text file (gzip detected by content): one sample per line,
/// blank lines skipped, missing values written as an empty field, `NaN`, `NA` or `?` (any case)
/// (stored as NaN). Fields may be surrounded by spaces or double quotes.
pub fn csv(path: impl AsRef<Path>, options: CsvOptions) -> Result<Dataset, DataError> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    parse_delimited(path, &bytes, options)
}

/// Reads DEBD benchmark `name` (e.g. `nltcs`): `NAME.{train,valid,test}.data[.gz]`, looked
/// for in `dir` and then in `dir/debd`.
pub fn debd(dir: impl AsRef<Path>, name: &str) -> Result<Splits, DataError> {
    let dir = dir.as_ref();
    let options = CsvOptions {
        header: Some(false),
        delimiter: ',',
        label_column: None,
    };
    let mut parts = Vec::with_capacity(3);
    for split in ["train", "valid", "test"] {
        let path = find_data_file(dir, "debd", &format!("{name}.{split}.data"))?;
        let data = csv(&path, options)?.renamed(format!("{name}.{split}"));
        if let Some(first) = parts.first().map(|d: &Dataset| d.num_vars) {
            if data.num_vars != first {
                return Err(DataError::Inconsistent {
                    path,
                    message: format!(
                        "has {} variables but {name}.train has {first}",
                        data.num_vars
                    ),
                });
            }
        }
        parts.push(data);
    }
    let test = parts.pop().expect("three parts");
    let valid = parts.pop();
    let train = parts.pop().expect("three parts");
    Ok(Splits { train, valid, test })
}

/// Reads scikit-learn's 8×8 digits (`digits.csv.gz`: 1797 lines of 64 pixel values 0..=16
/// and a label). `path` is the file, or a folder holding it (directly or in
/// `sklearn-digits/`). The result has no split; see [`Splits::random`].
pub fn sklearn_digits(path: impl AsRef<Path>) -> Result<Dataset, DataError> {
    let path = path.as_ref();
    let file = if path.is_dir() {
        find_data_file(path, "sklearn-digits", "digits.csv")?
    } else {
        path.to_path_buf()
    };
    let options = CsvOptions {
        header: Some(false),
        delimiter: ',',
        label_column: Some(64),
    };
    let bytes = read_bytes(&file)?;
    let fields = first_field_count(&bytes, ',');
    if fields.is_some_and(|n| n != 65) {
        return Err(DataError::Inconsistent {
            path: file,
            message: format!(
                "has {} columns, expected 65 (64 pixels and a label)",
                fields.unwrap_or(0)
            ),
        });
    }
    parse_delimited(&file, &bytes, options)?
        .renamed("digits")
        .with_image_shape(8, 8)
}

fn first_field_count(bytes: &[u8], delimiter: char) -> Option<usize> {
    bytes
        .split(|&b| b == b'\n')
        .map(trim_line)
        .find(|l| !is_blank(l))
        .map(|l| split_fields(l, delimiter).len())
}

/// A short dataset name from a file name: `nltcs.train.data.gz` → `nltcs.train`.
pub(crate) fn stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    for ext in [".csv", ".data", ".txt", ".tsv"] {
        if let Some(s) = name.strip_suffix(ext) {
            return s.to_string();
        }
    }
    name.to_string()
}

fn trim_line(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

pub(crate) fn split_fields(line: &[u8], delimiter: char) -> Vec<&[u8]> {
    if delimiter == ' ' {
        return line
            .split(u8::is_ascii_whitespace)
            .filter(|f| !f.is_empty())
            .collect();
    }
    let mut buf = [0u8; 4];
    let delim = delimiter.encode_utf8(&mut buf).as_bytes();
    if let [d] = delim {
        return line.split(|b| b == d).collect();
    }
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(pos) = rest.windows(delim.len()).position(|w| w == delim) {
        out.push(&rest[..pos]);
        rest = &rest[pos + delim.len()..];
    }
    out.push(rest);
    out
}

/// The field without surrounding whitespace and double quotes.
pub(crate) fn clean(field: &[u8]) -> &[u8] {
    let f = field.trim_ascii();
    match f {
        [b'"', inner @ .., b'"'] => inner.trim_ascii(),
        _ => f,
    }
}

pub(crate) fn is_missing(field: &[u8]) -> bool {
    matches!(field, b"" | b"?")
        || field.eq_ignore_ascii_case(b"nan")
        || field.eq_ignore_ascii_case(b"na")
}

pub(crate) fn parse_number(field: &[u8]) -> Option<f32> {
    match field {
        b"0" => Some(0.0),
        b"1" => Some(1.0),
        _ => std::str::from_utf8(field).ok()?.parse::<f32>().ok(),
    }
}

pub(crate) fn parse_label(field: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(field).ok()?;
    if let Ok(v) = s.parse::<u32>() {
        return Some(v);
    }
    let v = s.parse::<f64>().ok()?;
    (v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX)).then_some(v as u32)
}

/// A first line is a header only when it cannot be data: no field is a number and some field
/// is not a missing-value marker. A data line with a typo (`1O,0,1`) stays data, so the typo
/// is reported instead of the row being dropped.
fn looks_like_header(fields: &[&[u8]]) -> bool {
    let cleaned = || fields.iter().map(|f| clean(f));
    cleaned().all(|f| parse_number(f).is_none()) && cleaned().any(|f| !is_missing(f))
}

/// Parses delimited numeric text (already decompressed); `path` is for messages.
pub(crate) fn parse_delimited(
    path: &Path,
    bytes: &[u8],
    options: CsvOptions,
) -> Result<Dataset, DataError> {
    let mut expected: Option<usize> = None;
    let mut seen_first = false;
    let mut values: Vec<f32> = Vec::new();
    let mut labels: Vec<u32> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let line = trim_line(raw);
        if is_blank(line) {
            continue;
        }
        let fields = split_fields(line, options.delimiter);
        if !seen_first {
            seen_first = true;
            let header = options.header.unwrap_or_else(|| looks_like_header(&fields));
            if header {
                continue;
            }
        }
        let n = *expected.get_or_insert(fields.len());
        if let Some(lc) = options.label_column {
            if lc >= n {
                return Err(DataError::InvalidArgument(format!(
                    "{}: label column {lc} (0-based) but line {line_no} has only {n} fields",
                    path.display()
                )));
            }
            if n == 1 {
                return Err(DataError::InvalidArgument(format!(
                    "{}: the only column is the label column",
                    path.display()
                )));
            }
        }
        if fields.len() != n {
            return Err(DataError::Ragged {
                path: path.to_path_buf(),
                line: line_no,
                found: fields.len(),
                expected: n,
            });
        }
        for (j, field) in fields.iter().enumerate() {
            let f = clean(field);
            if Some(j) == options.label_column {
                let label = parse_label(f).ok_or_else(|| DataError::BadLabel {
                    path: path.to_path_buf(),
                    line: line_no,
                    column: j + 1,
                    value: String::from_utf8_lossy(f).into_owned(),
                })?;
                labels.push(label);
            } else if is_missing(f) {
                values.push(f32::NAN);
            } else {
                let v = parse_number(f).ok_or_else(|| DataError::NotANumber {
                    path: path.to_path_buf(),
                    line: line_no,
                    column: j + 1,
                    value: String::from_utf8_lossy(f).into_owned(),
                })?;
                values.push(v);
            }
        }
        lines.push(line_no);
    }
    let Some(n) = expected else {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    };
    let columns: Vec<usize> = (0..n)
        .filter(|&j| Some(j) != options.label_column)
        .map(|j| j + 1)
        .collect();
    let mut data = Dataset::new(stem(path), columns.len(), 1, values)?;
    if options.label_column.is_some() {
        data = data.with_labels(labels)?;
    }
    data.provenance = Some(Provenance {
        file: path.to_path_buf(),
        lines,
        columns,
    });
    Ok(data)
}
