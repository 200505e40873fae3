//! Host-side preparation of a layout for the device: flat `u32` index arrays, the family and
//! leaf-table descriptions, the node table of the backtracking kernel, the M-step's weight
//! vectors, and each layer's launch shapes (tile sizes and shared memory).

use std::ops::Range;

use einet_core::BackendError;
use einet_core::LeafFamily;
use einet_core::layout::{Layer, Layout};
use einet_core::params::distributions;

use crate::abi::{
    BACKTRACK_EXTRA, EINSUM_TO, FAMILY_WORDS, FamilyCode, NODE_WORDS, NodeKind, STACK_WORDS,
    TC_COLS, TC_DEPTH, TC_ROWS,
};

/// Dynamic shared memory a block may use without opting in.
pub(crate) const SMEM_LIMIT: usize = 48 * 1024;
/// Shared memory the tiles of a block aim to stay within (leaves room for more blocks).
const SMEM_SOFT: usize = 32 * 1024;
/// Bytes of staged weights per block (einsum forward and child gradients).
const STAGE_BYTES: usize = 8 * 1024;
/// Threads of the element-wise kernels.
pub(crate) const THREADS: u32 = 256;
/// Threads of the backtracking kernel: one warp per row.
pub(crate) const BACKTRACK_THREADS: u32 = 32;
/// Blocks a launch may have along y (the mixed regions of the mixing backward kernel).
const MAX_GRID_Y: usize = 65_535;
/// Rows one block of the leaf backward kernel sums over.
pub(crate) const LEAF_BACKWARD_ROWS: u32 = 128;
/// Blocks the counts kernel aims for; it splits the rows into no more chunks than needed,
/// because every chunk adds its partial counts atomically (12 bytes of traffic per weight).
const COUNTS_TARGET_BLOCKS: usize = 2048;

/// `n` as a grid's y extent (at most [`MAX_GRID_Y`]).
fn grid_y(n: usize, what: &str) -> Result<u32, BackendError> {
    if n > MAX_GRID_Y {
        return Err(too_large(&format!("{n} {what} (at most {MAX_GRID_Y})")));
    }
    Ok(n as u32)
}

fn too_large(what: &str) -> BackendError {
    BackendError::Unavailable(format!("model too large for the CUDA backend: {what}"))
}

fn to_u32(n: usize, what: &str) -> Result<u32, BackendError> {
    u32::try_from(n).map_err(|_| too_large(&format!("{what} = {n} does not fit 32 bits")))
}

/// Rounds up to a multiple of 4.
pub(crate) fn ceil4(n: u32) -> u32 {
    n.div_ceil(4) * 4
}

/// The tile rows for a launch over `rows` rows: at most `max`, a multiple of 4, at least 4.
fn tile_rows(max: u32, rows: usize) -> u32 {
    let need = ceil4(u32::try_from(rows).unwrap_or(u32::MAX).clamp(1, max));
    need.min(max).max(4)
}

/// Launch parameters of one einsum layer's kernels.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EinsumPlan {
    /// Products in the layer.
    pub products: u32,
    /// Start of the layer in the concatenated left/right/out/wofs arrays.
    pub index: usize,
    /// Global index of the layer's first weight.
    pub weights: usize,
    pub kl_max: u32,
    pub kr_max: u32,
    pub ko_max: u32,
    /// Largest forward tile (rows = threads).
    forward_tr: u32,
    /// Largest row sub-tile of the counts kernel.
    counts_rows: u32,
    /// Threads and micro-tile blocks per product of the counts kernel.
    pub counts_threads: u32,
    pub counts_mt_blocks: u32,
    /// Largest row tile of the child-gradient kernel.
    grads_tr: u32,
    /// Warps (16 rows each) of the tensor-core child-gradient kernels' blocks; `None` when
    /// even one warp's tile exceeds the shared memory (the fp32 kernel runs instead).
    tc_grads_warps: Option<u32>,
}

/// A launch of the einsum forward kernels: rows per tile (= threads), weight i-slices per
/// stage, shared memory bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ForwardLaunch {
    pub tr: u32,
    pub o_tiles: u32,
    pub ic: u32,
    pub smem: u32,
}

/// A launch of the counts kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CountsLaunch {
    pub sub_rows: u32,
    pub krp_max: u32,
    pub kop_max: u32,
    pub smem: u32,
}

