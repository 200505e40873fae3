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

// The row shift of the tensor-core CP backward kernels for row b, by one warp:
// tc_backward_shift over the row's outputs, kept within tc_backward_range of the inputs
// [j0, j1) that the block reads.
__device__ __forceinline__ float cp_backward_shift(const CpInputs& in, u32 j0, u32 j1, u32 b,
                                                   const float* __restrict__ y,
                                                   const float* __restrict__ delta, u32 Ko) {
    float t = tc_backward_shift(y + (u64)b * Ko, delta + (u64)b * Ko, Ko);
    if (t == EINET_NEG_INF) return t;  // warp-uniform
    float m = EINET_NEG_INF;
    for (u32 j = j0 + (threadIdx.x & 31u); j < j1; j += 32) m = fmaxf(m, in.z(j, b));
    return tc_backward_range(t, warp_max(m));
}

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
    u64 at = wofs[n] + idx;
    if (weights[at] == 0.0f) return;
    // W e^{z - y} = e^{z - y + ln W} <= 1: no overflow, however far y lies below z.
    float log_w = logf(weights[at]), acc = 0.0f;
    for (u32 b = b0; b < b1; ++b) {
        float d = delta[(u64)b * Ko + o], yo = y[(u64)b * Ko + o];
        if (d != 0.0f && yo != EINET_NEG_INF)
            acc += d * expf(cp_input(inputs, n_in, j, b, rows, kvec, koff, act) - yo + log_w);
    }
    if (acc != 0.0f) atomicAdd(counts + at, acc);
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
        float d = delta[(u64)b * Ko + o], yo = y[(u64)b * Ko + o], wo = w[(u64)o * W];
        // A zero weight adds nothing, also where e^{z - y} overflows.
        if (d != 0.0f && yo != EINET_NEG_INF && wo != 0.0f) g += d * wo * expf(z - yo);
    }
    if (g == 0.0f) return;
    u32 c;
    u32 i = cp_locate(inputs, n_in, j, kvec, &c);
    u32 child = inputs[c];
    atomicAdd(grad + (u64)rows * koff[child] + (u64)b * kvec[child] + i, g);
}

// The parameters of the tensor-core CP counts kernels, and the arguments that pass them on.
#define CP_SUM_COUNTS_TC_PARAMS                                                           \
    const u32* __restrict__ out, const u32* __restrict__ list_start,                     \
        const u32* __restrict__ list_len, const u32* __restrict__ node_lists,            \
        const u32* __restrict__ wofs, const u32* __restrict__ width,                     \
        const u32* __restrict__ kvec, const u32* __restrict__ koff,                      \
        const float* __restrict__ act, const float* __restrict__ grad,                   \
        const float* __restrict__ weights, float* counts, u32 rows, u32 rows_per_block,  \
        u32 j_tiles
#define CP_SUM_COUNTS_TC_ARGS                                                               \
    out, list_start, list_len, node_lists, wofs, width, kvec, koff, act, grad, weights, counts, \
        rows, rows_per_block, j_tiles

