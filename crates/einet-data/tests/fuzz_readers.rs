//! Fuzzing the dataset readers: valid CSV, DEBD, digits, IDX and CIFAR-10 inputs, mutated
//! ([`einet_testsuite::fuzz`]) and read plain, gzipped after mutation, or as a two-member
//! gzip stream that is itself mutated. Every read must return a dataset that is consistent
//! or an error naming the file — never a panic, an allocation sized by a corrupt header, or
//! a hang.
//!
//! Cases per run (12,000 in all): CSV 3,000, tables 3,000, DEBD 1,000, digits 1,000, IDX arrays 2,000 (half
//! with an edited dimension field), MNIST image/label pairs 1,000, CIFAR-10 1,000. These
//! readers have not failed on any input yet (also not in a run of 30 times as many cases),
//! so they have no regression corpus; a failure found here goes into `tests/errors.rs` as an
//! explicit case.

mod common;

use std::path::Path;

use common::{gzip, idx, write};
use einet_data::table::{TableOptions, read_tables};
use einet_data::{
    CIFAR_RECORD, CsvOptions, DataError, Dataset, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, cifar10_file,
    csv, debd, mnist_part, read_idx, sklearn_digits,
};
use einet_testsuite::fuzz::{self, Mutation, apply, edge_u64, mutations};
use proptest::prelude::*;
use proptest::sample::Index;

/// How a mutated input reaches the reader.
#[derive(Clone, Copy, Debug)]
enum Packing {
    /// The mutated bytes as they are.
    Plain,
    /// A valid gzip stream of the mutated bytes.
    Gzip,
    /// The valid input as two gzip members, then the stream mutated.
    MutatedGzip,
}

fn packing() -> impl Strategy<Value = Packing> {
    prop_oneof![
        3 => Just(Packing::Plain),
        1 => Just(Packing::Gzip),
        1 => Just(Packing::MutatedGzip),
    ]
}

fn pack(valid: &[u8], mutations: &[Mutation], packing: Packing) -> Vec<u8> {
    match packing {
        Packing::Plain => apply(valid, mutations),
        Packing::Gzip => gzip(&apply(valid, mutations)),
        Packing::MutatedGzip => {
            let (a, b) = valid.split_at(valid.len() / 2);
            let mut members = gzip(a);
            members.extend(gzip(b));
            apply(&members, mutations)
        }
    }
}

/// A read either gives a consistent dataset or an error whose message names `file`.
fn check(result: Result<Dataset, DataError>, file: &Path) -> Result<(), TestCaseError> {
    match result {
        Ok(data) => check_dataset(&data),
        Err(err) => check_error(&err, file),
    }
}

/// The dataset's values, labels and provenance agree in their numbers of rows and variables.
fn check_dataset(data: &Dataset) -> Result<(), TestCaseError> {
    prop_assert!(data.num_vars > 0 && data.num_channels > 0);
    prop_assert_eq!(data.values.len(), data.rows() * data.row_len());
    if let Some(labels) = &data.labels {
        prop_assert_eq!(labels.len(), data.rows());
    }
    if let Some(p) = &data.provenance {
        prop_assert_eq!(p.lines.len(), data.rows());
        prop_assert_eq!(p.columns.len(), data.num_vars);
    }
    Ok(())
}

/// The error's message names `file` (a file, or the folder of the files read).
fn check_error(err: &DataError, file: &Path) -> Result<(), TestCaseError> {
    let message = err.to_string();
    prop_assert!(
        message.contains(&file.display().to_string()),
        "the error does not name {}: {message}",
        file.display()
    );
    Ok(())
}

/// A small table: a header, quoted and padded fields, missing values in every spelling,
/// negative, fractional and exponent numbers, an integer label in column 2 and a blank line.
fn table(delimiter: char) -> Vec<u8> {
    let rows: [[&str; 5]; 6] = [
        ["a", "\"b c\"", "label", "d", "e"],
        ["0", "1", "3", "-2.5", "1e3"],
        ["\"0.25\"", "?", "0", " 7 ", "nan"],
        ["NaN", "1", "12", "0", "-0"],
        ["1", "0", "1", "1", "2"],
        ["1", "1", "1", "1", "1"],
    ];
    let lines: Vec<String> = rows
        .iter()
        .map(|r| r.join(&delimiter.to_string()))
        .collect();
    format!("{}\n\n{}\r\n", lines[..5].join("\n"), lines[5]).into_bytes()
}

