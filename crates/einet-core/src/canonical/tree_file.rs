//! The Chow–Liu tree of the MNIST training images that the canonical HCLT (P4) is built on,
//! shipped as a text file so that the benchmark needs no data: `#` comment lines, then one
//! line per pixel (row-major), its parent pixel or `root`. Learned by the `einet` library's
//! HCLT defaults (mutual information of 8 bins, pseudocount 0.1, 10,000 training rows drawn
//! with seed 0; rooted at the tree's center); the `einet` crate's test
//! `canonical_mnist_tree` checks it against the data and rewrites it with `EINET_BLESS=1`.

use crate::learn::ChowLiuTree;

/// The file's name, beside this module.
pub const MNIST_TREE_PATH: &str = "mnist_chow_liu_tree.txt";

const MNIST_TREE: &str = include_str!("mnist_chow_liu_tree.txt");

/// The shipped Chow–Liu tree over the 784 MNIST pixels.
pub fn mnist_chow_liu_tree() -> ChowLiuTree {
    read_tree(MNIST_TREE).expect("the shipped MNIST tree is a valid tree file")
}

/// Parses a tree file (the format of this module's documentation).
fn read_tree(text: &str) -> Result<ChowLiuTree, String> {
    let mut parent = Vec::new();
    let mut root = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "root" {
            if root.replace(parent.len()).is_some() {
                return Err(format!("line {}: a second root", i + 1));
            }
            parent.push(None);
        } else {
            let p = line
                .parse::<usize>()
                .map_err(|e| format!("line {}: '{line}': {e}", i + 1))?;
            parent.push(Some(p));
        }
    }
    let tree = ChowLiuTree {
        root: root.ok_or("no root")?,
        parent,
    };
    tree.check().map_err(|e| e.to_string())?;
    Ok(tree)
}

/// The tree file of `tree`.
pub fn write_tree(tree: &ChowLiuTree) -> String {
    let mut text = String::from(
        "# Chow-Liu tree of the MNIST training images: the parent of every pixel (row-major).\n\
         # Written by the einet crate's test canonical_mnist_tree (EINET_BLESS=1).\n",
    );
    for p in &tree.parent {
        match p {
            Some(p) => text.push_str(&format!("{p}\n")),
            None => text.push_str("root\n"),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_round_trip_through_the_file_format() {
        let tree = mnist_chow_liu_tree();
        assert_eq!(tree.num_vars(), 784);
        assert_eq!(read_tree(&write_tree(&tree)), Ok(tree));
    }

    #[test]
    fn broken_tree_files_are_refused_with_the_line() {
        assert!(read_tree("root\n0\nx\n").unwrap_err().starts_with("line 3"));
        assert!(
            read_tree("root\nroot\n")
                .unwrap_err()
                .contains("second root")
        );
        assert_eq!(read_tree("0\n").unwrap_err(), "no root");
        assert!(read_tree("root\n2\n1\n").is_err());
    }
}