/// A launch of the child-gradient kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GradsLaunch {
    pub tr: u32,
    pub threads: u32,
    pub krp_max: u32,
    pub ic: u32,
    pub smem: u32,
}

/// A launch of the tensor-core counts kernels: tiles of TC_ROWS entries × TC_COLS outputs
/// per product (`j_tiles` along the entries), rows per block, shared memory bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TcCountsLaunch {
    pub j_tiles: u32,
    pub tiles: u32,
    pub krp_max: u32,
    pub kop_max: u32,
    pub rows_per_block: u32,
    pub smem: u32,
}

/// A launch of the tensor-core child-gradient kernels: rows per block (16 per warp), threads,
/// `K_out` padded to the mma depth, shared memory bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TcGradsLaunch {
    pub tile_rows: u32,
    pub threads: u32,
    pub krp_max: u32,
    pub ko16_max: u32,
    pub smem: u32,
}

/// Floats of shared memory of the tensor-core counts kernels.
fn tc_counts_floats(kl: u32, krp: u32, kop: u32) -> usize {
    ((TC_ROWS + TC_COLS) * TC_DEPTH + TC_DEPTH * (kl + krp + kop + 1)) as usize
}

/// Floats of shared memory of the tensor-core child-gradient kernels for `tr` rows.
fn tc_grads_floats(tr: u32, kl: u32, krp: u32, ko16: u32) -> usize {
    (tr * (kl + krp + ko16 + 1) + TC_COLS * ko16) as usize
}

/// Floats of shared memory of the forward kernels for tile `tr` and `ic` staged i-slices.
fn forward_floats(tr: u32, ic: u32, kl: u32, kr: u32) -> usize {
    (tr * (kl + kr + 1)) as usize + (ic * kr * EINSUM_TO) as usize
}

fn counts_floats(sub: u32, kl: u32, krp: u32, kop: u32) -> usize {
    (sub * (kl + krp + kop + 1)) as usize
}

fn grads_floats(tr: u32, ic: u32, kl: u32, krp: u32, ko: u32) -> usize {
    (tr * (2 * kl + krp + ko + 1)) as usize + (ic * ko * krp) as usize
}

/// Weight i-slices to stage: as many as fit STAGE_BYTES (at least 1, at most `kl`) and the
/// shared memory left after `base` floats.
fn stage_slices(base: usize, slice: usize, kl: u32) -> u32 {
    let by_stage = (STAGE_BYTES / 4 / slice.max(1)).max(1);
    let by_limit = (SMEM_LIMIT / 4).saturating_sub(base) / slice.max(1);
    by_stage.min(by_limit).clamp(1, kl.max(1) as usize) as u32
}

/// Rows per block of a counts kernel with `per_chunk` blocks per row chunk over `rows` rows:
/// one chunk when those blocks alone fill the device, else up to ⌈rows / 64⌉ chunks.
fn chunk_rows(per_chunk: usize, rows: usize) -> u32 {
    let chunks = COUNTS_TARGET_BLOCKS
        .div_ceil(per_chunk.max(1))
        .clamp(1, rows.div_ceil(64).max(1));
    u32::try_from(rows.div_ceil(chunks).max(1)).unwrap_or(u32::MAX)
}

impl EinsumPlan {
    fn new(
        products: u32,
        index: usize,
        weights: usize,
        [kl_max, kr_max, ko_max]: [u32; 3],
        n_mt_max: u32,
    ) -> Result<Self, BackendError> {
        let fits = |floats: usize, limit: usize| floats * 4 <= limit;
        let trs = [128u32, 64, 32, 16, 8, 4];
        let pick = |ok: &dyn Fn(u32, usize) -> bool| {
            trs.iter()
                .copied()
                .find(|&t| ok(t, SMEM_SOFT))
                .or_else(|| trs.iter().copied().find(|&t| ok(t, SMEM_LIMIT)))
        };
        let k_desc = format!("K_left {kl_max}, K_right {kr_max}, K_out {ko_max}");
        let forward_tr = pick(&|t, limit| fits(forward_floats(t, 1, kl_max, kr_max), limit))
            .ok_or_else(|| too_large(&format!("einsum forward tiles ({k_desc})")))?;
        let (krp, kop) = (ceil4(kr_max), ceil4(ko_max));
        let counts_rows =
            pick(&|t, limit| t <= 64 && fits(counts_floats(t, kl_max, krp, kop), limit))
                .ok_or_else(|| too_large(&format!("einsum counts tiles ({k_desc})")))?;
        let grads_tr = pick(&|t, limit| {
            t <= 64
                && (t / 4) * (krp / 4) <= THREADS
                && fits(grads_floats(t, 1, kl_max, krp, ko_max), limit)
        })
        .ok_or_else(|| too_large(&format!("einsum gradient tiles ({k_desc})")))?;
        let counts_threads = n_mt_max.div_ceil(32).clamp(1, THREADS / 32) * 32;
        let ko16 = ko_max.div_ceil(TC_DEPTH) * TC_DEPTH;
        let tc_grads_warps = [TC_ROWS / 16, TC_ROWS / 32, 1]
            .into_iter()
            .find(|&w| fits(tc_grads_floats(16 * w, kl_max, krp, ko16), SMEM_LIMIT));
        Ok(EinsumPlan {
            products,
            index,
            weights,
            kl_max,
            kr_max,
            ko_max,
            forward_tr,
            counts_rows,
            counts_threads,
            counts_mt_blocks: n_mt_max.div_ceil(counts_threads).max(1),
            grads_tr,
            tc_grads_warps,
        })
    }