// cp_sum_counts on tensor cores with operands P: counts[o, j] += W[o, j] C[j, o] with
// C = sum_b e^{z_bj - t_b} (delta_bo e^{t_b - y_bo}), t_b of cp_backward_shift: the
// (W x B)(B x K_out) product of the shifted inputs and the scaled output gradients, its
// depth the block's rows. Block (x, n, z): inputs [(x % j_tiles) TC_ROWS, +TC_ROWS), outputs
// [(x / j_tiles) TC_COLS, +TC_COLS) and rows [z rows_per_block, +rows_per_block) of sum n,
// added atomically.
template <class P>
__device__ __forceinline__ void cp_sum_counts_tc(CP_SUM_COUNTS_TC_PARAMS) {
    EINET_DYNAMIC_SMEM(sm);
    float* xs = sm;                       // [TC_ROWS][TC_DEPTH]: e^{z_bj - t_b}, j by b
    float* ws = xs + TC_ROWS * TC_DEPTH;  // [TC_COLS][TC_DEPTH]: delta e^{t - y}, o by b
    float* ts = ws + TC_COLS * TC_DEPTH;  // [TC_DEPTH]: t_b
    u32 n = blockIdx.y;
    u32 node = out[n];
    u32 Ko = kvec[node], W = width[n];
    u32 j0 = (blockIdx.x % j_tiles) * TC_ROWS, o0 = (blockIdx.x / j_tiles) * TC_COLS;
    if (j0 >= W || o0 >= Ko) return;
    CpInputs in{node_lists + list_start[n], list_len[n], rows, kvec, koff, act};
    const float* y = act + (u64)rows * koff[node];
    const float* delta = grad + (u64)rows * koff[node];
    u32 lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    u32 b_begin = blockIdx.z * rows_per_block;
    u32 b_end = b_begin + rows_per_block < rows ? b_begin + rows_per_block : rows;
    float acc[TC_COLS / 8][4] = {};
    for (u32 c0 = b_begin; c0 < b_end; c0 += TC_DEPTH) {
        __syncthreads();
        for (u32 k = warp; k < TC_DEPTH; k += warps) {
            float t = EINET_NEG_INF;
            if (c0 + k < b_end)
                t = cp_backward_shift(in, j0, j0 + TC_ROWS < W ? j0 + TC_ROWS : W, c0 + k, y, delta, Ko);
            if (lane == 0) ts[k] = t;
        }
        __syncthreads();
        for (u32 e = threadIdx.x; e < TC_ROWS * TC_DEPTH; e += blockDim.x) {
            u32 r = e % TC_ROWS, k = e / TC_ROWS, j = j0 + r, b = c0 + k;
            float t = ts[k];
            bool live = j < W && b < b_end && t != EINET_NEG_INF;
            xs[r * TC_DEPTH + k] = live ? expf(in.z(j, b) - t) : 0.0f;
        }
        for (u32 e = threadIdx.x; e < TC_COLS * TC_DEPTH; e += blockDim.x) {
            u32 c = e % TC_COLS, k = e / TC_COLS, o = o0 + c, b = c0 + k;
            u64 at = (u64)b * Ko + o;
            ws[c * TC_DEPTH + k] =
                o < Ko && b < b_end ? tc_backward_scale(delta[at], y[at], ts[k]) : 0.0f;
        }
        __syncthreads();
        tc_mma_chunk<P>(xs, TC_DEPTH, ws, TC_DEPTH, acc);
    }
    tc_add_counts(acc, j0, o0, W, Ko, weights + wofs[n], counts + wofs[n]);
}

// cp_sum_counts with TF32 operands on tensor cores (cp_sum_counts_tc).
extern "C" __global__ void __launch_bounds__(2 * TC_ROWS)
    cp_sum_counts_tf32(CP_SUM_COUNTS_TC_PARAMS) {
    cp_sum_counts_tc<Tf32>(CP_SUM_COUNTS_TC_ARGS);
}

// cp_sum_counts with BF16 operands on tensor cores (cp_sum_counts_tc).
extern "C" __global__ void __launch_bounds__(2 * TC_ROWS)
    cp_sum_counts_bf16(CP_SUM_COUNTS_TC_PARAMS) {
    cp_sum_counts_tc<Bf16>(CP_SUM_COUNTS_TC_ARGS);
}

// The parameters of the tensor-core CP gradient kernels, and the arguments that pass them on.
#define CP_SUM_GRADS_TC_PARAMS                                                            \
    const u32* __restrict__ out, const u32* __restrict__ list_start,                     \
        const u32* __restrict__ list_len, const u32* __restrict__ node_lists,            \
        const u32* __restrict__ wofs, const u32* __restrict__ width,                     \
        const u32* __restrict__ kvec, const u32* __restrict__ koff,                      \
        const float* __restrict__ act, float* grad, const float* __restrict__ weights,   \
        u32 rows
#define CP_SUM_GRADS_TC_ARGS \
    out, list_start, list_len, node_lists, wofs, width, kvec, koff, act, grad, weights, rows

