//! Users' own tables (`csv:PATH`; comma-separated, tab-separated for `.tsv`, RFC 4180 quoting
//! by the `csv` crate): a header whose names the model keeps, columns of strings
//! mapped to category codes, columns left out or taken as class labels, and the same reading
//! applied to later files through the recorded [`TableSchema`].
//!
//! ```
//! use einet_data::table::{TableOptions, read_tables};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("pets.csv");
//! std::fs::write(&path, "id,colour,weight\n1,black,4.5\n2,white,\n3,black,3.9\n")?;
//! let options = TableOptions { drop_columns: vec!["id".into()], ..Default::default() };
//! let (parts, schema) = read_tables(&[path.as_path()], &options, None)?;
//! assert_eq!(schema.names(), ["colour", "weight"]);
//! assert_eq!(schema.columns[0].categories, ["black", "white"]);
//! assert_eq!(parts[0].row(0), [0.0, 4.5]);
//! assert!(parts[0].row(1)[1].is_nan());
//! assert_eq!(schema.text(0, 1.0), "white");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use csv::ByteRecord;
use serde::{Deserialize, Serialize};

use crate::dataset::Provenance;
use crate::file::read_bytes;
use crate::text::{clean, is_blank, is_missing, parse_label, parse_number, stem};
use crate::{DataError, Dataset};

/// How to read a table and split it into train, valid and test parts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableOptions {
    /// Whether the first non-blank line of each file is a header: `None` = detect (a header
    /// has no field that is a number, and none of its fields comes again in its column).
    #[serde(default)]
    pub header: Option<bool>,
    /// Columns left out, by header name or 1-based column number.
    #[serde(default)]
    pub drop_columns: Vec<String>,
    /// A column of non-negative integer class labels, by header name or 1-based column
    /// number, taken out of the variables.
    #[serde(default)]
    pub label_column: Option<String>,
    /// A file of validation rows (else they are drawn from the training file).
    #[serde(default)]
    pub valid_file: Option<PathBuf>,
    /// A file of test rows (else they are drawn from the training file).
    #[serde(default)]
    pub test_file: Option<PathBuf>,
    /// Fractions of the training file's rows drawn at random as validation and test rows
    /// (for the parts without a file of their own) [default: 0.1 and 0.2].
    #[serde(default)]
    pub split: Option<[f64; 2]>,
}

/// One variable of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Its header name; its 1-based column number when the file has no header.
    pub name: String,
    /// Its 1-based column number in the file.
    pub position: usize,
    /// For a column of strings, its categories in code order (sorted); empty for numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Model value = file value − `offset`: the training mean of a column with normal leaves
    /// (so that their statistics keep their precision in `f32`), else 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset: f32,
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

/// How a table was read: its options, whether it had a header, how many fields a line has
/// and its variables' columns. Models record it, so later files are read the same way and
/// outputs use the names and categories.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableSchema {
    /// The options it was read with.
    pub options: TableOptions,
    /// Whether the training file had a header.
    pub header: bool,
    /// Fields per line, label and left-out columns included.
    pub fields: usize,
    /// The variables, in model order.
    pub columns: Vec<Column>,
}

impl TableSchema {
    /// The variables' names.
    pub fn names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// The variable a user names: by its name, else by its 1-based column number.
    pub fn find(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        self.columns
            .iter()
            .position(|c| c.name == name)
            .or_else(|| {
                let position: usize = name.parse().ok()?;
                self.columns.iter().position(|c| c.position == position)
            })
    }

    /// [`find`](TableSchema::find), with an error listing the variables.
    pub fn require(&self, name: &str) -> Result<usize, String> {
        self.find(name).ok_or_else(|| {
            format!(
                "the table has no variable '{name}' (its variables are {})",
                list(&self.names())
            )
        })
    }

