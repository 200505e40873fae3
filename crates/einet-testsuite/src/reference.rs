//! A naive, independent evaluator of an [`Einet`] in f64: one recursive pass per row over the
//! layout's nodes, no vectorisation, no max-shifting. Backends are checked against it.

use einet_core::Einet;
use einet_core::layout::Layer;

/// Which semiring the reference evaluates in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Sum-product, missing values marginalised.
    Sum,
    /// Max-product, missing values maximised.
    Max,
}

/// Log-value of every root output (class) for one row of `num_vars · num_channels` values.
pub fn root_values(einet: &Einet, row: &[f32], mode: Mode) -> Vec<f64> {
    node_values(einet, row, mode).swap_remove(einet.layout.root as usize)
}

/// Log-values of every node (leaves first, then each layer's outputs) for one row.
fn node_values(einet: &Einet, row: &[f32], mode: Mode) -> Vec<Vec<f64>> {
    let layout = &einet.layout;
    let leaf = &layout.leaf;
    let d = layout.num_channels;
    let mut values: Vec<Vec<f64>> = Vec::with_capacity(layout.num_nodes());
    for n in 0..leaf.len() {
        let mut v = vec![0.0f64; leaf.k];
        for e in leaf.entries(n) {
            let family = leaf.family(e);
            let s = family.num_stats();
            let var = leaf.vars[e] as usize;
            for (k, vk) in v.iter_mut().enumerate() {
                for c in 0..d {
                    let at = leaf.param_offsets[e] as usize + (k * d + c) * s;
                    let phi = &einet.params.leaf[at..at + s];
                    let x = row[var * d + c];
                    *vk += if !x.is_nan() {
                        f64::from(family.log_density(phi, x))
                    } else if mode == Mode::Sum {
                        0.0
                    } else {
                        match family.support_size() {
                            Some(w) => (0..w)
                                .map(|x| f64::from(family.log_density(phi, x as f32)))
                                .fold(f64::NEG_INFINITY, f64::max),
                            None => f64::from(family.log_density(phi, phi[0])),
                        }
                    };
                }
            }
        }
        values.push(v);
    }
    let combine = |terms: Vec<f64>| match mode {
        Mode::Sum => {
            let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if m == f64::NEG_INFINITY {
                m
            } else {
                m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln()
            }
        }
        Mode::Max => terms.into_iter().fold(f64::NEG_INFINITY, f64::max),
    };
    for (layer, w) in layout.layers.iter().zip(&einet.params.layers) {
        match layer {
            Layer::Einsum(l) => {
                for p in 0..l.out.len() {
                    let (left, right) = (&values[l.left[p] as usize], &values[l.right[p] as usize]);
                    let (kl, kr) = (left.len(), right.len());
                    let k_out = layout.k[l.out[p] as usize] as usize;
                    let base = l.weight_offsets[p] as usize;
                    let out = (0..k_out)
                        .map(|o| {
                            combine(
                                (0..kl * kr)
                                    .map(|ij| {
                                        f64::from(w[base + o * kl * kr + ij]).ln()
                                            + left[ij / kr]
                                            + right[ij % kr]
                                    })
                                    .collect(),
                            )
                        })
                        .collect();
                    values.push(out);
                }
            }
            Layer::Mixing(l) => {
                let cmax = l.max_components;
                for m in 0..l.out.len() {
                    let comps = &l.components[m * cmax..m * cmax + l.num_components[m] as usize];
                    let out = (0..l.k)
                        .map(|k| {
                            combine(
                                comps
                                    .iter()
                                    .enumerate()
                                    .map(|(c, &node)| {
                                        f64::from(w[(m * l.k + k) * cmax + c]).ln()
                                            + values[node as usize][k]
                                    })
                                    .collect(),
                            )
                        })
                        .collect();
                    values.push(out);
                }
            }
            Layer::Product(l) => {
                for p in 0..l.out.len() {
                    let k = layout.k[l.out[p] as usize] as usize;
                    let out = (0..k)
                        .map(|i| l.children(p).iter().map(|&c| values[c as usize][i]).sum())
                        .collect();
                    values.push(out);
                }
            }
            Layer::Sum(l) => {
                for m in 0..l.out.len() {
                    let z: Vec<f64> = l
                        .inputs(m)
                        .iter()
                        .flat_map(|&c| values[c as usize].iter().copied())
                        .collect();
                    let w = &w[l.weights(m)];
                    let out = w
                        .chunks_exact(z.len())
                        .map(|row| {
                            combine(
                                row.iter()
                                    .zip(&z)
                                    .map(|(&w, z)| f64::from(w).ln() + z)
                                    .collect(),
                            )
                        })
                        .collect();
                    values.push(out);
                }
            }
        }
    }
    values
}

/// `log p(row)` under the uniform class mixture (sum-product).
pub fn log_likelihood(einet: &Einet, row: &[f32]) -> f64 {
    let v = root_values(einet, row, Mode::Sum);
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + v.iter().map(|t| (t - m).exp()).sum::<f64>().ln() - (v.len() as f64).ln()
}

/// One pending step of [`mpe_completions`].
#[derive(Clone, Copy)]
enum Task {
    /// Choose below vector entry `k` of `node`.
    Node { node: usize, k: usize },
    /// Fill missing `channel` of leaf entry `entry` with the mode of its factor `k`.
    Mode {
        entry: usize,
        k: usize,
        channel: usize,
    },
}

