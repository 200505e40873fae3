// Mixing layers (element-wise mixtures over the partitions of regions with several) and the
// root likelihood (the uniform mixture over classes, one class, or one label per row).
//
// Region m of a mixing layer mixes the product nodes comps[m * cmax + c], c < ncomp[m], with
// weights V[m][k][c] at weights + (m * K + k) * cmax (weights points at the layer's first
// weight; padded slots are 0).

// out[b,k] = mx + log sum_c V[m,k,c] e^{X_c[b,k] - mx} (sum mode) or max_c log V + X_c (max
// mode); -inf when every component is -inf. One thread per (region, row, k).
extern "C" __global__ void __launch_bounds__(256) mixing_forward(
    const u32* __restrict__ out, const u32* __restrict__ comps, const u32* __restrict__ ncomp,
    const u32* __restrict__ koff, const float* __restrict__ weights, u32 M, u32 K, u32 cmax,
    u32 rows, u32 max_mode, float* __restrict__ act) {
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (u64)M * rows * K) return;
    u32 k = (u32)(idx % K);
    u32 b = (u32)((idx / K) % rows);
    u32 m = (u32)(idx / ((u64)K * rows));
    u32 nc = ncomp[m];
    const u32* cm = comps + (u64)m * cmax;
    const float* v = weights + ((u64)m * K + k) * cmax;
    u64 at = (u64)b * K + k;
    float mx = EINET_NEG_INF;
    for (u32 c = 0; c < nc; ++c) mx = fmaxf(mx, act[(u64)rows * koff[cm[c]] + at]);
    float res = EINET_NEG_INF;
    if (mx != EINET_NEG_INF) {
        if (max_mode) {
            for (u32 c = 0; c < nc; ++c)
                res = fmaxf(res, logf(v[c]) + act[(u64)rows * koff[cm[c]] + at]);
        } else {
            float s = 0.0f;
            for (u32 c = 0; c < nc; ++c) s += v[c] * expf(act[(u64)rows * koff[cm[c]] + at] - mx);
            res = mx + logf(s);
        }
    }
    act[(u64)rows * koff[out[m]] + at] = res;
}

// Backward pass of a mixing layer: with flow = delta[b,k] * V[m,k,c] * e^{X_c[b,k] - out[b,k]},
// grad[X_c][b,k] += flow and counts[m,k,c] += sum_b flow. A product node has exactly one
// mixing parent, so the gradient writes need no atomics. Block (x, m) of region m: one thread
// per (row, k) pair, k fastest (coalesced), for the pairs [blockIdx.x * blockDim.x, ...); the
// block sums its flows per (k, c) in shared memory (K * ncomp[m] floats) and adds each sum to
// the counts once.
extern "C" __global__ void __launch_bounds__(256) mixing_backward(
    const u32* __restrict__ out, const u32* __restrict__ comps, const u32* __restrict__ ncomp,
    const u32* __restrict__ koff, const float* __restrict__ weights, float* __restrict__ counts,
    u32 K, u32 cmax, u32 rows, const float* __restrict__ act, float* __restrict__ grad) {
    EINET_DYNAMIC_SMEM(sums);
    u32 m = blockIdx.y;
    u32 nc = ncomp[m];
    for (u32 j = threadIdx.x; j < K * nc; j += blockDim.x) sums[j] = 0.0f;
    __syncthreads();
    u64 at = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (at < (u64)rows * K) {
        u32 k = (u32)(at % K);
        u64 obase = (u64)rows * koff[out[m]];
        float d = grad[obase + at];
        float y = act[obase + at];
        if (d != 0.0f && y != EINET_NEG_INF) {
            const u32* cm = comps + (u64)m * cmax;
            const float* v = weights + ((u64)m * K + k) * cmax;
            for (u32 c = 0; c < nc; ++c) {
                u64 cbase = (u64)rows * koff[cm[c]];
                float flow = d * v[c] * expf(act[cbase + at] - y);
                grad[cbase + at] += flow;
                atomicAdd(sums + k * nc + c, flow);
            }
        }
    }
    __syncthreads();
    for (u32 j = threadIdx.x; j < K * nc; j += blockDim.x) {
        float s = sums[j];
        if (s != 0.0f) atomicAdd(counts + ((u64)m * K + j / nc) * cmax + j % nc, s);
    }
}

// Per-row log-likelihood from the root's values (rows x C): mode 0 the uniform mixture over
// classes (log-sum-exp - log C), mode 1 class `cls`, mode 2 class labels[b]. When `delta` is
// not null it receives d ll / d root (the root block of the zeroed gradient buffer).
extern "C" __global__ void __launch_bounds__(256) root_likelihood(
    const float* __restrict__ root, u32 rows, u32 C, u32 mode, u32 cls,
    const u32* __restrict__ labels, float* __restrict__ ll, float* __restrict__ delta) {
    u32 b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= rows) return;
    const float* v = root + (u64)b * C;
    if (mode == 0) {
        float mx = EINET_NEG_INF;
        for (u32 c = 0; c < C; ++c) mx = fmaxf(mx, v[c]);
        if (mx == EINET_NEG_INF) {
            ll[b] = EINET_NEG_INF;
            return;
        }
        double sum = 0.0;
        for (u32 c = 0; c < C; ++c) sum += exp((double)(v[c] - mx));
        float lse = mx + (float)log(sum);
        ll[b] = lse - logf((float)C);
        if (delta)
            for (u32 c = 0; c < C; ++c) delta[(u64)b * C + c] = expf(v[c] - lse);
    } else {
        u32 k = mode == 1 ? cls : labels[b];
        ll[b] = v[k];
        if (delta && v[k] > EINET_NEG_INF) delta[(u64)b * C + k] = 1.0f;
    }
}