fn csv_options() -> impl Strategy<Value = CsvOptions> {
    (
        proptest::sample::select(&[None, Some(true), Some(false)][..]),
        proptest::sample::select(&[',', ' ', ';', '\t', '→'][..]),
        proptest::sample::select(&[None, Some(0), Some(2), Some(4), Some(100)][..]),
    )
        .prop_map(|(header, delimiter, label_column)| CsvOptions {
            header,
            delimiter,
            label_column,
        })
}

/// `n` lines of `fields` binary values, as DEBD files hold them.
fn binary_rows(n: usize, fields: usize, offset: usize) -> Vec<u8> {
    (0..n)
        .map(|i| {
            let row: Vec<String> = (0..fields)
                .map(|j| ((i * 7 + j * 3 + offset) % 5 / 3).to_string())
                .collect();
            row.join(",") + "\n"
        })
        .collect::<String>()
        .into_bytes()
}

/// Three 8×8 digits: 64 pixels 0..=16 and a label.
fn digits() -> Vec<u8> {
    (0..3)
        .map(|i| {
            let row: Vec<String> = (0..64).map(|j| ((i + j) % 17).to_string()).collect();
            format!("{},{}\n", row.join(","), i)
        })
        .collect::<String>()
        .into_bytes()
}

/// Two CIFAR-10 records with distinct labels and pixel values.
fn cifar() -> Vec<u8> {
    (0..2 * CIFAR_RECORD)
        .map(|i| (i * 31 % 251) as u8)
        .collect()
}

/// Four 3×5 images, or their four labels.
fn mnist_images() -> Vec<u8> {
    let pixels: Vec<u8> = (0..60).map(|i| (i * 17 % 256) as u8).collect();
    idx(IDX_IMAGES_MAGIC, &[4, 3, 5], &pixels)
}

fn mnist_labels() -> Vec<u8> {
    idx(IDX_LABELS_MAGIC, &[4], &[3, 1, 4, 1])
}

/// Sets the big-endian dimension field `dim` of an IDX header (if the input still has it) to
/// `value`, clamped to `u32`.
fn set_dim(bytes: &mut [u8], dim: usize, value: u64) {
    let at = 4 + 4 * dim;
    if let Some(field) = bytes.get_mut(at..at + 4) {
        let v = u32::try_from(value).unwrap_or(u32::MAX);
        field.copy_from_slice(&v.to_be_bytes());
    }
}

proptest! {
    #![proptest_config(fuzz::config(3000))]
    #[test]
    fn csv_survives_mutations(
        options in csv_options(),
        mutations in mutations(4),
        packing in packing(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "fuzz.csv", &pack(&table(options.delimiter), &mutations, packing));
        check(csv(&path, options), &path)?;
    }
}

/// A users' table: a header, string and number columns, every missing-value marker.
fn users_table() -> Vec<u8> {
    b"id,colour,\"size cm\",weight,label\n1,red,3,4.5,0\n2,blue,NA,?,1\n3,\"red\",1,,0\n\
      4,green,2,1e2,1\n5,blue,0,-0.5,0\n"
        .to_vec()
}

/// Columns left out by the fuzzed table options.
const DROPPED: [&[&str]; 4] = [&[], &["id"], &["1", "weight"], &["zz"]];

fn table_options() -> impl Strategy<Value = TableOptions> {
    (
        proptest::sample::select(&[None, Some(true), Some(false)][..]),
        proptest::sample::select(&DROPPED[..]),
        proptest::sample::select(&[None, Some("label"), Some("5"), Some("9")][..]),
    )
        .prop_map(|(header, drop, label)| TableOptions {
            header,
            drop_columns: drop.iter().map(|s| s.to_string()).collect(),
            label_column: label.map(str::to_string),
            ..TableOptions::default()
        })
}

