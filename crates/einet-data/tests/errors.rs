//! Every bad input gives its own error variant, naming the file, line and column.

mod common;

use common::{gzip, idx, write};
use einet_core::LeafFamily;
use einet_data::{
    CsvOptions, DataError, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, cifar10_file, csv, debd, mnist,
    mnist_part, read_idx, sklearn_digits,
};

fn rows(n: usize, fields: usize) -> String {
    (0..n)
        .map(|i| {
            (0..fields)
                .map(|j| ((i + j) % 2).to_string())
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect()
}

#[test]
fn ragged_line_names_line_and_field_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = rows(16, 16);
    text.push_str(&rows(1, 15));
    text.push_str(&rows(3, 16));
    let path = write(dir.path(), "ragged.csv", text.as_bytes());
    let err = csv(&path, CsvOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Ragged {
                line: 17,
                found: 15,
                expected: 16,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("line 17 has 15 fields, expected 16"), "{msg}");
    assert!(msg.contains("ragged.csv"), "{msg}");
}

#[test]
fn non_numeric_value_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bad.csv",
        b"1,2,3,4,5\n1,2,3,4,5\n1,2,3,4,abc\n",
    );
    let err = csv(&path, CsvOptions::default()).unwrap_err();
    assert!(
        matches!(&err, DataError::NotANumber { line: 3, column: 5, value, .. } if value == "abc"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with("bad.csv: line 3, column 5: 'abc' is not a number"),
        "{err}"
    );
}

#[test]
fn line_numbers_count_header_and_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "h.csv", b"a,b,c\r\n1,2,3\r\n\r\n4,x,6\r\n");
    let err = csv(&path, CsvOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::NotANumber {
                line: 4,
                column: 2,
                ..
            }
        ),
        "{err:?}"
    );
    // An explicit "no header" reports the header's text instead.
    let err = csv(
        &path,
        CsvOptions {
            header: Some(false),
            ..CsvOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, DataError::NotANumber { line: 1, column: 1, value, .. } if value == "a"),
        "{err:?}"
    );
}

#[test]
fn empty_inputs_are_reported_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty.csv", Vec::new()),
        ("blank.csv", b"\n  \n\r\n".to_vec()),
        ("header_only.csv", b"x,y,z\n".to_vec()),
        ("empty.csv.gz", gzip(b"")),
    ] {
        let path = write(dir.path(), name, &bytes);
        let err = csv(&path, CsvOptions::default()).unwrap_err();
        assert!(matches!(err, DataError::Empty { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains(name), "{err}");
    }
    let path = write(dir.path(), "empty.idx", b"");
    let err = read_idx(&path, IDX_IMAGES_MAGIC).unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
    let err = cifar10_file(&path, "c").unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
}

#[test]
fn missing_values_become_nan_and_pass_family_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "m.csv", b"1,,0\nNaN,nan,?\n0, 1 ,\"1\"\n");
    let d = csv(&path, CsvOptions::default()).unwrap();
    assert_eq!((d.rows(), d.num_vars), (3, 3));
    let nan: Vec<bool> = d.values.iter().map(|v| v.is_nan()).collect();
    assert_eq!(
        nan,
        [false, true, false, true, true, true, false, false, false]
    );
    assert_eq!(d.row(2), [0.0, 1.0, 1.0]);
    d.check_family(&LeafFamily::Bernoulli).unwrap();
}

