// Leaf layer: log-density tables, the fused density + segment-sum forward pass, and the
// EM statistics taken directly from the gradient of each leaf node (never materialising the
// (B, V, K, R) factor tensor of the reference).

// Builds the log-density table of every (entry, k, channel) from the expectation parameters.
// One thread per (entry, k, channel). Run after every parameter change.
extern "C" __global__ void __launch_bounds__(256) leaf_prepare(
    const float* __restrict__ params, const u32* __restrict__ param_offsets,
    const u32* __restrict__ entry_family, const u32* __restrict__ families,
    const u32* __restrict__ tab_offsets, const float* __restrict__ lbinom, u32 entries, u32 K,
    u32 D, float* __restrict__ table) {
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (u64)entries * K * D) return;
    u32 c = (u32)(idx % D);
    u32 k = (u32)((idx / D) % K);
    u32 e = (u32)(idx / ((u64)D * K));
    Family f = load_family(families, entry_family[e]);
    const float* phi = params + param_offsets[e] + ((u64)k * D + c) * f.num_stats;
    float* t = table + tab_offsets[e] + (u64)c * f.width * K + k;
    u32 max_slot = f.width - 2, arg_slot = f.width - 1;
    switch (f.code) {
        case FAM_BERNOULLI: {
            float p = clampf(phi[0], EINET_PROB_EPS, 1.0f - EINET_PROB_EPS);
            float lq = logf(1.0f - p), lp = logf(p);
            t[0] = lq;
            t[K] = lp;
            t[max_slot * K] = fmaxf(lq, lp);
            t[arg_slot * K] = lp > lq ? 1.0f : 0.0f;
            break;
        }
        case FAM_CATEGORICAL: {
            float total = 0.0f;
            for (u32 x = 0; x < f.n; ++x) total += fmaxf(phi[x], EINET_CAT_EPS);
            float best = EINET_NEG_INF, arg = 0.0f;
            for (u32 x = 0; x < f.n; ++x) {
                float l = logf(fmaxf(phi[x], EINET_CAT_EPS) / total);
                t[x * K] = l;
                if (l > best) {
                    best = l;
                    arg = (float)x;
                }
            }
            t[max_slot * K] = best;
            t[arg_slot * K] = arg;
            break;
        }
        case FAM_BINOMIAL: {
            float n = (float)f.n;
            float p = clampf(phi[0] / n, EINET_PROB_EPS, 1.0f - EINET_PROB_EPS);
            float lp = logf(p), lq = logf(1.0f - p);
            t[0] = lp;
            t[K] = lq;
            // The mode is floor((n + 1) p) or one below it; look one further each way
            // against rounding.
            int m = (int)floorf((n + 1.0f) * p);
            float best = EINET_NEG_INF, arg = 0.0f;
            for (int x = m - 2; x <= m + 1; ++x) {
                if (x < 0 || x > (int)f.n) continue;
                float xf = (float)x;
                float l = fmaf(xf, lp, fmaf(n - xf, lq, lbinom[f.lbinom + (u32)x]));
                if (l > best) {
                    best = l;
                    arg = xf;
                }
            }
            t[max_slot * K] = best;
            t[arg_slot * K] = arg;
            break;
        }
        default: {
            float mu = phi[0];
            float var = clampf(phi[1] - mu * mu, f.min_var, f.max_var);
            float b = -0.5f * logf(EINET_TAU * var);
            t[0] = mu;
            t[K] = -0.5f / var;
            t[2 * K] = b;
            t[max_slot * K] = b;
            t[arg_slot * K] = mu;
            break;
        }
    }
}