proptest! {
    #![proptest_config(fuzz::config(3000))]
    #[test]
    fn tables_survive_mutations(
        options in table_options(),
        mutations in mutations(4),
        packing in packing(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "fuzz.csv", &pack(&users_table(), &mutations, packing));
        match read_tables(&[path.as_path()], &options, None) {
            Ok((parts, schema)) => {
                check_dataset(&parts[0])?;
                prop_assert_eq!(schema.columns.len(), parts[0].num_vars);
                // Read again with the schema it gave, the file gives the same values.
                let (again, _) = read_tables(&[path.as_path()], &options, Some(&schema))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(
                    again[0].values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    parts[0].values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                );
            }
            Err(err) => check_error(&err, &path)?,
        }
    }
}

proptest! {
    #![proptest_config(fuzz::config(1000))]
    #[test]
    fn debd_survives_mutations(
        part in any::<Index>(),
        mutations in mutations(4),
        packing in packing(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let broken = part.index(3);
        for (i, split) in ["train", "valid", "test"].iter().enumerate() {
            let valid = binary_rows(6 - i, 16, i);
            let bytes = if i == broken { pack(&valid, &mutations, packing) } else { valid };
            write(dir.path(), &format!("x.{split}.data"), &bytes);
        }
        match debd(dir.path(), "x") {
            Ok(splits) => {
                for part in [&splits.train, &splits.test] {
                    check_dataset(part)?;
                    prop_assert_eq!(part.num_vars, splits.train.num_vars);
                }
            }
            Err(err) => check_error(&err, dir.path())?,
        }
    }
}

proptest! {
    #![proptest_config(fuzz::config(1000))]
    #[test]
    fn digits_survive_mutations(mutations in mutations(4), packing in packing()) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "digits.csv", &pack(&digits(), &mutations, packing));
        check(sklearn_digits(&path), &path)?;
    }
}

proptest! {
    #![proptest_config(fuzz::config(2000))]
    #[test]
    fn idx_arrays_survive_mutations(
        labels in any::<bool>(),
        header in proptest::option::of((0usize..3, edge_u64())),
        mutations in mutations(3),
        packing in packing(),
    ) {
        let (valid, magic) = if labels {
            (mnist_labels(), IDX_LABELS_MAGIC)
        } else {
            (mnist_images(), IDX_IMAGES_MAGIC)
        };
        let mut edited = valid;
        if let Some((dim, value)) = header {
            set_dim(&mut edited, dim, value);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "fuzz.idx", &pack(&edited, &mutations, packing));
        match read_idx(&path, magic) {
            Ok(array) => {
                prop_assert_eq!(array.dims.len(), (magic & 0xff) as usize);
                prop_assert_eq!(array.data.len(), array.dims.iter().product::<usize>());
            }
            Err(err) => check_error(&err, &path)?,
        }
    }
}

proptest! {
    #![proptest_config(fuzz::config(1000))]
    #[test]
    fn mnist_pairs_survive_mutations(
        image_dims in proptest::option::of((0usize..3, edge_u64())),
        label_count in proptest::option::of(edge_u64()),
        image_mutations in proptest::collection::vec(fuzz::mutation(), 0..3),
        label_mutations in proptest::collection::vec(fuzz::mutation(), 0..2),
    ) {
        let (mut images, mut labels) = (mnist_images(), mnist_labels());
        if let Some((dim, value)) = image_dims {
            set_dim(&mut images, dim, value);
        }
        if let Some(value) = label_count {
            set_dim(&mut labels, 0, value);
        }
        let dir = tempfile::tempdir().unwrap();
        let images = write(dir.path(), "images.idx", &apply(&images, &image_mutations));
        let labels = write(dir.path(), "labels.idx", &apply(&labels, &label_mutations));
        check(mnist_part(&images, &labels, "fuzz"), dir.path())?;
    }
}

proptest! {
    #![proptest_config(fuzz::config(1000))]
    #[test]
    fn cifar_survives_mutations(mutations in mutations(4), packing in packing()) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "fuzz.bin", &pack(&cifar(), &mutations, packing));
        check(cifar10_file(&path, "fuzz"), &path)?;
    }
}
