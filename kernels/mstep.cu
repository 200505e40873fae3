// M-step on the device, with exactly einet_core::em::m_step's semantics: normalised expected
// counts with a pseudocount, blended stepwise into the weights (s = 1: full-batch EM) and
// renormalised; vectors with (almost) no mass keep their weights unless a pseudocount pulls
// them toward uniform. Leaves: estimate, blend,
// project per family; factors with mass <= MIN_MASS keep their parameters. The blend is
// step_fraction's: s (the reference's rule) or, with statistics_rule, each vector's or
// factor's share of its running mass (einet_core::em::StepwiseRule).

// StepwiseRule::fraction: the share of the way toward the batch estimate for batch mass
// `mass`; under the statistics rule the running mass becomes *running_after.
__device__ __forceinline__ float step_fraction(u32 statistics_rule, float step, float running,
                                               float mass, float* running_after) {
    if (!statistics_rule) return step;
    float r = (1.0f - step) * running + mass;
    *running_after = r;
    return r > 0.0f ? mass / r : 0.0f;
}

// One warp per normalised weight vector (vstart[v] .. vstart[v] + vlen[v], global weight
// indices: the K_l * K_r weights of one einsum output, or the valid components of one mixing
// entry). blockDim.x is a multiple of 32.
extern "C" __global__ void __launch_bounds__(256) mstep_weights(
    float* __restrict__ weights, const float* __restrict__ counts,
    float* __restrict__ running, const u32* __restrict__ vstart, const u32* __restrict__ vlen,
    u32 nvec, float s_step, u32 statistics_rule, float pseudocount) {
    u32 v = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    u32 lane = threadIdx.x & 31;
    if (v >= nvec) return;
    u64 s = vstart[v];
    u32 n = vlen[v];
    float mass = 0.0f;
    for (u32 t = lane; t < n; t += 32) mass += counts[s + t];
    mass = warp_sum(mass);  // the xor butterfly leaves the same value in every lane
    float r = 0.0f;
    float step = step_fraction(statistics_rule, s_step, running[v], mass, &r);
    __syncwarp();
    if (statistics_rule && lane == 0) running[v] = r;
    if (pseudocount == 0.0f && mass <= EINET_MIN_MASS) return;
    float total = 0.0f;
    for (u32 t = lane; t < n; t += 32) total += fmaxf(counts[s + t] + pseudocount, EINET_COUNT_FLOOR);
    total = warp_sum(total);
    float wsum = 0.0f;
    for (u32 t = lane; t < n; t += 32) {
        float target = step * fmaxf(counts[s + t] + pseudocount, EINET_COUNT_FLOOR) / total;
        float w = (1.0f - step) * weights[s + t] + target;
        weights[s + t] = w;
        wsum += w;
    }
    wsum = warp_sum(wsum);
    for (u32 t = lane; t < n; t += 32) weights[s + t] /= wsum;
}

// One thread per (entry, k, channel): phi <- (1 - s) phi + s estimate, then the projection
// (LeafFamily::estimate and LeafFamily::project).
extern "C" __global__ void __launch_bounds__(256) mstep_leaves(
    float* __restrict__ params, const float* __restrict__ mass, const float* __restrict__ stats,
    float* __restrict__ running, const u32* __restrict__ param_offsets,
    const u32* __restrict__ entry_family, const u32* __restrict__ families, u32 entries, u32 K,
    u32 D, float s_step, u32 statistics_rule, float pseudocount) {
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (u64)entries * K * D) return;
    float m = mass[idx];
    float step = step_fraction(statistics_rule, s_step, running[idx], m, &running[idx]);
    if (m <= EINET_MIN_MASS) return;
    u32 c = (u32)(idx % D);
    u32 k = (u32)((idx / D) % K);
    u32 e = (u32)(idx / ((u64)D * K));
    Family f = load_family(families, entry_family[e]);
    u64 base = param_offsets[e] + ((u64)k * D + c) * f.num_stats;
    float* phi = params + base;
    const float* st = stats + base;
    float virtual_stat = 0.0f, virtual_mass = 0.0f;
    switch (f.code) {
        case FAM_BERNOULLI:
            virtual_stat = 0.5f * pseudocount;
            virtual_mass = pseudocount;
            break;
        case FAM_BINOMIAL:
            virtual_stat = 0.5f * (float)f.n * pseudocount;
            virtual_mass = pseudocount;
            break;
        case FAM_CATEGORICAL:
            virtual_stat = pseudocount;
            virtual_mass = (float)f.n * pseudocount;
            break;
        default:
            break;
    }
    for (u32 t = 0; t < f.num_stats; ++t) {
        float estimate = (st[t] + virtual_stat) / (m + virtual_mass);
        phi[t] = (1.0f - step) * phi[t] + step * estimate;
    }
    switch (f.code) {
        case FAM_BERNOULLI:
            phi[0] = clampf(phi[0], 0.0f, 1.0f);
            break;
        case FAM_BINOMIAL:
            phi[0] = clampf(phi[0], 0.0f, (float)f.n);
            break;
        case FAM_CATEGORICAL: {
            float total = 0.0f;
            for (u32 t = 0; t < f.n; ++t) {
                phi[t] = fmaxf(phi[t], EINET_CAT_EPS);
                total += phi[t];
            }
            for (u32 t = 0; t < f.n; ++t) phi[t] /= total;
            break;
        }
        default: {
            float var = clampf(phi[1] - phi[0] * phi[0], f.min_var, f.max_var);
            phi[1] = phi[0] * phi[0] + var;
            break;
        }
    }
}
