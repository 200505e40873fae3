// Top-down backtracking for sampling and MPE (spec 5.7), one thread per row, mirroring the
// CPU backend's order of choices and random draws: at a product node a pair (i, j) is chosen
// from the scores log W[o,i,j] + l_i + r_j, at a mixing node a component from
// log V[k,c] + X_c (child values from a forward pass over the evidence, 0 without evidence),
// either drawn with Philox (stream = row index) or the arg-max; at a leaf each missing channel
// is sampled or set to its mode. A small stack of pending (node, k) pairs lives in local
// memory; its depth is bounded by the number of einsum layers plus one.

// Node table, 6 words per node: kind (0 leaf, 1 product, 2 mixing), then
//   product: left, right, -, global offset of its weights
//   mixing:  start of its components in comp_list, their count, max_components,
//            global offset of its weights V[m][0][0]
#define NODE_WORDS 6u
#define NODE_LEAF 0u
#define NODE_PRODUCT 1u
#define NODE_MIXING 2u

// Chooses an index in 0..n from scores: the first arg-max, or a draw proportional to
// e^{score} (0 when every score is -inf), exactly as the CPU backend's Backtrack::pick.
template <typename Score>
__device__ __forceinline__ u32 pick(u32 n, const Score& score, u32 argmax, Philox& rng) {
    float mx = EINET_NEG_INF;
    u32 best = 0;
    for (u32 i = 0; i < n; ++i) {
        float s = score(i);
        if (s > mx) {
            mx = s;
            best = i;
        }
    }
    if (argmax) return best;
    if (mx == EINET_NEG_INF) return 0;
    float total = 0.0f;
    for (u32 i = 0; i < n; ++i) total += expf(score(i) - mx);
    float u = philox_uniform(rng) * total;
    u32 last = 0;
    for (u32 i = 0; i < n; ++i) {
        float s = score(i);
        u -= expf(s - mx);
        if (u <= 0.0f) return i;
        if (s > EINET_NEG_INF) last = i;
    }
    return last;
}

// Fills the missing (NaN) values of out (rows x V x D, observed values kept) for every row.
// use_values: act holds a forward pass over the same rows (node-major); cls: the root output
// to start from, or EINET_NONE to choose it from the root's scores.
extern "C" __global__ void __launch_bounds__(128) backtrack(
    u32 rows, u64 seed, u64 first_row, u32 argmax, float std_correction, u32 use_values,
    const float* __restrict__ act, u32 cls, u32 root, const u32* __restrict__ nodes,
    const u32* __restrict__ comp_list, const u32* __restrict__ kvec,
    const u32* __restrict__ koff, const float* __restrict__ weights,
    const u32* __restrict__ var_offsets, const u32* __restrict__ vars,
    const u32* __restrict__ entry_family, const u32* __restrict__ families,
    const u32* __restrict__ param_offsets, const float* __restrict__ params,
    const u32* __restrict__ tab_offsets, const float* __restrict__ table, u32 leaf_k, u32 V,
    u32 D, float* __restrict__ out) {
    u32 b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= rows) return;
    Philox rng = philox_new(seed, first_row + b);
    auto value = [&](u32 node, u32 kk) -> float {
        return use_values ? act[(u64)rows * koff[node] + (u64)b * kvec[node] + kk] : 0.0f;
    };
    if (cls == EINET_NONE) {
        auto score = [&](u32 c) -> float { return value(root, c); };
        cls = pick(kvec[root], score, argmax, rng);
    }
    u32 stack_node[EINET_MAX_STACK], stack_k[EINET_MAX_STACK];
    u32 top = 0;
    stack_node[top] = root;
    stack_k[top] = cls;
    ++top;
    float* row = out + (u64)b * V * D;
    while (top > 0) {
        --top;
        u32 node = stack_node[top], kk = stack_k[top];
        const u32* nd = nodes + (u64)node * NODE_WORDS;
        u32 kind = nd[0];
        if (kind == NODE_LEAF) {
            u32 e_end = var_offsets[node + 1];
            for (u32 e = var_offsets[node]; e < e_end; ++e) {
                u32 v = vars[e];
                Family f = load_family(families, entry_family[e]);
                for (u32 c = 0; c < D; ++c) {
                    float* o = row + (u64)v * D + c;
                    if (!is_nan(*o)) continue;
                    if (argmax) {
                        *o = table[tab_offsets[e] + ((u64)c * f.width + f.width - 1) * leaf_k + kk];
                    } else {
                        const float* phi =
                            params + param_offsets[e] + ((u64)kk * D + c) * f.num_stats;
                        *o = family_sample(f, phi, rng, std_correction);
                    }
                }
            }
        } else if (kind == NODE_PRODUCT) {
            u32 l = nd[1], r = nd[2];
            u32 Kl = kvec[l], Kr = kvec[r];
            const float* w = weights + nd[4] + (u64)kk * Kl * Kr;
            auto score = [&](u32 ij) -> float {
                return logf(w[ij]) + value(l, ij / Kr) + value(r, ij % Kr);
            };
            u32 ij = pick(Kl * Kr, score, argmax, rng);
            if (top + 2 <= EINET_MAX_STACK) {
                stack_node[top] = r;
                stack_k[top] = ij % Kr;
                ++top;
                stack_node[top] = l;
                stack_k[top] = ij / Kr;
                ++top;
            }
        } else {
            const u32* cm = comp_list + nd[1];
            u32 nc = nd[2], cmax = nd[3];
            const float* v = weights + nd[4] + (u64)kk * cmax;
            auto score = [&](u32 c) -> float { return logf(v[c]) + value(cm[c], kk); };
            u32 c = pick(nc, score, argmax, rng);
            if (top < EINET_MAX_STACK) {
                stack_node[top] = cm[c];
                stack_k[top] = kk;
                ++top;
            }
        }
    }
}

// Sets n floats to `value` (NaN rows for unconditional sampling).
extern "C" __global__ void __launch_bounds__(256) fill_f32(float* __restrict__ dst, u64 n,
                                                           float value) {
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < n) dst[idx] = value;
}