/// Every completion of `row` that MPE backtracking may return: a forward
/// pass over the evidence in `mode` ([`Mode::Sum`]: the approximate MPE, missing values
/// marginalised; [`Mode::Max`]: the max-product MPE, missing values maximised), then, from the
/// root, the class with the largest value; at product `p` with output `o` the pair `(i, j)`
/// maximising `log W[o,i,j,p] + L_i + R_j`; at mixing node `m` with entry `k` the component
/// `c` maximising `log V[k,m,c] + X_c[k]`; at a CP product every child with the same entry;
/// at a CP sum with output `o` the input entry `(c, i)` maximising `log W[o,c,i] + Z_c[i]`; and for every missing channel of a chosen leaf
/// factor its mode (a Normal's mean). Observed values are kept. Every choice within `tol` of
/// the largest score is followed, so a near-tie yields several completions, each of which a
/// backend may return.
pub fn mpe_completions(einet: &Einet, row: &[f32], mode: Mode, tol: f64) -> Vec<Vec<f32>> {
    let layout = &einet.layout;
    let leaf = &layout.leaf;
    let d = layout.num_channels;
    let values = node_values(einet, row, mode);
    // The (layer, position) of every inner node; leaves are `None`.
    let mut inner = vec![None; layout.num_nodes()];
    for (i, layer) in layout.layers.iter().enumerate() {
        for (j, &node) in layer.outputs().iter().enumerate() {
            inner[node as usize] = Some((i, j));
        }
    }
    let near_best = |scores: &[f64]| -> Vec<usize> {
        let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (0..scores.len())
            .filter(|&i| scores[i] >= best - tol)
            .collect()
    };
    let root = layout.root as usize;
    let mut open: Vec<(Vec<f32>, Vec<Task>)> = near_best(&values[root])
        .into_iter()
        .map(|class| {
            (
                row.to_vec(),
                vec![Task::Node {
                    node: root,
                    k: class,
                }],
            )
        })
        .collect();
    let mut done = Vec::new();
    while let Some((state, mut tasks)) = open.pop() {
        let Some(task) = tasks.pop() else {
            done.push(state);
            continue;
        };
        match task {
            Task::Node { node, k } => match inner[node] {
                None => {
                    for entry in leaf.entries(node) {
                        let var = leaf.vars[entry] as usize;
                        tasks.extend(
                            (0..d)
                                .filter(|&c| state[var * d + c].is_nan())
                                .map(|channel| Task::Mode { entry, k, channel }),
                        );
                    }
                    open.push((state, tasks));
                }
                Some((i, p)) => {
                    let w = &einet.params.layers[i];
                    match &layout.layers[i] {
                        Layer::Einsum(l) => {
                            let (left, right) = (l.left[p] as usize, l.right[p] as usize);
                            let (kl, kr) = (values[left].len(), values[right].len());
                            let base = l.weight_offsets[p] as usize + k * kl * kr;
                            let scores: Vec<f64> = (0..kl * kr)
                                .map(|ij| {
                                    f64::from(w[base + ij]).ln()
                                        + values[left][ij / kr]
                                        + values[right][ij % kr]
                                })
                                .collect();
                            for ij in near_best(&scores) {
                                let mut next = tasks.clone();
                                next.push(Task::Node {
                                    node: right,
                                    k: ij % kr,
                                });
                                next.push(Task::Node {
                                    node: left,
                                    k: ij / kr,
                                });
                                open.push((state.clone(), next));
                            }
                        }
                        Layer::Mixing(l) => {
                            let cmax = l.max_components;
                            let comps =
                                &l.components[p * cmax..p * cmax + l.num_components[p] as usize];
                            let scores: Vec<f64> = comps
                                .iter()
                                .enumerate()
                                .map(|(c, &child)| {
                                    f64::from(w[(p * l.k + k) * cmax + c]).ln()
                                        + values[child as usize][k]
                                })
                                .collect();
                            for c in near_best(&scores) {
                                let mut next = tasks.clone();
                                next.push(Task::Node {
                                    node: comps[c] as usize,
                                    k,
                                });
                                open.push((state.clone(), next));
                            }
                        }
                        Layer::Product(l) => {
                            tasks.extend(l.children(p).iter().rev().map(|&c| Task::Node {
                                node: c as usize,
                                k,
                            }));
                            open.push((state, tasks));
                        }
                        Layer::Sum(l) => {
                            let entries: Vec<(usize, usize)> = l
                                .inputs(p)
                                .iter()
                                .flat_map(|&c| {
                                    (0..values[c as usize].len()).map(move |i| (c as usize, i))
                                })
                                .collect();
                            let w = &w[l.weights(p)];
                            let row = &w[k * entries.len()..(k + 1) * entries.len()];
                            let scores: Vec<f64> = entries
                                .iter()
                                .zip(row)
                                .map(|(&(c, i), &w)| f64::from(w).ln() + values[c][i])
                                .collect();
                            for j in near_best(&scores) {
                                let mut next = tasks.clone();
                                next.push(Task::Node {
                                    node: entries[j].0,
                                    k: entries[j].1,
                                });
                                open.push((state.clone(), next));
                            }
                        }
                    }
                }
            },
            Task::Mode { entry, k, channel } => {
                let family = leaf.family(entry);
                let s = family.num_stats();
                let at = leaf.param_offsets[entry] as usize + (k * d + channel) * s;
                let phi = &einet.params.leaf[at..at + s];
                let modes: Vec<f32> = match family.support_size() {
                    Some(size) => {
                        let scores: Vec<f64> = (0..size)
                            .map(|x| f64::from(family.log_density(phi, x as f32)))
                            .collect();
                        near_best(&scores).into_iter().map(|x| x as f32).collect()
                    }
                    None => vec![phi[0]],
                };
                let at = leaf.vars[entry] as usize * d + channel;
                for x in modes {
                    let mut next = state.clone();
                    next[at] = x;
                    open.push((next, tasks.clone()));
                }
            }
        }
    }
    done
}
