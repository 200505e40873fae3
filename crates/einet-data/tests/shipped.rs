//! The datasets shipped in the repository's `data/` folder.

use std::io::Read;

use einet_core::LeafFamily;
use einet_data::{DataError, Splits, debd, repo_data_dir, sklearn_digits};

#[test]
fn shipped_nltcs_has_the_standard_shapes_and_binary_values() {
    let splits = debd(repo_data_dir().join("debd"), "nltcs").unwrap();
    let valid = splits.valid.as_ref().expect("DEBD has a validation split");
    for (d, rows, name) in [
        (&splits.train, 16181, "nltcs.train"),
        (valid, 2157, "nltcs.valid"),
        (&splits.test, 3236, "nltcs.test"),
    ] {
        assert_eq!(d.rows(), rows, "{name}");
        assert_eq!(d.num_vars, 16);
        assert_eq!(d.num_channels, 1);
        assert_eq!(d.name, name);
        assert!(d.labels.is_none());
        assert!(d.values.iter().all(|&v| v == 0.0 || v == 1.0));
        d.check_family(&LeafFamily::Bernoulli).unwrap();
    }
    // Density of ones as listed in the shared data README (0.332 for train).
    let ones = splits.train.values.iter().filter(|&&v| v == 1.0).count();
    let density = ones as f64 / splits.train.values.len() as f64;
    assert!((density - 0.332).abs() < 0.0005, "density {density}");
}

#[test]
fn debd_finds_the_debd_subfolder_of_the_data_root() {
    let splits = debd(repo_data_dir(), "nltcs").unwrap();
    assert_eq!(splits.test.rows(), 3236);
}

#[test]
fn shipped_digits_have_1797_rows_of_64_pixels_in_0_to_16() {
    let d = sklearn_digits(repo_data_dir().join("sklearn-digits/digits.csv.gz")).unwrap();
    assert_eq!(d.rows(), 1797);
    assert_eq!(d.num_vars, 64);
    assert_eq!(d.num_channels, 1);
    assert_eq!(d.image_shape, Some((8, 8)));
    assert!(
        d.values
            .iter()
            .all(|&v| (0.0..=16.0).contains(&v) && v.fract() == 0.0)
    );
    assert!(d.values.contains(&16.0));
    let labels = d.labels.as_ref().unwrap();
    let mut counts = [0usize; 10];
    for &l in labels {
        counts[l as usize] += 1;
    }
    assert_eq!(
        counts,
        [178, 182, 177, 183, 181, 182, 181, 179, 174, 180],
        "label counts from the shared data README"
    );
    d.check_family(&LeafFamily::Binomial { trials: 16 })
        .unwrap();
    d.check_family(&LeafFamily::Categorical { categories: 17 })
        .unwrap();
    // A folder works too.
    assert_eq!(sklearn_digits(repo_data_dir()).unwrap(), d);
}

#[test]
fn digits_out_of_range_error_points_at_the_file_line_and_column() {
    let path = repo_data_dir().join("sklearn-digits/digits.csv.gz");
    let d = sklearn_digits(&path).unwrap();
    let err = d.check_family(&LeafFamily::Bernoulli).unwrap_err();
    let DataError::OutOfRange {
        row, var, value, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    // Find the same value in the raw text, independently of the reader.
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let line = text.lines().nth(*row).unwrap();
    let field: f32 = line.split(',').nth(*var).unwrap().parse().unwrap();
    assert_eq!(field, *value);
    assert!(*value > 1.0);
    assert_eq!(
        err.to_string(),
        format!(
            "digits.csv.gz line {}, column {}: value {} is not valid for bernoulli leaves",
            row + 1,
            var + 1,
            value
        )
    );
}

#[test]
fn digits_split_70_10_20_is_a_seeded_partition() {
    let d = sklearn_digits(repo_data_dir()).unwrap();
    let s = Splits::random(&d, 0.1, 0.2, 7).unwrap();
    let valid = s.valid.as_ref().unwrap();
    assert_eq!(
        (s.train.rows(), valid.rows(), s.test.rows()),
        (1258, 180, 359)
    );
    let mut lines: Vec<usize> = s
        .parts()
        .iter()
        .flat_map(|p| p.provenance.as_ref().unwrap().lines.clone())
        .collect();
    lines.sort_unstable();
    assert_eq!(lines, (1..=1797).collect::<Vec<_>>());
    assert_eq!(Splits::random(&d, 0.1, 0.2, 7).unwrap(), s);
    assert_ne!(Splits::random(&d, 0.1, 0.2, 8).unwrap().test, s.test);
    assert_eq!(s.train.name, "digits.train");
}
