// CP layers: element-wise products of any number of children, and dense sums over the
// concatenated vectors of their inputs (one K_out x width weight matrix per sum node).
//
// Every CP node of a layer is entry n of the host's CP arrays (offset to the layer by the
// caller): its output node out[n], its children or inputs node_lists[list_start[n] ..
// + list_len[n]], and for a sum the global offset wofs[n] of its weights W[o][j] and the
// weights per output width[n] (the sum of its inputs' K; entry j of the concatenation is
// entry i of input c). Node n is blockIdx.y; threads cover its rows x K_out.

// The value of the concatenated input entry j of row b.
__device__ __forceinline__ float cp_input(const u32* __restrict__ inputs, u32 n_in, u32 j,
                                          u32 b, u32 rows, const u32* __restrict__ kvec,
                                          const u32* __restrict__ koff,
                                          const float* __restrict__ act) {
    u32 c;
    u32 i = cp_locate(inputs, n_in, j, kvec, &c);
    u32 node = inputs[c];
    return act[(u64)rows * koff[node] + (u64)b * kvec[node] + i];
}

// Product n: out[b, i] = sum over children of child[b, i] (log values; any semiring).
extern "C" __global__ void __launch_bounds__(256) cp_product_forward(
    const u32* __restrict__ out, const u32* __restrict__ list_start,
    const u32* __restrict__ list_len, const u32* __restrict__ node_lists,
    const u32* __restrict__ kvec, const u32* __restrict__ koff, u32 rows, float* act) {
    u32 n = blockIdx.y;
    u32 node = out[n];
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (u64)rows * kvec[node]) return;
    const u32* children = node_lists + list_start[n];
    float s = 0.0f;
    for (u32 c = 0; c < list_len[n]; ++c) s += act[(u64)rows * koff[children[c]] + idx];
    act[(u64)rows * koff[node] + idx] = s;
}

// Product n passes its gradient to every child (children may be shared, hence atomics).
extern "C" __global__ void __launch_bounds__(256) cp_product_backward(
    const u32* __restrict__ out, const u32* __restrict__ list_start,
    const u32* __restrict__ list_len, const u32* __restrict__ node_lists,
    const u32* __restrict__ kvec, const u32* __restrict__ koff, u32 rows, float* grad) {
    u32 n = blockIdx.y;
    u32 node = out[n];
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (u64)rows * kvec[node]) return;
    float d = grad[(u64)rows * koff[node] + idx];
    if (d == 0.0f) return;
    const u32* children = node_lists + list_start[n];
    for (u32 c = 0; c < list_len[n]; ++c)
        atomicAdd(grad + (u64)rows * koff[children[c]] + idx, d);
}

// Sum n, output (b, o): log sum_j W[o, j] e^{z_bj} = m + log sum_j W[o, j] e^{z_bj - m} with
// m the row's largest input; max = 1: max_j log W[o, j] + z_bj, weights holding log W.
extern "C" __global__ void __launch_bounds__(256) cp_sum_forward(
    const u32* __restrict__ out, const u32* __restrict__ list_start,
    const u32* __restrict__ list_len, const u32* __restrict__ node_lists,
    const u32* __restrict__ wofs, const u32* __restrict__ width, const u32* __restrict__ kvec,
    const u32* __restrict__ koff, const float* __restrict__ weights, u32 rows, u32 max,
    float* act) {
    u32 n = blockIdx.y;
    u32 node = out[n];
    u32 Ko = kvec[node];
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (u64)rows * Ko) return;
    u32 b = (u32)(idx / Ko), o = (u32)(idx % Ko);
    const u32* inputs = node_lists + list_start[n];
    u32 n_in = list_len[n], W = width[n];
    const float* w = weights + wofs[n] + (u64)o * W;
    float result;
    if (max) {
        result = EINET_NEG_INF;
        for (u32 j = 0; j < W; ++j)
            result = fmaxf(result, w[j] + cp_input(inputs, n_in, j, b, rows, kvec, koff, act));
    } else {
        float m = EINET_NEG_INF;
        for (u32 j = 0; j < W; ++j)
            m = fmaxf(m, cp_input(inputs, n_in, j, b, rows, kvec, koff, act));
        if (m == EINET_NEG_INF) {
            result = EINET_NEG_INF;
        } else {
            float s = 0.0f;
            for (u32 j = 0; j < W; ++j)
                s += w[j] * expf(cp_input(inputs, n_in, j, b, rows, kvec, koff, act) - m);
            result = logf(s) + m;
        }
    }
    act[(u64)rows * koff[node] + idx] = result;
}

// The parameters of the tensor-core CP sum kernels, and the arguments that pass them on.
#define CP_SUM_TC_PARAMS                                                                  \
    const u32* __restrict__ out, const u32* __restrict__ list_start,                     \
        const u32* __restrict__ list_len, const u32* __restrict__ node_lists,            \
        const u32* __restrict__ wofs, const u32* __restrict__ width,                     \
        const u32* __restrict__ kvec, const u32* __restrict__ koff,                      \
        const float* __restrict__ weights, u32 rows, float* act
#define CP_SUM_TC_ARGS \
    out, list_start, list_len, node_lists, wofs, width, kvec, koff, weights, rows, act