// Leaf forward: act[n][b][k] = sum over the entries e of leaf n and channels c of
// log p_{e,k,c}(x[b, vars[e], c]). A missing (NaN) channel adds 0 (sum mode: marginalised)
// or the factor's largest log-density (max mode). One thread per (row, k) of one leaf node;
// blockIdx.x = node * blocks_per_node + tile.
extern "C" __global__ void __launch_bounds__(256) leaf_forward(
    const float* __restrict__ x, u32 rows, u32 V, u32 D, const u32* __restrict__ var_offsets,
    const u32* __restrict__ vars, const u32* __restrict__ entry_family,
    const u32* __restrict__ families, const u32* __restrict__ tab_offsets,
    const float* __restrict__ table, const float* __restrict__ lbinom, u32 K,
    u32 blocks_per_node, u32 max_mode, float* __restrict__ act) {
    u32 n = blockIdx.x / blocks_per_node;
    u64 idx = (u64)(blockIdx.x % blocks_per_node) * blockDim.x + threadIdx.x;
    if (idx >= (u64)rows * K) return;
    u32 b = (u32)(idx / K), k = (u32)(idx % K);
    const float* xr = x + (u64)b * V * D;
    float acc = 0.0f;
    u32 e_end = var_offsets[n + 1];
    for (u32 e = var_offsets[n]; e < e_end; ++e) {
        u32 v = vars[e];
        Family f = load_family(families, entry_family[e]);
        const float* t = table + tab_offsets[e] + k;
        for (u32 c = 0; c < D; ++c) {
            float xv = xr[(u64)v * D + c];
            const float* tc = t + (u64)c * f.width * K;
            if (is_nan(xv)) {
                if (max_mode) acc += tc[(f.width - 2) * K];
            } else {
                acc += family_log_density(f, tc, K, xv, lbinom);
            }
        }
    }
    act[(u64)n * rows * K + idx] = acc;
}

// Categorical families with at most this many categories sum their statistics in registers;
// larger ones add every row's contribution atomically.
#define LEAF_CAT_REGISTERS 8u

// Leaf EM statistics: for every (entry e, k, channel c) adds
//   mass  += sum_b delta[b, leaf(e), k]            over rows where x[b, vars[e], c] is observed
//   stats += sum_b delta[b, leaf(e), k] * T(x[b, vars[e], c])
// straight from the gradient delta of the leaf node. One thread per (entry, k), all channels,
// for the rows [blockIdx.y * rows_per_block, ...); partial sums are added atomically.
extern "C" __global__ void __launch_bounds__(256) leaf_backward(
    const float* __restrict__ x, u32 rows, u32 V, u32 D, const u32* __restrict__ vars,
    const u32* __restrict__ entry_leaf, const u32* __restrict__ entry_family,
    const u32* __restrict__ families, const u32* __restrict__ param_offsets, u32 entries,
    u32 K, u32 rows_per_block, const float* __restrict__ grad, float* __restrict__ mass,
    float* __restrict__ stats) {
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (u64)entries * K) return;
    u32 e = (u32)(idx / K), k = (u32)(idx % K);
    u32 b0 = blockIdx.y * rows_per_block;
    u32 b1 = min_u32(rows, b0 + rows_per_block);
    u32 v = vars[e];
    Family f = load_family(families, entry_family[e]);
    bool categorical = f.code == FAM_CATEGORICAL;
    bool in_registers = categorical && f.n <= LEAF_CAT_REGISTERS;
    const float* g = grad + (u64)entry_leaf[e] * rows * K + k;
    for (u32 c = 0; c < D; ++c) {
        float* st = stats + param_offsets[e] + ((u64)k * D + c) * f.num_stats;
        float m = 0.0f, s0 = 0.0f, s1 = 0.0f;
        float cat[LEAF_CAT_REGISTERS];
#pragma unroll
        for (u32 j = 0; j < LEAF_CAT_REGISTERS; ++j) cat[j] = 0.0f;
#pragma unroll 4
        for (u32 b = b0; b < b1; ++b) {
            float gv = g[(u64)b * K];
            float xv = x[((u64)b * V + v) * D + c];
            if (is_nan(xv) || gv == 0.0f) continue;
            m += gv;
            if (in_registers) {
#pragma unroll
                for (u32 j = 0; j < LEAF_CAT_REGISTERS; ++j) cat[j] += xv == (float)j ? gv : 0.0f;
            } else if (categorical) {
                atomicAdd(st + (u32)xv, gv);
            } else {
                s0 += gv * xv;
                s1 += gv * xv * xv;
            }
        }
        if (m != 0.0f) atomicAdd(mass + ((u64)e * K + k) * D + c, m);
        if (in_registers) {
#pragma unroll
            for (u32 j = 0; j < LEAF_CAT_REGISTERS; ++j)
                if (j < f.n && cat[j] != 0.0f) atomicAdd(st + j, cat[j]);
        }
        if (!categorical && s0 != 0.0f) atomicAdd(st, s0);
        if (f.code == FAM_NORMAL && s1 != 0.0f) atomicAdd(st + 1, s1);
    }
}
