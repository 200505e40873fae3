// Top-down backtracking for sampling and MPE, one warp per row, mirroring the
// CPU backend's order of choices and random draws: at a product node a pair (i, j) is chosen
// from the scores log W[o,i,j] + l_i + r_j, at a mixing node a component from
// log V[k,c] + X_c (child values from a forward pass over the evidence, 0 without evidence),
// either drawn with Philox (stream = row index) or the arg-max; at a leaf each missing channel
// is sampled or set to its mode. The walk is warp-uniform: every lane holds the same stack of
// pending (node, k) pairs (depth bounded by the number of einsum layers plus one) and the
// same Philox state. A choice computes its scores and their exponentials in parallel into
// shared memory, and lane 0 then sums and searches them in the CPU's order, so the draws are
// the CPU's; at a leaf every lane samples its own entries from the stream position the
// entries before it end at (each draw uses a fixed number of uniforms).

// Node table, NODE_WORDS words per node: kind (NODE_LEAF, NODE_PRODUCT, NODE_MIXING,
// NODE_CP_PRODUCT, NODE_CP_SUM, defined by the host), then
//   product:    left, right, -, global offset of its weights
//   mixing:     start of its components in node_lists, their count, max_components,
//               global offset of its weights V[m][0][0]
//   CP product: start of its children in node_lists, their count
//   CP sum:     start of its inputs in node_lists, their count, weights per output
//               (sum of the inputs' K), global offset of its weights W[0][0]
// BACKTRACK_EXTRA words of shared memory besides the scores: two per lane, for reductions
// and broadcasts.

// The position of `r` in its stream, in uniforms drawn.
__device__ __forceinline__ u64 philox_position(const Philox& r) {
    return r.block * 4u + r.used - 4u;
}

// Moves `r` to position `pos` of its stream.
__device__ __forceinline__ void philox_seek(Philox& r, u64 pos) {
    r.block = pos / 4u;
    r.used = 4;
    if (pos % 4u != 0) {
        philox_refill(r);
        r.used = (u32)(pos % 4u);
    }
}

// Uniforms one draw of family `f` uses (family_sample).
__device__ __forceinline__ u32 uniforms_per_draw(const Family& f) {
    return f.code == FAM_BINOMIAL ? f.n : f.code == FAM_NORMAL ? 2u : 1u;
}

// Chooses an index in 0..n from scores: the first arg-max, or a draw proportional to
// e^{score} (0 when every score is -inf), exactly as the CPU backend's Backtrack::pick.
// Called by all 32 lanes alike; `e` holds n floats of shared memory, `red` 64 words.
template <typename Score>
__device__ __forceinline__ u32 pick(u32 n, const Score& score, u32 argmax, Philox& rng,
                                    float* e, float* red) {
    u32 lane = threadIdx.x;
    float mx = EINET_NEG_INF;
    u32 best = 0xffffffffu;
    for (u32 i = lane; i < n; i += 32) {
        float s = score(i);
        e[i] = s;
        if (s > mx) {
            mx = s;
            best = i;
        }
    }
    red[lane] = mx;
    red[32 + lane] = __uint_as_float(best);
    __syncwarp();
    mx = EINET_NEG_INF;
    best = 0;
    for (u32 l = 0; l < 32; ++l) {
        float m = red[l];
        u32 i = __float_as_uint(red[32 + l]);
        if (m > mx || (m == mx && m > EINET_NEG_INF && i < best)) {
            mx = m;
            best = i;
        }
    }
    __syncwarp();
    if (argmax) return best;
    if (mx == EINET_NEG_INF) return 0;
    // e^{s - mx}, with -0 marking a score of -inf (it adds nothing to sums either way).
    for (u32 i = lane; i < n; i += 32) {
        float s = e[i];
        e[i] = s > EINET_NEG_INF ? expf(s - mx) : -0.0f;
    }
    float u = philox_uniform(rng);  // every lane draws, keeping the streams in step
    __syncwarp();
    if (lane == 0) {
        float total = 0.0f;
        for (u32 i = 0; i < n; ++i) total += e[i];
        u *= total;
        u32 chosen = 0xffffffffu, last = 0;
        for (u32 i = 0; i < n; ++i) {
            u -= e[i];
            if (u <= 0.0f) {
                chosen = i;
                break;
            }
            if (!(__float_as_uint(e[i]) >> 31)) last = i;
        }
        red[0] = __uint_as_float(chosen == 0xffffffffu ? last : chosen);
    }
    __syncwarp();
    u32 chosen = __float_as_uint(red[0]);
    __syncwarp();
    return chosen;
}