    /// The forward launch over `rows` rows.
    pub(crate) fn forward_launch(&self, rows: usize) -> ForwardLaunch {
        let tr = tile_rows(self.forward_tr, rows);
        let base = forward_floats(tr, 0, self.kl_max, self.kr_max);
        let ic = stage_slices(base, (self.kr_max * EINSUM_TO) as usize, self.kl_max);
        ForwardLaunch {
            tr,
            o_tiles: self.ko_max.div_ceil(EINSUM_TO),
            ic,
            smem: (forward_floats(tr, ic, self.kl_max, self.kr_max) * 4) as u32,
        }
    }

    /// The counts launch over `rows` rows.
    pub(crate) fn counts_launch(&self, rows: usize) -> CountsLaunch {
        let sub_rows = tile_rows(self.counts_rows, rows);
        let (krp_max, kop_max) = (ceil4(self.kr_max), ceil4(self.ko_max));
        CountsLaunch {
            sub_rows,
            krp_max,
            kop_max,
            smem: (counts_floats(sub_rows, self.kl_max, krp_max, kop_max) * 4) as u32,
        }
    }

    /// Rows per block of the counts kernel over `rows` rows.
    pub(crate) fn counts_rows_per_block(&self, rows: usize) -> u32 {
        chunk_rows((self.products * self.counts_mt_blocks) as usize, rows)
    }

    /// The tensor-core counts launch over `rows` rows, if its staging fits the shared memory
    /// (else the fp32 kernel runs).
    pub(crate) fn tc_counts_launch(&self, rows: usize) -> Option<TcCountsLaunch> {
        let (krp_max, kop_max) = (ceil4(self.kr_max), ceil4(self.ko_max));
        if tc_counts_floats(self.kl_max, krp_max, kop_max) * 4 > SMEM_LIMIT {
            return None;
        }
        let j_tiles = (self.kl_max * self.kr_max).div_ceil(TC_ROWS);
        let tiles = j_tiles * self.ko_max.div_ceil(TC_COLS);
        Some(TcCountsLaunch {
            j_tiles,
            tiles,
            krp_max,
            kop_max,
            rows_per_block: chunk_rows((self.products * tiles) as usize, rows),
            smem: (tc_counts_floats(self.kl_max, krp_max, kop_max) * 4) as u32,
        })
    }

    /// The tensor-core child-gradient launch, if its tile fits the shared memory.
    pub(crate) fn tc_grads_launch(&self) -> Option<TcGradsLaunch> {
        let warps = self.tc_grads_warps?;
        let (krp_max, ko16_max) = (
            ceil4(self.kr_max),
            self.ko_max.div_ceil(TC_DEPTH) * TC_DEPTH,
        );
        Some(TcGradsLaunch {
            tile_rows: 16 * warps,
            threads: 32 * warps,
            krp_max,
            ko16_max,
            smem: (tc_grads_floats(16 * warps, self.kl_max, krp_max, ko16_max) * 4) as u32,
        })
    }