// cp_sum_grads on tensor cores with operands P: the gradient of input entry j of row b is
// e^{z_bj - t_b} G[b, j] with G = sum_o (delta_bo e^{t_b - y_bo}) W[o, j], t_b of
// cp_backward_shift: the (B x K_out)(K_out x W) product of the scaled output gradients and
// the weights, added atomically to the inputs. Block (x, n, z): rows [x TC_ROWS, +TC_ROWS)
// and inputs [z TC_COLS, +TC_COLS) of sum n.
template <class P>
__device__ __forceinline__ void cp_sum_grads_tc(CP_SUM_GRADS_TC_PARAMS) {
    EINET_DYNAMIC_SMEM(sm);
    float* xs = sm;                       // [TC_ROWS][TC_DEPTH]: delta e^{t - y}, b by o
    float* ws = xs + TC_ROWS * TC_DEPTH;  // [TC_COLS][TC_DEPTH]: W[o, j], j by o
    float* ts = ws + TC_COLS * TC_DEPTH;  // [TC_ROWS]: t_b
    u32 n = blockIdx.y;
    u32 node = out[n];
    u32 Ko = kvec[node], W = width[n];
    u32 b0 = blockIdx.x * TC_ROWS, j0 = blockIdx.z * TC_COLS;
    if (j0 >= W) return;
    const u32* inputs = node_lists + list_start[n];
    u32 n_in = list_len[n];
    CpInputs in{inputs, n_in, rows, kvec, koff, act};
    const float* y = act + (u64)rows * koff[node];
    const float* delta = grad + (u64)rows * koff[node];
    const float* w = weights + wofs[n];
    u32 lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (u32 r = warp; r < TC_ROWS; r += warps) {
        float t = EINET_NEG_INF;
        if (b0 + r < rows)
            t = cp_backward_shift(in, j0, j0 + TC_COLS < W ? j0 + TC_COLS : W, b0 + r, y, delta, Ko);
        if (lane == 0) ts[r] = t;
    }
    float acc[TC_COLS / 8][4] = {};
    for (u32 o0 = 0; o0 < Ko; o0 += TC_DEPTH) {
        __syncthreads();
        for (u32 e = threadIdx.x; e < TC_ROWS * TC_DEPTH; e += blockDim.x) {
            u32 r = e / TC_DEPTH, k = e % TC_DEPTH, b = b0 + r, o = o0 + k;
            u64 at = (u64)b * Ko + o;
            xs[e] = b < rows && o < Ko ? tc_backward_scale(delta[at], y[at], ts[r]) : 0.0f;
        }
        for (u32 e = threadIdx.x; e < TC_COLS * TC_DEPTH; e += blockDim.x) {
            u32 c = e % TC_COLS, k = e / TC_COLS, j = j0 + c, o = o0 + k;
            ws[c * TC_DEPTH + k] = j < W && o < Ko ? w[(u64)o * W + j] : 0.0f;
        }
        __syncthreads();
        tc_mma_chunk<P>(xs, TC_DEPTH, ws, TC_DEPTH, acc);
    }
#pragma unroll
    for (u32 t = 0; t < TC_COLS / 8; ++t)
#pragma unroll
        for (u32 i = 0; i < 4; ++i) {
            u32 r = 16 * warp + mma_c_row(lane, i), b = b0 + r, j = j0 + 8 * t + mma_c_col(lane, i);
            if (b >= rows || j >= W || acc[t][i] == 0.0f) continue;
            u32 c;
            u32 entry = cp_locate(inputs, n_in, j, kvec, &c);
            u32 child = inputs[c];
            u64 at = (u64)rows * koff[child] + (u64)b * kvec[child] + entry;
            float g = acc[t][i] * expf(act[at] - ts[r]);
            if (g != 0.0f) atomicAdd(grad + at, g);
        }
}

// cp_sum_grads with TF32 operands on tensor cores (cp_sum_grads_tc).
extern "C" __global__ void __launch_bounds__(2 * TC_ROWS) cp_sum_grads_tf32(CP_SUM_GRADS_TC_PARAMS) {
    cp_sum_grads_tc<Tf32>(CP_SUM_GRADS_TC_ARGS);
}

// cp_sum_grads with BF16 operands on tensor cores (cp_sum_grads_tc).
extern "C" __global__ void __launch_bounds__(2 * TC_ROWS) cp_sum_grads_bf16(CP_SUM_GRADS_TC_PARAMS) {
    cp_sum_grads_tc<Bf16>(CP_SUM_GRADS_TC_ARGS);
}
