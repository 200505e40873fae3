//! [`Precision`]: the operand precision of the CUDA backend's einsum and CP sum layers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The operand precision of the sum-product forward pass (in EM's forward pass too) of dense
/// CP sum layers (the `(B × ΣK_in)·(ΣK_in × K_out)` product in log space) and einsum layers
/// (the `(B × K_l·K_r)·(K_l·K_r × K_out)` product of the children's outer product and the
/// weights), and of EM's backward pass through both (the counts, products over the rows, and
/// the input gradients, products over the outputs). Max-product passes (MPE), mixing and leaf
/// layers and the M-step stay in fp32 whatever it is.
///
/// ```
/// use einet_cuda::Precision;
///
/// let p: Precision = "bf16".parse().unwrap();
/// assert_eq!(p, Precision::Bf16);
/// assert_eq!(p.to_string(), "bf16");
/// assert_eq!(Precision::default(), Precision::Fp32);
/// assert!("fp16".parse::<Precision>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// fp32 on CUDA cores, the exact path (the default).
    #[default]
    Fp32,
    /// Tensor cores (compute capability 8.0 or newer): TF32 operands (10 mantissa bits,
    /// rounded to nearest, ties away from zero), fp32 accumulation; ≈ 1e-4 relative.
    Tf32,
    /// Tensor cores (compute capability 8.0 or newer): BF16 operands (7 mantissa bits,
    /// rounded to nearest even), fp32 accumulation; ≈ 1e-3 relative.
    Bf16,
}

impl Precision {
    /// Every precision, in the order of its names.
    pub const ALL: [Precision; 3] = [Precision::Fp32, Precision::Tf32, Precision::Bf16];

    /// The name: `fp32`, `tf32` or `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Tf32 => "tf32",
            Precision::Bf16 => "bf16",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;

    /// `fp32`, `tf32` or `bf16`.
    fn from_str(s: &str) -> Result<Self, String> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown precision '{s}'; use fp32, tf32 or bf16"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_serialise_in_lowercase() {
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>(), Ok(p));
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.name())
            );
        }
    }
}
