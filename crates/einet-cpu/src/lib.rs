//! # einet-cpu
//!
//! The reference backend of einet: exact inference (likelihoods, marginals, conditionals),
//! EM statistics by explicit backward formulas, sampling and both MPE queries, multithreaded
//! over products and leaves with rayon.
//!
//! ```
//! use einet_core::{Backend, BackendModel, Einet, EinetConfig, LeafFamily, Root, random_binary_trees};
//! use einet_cpu::CpuBackend;
//!
//! let graph = random_binary_trees(4, 1, 2, 0).unwrap();
//! let einet = Einet::new(graph, EinetConfig::new(3, LeafFamily::Bernoulli), 0).unwrap();
//! let mut model = CpuBackend.load(&einet).unwrap();
//! // p(x) for two rows; NaN marginalises a variable.
//! let ll = model.log_likelihood(&[0., 1., 1., 0., f32::NAN, 1., 0., 0.], Root::Mixture).unwrap();
//! assert!(ll.iter().all(|l| *l < 0.0));
//! ```

mod backtrack;
mod backward;
mod forward;
mod leaf_table;

use einet_core::backend::{check_input, check_root, check_sample_request};
use einet_core::em::{EmState, EmStatistics, MStep, RunningMass, m_step};
use einet_core::layout::Layout;
use einet_core::{Backend, BackendError, BackendModel, Einet, MpeKind, Params, Root};

use backtrack::{Backtrack, Choice, NodeKind, node_kinds};
pub use forward::Semiring;
use forward::{forward, node_block};
use leaf_table::LeafTable;

/// The CPU backend. Threads come from rayon's global pool.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    type Model = CpuModel;

    fn name(&self) -> String {
        "cpu".into()
    }

    fn load(&self, einet: &Einet) -> Result<CpuModel, BackendError> {
        Ok(CpuModel::new(einet.layout.clone(), einet.params.clone()))
    }
}

/// An Einsum Network on the CPU, with its EM accumulators and scratch buffers.
pub struct CpuModel {
    layout: Layout,
    params: Params,
    table: LeafTable,
    kinds: Vec<NodeKind>,
    stats: EmStatistics,
    running: RunningMass,
    act: Vec<f32>,
    grad: Vec<f32>,
}

impl CpuModel {
    /// A model with the given layout and parameters.
    pub fn new(layout: Layout, params: Params) -> Self {
        CpuModel {
            table: LeafTable::new(&layout, &params.leaf),
            kinds: node_kinds(&layout),
            stats: EmStatistics::zeros(&layout),
            running: RunningMass::zeros(&layout),
            layout,
            params,
            act: Vec::new(),
            grad: Vec::new(),
        }
    }

    /// Runs a forward pass over `x` in `semiring`; returns the row count. The node values are
    /// left in `self.act`.
    fn run_forward(&mut self, x: &[f32], semiring: Semiring) -> Result<usize, BackendError> {
        let rows = check_input(&self.layout, x)?;
        self.act.resize(rows * self.layout.activation_len, 0.0);
        forward(
            &self.layout,
            &self.params.layers,
            &self.table,
            x,
            rows,
            semiring,
            &mut self.act,
        );
        Ok(rows)
    }

    /// The root's values (rows × classes) of the last forward pass.
    fn root_values(&self, rows: usize) -> &[f32] {
        &self.act[node_block(&self.layout, rows, self.layout.root)]
    }

    /// Per-row log-likelihood under `root` and `∂ log p / ∂ root` (rows × classes).
    fn root_likelihood(&self, rows: usize, root: Root<'_>) -> (Vec<f32>, Vec<f32>) {
        let c = self.layout.num_classes();
        let values = self.root_values(rows);
        let mut ll = vec![0.0; rows];
        let mut delta = vec![0.0; rows * c];
        for b in 0..rows {
            let v = &values[b * c..(b + 1) * c];
            let d = &mut delta[b * c..(b + 1) * c];
            let chosen = match root {
                Root::Mixture => None,
                Root::Class(k) => Some(k),
                Root::Labels(labels) => Some(labels[b] as usize),
            };
            match chosen {
                Some(k) => {
                    ll[b] = v[k];
                    if v[k] > f32::NEG_INFINITY {
                        d[k] = 1.0;
                    }
                }
                None => {
                    let mx = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    if mx == f32::NEG_INFINITY {
                        ll[b] = f32::NEG_INFINITY;
                        continue;
                    }
                    let sum: f64 = v.iter().map(|&x| f64::from(x - mx).exp()).sum();
                    let lse = mx + sum.ln() as f32;
                    ll[b] = lse - (c as f32).ln();
                    d.iter_mut().zip(v).for_each(|(d, &x)| *d = (x - lse).exp());
                }
            }
        }
        (ll, delta)
    }