    /// The child-gradient launch over `rows` rows.
    pub(crate) fn grads_launch(&self, rows: usize) -> GradsLaunch {
        let tr = tile_rows(self.grads_tr, rows);
        let krp_max = ceil4(self.kr_max);
        let base = grads_floats(tr, 0, self.kl_max, krp_max, self.ko_max);
        let ic = stage_slices(base, (self.ko_max * krp_max) as usize, self.kl_max);
        GradsLaunch {
            tr,
            threads: (tr / 4) * (krp_max / 4),
            krp_max,
            ic,
            smem: (grads_floats(tr, ic, self.kl_max, krp_max, self.ko_max) * 4) as u32,
        }
    }
}

/// Launch parameters of one mixing layer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MixingPlan {
    /// Mixed regions.
    pub regions: u32,
    /// Start of the layer in the concatenated out/ncomp arrays.
    pub index: usize,
    /// Start of the layer in the concatenated components array.
    pub comps: usize,
    pub k: u32,
    pub cmax: u32,
    /// Global index of the layer's first weight.
    pub weights: usize,
    /// Shared memory of the backward kernel: one sum per (k, component).
    pub smem: u32,
}

/// Launch parameters of a CP product or sum layer: its nodes are entries
/// `index..index + nodes` of the CP arrays (`cp_out`, `cp_list_start`, `cp_list_len`; sums
/// also `cp_wofs`, `cp_width`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CpPlan {
    /// Products or sums in the layer.
    pub nodes: u32,
    pub index: usize,
    /// The largest output K.
    pub k_max: u32,
    /// Sums: the largest `Σ K_in` (weights per output).
    pub width_max: u32,
}

/// One inner layer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum LayerPlan {
    Einsum(EinsumPlan),
    Mixing(MixingPlan),
    CpProduct(CpPlan),
    CpSum(CpPlan),
}

/// Everything the device needs besides parameters and activations.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plan {
    /// The values allowed at every position of a row (`einet_core::backend::allowed_values`):
    /// smallest, bound below which, and whether whole.
    pub value_min: Vec<f32>,
    pub value_below: Vec<f32>,
    pub value_whole: Vec<u32>,
    pub k: Vec<u32>,
    pub koff: Vec<u32>,
    pub var_offsets: Vec<u32>,
    pub vars: Vec<u32>,
    pub entry_family: Vec<u32>,
    pub entry_leaf: Vec<u32>,
    pub param_offsets: Vec<u32>,
    pub tab_offsets: Vec<u32>,
    pub table_len: usize,
    /// 8 words per family (see `Family` in common.cuh).
    pub families: Vec<u32>,
    /// log C(N, x) of every Binomial family, concatenated.
    pub lbinom: Vec<f32>,
    pub ein_left: Vec<u32>,
    pub ein_right: Vec<u32>,
    pub ein_out: Vec<u32>,
    pub ein_wofs: Vec<u32>,
    pub mix_out: Vec<u32>,
    /// Lists of nodes: the components of every mixed region (`max_components` slots each),
    /// the children of every CP product and the inputs of every CP sum.
    pub node_lists: Vec<u32>,
    pub mix_ncomp: Vec<u32>,
    /// Output node, start and length of its list in `node_lists`, of every CP node.
    pub cp_out: Vec<u32>,
    pub cp_list_start: Vec<u32>,
    pub cp_list_len: Vec<u32>,
    /// CP sums (indexed like `cp_out`; 0 for products): global offset of the weights and
    /// weights per output (`Σ K_in`).
    pub cp_wofs: Vec<u32>,
    pub cp_width: Vec<u32>,
    /// NODE_WORDS words per node ([`NodeKind`] first; see backtrack.cu).
    pub nodes: Vec<u32>,
    /// The M-step's normalised weight vectors (global starts and lengths).
    pub vec_start: Vec<u32>,
    pub vec_len: Vec<u32>,
    pub layers: Vec<LayerPlan>,
    /// Each layer's range in the concatenated weight vector.
    pub layer_weights: Vec<Range<usize>>,
    pub num_weights: usize,
    /// The most scores one choice of the backtracking kernel weighs (pairs of a product,
    /// components of a mixed region, input entries of a CP sum, root outputs).
    pub backtrack_scores: u32,
    /// The most entries the backtracking kernel's stack holds.
    pub backtrack_depth: u32,
}

impl Plan {
    /// Shared memory of the backtracking kernel: its scores, the words for reductions and
    /// its stack of `STACK_WORDS`-word entries.
    pub(crate) fn backtrack_smem(&self) -> u32 {
        (self.backtrack_scores + BACKTRACK_EXTRA as u32 + STACK_WORDS as u32 * self.backtrack_depth)
            * 4
    }
}

