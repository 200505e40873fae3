//! The constants the host and the kernels agree on, defined once, here.
//!
//! [`defines`] writes them as C preprocessor definitions that precede `kernels/common.cuh` in
//! every kernel program (NVRTC and the emulator alike), so no kernel file hard-codes them: the
//! leaf-family codes of the `families` table, the node kinds of the backtracking node table,
//! and the tile and stack sizes that the host's launch planning depends on.

use einet_core::LeafFamily;

/// Words per family in the `families` table (the layout of `Family` in `common.cuh`).
pub const FAMILY_WORDS: usize = 8;

/// The code of a leaf family in word 0 of its `families` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum FamilyCode {
    /// `FAM_BERNOULLI`.
    Bernoulli = 0,
    /// `FAM_CATEGORICAL`.
    Categorical = 1,
    /// `FAM_BINOMIAL`.
    Binomial = 2,
    /// `FAM_NORMAL`.
    Normal = 3,
}

impl FamilyCode {
    /// Every code, with the name the kernels know it by.
    pub const ALL: [(FamilyCode, &'static str); 4] = [
        (FamilyCode::Bernoulli, "FAM_BERNOULLI"),
        (FamilyCode::Categorical, "FAM_CATEGORICAL"),
        (FamilyCode::Binomial, "FAM_BINOMIAL"),
        (FamilyCode::Normal, "FAM_NORMAL"),
    ];

    /// The code of `family`.
    pub fn of(family: LeafFamily) -> FamilyCode {
        match family {
            LeafFamily::Bernoulli => FamilyCode::Bernoulli,
            LeafFamily::Categorical { .. } => FamilyCode::Categorical,
            LeafFamily::Binomial { .. } => FamilyCode::Binomial,
            LeafFamily::Normal { .. } => FamilyCode::Normal,
        }
    }
}

/// The kind of a node in word 0 of its node-table entry (the backtracking kernel's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum NodeKind {
    /// `NODE_LEAF`: word 1 is its leaf index.
    Leaf = 0,
    /// `NODE_PRODUCT`: left, right, unused, global offset of its weights.
    Product = 1,
    /// `NODE_MIXING`: start of its components, their count, max components, weight offset.
    Mixing = 2,
    /// `NODE_CP_PRODUCT`: start of its children in the node lists, their count.
    CpProduct = 3,
    /// `NODE_CP_SUM`: start of its inputs in the node lists, their count, weights per output
    /// (`Σ K_in`), weight offset.
    CpSum = 4,
}

/// Words per node of the node table.
pub const NODE_WORDS: usize = 6;
/// Outputs per block of the einsum forward kernel's tile.
pub const EINSUM_TO: u32 = 8;
/// Rows per block of the tensor-core forward kernels (`tc_log_matmul`: 16 per warp, so the
/// block has `2 * TC_ROWS` threads).
pub const TC_ROWS: u32 = 64;
/// Outputs per block of the tensor-core forward kernels (a multiple of 8, the mma's n).
pub const TC_COLS: u32 = 32;
/// Inputs per shared-memory chunk of the tensor-core forward kernels (a multiple of 16, the
/// BF16 mma's k).
pub const TC_DEPTH: u32 = 16;
/// Words per entry of the backtracking kernel's stack: node, vector entry, next child.
pub const STACK_WORDS: usize = 3;
/// Words of the backtracking kernel's shared memory besides its scores (two per lane, for
/// reductions and broadcasts).
pub const BACKTRACK_EXTRA: usize = 64;

/// The definitions, one `#define NAME VALUEu` per line.
pub fn defines() -> String {
    let mut text =
        String::from("// From einet-cuda's abi.rs: the constants host and kernels share.\n");
    let mut define = |name: &str, value: usize| {
        text.push_str(&format!("#define {name} {value}u\n"));
    };
    for (code, name) in FamilyCode::ALL {
        define(name, code as usize);
    }
    define("FAMILY_WORDS", FAMILY_WORDS);
    define("NODE_LEAF", NodeKind::Leaf as usize);
    define("NODE_PRODUCT", NodeKind::Product as usize);
    define("NODE_MIXING", NodeKind::Mixing as usize);
    define("NODE_CP_PRODUCT", NodeKind::CpProduct as usize);
    define("NODE_CP_SUM", NodeKind::CpSum as usize);
    define("NODE_WORDS", NODE_WORDS);
    define("EINSUM_TO", EINSUM_TO as usize);
    define("TC_ROWS", TC_ROWS as usize);
    define("TC_COLS", TC_COLS as usize);
    define("TC_DEPTH", TC_DEPTH as usize);
    define("STACK_WORDS", STACK_WORDS);
    define("BACKTRACK_EXTRA", BACKTRACK_EXTRA);
    define(
        "EINET_ENTROPY_MULTIPLIER_STEPS",
        einet_core::em::ENTROPY_MULTIPLIER_STEPS,
    );
    define(
        "EINET_ENTROPY_WEIGHT_STEPS",
        einet_core::em::ENTROPY_WEIGHT_STEPS,
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{COMMON, SOURCES};

    /// Every name [`defines`] writes.
    fn names() -> Vec<String> {
        defines()
            .lines()
            .filter_map(|l| l.strip_prefix("#define "))
            .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn no_kernel_file_defines_a_shared_constant_again() {
        for name in names() {
            let needle = format!("#define {name} ");
            assert!(!COMMON.contains(&needle), "common.cuh defines {name}");
            for (file, src) in SOURCES {
                assert!(!src.contains(&needle), "{file} defines {name}");
            }
        }
    }

    #[test]
    fn every_shared_constant_is_used_by_a_kernel() {
        for name in names() {
            let used = std::iter::once(COMMON)
                .chain(SOURCES.iter().map(|(_, s)| *s))
                .any(|s| s.contains(&name));
            assert!(used, "no kernel uses {name}");
        }
    }

    #[test]
    fn family_codes_cover_every_leaf_family() {
        let families = [
            LeafFamily::Bernoulli,
            LeafFamily::Categorical { categories: 3 },
            LeafFamily::Binomial { trials: 4 },
            LeafFamily::Normal {
                min_var: 0.1,
                max_var: 1.0,
            },
        ];
        let codes: Vec<FamilyCode> = families.into_iter().map(FamilyCode::of).collect();
        let all: Vec<FamilyCode> = FamilyCode::ALL.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, all);
    }
}