    fn backtrack<'a>(&'a self, act: Option<&'a [f32]>, choice: Choice) -> Backtrack<'a> {
        Backtrack {
            layout: &self.layout,
            params: &self.params,
            table: &self.table,
            kinds: &self.kinds,
            act,
            choice,
        }
    }
}

impl BackendModel for CpuModel {
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn log_likelihood(&mut self, x: &[f32], root: Root<'_>) -> Result<Vec<f32>, BackendError> {
        let rows = self.run_forward(x, Semiring::SumProduct)?;
        check_root(&self.layout, root, rows)?;
        Ok(self.root_likelihood(rows, root).0)
    }

    fn class_log_likelihoods(&mut self, x: &[f32]) -> Result<Vec<f32>, BackendError> {
        let rows = self.run_forward(x, Semiring::SumProduct)?;
        Ok(self.root_values(rows).to_vec())
    }

    fn em_accumulate(&mut self, x: &[f32], root: Root<'_>) -> Result<f64, BackendError> {
        let rows = self.run_forward(x, Semiring::SumProduct)?;
        check_root(&self.layout, root, rows)?;
        let (ll, delta) = self.root_likelihood(rows, root);
        self.grad.clear();
        self.grad.resize(self.act.len(), 0.0);
        let root_block = node_block(&self.layout, rows, self.layout.root);
        self.grad[root_block].copy_from_slice(&delta);
        backward::backward(
            &self.layout,
            &self.params.layers,
            x,
            rows,
            &self.act,
            &mut self.grad,
            &mut self.stats,
        );
        let total: f64 = ll.iter().map(|&l| f64::from(l)).sum();
        self.stats.log_likelihood += total;
        self.stats.samples += rows;
        Ok(total)
    }

    fn em_statistics(&self) -> Result<EmStatistics, BackendError> {
        Ok(self.stats.clone())
    }

    fn em_state(&self) -> Result<EmState, BackendError> {
        Ok(EmState {
            statistics: self.stats.clone(),
            running: self.running.clone(),
        })
    }

    fn set_em_state(&mut self, state: &EmState) -> Result<(), BackendError> {
        state.check(&self.layout)?;
        self.stats = state.statistics.clone();
        self.running = state.running.clone();
        Ok(())
    }

    fn em_update(&mut self, step: MStep) -> Result<(), BackendError> {
        step.check()?;
        m_step(
            &self.layout,
            &mut self.params,
            &self.stats,
            &mut self.running,
            step,
        );
        self.stats.clear();
        self.table = LeafTable::new(&self.layout, &self.params.leaf);
        Ok(())
    }

    fn params(&self) -> Result<Params, BackendError> {
        Ok(self.params.clone())
    }

    fn set_params(&mut self, params: &Params) -> Result<(), BackendError> {
        if !params.fits(&self.layout) {
            return Err(BackendError::Input(
                "parameters do not match the model's layout".into(),
            ));
        }
        self.params = params.clone();
        self.running.clear();
        self.table = LeafTable::new(&self.layout, &self.params.leaf);
        Ok(())
    }

    fn sample(
        &mut self,
        n: usize,
        class: Option<usize>,
        seed: u64,
        std_correction: f32,
    ) -> Result<Vec<f32>, BackendError> {
        let total = check_sample_request(&self.layout, n, class)?;
        let mut out = vec![f32::NAN; total];
        self.backtrack(
            None,
            Choice::Sample {
                seed,
                std_correction,
            },
        )
        .run(&mut out, n, class, 0);
        Ok(out)
    }

    fn sample_conditional(
        &mut self,
        evidence: &[f32],
        seed: u64,
        std_correction: f32,
    ) -> Result<Vec<f32>, BackendError> {
        let rows = self.run_forward(evidence, Semiring::SumProduct)?;
        let mut out = evidence.to_vec();
        self.backtrack(
            Some(&self.act),
            Choice::Sample {
                seed,
                std_correction,
            },
        )
        .run(&mut out, rows, None, 0);
        Ok(out)
    }

    fn mpe(&mut self, evidence: &[f32], kind: MpeKind) -> Result<Vec<f32>, BackendError> {
        let semiring = match kind {
            MpeKind::Approximate => Semiring::SumProduct,
            MpeKind::MaxProduct => Semiring::MaxProduct,
        };
        let rows = self.run_forward(evidence, semiring)?;
        let mut out = evidence.to_vec();
        self.backtrack(Some(&self.act), Choice::Argmax)
            .run(&mut out, rows, None, 0);
        Ok(out)
    }
}