#[test]
fn labels_header_and_delimiters() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "l.tsv", b"0.5\t3\t-1e2\n2\t7\t4\n");
    let d = csv(
        &path,
        CsvOptions {
            header: None,
            delimiter: '\t',
            label_column: Some(1),
        },
    )
    .unwrap();
    assert_eq!(d.num_vars, 2);
    assert_eq!(d.values, [0.5, -100.0, 2.0, 4.0]);
    assert_eq!(d.labels, Some(vec![3, 7]));
    assert_eq!(d.name, "l");
    let p = d.provenance.as_ref().unwrap();
    assert_eq!(
        (p.lines.clone(), p.columns.clone()),
        (vec![1, 2], vec![1, 3])
    );

    // Whitespace runs, a numeric first line forced to be a header.
    let path = write(dir.path(), "w.txt", b"9 9\n1   2\n  3 4  \n");
    let d = csv(
        &path,
        CsvOptions {
            header: Some(true),
            delimiter: ' ',
            label_column: None,
        },
    )
    .unwrap();
    assert_eq!(d.values, [1.0, 2.0, 3.0, 4.0]);

    // Semicolons.
    let path = write(dir.path(), "s.csv", b"1;2\n3;4\n");
    let d = csv(
        &path,
        CsvOptions {
            delimiter: ';',
            ..CsvOptions::default()
        },
    )
    .unwrap();
    assert_eq!(d.values, [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn bad_labels_name_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "lab.csv", b"1,2,0\n1,2,1\n3,4,x\n");
    let opts = CsvOptions {
        label_column: Some(2),
        ..CsvOptions::default()
    };
    let err = csv(&path, opts).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadLabel {
                line: 3,
                column: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let path = write(dir.path(), "lab2.csv", b"1,2,0\n1,2,1.5\n");
    let err = csv(&path, opts).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadLabel {
                line: 2,
                column: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let path = write(dir.path(), "lab3.csv", b"1,2,0\n1,2,\n");
    let err = csv(&path, opts).unwrap_err();
    assert!(
        matches!(err, DataError::BadLabel { line: 2, .. }),
        "{err:?}"
    );
    let err = csv(
        &path,
        CsvOptions {
            label_column: Some(3),
            ..CsvOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, DataError::InvalidArgument(_)), "{err:?}");
}

#[test]
fn check_family_reports_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    // Header on line 1, a blank line 5; the 2 sits on line 12, column 3.
    let mut text = String::from("a,b,c,d\n");
    for line in 2..=14 {
        if line == 5 {
            text.push('\n');
        } else if line == 12 {
            text.push_str("0,1,2,1\n");
        } else {
            text.push_str("0,1,1,0\n");
        }
    }
    let path = write(dir.path(), "digits.csv", text.as_bytes());
    let d = csv(&path, CsvOptions::default()).unwrap();
    assert_eq!(d.rows(), 12);
    let err = d.check_family(&LeafFamily::Bernoulli).unwrap_err();
    assert_eq!(
        err.to_string(),
        "digits.csv line 12, column 3: value 2 is not valid for bernoulli leaves"
    );
    assert!(
        matches!(err, DataError::OutOfRange { row: 9, var: 2, channel: 0, value, .. } if value == 2.0),
        "{err:?}"
    );
    d.check_family(&LeafFamily::Categorical { categories: 3 })
        .unwrap();

    // Provenance follows the rows through select, and skips a label column.
    let sub = d.select(&[9, 0]);
    let err = sub.check_family(&LeafFamily::Bernoulli).unwrap_err();
    assert!(
        err.to_string().starts_with("digits.csv line 12, column 3:"),
        "{err}"
    );
    let labelled = csv(
        &path,
        CsvOptions {
            label_column: Some(0),
            ..CsvOptions::default()
        },
    )
    .unwrap();
    let err = labelled.check_family(&LeafFamily::Bernoulli).unwrap_err();
    assert!(
        matches!(err, DataError::OutOfRange { row: 9, var: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("digits.csv line 12, column 3:"),
        "{err}"
    );
}

#[test]
fn check_family_without_a_file_names_row_variable_and_channel() {
    let mut values = vec![0.0f32; 2 * 4 * 3];
    values[4 * 3 + 2 * 3 + 1] = 256.0;
    let d = einet_data::Dataset::new("img", 4, 3, values).unwrap();
    let err = d
        .check_family(&LeafFamily::Binomial { trials: 255 })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "img row 1, variable 2, channel 1: value 256 is not valid for binomial(255) leaves"
    );
    let d = einet_data::Dataset::new("n", 2, 1, vec![0.0, f32::INFINITY]).unwrap();
    let err = d
        .check_family(&LeafFamily::Normal {
            min_var: 1e-3,
            max_var: 1.0,
        })
        .unwrap_err();
    assert!(
        matches!(err, DataError::OutOfRange { row: 0, var: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn gzip_is_detected_by_content_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "plain.csv", &gzip(b"1,2\n3,4\n"));
    let b = write(dir.path(), "looks.csv.gz", b"1,2\n3,4\n");
    assert_eq!(
        csv(&a, CsvOptions::default()).unwrap().values,
        csv(&b, CsvOptions::default()).unwrap().values
    );
    // Concatenated gzip members are read as one stream.
    let mut two = gzip(b"1,2\n");
    two.extend(gzip(b"3,4\n"));
    let c = write(dir.path(), "two.gz", &two);
    assert_eq!(csv(&c, CsvOptions::default()).unwrap().rows(), 2);
}

#[test]
fn truncated_or_corrupt_gzip_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = rows(2000, 16);
    let gz = gzip(text.as_bytes());
    let path = write(dir.path(), "cut.train.data.gz", &gz[..gz.len() / 2]);
    let err = csv(&path, CsvOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("cut.train.data.gz") && msg.contains("truncated or corrupt gzip"));

    // Only the 8-byte trailer missing.
    let path = write(dir.path(), "trailer.gz", &gz[..gz.len() - 8]);
    let err = csv(&path, CsvOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");

    // A corrupted CRC.
    let mut bad = gz.clone();
    let n = bad.len();
    bad[n - 8] ^= 0xff;
    let path = write(dir.path(), "crc.gz", &bad);
    let err = csv(&path, CsvOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");

    // Truncated gzip within a DEBD folder.
    let d = dir.path().join("debd");
    std::fs::create_dir(&d).unwrap();
    write(&d, "toy.train.data.gz", &gz[..gz.len() / 3]);
    write(&d, "toy.valid.data.gz", &gz);
    write(&d, "toy.test.data.gz", &gz);
    let err = debd(dir.path(), "toy").unwrap_err();
    assert!(
        matches!(&err, DataError::Gzip { path, .. } if path.ends_with("debd/toy.train.data.gz")),
        "{err:?}"
    );
}

#[test]
fn missing_files_name_the_path_and_the_data_dir_hint() {
    let dir = tempfile::tempdir().unwrap();
    let err = debd(dir.path(), "nosuch").unwrap_err();
    let DataError::NotFound { tried } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(tried[0], dir.path().join("nosuch.train.data.gz"));
    assert!(tried.contains(&dir.path().join("debd/nosuch.train.data")));
    let msg = err.to_string();
    assert!(msg.contains("nosuch.train.data.gz"), "{msg}");
    assert!(
        msg.contains("--data-dir") && msg.contains("EINET_DATA"),
        "{msg}"
    );

    for err in [
        mnist(dir.path()).unwrap_err(),
        einet_data::cifar10_subset(dir.path()).unwrap_err(),
        sklearn_digits(dir.path()).unwrap_err(),
        csv(dir.path().join("x.csv"), CsvOptions::default()).unwrap_err(),
    ] {
        assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("EINET_DATA"));
    }
}

#[test]
fn debd_accepts_uncompressed_files_and_checks_widths() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "toy.train.data", rows(5, 4).as_bytes());
    write(
        dir.path(),
        "toy.valid.data.gz",
        &gzip(rows(2, 4).as_bytes()),
    );
    write(dir.path(), "toy.test.data", rows(3, 4).as_bytes());
    let s = debd(dir.path(), "toy").unwrap();
    assert_eq!(
        (
            s.train.rows(),
            s.valid.as_ref().unwrap().rows(),
            s.test.rows()
        ),
        (5, 2, 3)
    );
    write(dir.path(), "toy.test.data", rows(3, 5).as_bytes());
    let err = debd(dir.path(), "toy").unwrap_err();
    assert!(
        matches!(&err, DataError::Inconsistent { path, .. } if path.ends_with("toy.test.data")),
        "{err:?}"
    );
}

#[test]
fn digits_reader_checks_the_column_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "digits.csv", rows(3, 64).as_bytes());
    let err = sklearn_digits(&path).unwrap_err();
    assert!(matches!(err, DataError::Inconsistent { .. }), "{err:?}");
    assert!(err.to_string().contains("64 columns, expected 65"), "{err}");
}