// The concatenated inputs of one CP sum as tc_log_matmul reads them.
struct CpInputs {
    const u32* inputs;
    u32 n_in, rows;
    const u32* kvec;
    const u32* koff;
    const float* act;
    __device__ __forceinline__ float z(u32 j, u32 b) const {
        return cp_input(inputs, n_in, j, b, rows, kvec, koff, act);
    }
};

// cp_sum_forward's sum semiring on tensor cores (tc_log_matmul with operands P). Block
// (x, n, z): rows [x TC_ROWS, +TC_ROWS) and outputs [z TC_COLS, +TC_COLS) of sum n.
template <class P>
__device__ __forceinline__ void cp_sum_forward_tc(CP_SUM_TC_PARAMS) {
    u32 n = blockIdx.y;
    u32 node = out[n];
    u32 Ko = kvec[node], o0 = blockIdx.z * TC_COLS;
    if (o0 >= Ko) return;
    CpInputs in{node_lists + list_start[n], list_len[n], rows, kvec, koff, act};
    tc_log_matmul<P>(in, width[n], weights + wofs[n], Ko, rows, blockIdx.x * TC_ROWS, o0,
                     act + (u64)rows * koff[node]);
}

// cp_sum_forward (sum semiring) with TF32 operands on tensor cores (cp_sum_forward_tc).
extern "C" __global__ void __launch_bounds__(2 * TC_ROWS) cp_sum_forward_tf32(CP_SUM_TC_PARAMS) {
    cp_sum_forward_tc<Tf32>(CP_SUM_TC_ARGS);
}

// cp_sum_forward (sum semiring) with BF16 operands on tensor cores (cp_sum_forward_tc).
extern "C" __global__ void __launch_bounds__(2 * TC_ROWS) cp_sum_forward_bf16(CP_SUM_TC_PARAMS) {
    cp_sum_forward_tc<Bf16>(CP_SUM_TC_ARGS);
}

// Expected counts of sum n: counts[o, j] += W[o, j] sum_b delta_bo e^{z_bj - out_bo}, one
// thread per weight, blockIdx.z taking rows [z * rows_per_block, ...) (partial sums added
// atomically).
extern "C" __global__ void __launch_bounds__(256) cp_sum_counts(
    const u32* __restrict__ out, const u32* __restrict__ list_start,
    const u32* __restrict__ list_len, const u32* __restrict__ node_lists,
    const u32* __restrict__ wofs, const u32* __restrict__ width, const u32* __restrict__ kvec,
    const u32* __restrict__ koff, const float* __restrict__ act,
    const float* __restrict__ grad, const float* __restrict__ weights, float* counts,
    u32 rows, u32 rows_per_block) {
    u32 n = blockIdx.y;
    u32 node = out[n];
    u32 Ko = kvec[node], W = width[n];
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (u64)Ko * W) return;
    u32 o = (u32)(idx / W), j = (u32)(idx % W);
    const u32* inputs = node_lists + list_start[n];
    u32 n_in = list_len[n];
    const float* y = act + (u64)rows * koff[node];
    const float* delta = grad + (u64)rows * koff[node];
    u32 b0 = blockIdx.z * rows_per_block;
    u32 b1 = b0 + rows_per_block < rows ? b0 + rows_per_block : rows;
    float acc = 0.0f;
    for (u32 b = b0; b < b1; ++b) {
        float d = delta[(u64)b * Ko + o], yo = y[(u64)b * Ko + o];
        if (d != 0.0f && yo != EINET_NEG_INF)
            acc += d * expf(cp_input(inputs, n_in, j, b, rows, kvec, koff, act) - yo);
    }
    u64 at = wofs[n] + idx;
    if (acc != 0.0f) atomicAdd(counts + at, weights[at] * acc);
}

// Gradients of sum n's inputs: grad_c[b, i] += sum_o delta_bo W[o, j] e^{z_bj - out_bo} for
// the entry j of (c, i); one thread per (b, j).
extern "C" __global__ void __launch_bounds__(256) cp_sum_grads(
    const u32* __restrict__ out, const u32* __restrict__ list_start,
    const u32* __restrict__ list_len, const u32* __restrict__ node_lists,
    const u32* __restrict__ wofs, const u32* __restrict__ width, const u32* __restrict__ kvec,
    const u32* __restrict__ koff, const float* __restrict__ act, float* grad,
    const float* __restrict__ weights, u32 rows) {
    u32 n = blockIdx.y;
    u32 node = out[n];
    u32 Ko = kvec[node], W = width[n];
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (u64)rows * W) return;
    u32 b = (u32)(idx / W), j = (u32)(idx % W);
    const u32* inputs = node_lists + list_start[n];
    u32 n_in = list_len[n];
    const float* y = act + (u64)rows * koff[node];
    const float* delta = grad + (u64)rows * koff[node];
    const float* w = weights + wofs[n] + j;
    float z = cp_input(inputs, n_in, j, b, rows, kvec, koff, act);
    float g = 0.0f;
    for (u32 o = 0; o < Ko; ++o) {
        float d = delta[(u64)b * Ko + o], yo = y[(u64)b * Ko + o];
        if (d != 0.0f && yo != EINET_NEG_INF) g += d * w[(u64)o * W] * expf(z - yo);
    }
    if (g == 0.0f) return;
    u32 c;
    u32 i = cp_locate(inputs, n_in, j, kvec, &c);
    u32 child = inputs[c];
    atomicAdd(grad + (u64)rows * koff[child] + (u64)b * kvec[child] + i, g);
}
