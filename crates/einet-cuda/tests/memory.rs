//! Device-memory accounting of the CUDA backend ([`Backend::memory_allocated`] and its
//! peak): what a model holds is counted when it is allocated and given back when it is
//! dropped. Runs on the GPU, else on the CPU emulator, else prints SKIP.
#![cfg(feature = "cuda")]

use einet_core::canonical::random_rows;
use einet_core::{
    Backend, BackendModel, Einet, EinetConfig, LeafFamily, Root, random_binary_trees,
};
use einet_cuda::CudaBackend;

fn backend() -> Option<CudaBackend> {
    CudaBackend::new_if_available().or_else(|| {
        einet_cuda::emu::backend_if_available(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")))
    })
}

fn held(cuda: &CudaBackend) -> u64 {
    cuda.memory_allocated()
        .expect("the CUDA backend tracks its memory")
}

fn peak(cuda: &CudaBackend) -> u64 {
    cuda.peak_memory_allocated()
        .expect("the CUDA backend tracks its peak memory")
}

#[test]
fn models_hold_their_buffers_and_give_them_back() {
    let Some(cuda) = backend() else {
        println!("SKIP: neither a GPU nor a C++ compiler for the emulator");
        return;
    };
    let graph = random_binary_trees(12, 2, 3, 0).expect("valid structure");
    let einet = Einet::new(graph, EinetConfig::new(4, LeafFamily::Bernoulli), 0).expect("model");
    let floats = |n: usize| (n * std::mem::size_of::<f32>()) as u64;
    let parameters =
        floats(einet.params.layers.iter().map(Vec::len).sum::<usize>() + einet.params.leaf.len());
    let rows = 64;
    let batch = floats(rows * einet.layout.activation_len);
    let x = random_rows(&einet, rows, 1);

    let before = held(&cuda);
    cuda.reset_peak_memory();
    let mut model = cuda.load(&einet).expect("load");
    let loaded = held(&cuda);
    // Weights, their EM counts and the leaf parameters at least.
    assert!(
        loaded - before >= 2 * parameters,
        "{loaded} - {before} < 2 × {parameters}"
    );

    model.log_likelihood(&x, Root::Mixture).expect("forward");
    let forward = held(&cuda);
    assert!(forward - loaded >= batch, "activations not counted");
    model
        .em_accumulate(&x, Root::Mixture)
        .expect("EM statistics");
    let trained = held(&cuda);
    assert!(trained - forward >= batch, "gradients not counted");
    assert_eq!(peak(&cuda), trained, "buffers only grow here");

    // A smaller batch reuses the buffers.
    model
        .log_likelihood(&x[..x.len() / 2], Root::Mixture)
        .expect("forward");
    assert_eq!(held(&cuda), trained);

    drop(model);
    assert_eq!(held(&cuda), before, "a dropped model gives its memory back");
    assert_eq!(peak(&cuda), trained, "the peak stays");
    cuda.reset_peak_memory();
    assert_eq!(peak(&cuda), before);
}