#[test]
fn idx_wrong_magic_truncation_and_trailing_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..12).collect();
    // Labels magic where images are expected.
    let path = write(
        dir.path(),
        "i.idx",
        &idx(IDX_LABELS_MAGIC, &[3, 2, 2], &pixels),
    );
    let err = read_idx(&path, IDX_IMAGES_MAGIC).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                found: 2049,
                expected: 2051,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("wrong magic number"), "{err}");
    // Gzip of a file with a foreign magic.
    let path = write(dir.path(), "j.gz", &gzip(&idx(0x1234, &[1], &[0])));
    let err = read_idx(&path, IDX_LABELS_MAGIC).unwrap_err();
    assert!(
        matches!(err, DataError::BadMagic { found: 0x1234, .. }),
        "{err:?}"
    );

    // Data shorter than the header announces.
    let path = write(
        dir.path(),
        "t.idx",
        &idx(IDX_IMAGES_MAGIC, &[3, 2, 2], &pixels[..10]),
    );
    let err = read_idx(&path, IDX_IMAGES_MAGIC).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Truncated {
                expected: 28,
                found: 26,
                ..
            }
        ),
        "{err:?}"
    );
    // Header itself cut short.
    let path = write(dir.path(), "h.idx", &idx(IDX_IMAGES_MAGIC, &[3], &[]));
    let err = read_idx(&path, IDX_IMAGES_MAGIC).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Truncated {
                expected: 16,
                found: 8,
                ..
            }
        ),
        "{err:?}"
    );
    // Extra bytes.
    let mut long = idx(IDX_IMAGES_MAGIC, &[3, 2, 2], &pixels);
    long.push(0);
    let path = write(dir.path(), "x.idx", &long);
    let err = read_idx(&path, IDX_IMAGES_MAGIC).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TrailingBytes {
                expected: 28,
                found: 29,
                ..
            }
        ),
        "{err:?}"
    );
    // Dimensions whose product overflows 64 bits.
    let path = write(
        dir.path(),
        "huge.idx",
        &idx(IDX_IMAGES_MAGIC, &[u32::MAX; 3], &pixels),
    );
    let err = read_idx(&path, IDX_IMAGES_MAGIC).unwrap_err();
    assert!(
        matches!(&err, DataError::Inconsistent { message, .. } if message.contains("dimensions")),
        "{err:?}"
    );
    // Label and image counts disagree.
    let images = write(
        dir.path(),
        "ok.idx",
        &idx(IDX_IMAGES_MAGIC, &[3, 2, 2], &pixels),
    );
    let labels = write(dir.path(), "l.idx", &idx(IDX_LABELS_MAGIC, &[2], &[1, 2]));
    let err = mnist_part(&images, &labels, "m").unwrap_err();
    assert!(matches!(err, DataError::Inconsistent { .. }), "{err:?}");
}

