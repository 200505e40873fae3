//! How `einet train` reads a table (`csv:PATH`): header, left-out and label columns, files of
//! validation and test rows, split fractions, and leaf families per column.

use std::path::PathBuf;

use anyhow::{Result, bail};
use einet::table::TableOptions;
use einet::{ColumnLeaf, DatasetSpec, LeafChoice};

/// Table options of `einet train`.
#[derive(clap::Args, Debug)]
pub struct TableArgs {
    /// Tables: the first line is a header [default: detected; a header has no number, and
    /// none of its fields comes again in its column]
    #[arg(long, conflicts_with = "no_header")]
    pub header: bool,
    /// Tables: the first line is data
    #[arg(long)]
    pub no_header: bool,
    /// Tables: columns to leave out, by header name or 1-based number (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub drop_columns: Vec<String>,
    /// Tables: a column of non-negative integer class labels, left out of the variables
    #[arg(long, value_name = "COLUMN")]
    pub label_column: Option<String>,
    /// Tables: a file of validation rows, read like the training file
    #[arg(long, value_name = "PATH")]
    pub valid_file: Option<PathBuf>,
    /// Tables: a file of test rows, read like the training file
    #[arg(long, value_name = "PATH")]
    pub test_file: Option<PathBuf>,
    /// Tables: fractions of the rows drawn at random as validation and test rows, for the
    /// parts without a file of their own
    #[arg(long, value_name = "VALID,TEST", value_parser = parse_fractions, default_value = "0.1,0.2")]
    pub split: [f64; 2],
}

fn parse_fractions(s: &str) -> Result<[f64; 2], String> {
    let parsed = s
        .split_once(',')
        .and_then(|(v, t)| Some([v.trim().parse::<f64>().ok()?, t.trim().parse::<f64>().ok()?]));
    match parsed {
        Some([v, t]) if v >= 0.0 && t >= 0.0 && v + t < 1.0 => Ok([v, t]),
        _ => Err(format!(
            "the split must be VALID,TEST fractions >= 0 that leave training rows (sum < 1), \
             got '{s}'"
        )),
    }
}

impl TableArgs {
    /// The options for reading `dataset`; an error when one is given for data that is not
    /// a table.
    pub fn options(&self, dataset: &DatasetSpec) -> Result<TableOptions> {
        let given = [
            (self.header, "--header"),
            (self.no_header, "--no-header"),
            (!self.drop_columns.is_empty(), "--drop-columns"),
            (self.label_column.is_some(), "--label-column"),
            (self.valid_file.is_some(), "--valid-file"),
            (self.test_file.is_some(), "--test-file"),
        ];
        if !matches!(dataset, DatasetSpec::Csv(_)) {
            if let Some((_, flag)) = given.iter().find(|(set, _)| *set) {
                bail!("{flag} reads tables (csv:PATH); '{dataset}' is not one");
            }
        }
        Ok(TableOptions {
            header: match (self.header, self.no_header) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            drop_columns: self.drop_columns.clone(),
            label_column: self.label_column.clone(),
            valid_file: self.valid_file.clone(),
            test_file: self.test_file.clone(),
            split: Some(self.split),
        })
    }
}

/// One `--leaf` value: a family for every variable, or `NAME=FAMILY` for one column.
#[derive(Clone, Debug)]
pub enum LeafArg {
    /// `FAMILY`.
    All(LeafChoice),
    /// `NAME=FAMILY`.
    Column(ColumnLeaf),
}

impl std::str::FromStr for LeafArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.contains('=') {
            s.parse().map(LeafArg::Column).map_err(|e| e.to_string())
        } else {
            s.parse()
                .map(LeafArg::All)
                .map_err(|e: einet::Error| e.to_string())
        }
    }
}

/// The family for every variable (at most one) and those of single columns.
pub fn split_leaves(args: &[LeafArg]) -> Result<(Option<LeafChoice>, Vec<ColumnLeaf>)> {
    let mut all = None;
    let mut columns = Vec::new();
    for arg in args {
        match arg {
            LeafArg::All(choice) => {
                if all.replace(*choice).is_some() {
                    bail!(
                        "--leaf is given two families for every variable; give one, and \
                         NAME=FAMILY for single columns"
                    );
                }
            }
            LeafArg::Column(c) => columns.push(c.clone()),
        }
    }
    Ok((all, columns))
}