    /// A model value of variable `var` as the table writes it: its category for a column of
    /// strings, the number otherwise, empty when missing.
    pub fn text(&self, var: usize, value: f32) -> String {
        if value.is_nan() {
            return String::new();
        }
        let categories = self.columns.get(var).map_or(&[][..], |c| &c.categories);
        if categories.is_empty() {
            let offset = self.columns.get(var).map_or(0.0, |c| c.offset);
            return (value + offset).to_string();
        }
        categories
            .get(value as usize)
            .cloned()
            .unwrap_or_else(|| value.to_string())
    }

    /// Subtracts each column's offset from the values of `data` (rows of these columns).
    pub fn shift(&self, data: &mut Dataset) {
        let width = data.row_len();
        for (var, column) in self.columns.iter().enumerate() {
            if column.offset != 0.0 {
                for v in data.values.iter_mut().skip(var).step_by(width) {
                    *v -= column.offset;
                }
            }
        }
    }
}

/// At most this many names in a message.
const LISTED: usize = 12;

fn list(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(LISTED)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        s.push_str(&format!(" and {} more", names.len() - LISTED));
    }
    s
}

/// The non-blank lines of one file: 1-based line numbers and fields (cleaned).
struct Lines<'a> {
    path: &'a Path,
    lines: Vec<(usize, Vec<&'a [u8]>)>,
    header: bool,
}

/// The records of a delimited file (RFC 4180 quoting: a quoted field may hold the delimiter,
/// doubled quotes and line breaks), each with the 1-based line it starts on; blank lines are
/// skipped.
fn records(
    path: &Path,
    bytes: &[u8],
    delimiter: char,
) -> Result<Vec<(usize, ByteRecord)>, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter as u8)
        .from_reader(bytes);
    let mut out = Vec::new();
    let mut record = ByteRecord::new();
    // The line a record starts on: the newlines before its first byte (a record's position
    // can lie before the blank lines skipped ahead of it).
    let (mut offset, mut line) = (0, 1);
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(out),
            Ok(true) => {
                let mut start = record.position().map_or(offset, |p| p.byte() as usize);
                while matches!(bytes.get(start), Some(b'\n' | b'\r')) {
                    start += 1;
                }
                let start = start.clamp(offset, bytes.len());
                line += bytes[offset..start].iter().filter(|&&b| b == b'\n').count();
                offset = start;
                if !(record.len() == 1 && is_blank(&record[0])) {
                    out.push((line, record.clone()));
                }
            }
            Err(e) => return Err(inconsistent(path, format!("cannot read it as CSV: {e}"))),
        }
    }
}