#[test]
fn mnist_reader_on_small_synthetic_files() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("mnist");
    std::fs::create_dir(&m).unwrap();
    let px: Vec<u8> = (0..2 * 3 * 2).map(|i| i * 20).collect();
    write(
        &m,
        "train-images-idx3-ubyte.gz",
        &gzip(&idx(IDX_IMAGES_MAGIC, &[2, 3, 2], &px)),
    );
    write(
        &m,
        "train-labels-idx1-ubyte.gz",
        &gzip(&idx(IDX_LABELS_MAGIC, &[2], &[5, 0])),
    );
    // Uncompressed test files under the plain names.
    write(
        &m,
        "t10k-images-idx3-ubyte",
        &idx(IDX_IMAGES_MAGIC, &[1, 3, 2], &px[..6]),
    );
    write(
        &m,
        "t10k-labels-idx1-ubyte",
        &idx(IDX_LABELS_MAGIC, &[1], &[7]),
    );
    let s = mnist(dir.path()).unwrap();
    assert_eq!(s.train.rows(), 2);
    assert_eq!(s.train.num_vars, 6);
    assert_eq!(s.train.image_shape, Some((3, 2)));
    assert_eq!(s.train.row(1), [120.0, 140.0, 160.0, 180.0, 200.0, 220.0]);
    assert_eq!(s.train.labels, Some(vec![5, 0]));
    assert_eq!(s.test.labels, Some(vec![7]));

    // Swap the label file in for the images: wrong magic, naming that file.
    write(
        &m,
        "t10k-images-idx3-ubyte",
        &idx(IDX_LABELS_MAGIC, &[1], &[7]),
    );
    let err = mnist(&m).unwrap_err();
    assert!(
        matches!(&err, DataError::BadMagic { path, .. } if path.ends_with("t10k-images-idx3-ubyte")),
        "{err:?}"
    );
}

#[test]
fn cifar_records_layout_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for label in [4u8, 9] {
        bytes.push(label);
        bytes.extend((0..1024).map(|p| (p % 256) as u8));
        bytes.extend(std::iter::repeat_n(100u8, 1024));
        bytes.extend(std::iter::repeat_n(200u8 + label, 1024));
    }
    let path = write(dir.path(), "c.bin", &gzip(&bytes));
    let d = cifar10_file(&path, "c").unwrap();
    assert_eq!((d.rows(), d.num_vars, d.num_channels), (2, 1024, 3));
    assert_eq!(d.labels, Some(vec![4, 9]));
    assert_eq!(&d.row(1)[300 * 3..301 * 3], [44.0, 100.0, 209.0]);

    let path = write(dir.path(), "short.bin", &bytes[..bytes.len() - 5]);
    let err = cifar10_file(&path, "c").unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Truncated {
                expected: 6146,
                found: 6141,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("short.bin"), "{err}");
}

#[test]
fn a_first_line_with_a_number_is_data_so_a_typo_in_it_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.csv");
    std::fs::write(&path, "1O,0,1\n1,1,0\n0,0,1\n").unwrap();
    let err = csv(&path, CsvOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: line 1, column 1: '1O' is not a number", path.display())
    );
    // Names (and names with empty fields) are a header; the rows after it are data.
    for header in ["a,b,c", "x1,,y 2", "abc,?,z"] {
        std::fs::write(&path, format!("{header}\n1,1,0\n0,0,1\n")).unwrap();
        let data = csv(&path, CsvOptions::default()).unwrap();
        assert_eq!(data.rows(), 2, "{header}");
    }
}