/// The most entries the backtracking stack holds below `root`: a leaf takes its own entry;
/// an einsum product pops itself and pushes its right then its left child; a mixture or a CP
/// sum its chosen input; a CP product re-pushes itself (with its next child) under each
/// child but the last.
fn backtrack_depth(layout: &Layout) -> usize {
    let mut depth = vec![1usize; layout.num_nodes()];
    for layer in &layout.layers {
        match layer {
            Layer::Einsum(l) => {
                for p in 0..l.out.len() {
                    let (a, b) = (depth[l.left[p] as usize], depth[l.right[p] as usize]);
                    depth[l.out[p] as usize] = (1 + a).max(b);
                }
            }
            Layer::Mixing(l) => {
                for (m, &out) in l.out.iter().enumerate() {
                    let comps =
                        &l.components[m * l.max_components..][..l.num_components[m] as usize];
                    depth[out as usize] =
                        comps.iter().map(|&c| depth[c as usize]).max().unwrap_or(1);
                }
            }
            Layer::Product(l) => {
                for p in 0..l.out.len() {
                    let children = l.children(p);
                    let (last, rest) = children.split_last().expect("two or more children");
                    let before = rest
                        .iter()
                        .map(|&c| 1 + depth[c as usize])
                        .max()
                        .unwrap_or(1);
                    depth[l.out[p] as usize] = before.max(depth[*last as usize]);
                }
            }
            Layer::Sum(l) => {
                for m in 0..l.out.len() {
                    depth[l.out[m] as usize] = l
                        .inputs(m)
                        .iter()
                        .map(|&c| depth[c as usize])
                        .max()
                        .unwrap_or(1);
                }
            }
        }
    }
    depth[layout.root as usize]
}

/// The `families` words of `family` (see `Family` in common.cuh): code, categories or
/// trials, table width, offset of its log-binomial table, statistics, variance bounds.
fn family_words(
    family: LeafFamily,
    lbinom: &mut Vec<f32>,
) -> Result<[u32; FAMILY_WORDS], BackendError> {
    let code = FamilyCode::of(family) as u32;
    let stats = family.num_stats() as u32;
    Ok(match family {
        LeafFamily::Bernoulli => [code, 2, 4, 0, stats, 0, 0, 0],
        LeafFamily::Categorical { categories } => {
            [code, categories, categories + 2, 0, stats, 0, 0, 0]
        }
        LeafFamily::Binomial { trials } => {
            let offset = to_u32(lbinom.len(), "binomial table length")?;
            // The same recursion as LeafFamily::log_densities, in f64.
            let mut log_coefficient = 0.0f64;
            for x in 0..=trials {
                lbinom.push(log_coefficient as f32);
                let xf = f64::from(x);
                log_coefficient += (f64::from(trials) - xf).ln() - (xf + 1.0).ln();
            }
            [code, trials, 4, offset, stats, 0, 0, 0]
        }
        LeafFamily::Normal { min_var, max_var } => [
            code,
            0,
            5,
            0,
            stats,
            min_var.to_bits(),
            max_var.to_bits(),
            0,
        ],
    })
}