impl<'a> Lines<'a> {
    fn read(path: &'a Path, records: &'a [(usize, ByteRecord)]) -> Result<Self, DataError> {
        let mut lines: Vec<(usize, Vec<&'a [u8]>)> = Vec::with_capacity(records.len());
        for (line, record) in records {
            let fields: Vec<&[u8]> = record.iter().map(clean).collect();
            if let Some((_, first)) = lines.first() {
                if fields.len() != first.len() {
                    return Err(DataError::Ragged {
                        path: path.to_path_buf(),
                        line: *line,
                        found: fields.len(),
                        expected: first.len(),
                    });
                }
            }
            lines.push((*line, fields));
        }
        if lines.is_empty() {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Lines {
            path,
            lines,
            header: false,
        })
    }

    /// A first line is a header when it cannot be data: no field is a number, some field is
    /// not a missing-value marker, and none comes again in its column further down.
    fn detect_header(&self) -> bool {
        let (_, first) = &self.lines[0];
        first.iter().all(|f| parse_number(f).is_none())
            && first.iter().any(|f| !is_missing(f))
            && self.lines[1..]
                .iter()
                .all(|(_, row)| row.iter().zip(first).all(|(a, b)| a != b))
    }

    /// Whether the first line holds the names of `schema`'s columns in their places.
    fn names_columns_of(&self, schema: &TableSchema) -> bool {
        let first = &self.lines[0].1;
        schema.header
            && schema
                .columns
                .iter()
                .all(|c| first.get(c.position - 1) == Some(&c.name.as_bytes()))
    }

    fn fields(&self) -> usize {
        self.lines[0].1.len()
    }

    fn data(&self) -> &[(usize, Vec<&'a [u8]>)] {
        &self.lines[usize::from(self.header)..]
    }

    fn names(&self) -> Vec<String> {
        if self.header {
            self.lines[0]
                .1
                .iter()
                .enumerate()
                .map(|(j, f)| match String::from_utf8_lossy(f).into_owned() {
                    name if name.is_empty() => (j + 1).to_string(),
                    name => name,
                })
                .collect()
        } else {
            (1..=self.fields()).map(|j| j.to_string()).collect()
        }
    }
}

fn inconsistent(path: &Path, message: String) -> DataError {
    DataError::Inconsistent {
        path: path.to_path_buf(),
        message,
    }
}

/// The field separator of a file: a tab for `.tsv` files, else a comma.
fn delimiter_of(path: &Path) -> char {
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".tsv") || name.ends_with(".tsv.gz") {
        '\t'
    } else {
        ','
    }
}

/// The 0-based file column a user names in `what` (by header name, else 1-based number).
fn column_index(names: &[String], name: &str, what: &str, path: &Path) -> Result<usize, DataError> {
    let name = name.trim();
    names
        .iter()
        .position(|n| n == name)
        .or_else(|| {
            name.parse::<usize>()
                .ok()
                .filter(|&p| (1..=names.len()).contains(&p))
                .map(|p| p - 1)
        })
        .ok_or_else(|| {
            inconsistent(
                path,
                format!(
                    "there is no column '{name}' to {what} (the columns are {})",
                    list(names)
                ),
            )
        })
}

/// Reads `files` (the training file first) as parts of one table, with `options`; the
/// parts share their columns and categories (taken from all of them). With a `schema` (a
/// model's), the files are read as that schema says (its offsets subtracted) and must have
/// its columns; a category the schema does not know is an error naming its line and column.
pub fn read_tables(
    files: &[&Path],
    options: &TableOptions,
    schema: Option<&TableSchema>,
) -> Result<(Vec<Dataset>, TableSchema), DataError> {
    let bytes = files
        .iter()
        .map(|p| read_bytes(p))
        .collect::<Result<Vec<_>, _>>()?;
    let records = files
        .iter()
        .zip(&bytes)
        .map(|(path, b)| records(path, b, delimiter_of(path)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tables = files
        .iter()
        .zip(&records)
        .map(|(path, r)| Lines::read(path, r))
        .collect::<Result<Vec<_>, _>>()?;
    for t in &mut tables {
        t.header = options
            .header
            .unwrap_or_else(|| schema.is_some_and(|s| t.names_columns_of(s)) || t.detect_header());
    }
    let first = &tables[0];
    let fields = schema.map_or(first.fields(), |s| s.fields);
    let names = first.names();
    for t in &tables {
        if t.fields() != fields {
            return Err(inconsistent(
                t.path,
                format!(
                    "has {} columns, but {} has {fields}",
                    t.fields(),
                    schema.map_or(first.path.display().to_string(), |_| "the model's table"
                        .to_string())
                ),
            ));
        }
    }
    let label = options
        .label_column
        .as_deref()
        .map(|l| column_index(&names, l, "take labels from", first.path))
        .transpose()?;
    let mut dropped = vec![false; fields];
    for name in &options.drop_columns {
        dropped[column_index(&names, name, "drop", first.path)?] = true;
    }
    let kept: Vec<usize> = (0..fields)
        .filter(|&j| !dropped[j] && Some(j) != label)
        .collect();
    if kept.is_empty() {
        return Err(inconsistent(
            first.path,
            "no column is left once the dropped and label columns are taken out".into(),
        ));
    }
    let columns = match schema {
        Some(s) => {
            check_names(&tables, &kept, s)?;
            s.columns.clone()
        }
        None => kept
            .iter()
            .map(|&j| Column {
                name: names[j].clone(),
                position: j + 1,
                categories: categories(&tables, j),
                offset: 0.0,
            })
            .collect(),
    };
    let mut header_names = BTreeSet::new();
    for c in &columns {
        if !header_names.insert(c.name.as_str()) {
            return Err(inconsistent(
                first.path,
                format!("two columns are named '{}'; names must differ", c.name),
            ));
        }
    }
    let mut parts = tables
        .iter()
        .map(|t| values(t, &kept, &columns, label))
        .collect::<Result<Vec<_>, _>>()?;
    let schema = TableSchema {
        options: options.clone(),
        header: first.header,
        fields,
        columns,
    };
    parts.iter_mut().for_each(|p| schema.shift(p));
    Ok((parts, schema))
}

/// Files with a header must name the schema's columns.
fn check_names(
    tables: &[Lines<'_>],
    kept: &[usize],
    schema: &TableSchema,
) -> Result<(), DataError> {
    for t in tables.iter().filter(|t| t.header && schema.header) {
        let names = t.names();
        if kept.len() != schema.columns.len() {
            return Err(inconsistent(
                t.path,
                format!(
                    "has {} variables, but the model's table has {}",
                    kept.len(),
                    schema.columns.len()
                ),
            ));
        }
        for (&j, c) in kept.iter().zip(&schema.columns) {
            if names[j] != c.name {
                return Err(inconsistent(
                    t.path,
                    format!(
                        "column {} is '{}', but the model's is '{}'",
                        j + 1,
                        names[j],
                        c.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The categories of file column `j`: its distinct texts, sorted, when at least half of its
/// observed values are not numbers; else none (a number column, where a few texts are typos
/// to report).
fn categories(tables: &[Lines<'_>], j: usize) -> Vec<String> {
    let observed = || {
        tables
            .iter()
            .flat_map(|t| t.data().iter().map(move |(_, row)| row[j]))
            .filter(|f| !is_missing(f))
    };
    let texts = observed().filter(|f| parse_number(f).is_none()).count();
    if texts == 0 || 2 * texts < observed().count() {
        return Vec::new();
    }
    observed()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The values of one file's data lines.
fn values(
    t: &Lines<'_>,
    kept: &[usize],
    columns: &[Column],
    label: Option<usize>,
) -> Result<Dataset, DataError> {
    let data = t.data();
    let mut values = Vec::with_capacity(data.len() * kept.len());
    let mut labels = Vec::with_capacity(if label.is_some() { data.len() } else { 0 });
    for (line, row) in data {
        let at = |j: usize| (t.path.to_path_buf(), *line, j + 1, row[j]);
        for (&j, column) in kept.iter().zip(columns) {
            let f = row[j];
            values.push(if is_missing(f) {
                f32::NAN
            } else if column.categories.is_empty() {
                parse_number(f).ok_or_else(|| {
                    let (path, line, column, value) = at(j);
                    DataError::NotANumber {
                        path,
                        line,
                        column,
                        value: String::from_utf8_lossy(value).into_owned(),
                    }
                })?
            } else {
                let text = String::from_utf8_lossy(f);
                match column
                    .categories
                    .binary_search_by(|c| c.as_str().cmp(&text))
                {
                    Ok(code) => code as f32,
                    Err(_) => {
                        return Err(inconsistent(
                            t.path,
                            format!(
                                "line {line}, column {}: '{text}' is not one of the categories \
                                 of '{}' ({})",
                                j + 1,
                                column.name,
                                list(&column.categories)
                            ),
                        ));
                    }
                }
            });
        }
        if let Some(j) = label {
            let (path, line, column, value) = at(j);
            labels.push(parse_label(value).ok_or_else(|| DataError::BadLabel {
                path,
                line,
                column,
                value: String::from_utf8_lossy(value).into_owned(),
            })?);
        }
    }
    if data.is_empty() {
        return Err(DataError::Empty {
            path: t.path.to_path_buf(),
        });
    }
    let mut dataset = Dataset::new(stem(t.path), kept.len(), 1, values)?;
    if label.is_some() {
        dataset = dataset.with_labels(labels)?;
    }
    dataset.provenance = Some(Provenance {
        file: t.path.to_path_buf(),
        lines: data.iter().map(|(line, _)| *line).collect(),
        columns: kept.iter().map(|j| j + 1).collect(),
    });
    Ok(dataset)
}

/// Reads a file of rows to query a model whose table is `schema`. A header names any of its
/// variables, in any order (names of columns the model's table dropped or took labels from
/// are skipped); a file without a header has every variable, in model order or in the
/// training file's columns. Returns the rows with every variable in model order (offsets
/// subtracted; NaN where the file lacks the variable or the value is missing; the
/// provenance's column is 0 for a variable the file lacks), and which variables the file
/// has. Categories are read as in training: one the schema does not know is an error naming
/// its line and column.
pub fn read_columns(path: &Path, schema: &TableSchema) -> Result<(Dataset, Vec<bool>), DataError> {
    let bytes = read_bytes(path)?;
    let records = records(path, &bytes, delimiter_of(path))?;
    let mut lines = Lines::read(path, &records)?;
    lines.header = lines.names_some_columns_of(schema) || lines.detect_header();
    let width = schema.columns.len();
    let (kept, vars): (Vec<usize>, Vec<usize>) = if lines.header {
        header_columns(&lines, schema)?
    } else if lines.fields() == width {
        (0..width).map(|j| (j, j)).unzip()
    } else if lines.fields() == schema.fields {
        (schema.columns.iter().enumerate())
            .map(|(var, c)| (c.position - 1, var))
            .unzip()
    } else {
        return Err(inconsistent(
            path,
            format!(
                "has no header and {} columns, but the model has {width} variables ({}); a \
                 header can name the columns a file has",
                lines.fields(),
                list(&schema.names())
            ),
        ));
    };
    let columns: Vec<Column> = vars.iter().map(|&v| schema.columns[v].clone()).collect();
    let part = values(&lines, &kept, &columns, None)?;
    let mut full = vec![f32::NAN; part.rows() * width];
    for (to, from) in full
        .chunks_exact_mut(width)
        .zip(part.values.chunks_exact(kept.len()))
    {
        vars.iter().zip(from).for_each(|(&var, &x)| to[var] = x);
    }
    let mut present = vec![false; width];
    let mut positions = vec![0; width];
    for (&j, &var) in kept.iter().zip(&vars) {
        present[var] = true;
        positions[var] = j + 1;
    }
    let mut data = Dataset::new(part.name, width, 1, full)?;
    data.provenance = part.provenance.map(|p| Provenance {
        columns: positions,
        ..p
    });
    schema.shift(&mut data);
    Ok((data, present))
}

/// The file columns a query file's header names and the variables they hold (columns the
/// model's table left out are skipped); an unknown or repeated name is an error.
fn header_columns(
    lines: &Lines<'_>,
    schema: &TableSchema,
) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    let line = lines.lines[0].0;
    let mut seen = vec![false; schema.columns.len()];
    let mut pairs = Vec::new();
    for (j, name) in lines.names().iter().enumerate() {
        match schema.columns.iter().position(|c| c.name == *name) {
            Some(var) if seen[var] => {
                return Err(inconsistent(
                    lines.path,
                    format!("line {line}: the column '{name}' comes twice"),
                ));
            }
            Some(var) => {
                seen[var] = true;
                pairs.push((j, var));
            }
            None if schema.left_out(name) => {}
            None => {
                return Err(inconsistent(
                    lines.path,
                    format!(
                        "line {line}, column {}: '{name}' is not a variable of the model (its \
                         variables are {})",
                        j + 1,
                        list(&schema.names())
                    ),
                ));
            }
        }
    }
    if pairs.is_empty() {
        return Err(inconsistent(
            lines.path,
            format!("line {line}: the header names none of the model's variables"),
        ));
    }
    Ok(pairs.into_iter().unzip())
}

impl TableSchema {
    /// Whether `name` names a column the table dropped or took labels from.
    fn left_out(&self, name: &str) -> bool {
        let options = &self.options;
        (options.drop_columns.iter())
            .chain(&options.label_column)
            .any(|c| c.trim() == name)
    }
}

impl Lines<'_> {
    /// Whether every field of the first line names a variable of `schema` or a column its
    /// table left out.
    fn names_some_columns_of(&self, schema: &TableSchema) -> bool {
        schema.header
            && self.lines[0].1.iter().all(|f| {
                let name = String::from_utf8_lossy(f);
                schema.columns.iter().any(|c| c.name == name) || schema.left_out(&name)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, options: &TableOptions) -> Result<(Dataset, TableSchema), DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, text).unwrap();
        read_tables(&[path.as_path()], options, None).map(|(mut p, s)| (p.remove(0), s))
    }

    #[test]
    fn a_header_is_kept_as_names_and_strings_become_sorted_codes() {
        let (data, schema) = read(
            "colour,n,w\nred,1,0.5\nblue,0,1.5\nred,1,\ngreen,?,2\n",
            &TableOptions::default(),
        )
        .unwrap();
        assert!(schema.header);
        assert_eq!(schema.names(), ["colour", "n", "w"]);
        assert_eq!(schema.columns[0].categories, ["blue", "green", "red"]);
        assert_eq!(data.rows(), 4);
        assert_eq!(data.row(0), [2.0, 1.0, 0.5]);
        assert_eq!(data.row(1), [0.0, 0.0, 1.5]);
        assert!(data.row(2)[2].is_nan() && data.row(3)[1].is_nan());
        assert_eq!(schema.text(0, 1.0), "green");
        assert_eq!(schema.text(2, 0.5), "0.5");
        assert_eq!(schema.text(1, f32::NAN), "");
        assert_eq!(schema.find("w"), Some(2));
        assert_eq!(schema.find("1"), Some(0));
        assert!(schema.require("x").unwrap_err().contains("colour, n, w"));
    }

    #[test]
    fn a_first_line_is_data_unless_it_cannot_be() {
        let opts = TableOptions::default();
        let (data, schema) = read("1,0\n0,1\n", &opts).unwrap();
        assert!(!schema.header);
        assert_eq!(schema.names(), ["1", "2"]);
        assert_eq!(data.rows(), 2);
        // A typo on line 1 is reported, not taken as a header.
        let err = read("1O,0\n0,1\n1,1\n", &opts).unwrap_err().to_string();
        assert!(
            err.contains("line 1, column 1: '1O' is not a number"),
            "{err}"
        );
        // All-string rows: a first line whose values come again is data.
        let (data, schema) = read("red,big\nblue,big\nred,small\n", &opts).unwrap();
        assert!(!schema.header);
        assert_eq!(data.rows(), 3);
        let forced = TableOptions {
            header: Some(true),
            ..TableOptions::default()
        };
        let (data, schema) = read("red,big\nblue,big\nred,small\n", &forced).unwrap();
        assert_eq!(
            (data.rows(), schema.names()),
            (2, vec!["red".into(), "big".into()])
        );
        let none = TableOptions {
            header: Some(false),
            ..TableOptions::default()
        };
        let err = read("a,b\n1,2\n3,4\n", &none).unwrap_err().to_string();
        assert!(
            err.contains("line 1, column 1: 'a' is not a number"),
            "{err}"
        );
    }

    #[test]
    fn columns_are_dropped_or_taken_as_labels_by_name_or_number() {
        let opts = TableOptions {
            drop_columns: vec!["id".into()],
            label_column: Some("4".into()),
            ..TableOptions::default()
        };
        let (data, schema) = read("id,a,b,y\n7,1,2,0\n8,3,4,1\n", &opts).unwrap();
        assert_eq!(schema.names(), ["a", "b"]);
        assert_eq!(schema.columns[1].position, 3);
        assert_eq!(data.values, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(data.labels, Some(vec![0, 1]));
        assert_eq!(data.location(1, 1, 0), "t.csv line 3, column 3");
        let bad = TableOptions {
            drop_columns: vec!["zz".into()],
            ..TableOptions::default()
        };
        let err = read("a,b\n1,2\n", &bad).unwrap_err().to_string();
        assert!(
            err.contains("no column 'zz' to drop (the columns are a, b)"),
            "{err}"
        );
        let all = TableOptions {
            drop_columns: vec!["a".into(), "b".into()],
            ..TableOptions::default()
        };
        assert!(
            read("a,b\n1,2\n", &all)
                .unwrap_err()
                .to_string()
                .contains("no column is left")
        );
    }

    #[test]
    fn quoted_fields_may_hold_the_delimiter_quotes_and_line_breaks() {
        let text = "name,n\n\"Smith, John\",1\n\n\"say \"\"hi\"\"\",2\n\"two\nlines\",3\nx,oops\n";
        let err = read(text, &TableOptions::default())
            .unwrap_err()
            .to_string();
        // The line numbers count the blank line and the line break inside a field.
        assert!(
            err.contains("line 7, column 2: 'oops' is not a number"),
            "{err}"
        );
        let (data, schema) = read(&text.replace("oops", "4"), &TableOptions::default()).unwrap();
        assert_eq!(
            schema.columns[0].categories,
            ["Smith, John", "say \"hi\"", "two\nlines", "x"]
        );
        assert_eq!(data.values, [0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0]);
        assert_eq!(data.provenance.unwrap().lines, [2, 4, 5, 7]);
    }

    #[test]
    fn a_number_column_with_a_few_texts_reports_them() {
        let err = read("x\n1\n2\nabc\n4\n", &TableOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 4, column 1: 'abc' is not a number"),
            "{err}"
        );
    }

    #[test]
    fn later_files_are_read_with_the_schema_and_unknown_categories_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let train = dir.path().join("train.csv");
        let test = dir.path().join("test.csv");
        std::fs::write(&train, "kind,x\nb,1\na,2\n").unwrap();
        std::fs::write(&test, "kind,x\nc,1\n").unwrap();
        std::fs::write(dir.path().join("same.csv"), "kind,x\nkind,1\n").unwrap();
        let opts = TableOptions::default();
        // Read together, the categories come from both files.
        let (parts, schema) = read_tables(&[&train, &test], &opts, None).unwrap();
        assert_eq!(schema.columns[0].categories, ["a", "b", "c"]);
        assert_eq!(parts[1].row(0), [2.0, 1.0]);
        // Read with a schema that does not know 'c', the value is located.
        let (_, narrow) = read_tables(&[&train], &opts, None).unwrap();
        let err = read_tables(&[&test], &opts, Some(&narrow))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2, column 1: 'c' is not one of the categories of 'kind' (a, b)"),
            "{err}"
        );
        // A first line with the schema's names is a header, even where a value repeats one.
        let same = dir.path().join("same.csv");
        let err = read_tables(&[&same], &opts, Some(&narrow))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2, column 1: 'kind' is not one of"),
            "{err}"
        );
        std::fs::write(&test, "kind,y\na,1\n").unwrap();
        let err = read_tables(&[&test], &opts, Some(&narrow))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column 2 is 'y', but the model's is 'x'"),
            "{err}"
        );
        std::fs::write(&test, "a,1,3\n").unwrap();
        let err = read_tables(&[&test], &opts, Some(&narrow))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has 3 columns, but the model's table has 2"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_names_and_a_header_without_rows_are_refused() {
        let opts = TableOptions::default();
        let err = read("a,a\n1,2\n", &opts).unwrap_err().to_string();
        assert!(err.contains("two columns are named 'a'"), "{err}");
        let err = read("a,b\n", &opts).unwrap_err().to_string();
        assert!(err.contains("no data rows"), "{err}");
    }

    /// The schema of a small table: `id` dropped, `kind` categorical, `w` with an offset.
    fn query_schema(dir: &Path) -> TableSchema {
        let train = dir.join("train.csv");
        std::fs::write(&train, "id,kind,n,w\n1,b,0,1.5\n2,a,1,2.5\n3,c,1,\n").unwrap();
        let opts = TableOptions {
            drop_columns: vec!["id".into()],
            ..TableOptions::default()
        };
        let (_, mut schema) = read_tables(&[train.as_path()], &opts, None).unwrap();
        schema.columns[2].offset = 2.0;
        schema
    }

    fn query(
        dir: &Path,
        text: &str,
        schema: &TableSchema,
    ) -> Result<(Dataset, Vec<bool>), DataError> {
        let path = dir.join("q.csv");
        std::fs::write(&path, text).unwrap();
        read_columns(&path, schema)
    }

    #[test]
    fn query_rows_name_any_columns_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let schema = query_schema(dir.path());
        let (data, present) =
            query(dir.path(), "w,id,kind\n3,9,c\nNA,8,a\n,7,?\n", &schema).unwrap();
        assert_eq!(present, [true, false, true]);
        assert_eq!((data.num_vars, data.rows()), (3, 3));
        let row = data.row(0);
        assert_eq!((row[0], row[2]), (2.0, 1.0));
        assert!(row[1].is_nan());
        assert_eq!(data.row(1)[0], 0.0);
        assert!(data.row(1)[2].is_nan() && data.row(2)[0].is_nan() && data.row(2)[2].is_nan());
        assert_eq!(data.location(1, 0, 0), "q.csv line 3, column 3");
        // A one-column file of names is read by its header.
        let (data, present) = query(dir.path(), "kind\nb\n", &schema).unwrap();
        assert_eq!((present, data.row(0)[0]), (vec![true, false, false], 1.0));
    }

    #[test]
    fn query_rows_without_a_header_have_every_column() {
        let dir = tempfile::tempdir().unwrap();
        let schema = query_schema(dir.path());
        // In model order, or in the training file's columns.
        let (data, present) = query(dir.path(), "a,1,2.5\n", &schema).unwrap();
        assert_eq!(
            (present, data.row(0)),
            (vec![true; 3], &[0.0, 1.0, 0.5][..])
        );
        let (data, _) = query(dir.path(), "5,c,0,2\n", &schema).unwrap();
        assert_eq!(data.row(0), [2.0, 0.0, 0.0]);
        assert_eq!(data.location(0, 2, 0), "q.csv line 1, column 4");
        let err = query(dir.path(), "a,1\n", &schema).unwrap_err().to_string();
        assert!(
            err.contains("has no header and 2 columns, but the model has 3 variables (kind, n, w)"),
            "{err}"
        );
    }

    #[test]
    fn bad_query_rows_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let schema = query_schema(dir.path());
        let cases = [
            (
                "kind,wt\na,1\n",
                "line 1, column 2: 'wt' is not a variable of the model (its variables are kind, n, w)",
            ),
            (
                "n,kind\n1,a\n0,d\n",
                "line 3, column 2: 'd' is not one of the categories of 'kind' (a, b, c)",
            ),
            ("kind,n\na,1\n\nb\n", "line 4 has 1 fields, expected 2"),
            (
                "n,kind\n1,a\nx,b\n",
                "line 3, column 1: 'x' is not a number",
            ),
            ("kind,kind\na,b\n", "line 1: the column 'kind' comes twice"),
            (
                "id\n1\n",
                "line 1: the header names none of the model's variables",
            ),
            ("kind,n\n", "no data rows"),
        ];
        for (text, wanted) in cases {
            let err = query(dir.path(), text, &schema).unwrap_err().to_string();
            assert!(err.contains(wanted), "{text:?}: {err}");
            assert!(err.contains("q.csv"), "{err}");
        }
    }
}