// Fills the missing (NaN) values of out (rows x V x D, observed values kept) for every row;
// block b (one warp) takes row b. use_values: act holds a forward pass over the same rows
// (node-major); cls: the root output to start from, or EINET_NONE to choose it from the
// root's scores. Dynamic shared memory: the largest number of scores of one choice, plus
// BACKTRACK_EXTRA words, plus the warp's stack of max_depth entries (node, vector entry,
// next child of a CP product), STACK_WORDS words each, which lane 0 writes.
extern "C" __global__ void __launch_bounds__(32) backtrack(
    u32 rows, u64 seed, u64 first_row, u32 argmax, float std_correction, u32 use_values,
    const float* __restrict__ act, u32 cls, u32 root, const u32* __restrict__ nodes,
    const u32* __restrict__ node_lists, const u32* __restrict__ kvec,
    const u32* __restrict__ koff, const float* __restrict__ weights,
    const u32* __restrict__ var_offsets, const u32* __restrict__ vars,
    const u32* __restrict__ entry_family, const u32* __restrict__ families,
    const u32* __restrict__ param_offsets, const float* __restrict__ params,
    const u32* __restrict__ tab_offsets, const float* __restrict__ table, u32 leaf_k, u32 V,
    u32 D, u32 max_scores, u32 max_depth, float* __restrict__ out) {
    EINET_DYNAMIC_SMEM(sm);
    float* e = sm;
    float* red = sm + max_scores;
    u32* stack = reinterpret_cast<u32*>(sm + max_scores + BACKTRACK_EXTRA);
    u32 b = blockIdx.x;
    u32 lane = threadIdx.x;
    if (b >= rows) return;
    Philox rng = philox_new(seed, first_row + b);
    auto value = [&](u32 node, u32 kk) -> float {
        return use_values ? act[(u64)rows * koff[node] + (u64)b * kvec[node] + kk] : 0.0f;
    };
    if (cls == EINET_NONE) {
        auto score = [&](u32 c) -> float { return value(root, c); };
        cls = pick(kvec[root], score, argmax, rng, e, red);
    }
    // Every lane keeps `top`; lane 0 alone writes the entries.
    u32 top = 0;
    auto push = [&](u32 node, u32 kk, u32 next) {
        if (top < max_depth) {
            if (lane == 0) {
                stack[top * STACK_WORDS] = node;
                stack[top * STACK_WORDS + 1] = kk;
                stack[top * STACK_WORDS + 2] = next;
            }
            ++top;
        }
        __syncwarp();
    };
    push(root, cls, 0);
    float* row = out + (u64)b * V * D;
    while (top > 0) {
        --top;
        u32 node = stack[top * STACK_WORDS], kk = stack[top * STACK_WORDS + 1];
        u32 next = stack[top * STACK_WORDS + 2];
        __syncwarp();
        const u32* nd = nodes + (u64)node * NODE_WORDS;
        u32 kind = nd[0];
        if (kind == NODE_LEAF) {
            u32 e_begin = var_offsets[node], e_end = var_offsets[node + 1];
            u64 pos = philox_position(rng);
            for (u32 base = e_begin; base < e_end; base += 32) {
                u32 at = base + lane;
                bool mine = at < e_end;
                Family f = load_family(families, entry_family[mine ? at : e_begin]);
                u32 v = mine ? vars[at] : 0u;
                // Uniforms this lane's entry draws, and where the ones before it end.
                u32 need = 0;
                if (mine && !argmax)
                    for (u32 c = 0; c < D; ++c)
                        if (is_nan(row[(u64)v * D + c])) need += uniforms_per_draw(f);
                red[lane] = __uint_as_float(need);
                __syncwarp();
                u64 before = 0, all = 0;
                for (u32 l = 0; l < 32; ++l) {
                    u32 n_l = __float_as_uint(red[l]);
                    if (l < lane) before += n_l;
                    all += n_l;
                }
                __syncwarp();
                if (mine) {
                    Philox mine_rng = rng;
                    if (!argmax) philox_seek(mine_rng, pos + before);
                    for (u32 c = 0; c < D; ++c) {
                        float* o = row + (u64)v * D + c;
                        if (!is_nan(*o)) continue;
                        if (argmax) {
                            *o = table[tab_offsets[at] +
                                       ((u64)c * f.width + f.width - 1) * leaf_k + kk];
                        } else {
                            const float* phi =
                                params + param_offsets[at] + ((u64)kk * D + c) * f.num_stats;
                            *o = family_sample(f, phi, mine_rng, std_correction);
                        }
                    }
                }
                pos += all;
            }
            if (!argmax) philox_seek(rng, pos);
            __syncwarp();
        } else if (kind == NODE_PRODUCT) {
            u32 l = nd[1], r = nd[2];
            u32 Kl = kvec[l], Kr = kvec[r];
            const float* w = weights + nd[4] + (u64)kk * Kl * Kr;
            auto score = [&](u32 ij) -> float {
                return logf(w[ij]) + value(l, ij / Kr) + value(r, ij % Kr);
            };
            u32 ij = pick(Kl * Kr, score, argmax, rng, e, red);
            push(r, ij % Kr, 0);
            push(l, ij / Kr, 0);
        } else if (kind == NODE_MIXING) {
            const u32* cm = node_lists + nd[1];
            u32 nc = nd[2], cmax = nd[3];
            const float* v = weights + nd[4] + (u64)kk * cmax;
            auto score = [&](u32 c) -> float { return logf(v[c]) + value(cm[c], kk); };
            u32 c = pick(nc, score, argmax, rng, e, red);
            push(cm[c], kk, 0);
        } else if (kind == NODE_CP_PRODUCT) {
            // Children in order, each with the same entry: come back for the next one.
            const u32* children = node_lists + nd[1];
            if (next + 1 < nd[2]) push(node, kk, next + 1);
            push(children[next], kk, 0);
        } else {
            // A CP sum: one entry (c, i) of its inputs' concatenated vectors.
            const u32* inputs = node_lists + nd[1];
            u32 n_in = nd[2], width = nd[3];
            const float* w = weights + nd[4] + (u64)kk * width;
            auto score = [&](u32 j) -> float {
                u32 c;
                u32 i = cp_locate(inputs, n_in, j, kvec, &c);
                return logf(w[j]) + value(inputs[c], i);
            };
            u32 j = pick(width, score, argmax, rng, e, red);
            u32 c;
            u32 i = cp_locate(inputs, n_in, j, kvec, &c);
            push(inputs[c], i, 0);
        }
    }
}

// Sets n floats to `value` (NaN rows for unconditional sampling).
extern "C" __global__ void __launch_bounds__(256) fill_f32(float* __restrict__ dst, u64 n,
                                                           float value) {
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < n) dst[idx] = value;
}