impl Plan {
    /// Prepares `layout` for the device.
    pub(crate) fn new(layout: &Layout) -> Result<Plan, BackendError> {
        let leaf = &layout.leaf;
        let (k_leaf, d) = (leaf.k, layout.num_channels);
        let mut lbinom = Vec::new();
        let mut families = Vec::new();
        for &f in &leaf.families {
            families.extend(family_words(f, &mut lbinom)?);
        }
        let width = |e: usize| families[FAMILY_WORDS * leaf.entry_family[e] as usize + 2] as usize;
        let mut tab_offsets = Vec::with_capacity(leaf.vars.len());
        let mut table_len = 0usize;
        for e in 0..leaf.vars.len() {
            tab_offsets.push(to_u32(table_len, "leaf table length")?);
            table_len += d * width(e) * k_leaf;
        }
        to_u32(table_len, "leaf table length")?;
        let mut entry_leaf = Vec::with_capacity(leaf.vars.len());
        for n in 0..leaf.len() {
            entry_leaf.extend(leaf.entries(n).map(|_| n as u32));
        }

        let allowed = einet_core::backend::allowed_values(layout);
        let mut plan = Plan {
            value_min: allowed.iter().map(|v| v.min).collect(),
            value_below: allowed.iter().map(|v| v.below).collect(),
            value_whole: allowed.iter().map(|v| u32::from(v.whole)).collect(),
            k: layout.k.clone(),
            koff: layout.k_offset.clone(),
            var_offsets: leaf.var_offsets.clone(),
            vars: leaf.vars.clone(),
            entry_family: leaf.entry_family.iter().map(|&f| u32::from(f)).collect(),
            entry_leaf,
            param_offsets: leaf.param_offsets.clone(),
            tab_offsets,
            table_len,
            families,
            lbinom,
            ein_left: Vec::new(),
            ein_right: Vec::new(),
            ein_out: Vec::new(),
            ein_wofs: Vec::new(),
            mix_out: Vec::new(),
            node_lists: Vec::new(),
            mix_ncomp: Vec::new(),
            cp_out: Vec::new(),
            cp_list_start: Vec::new(),
            cp_list_len: Vec::new(),
            cp_wofs: Vec::new(),
            cp_width: Vec::new(),
            nodes: vec![0; layout.num_nodes() * NODE_WORDS],
            vec_start: Vec::new(),
            vec_len: Vec::new(),
            layers: Vec::new(),
            layer_weights: Vec::new(),
            num_weights: 0,
            backtrack_scores: layout.k[layout.root as usize],
            backtrack_depth: to_u32(backtrack_depth(layout), "backtracking depth")?,
        };
        for n in 0..leaf.len() {
            plan.nodes[n * NODE_WORDS] = NodeKind::Leaf as u32;
            plan.nodes[n * NODE_WORDS + 1] = n as u32;
        }
        let kk = |n: u32| layout.k[n as usize];
        for layer in &layout.layers {
            let base = plan.num_weights;
            let count = layer.num_weights();
            plan.layer_weights.push(base..base + count);
            plan.num_weights += count;
            to_u32(plan.num_weights, "number of sum weights")?;
            for range in distributions(layout, layer) {
                plan.vec_start
                    .push(to_u32(base + range.start, "weight index")?);
                plan.vec_len.push(range.len() as u32);
            }
            match layer {
                Layer::Einsum(l) => {
                    let index = plan.ein_left.len();
                    let products = l.out.len();
                    let mut ks = [0u32; 3];
                    let mut n_mt_max = 0u32;
                    for p in 0..products {
                        let (kl, kr, ko) = (kk(l.left[p]), kk(l.right[p]), kk(l.out[p]));
                        plan.backtrack_scores = plan.backtrack_scores.max(kl * kr);
                        ks = [ks[0].max(kl), ks[1].max(kr), ks[2].max(ko)];
                        n_mt_max = n_mt_max.max((ceil4(ko) / 4) * kl * (ceil4(kr) / 4));
                        let node = l.out[p] as usize * NODE_WORDS;
                        plan.nodes[node..node + NODE_WORDS].copy_from_slice(&[
                            NodeKind::Product as u32,
                            l.left[p],
                            l.right[p],
                            0,
                            to_u32(base + l.weight_offsets[p] as usize, "weight index")?,
                            0,
                        ]);
                    }
                    plan.ein_left.extend(&l.left);
                    plan.ein_right.extend(&l.right);
                    plan.ein_out.extend(&l.out);
                    plan.ein_wofs.extend(&l.weight_offsets[..products]);
                    plan.layers.push(LayerPlan::Einsum(EinsumPlan::new(
                        to_u32(products, "products per layer")?,
                        index,
                        base,
                        ks,
                        n_mt_max,
                    )?));
                }
                Layer::Mixing(l) => {
                    let index = plan.mix_out.len();
                    let comps = plan.node_lists.len();
                    let cmax = l.max_components;
                    plan.backtrack_scores = plan.backtrack_scores.max(cmax as u32);
                    let smem = l.k * cmax * 4;
                    if smem > SMEM_LIMIT {
                        return Err(too_large(&format!(
                            "a mixing layer with K = {} and {cmax} components needs {smem} bytes \
                             of shared memory (at most {SMEM_LIMIT})",
                            l.k
                        )));
                    }
                    if l.out.len() > MAX_GRID_Y {
                        return Err(too_large(&format!(
                            "{} mixed regions in one layer (at most {MAX_GRID_Y})",
                            l.out.len()
                        )));
                    }
                    for (m, &out) in l.out.iter().enumerate() {
                        let node = out as usize * NODE_WORDS;
                        plan.nodes[node..node + NODE_WORDS].copy_from_slice(&[
                            NodeKind::Mixing as u32,
                            to_u32(comps + m * cmax, "mixing components")?,
                            l.num_components[m],
                            cmax as u32,
                            to_u32(base + m * l.k * cmax, "weight index")?,
                            0,
                        ]);
                    }
                    plan.mix_out.extend(&l.out);
                    plan.node_lists.extend(&l.components);
                    plan.mix_ncomp.extend(&l.num_components);
                    plan.layers.push(LayerPlan::Mixing(MixingPlan {
                        regions: to_u32(l.out.len(), "mixed regions")?,
                        index,
                        comps,
                        k: l.k as u32,
                        cmax: cmax as u32,
                        weights: base,
                        smem: smem as u32,
                    }));
                }
                Layer::Product(l) => {
                    let index = plan.cp_out.len();
                    let mut k_max = 0;
                    for p in 0..l.out.len() {
                        let (out, children) = (l.out[p], l.children(p));
                        k_max = k_max.max(kk(out));
                        let start = to_u32(plan.node_lists.len(), "node lists")?;
                        let node = out as usize * NODE_WORDS;
                        plan.nodes[node..node + NODE_WORDS].copy_from_slice(&[
                            NodeKind::CpProduct as u32,
                            start,
                            children.len() as u32,
                            0,
                            0,
                            0,
                        ]);
                        plan.cp_out.push(out);
                        plan.cp_list_start.push(start);
                        plan.cp_list_len.push(children.len() as u32);
                        plan.cp_wofs.push(0);
                        plan.cp_width.push(0);
                        plan.node_lists.extend(children);
                    }
                    plan.layers.push(LayerPlan::CpProduct(CpPlan {
                        nodes: grid_y(l.out.len(), "CP products in one layer")?,
                        index,
                        k_max,
                        width_max: 0,
                    }));
                }
                Layer::Sum(l) => {
                    let index = plan.cp_out.len();
                    let (mut k_max, mut width_max) = (0, 0);
                    for m in 0..l.out.len() {
                        let (out, inputs) = (l.out[m], l.inputs(m));
                        let width: u32 = inputs.iter().map(|&c| kk(c)).sum();
                        k_max = k_max.max(kk(out));
                        width_max = width_max.max(width);
                        plan.backtrack_scores = plan.backtrack_scores.max(width);
                        let start = to_u32(plan.node_lists.len(), "node lists")?;
                        let wofs = to_u32(base + l.weight_offsets[m] as usize, "weight index")?;
                        let node = out as usize * NODE_WORDS;
                        plan.nodes[node..node + NODE_WORDS].copy_from_slice(&[
                            NodeKind::CpSum as u32,
                            start,
                            inputs.len() as u32,
                            width,
                            wofs,
                            0,
                        ]);
                        plan.cp_out.push(out);
                        plan.cp_list_start.push(start);
                        plan.cp_list_len.push(inputs.len() as u32);
                        plan.cp_wofs.push(wofs);
                        plan.cp_width.push(width);
                        plan.node_lists.extend(inputs);
                    }
                    plan.layers.push(LayerPlan::CpSum(CpPlan {
                        nodes: grid_y(l.out.len(), "CP sums in one layer")?,
                        index,
                        k_max,
                        width_max,
                    }));
                }
            }
        }
        if plan.backtrack_smem() as usize > SMEM_LIMIT {
            return Err(too_large(&format!(
                "sampling weighs up to {} scores at once with a stack of {} entries; {} words \
                 of shared memory fit",
                plan.backtrack_scores,
                plan.backtrack_depth,
                SMEM_LIMIT / 4 - BACKTRACK_EXTRA
            )));
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use einet_core::canonical::Canonical;
    use einet_core::{Einet, EinetConfig, random_binary_trees};

    #[test]
    fn tiles_fit_shared_memory_for_the_canonical_models() {
        for id in ["A1", "B1", "C2"] {
            let c = Canonical::get(id).unwrap();
            let layout = Layout::new(&c.graph(0).unwrap(), &c.config).unwrap();
            let plan = Plan::new(&layout).unwrap();
            for layer in &plan.layers {
                if let LayerPlan::Einsum(e) = layer {
                    for rows in [1, 7, 100, 1000] {
                        let f = e.forward_launch(rows);
                        assert!(f.smem as usize <= SMEM_LIMIT && f.tr % 4 == 0 && f.tr <= 128);
                        let c = e.counts_launch(rows);
                        assert!(c.smem as usize <= SMEM_LIMIT && c.sub_rows % 4 == 0);
                        let g = e.grads_launch(rows);
                        assert!(g.smem as usize <= SMEM_LIMIT && g.threads <= THREADS);
                        assert!(g.threads >= 1 && g.ic >= 1 && f.ic >= 1);
                        let tc = e.tc_counts_launch(rows).expect("tensor-core counts fit");
                        assert!(tc.smem as usize <= SMEM_LIMIT && tc.tiles >= tc.j_tiles);
                        let tg = e.tc_grads_launch().expect("tensor-core gradients fit");
                        assert!(tg.smem as usize <= SMEM_LIMIT && tg.threads == 2 * tg.tile_rows);
                    }
                }
            }
        }
    }

    #[test]
    fn every_node_is_described() {
        let graph = random_binary_trees(8, 2, 3, 1).unwrap();
        let einet = Einet::new(graph, EinetConfig::new(3, LeafFamily::Bernoulli), 0).unwrap();
        let plan = Plan::new(&einet.layout).unwrap();
        let layout = &einet.layout;
        for n in 0..layout.num_nodes() {
            let kind = plan.nodes[n * NODE_WORDS];
            assert_eq!(kind == 0, n < layout.leaf.len(), "node {n}");
        }
        assert_eq!(plan.num_weights, layout.num_sum_weights());
        assert_eq!(plan.entry_leaf.len(), layout.leaf.vars.len());
        let total: usize = plan.vec_len.iter().map(|&l| l as usize).sum();
        let padding = layout
            .layers
            .iter()
            .map(|l| match l {
                Layer::Mixing(m) => {
                    m.k * m
                        .num_components
                        .iter()
                        .map(|&c| m.max_components - c as usize)
                        .sum::<usize>()
                }
                _ => 0,
            })
            .sum::<usize>();
        assert_eq!(total + padding, plan.num_weights);
    }

    #[test]
    fn backtracking_depth_of_a_deep_tree_fits_shared_memory() {
        // A chain of 300 variables rooted at one end: each CP product re-pushes itself under
        // its first child, so the stack grows with the depth when the subtree comes first.
        let n = 300;
        let tree = einet_core::learn::ChowLiuTree {
            root: n - 1,
            parent: (0..n).map(|v| (v + 1 < n).then_some(v + 1)).collect(),
        };
        let graph = einet_core::hclt(&[tree]).unwrap();
        let config = EinetConfig {
            layer: einet_core::LayerKind::Cp,
            ..EinetConfig::new(4, LeafFamily::Bernoulli)
        };
        let layout = Layout::new(&graph, &config).unwrap();
        let plan = Plan::new(&layout).unwrap();
        assert!(
            plan.backtrack_depth as usize >= n - 1,
            "{}",
            plan.backtrack_depth
        );
        assert!(plan.backtrack_smem() as usize <= SMEM_LIMIT);
    }

    #[test]
    fn k_up_to_100_fits_and_larger_k_is_refused_without_panicking() {
        let graph = random_binary_trees(8, 2, 1, 0).unwrap();
        for (k, fits) in [(64, true), (100, true), (128, false)] {
            let config = EinetConfig::new(k, LeafFamily::Bernoulli);
            let layout = Layout::new(&graph, &config).unwrap();
            match Plan::new(&layout) {
                Ok(_) => assert!(fits, "K = {k} should be refused"),
                Err(BackendError::Unavailable(msg)) => {
                    assert!(!fits, "K = {k} refused: {msg}");
                    assert!(msg.contains("too large"), "{msg}");
                }
                Err(e) => panic!("K = {k}: unexpected error {e}"),
            }
        }
    }

    #[test]
    fn binomial_coefficients_match_the_core() {
        let mut t = Vec::new();
        family_words(LeafFamily::Binomial { trials: 255 }, &mut t).unwrap();
        for x in [0u32, 1, 17, 128, 254, 255] {
            let want = einet_core::leaf::log_binomial_coefficient(255, x);
            assert!((t[x as usize] - want).abs() <= 1e-4 * want.abs().max(1.0));
        }
    }
}
