// M-step on the device, with exactly einet_core::em::m_step's semantics: normalised expected
// counts with a pseudocount, blended stepwise into the weights (s = 1: full-batch EM) and
// renormalised; vectors with (almost) no mass keep their weights unless a pseudocount pulls
// them toward uniform. Leaves: estimate, blend,
// project per family; factors with mass <= MIN_MASS keep their parameters. The blend is
// step_fraction's: s (the reference's rule) or, with statistics_rule, each vector's or
// factor's share of its running mass (einet_core::em::StepwiseRule). The regularisers of
// einet_core::em::Regularisation: entropy > 0 replaces each vector's normalised counts by
// entropy_regularised's maximiser, softening > 0 softens the discrete leaves' statistics.

// entropy_weight of einet_core::em::regularisers: theta(lambda) = t / (tau z) with
// z + ln z = ln(t / tau) + lambda / tau, by Newton's method in ln z from above the root.
__device__ double entropy_weight(double t, double tau, double lambda, double* z_out) {
    double a = log(t / tau) + lambda / tau;
    double s = a < 1.0 ? a : log(a);
    for (u32 i = 0; i < EINET_ENTROPY_WEIGHT_STEPS; ++i) {
        double e = exp(s);
        double step = (e + s - a) / (e + 1.0);
        s -= step;
        if (fabs(step) <= 1e-15 * (1.0 + fabs(s))) break;
    }
    double z = exp(s);
    *z_out = z;
    return t / (tau * z);
}

// The count of weight t of the vector at s with the pseudocount, floored.
__device__ __forceinline__ float weight_count(const float* counts, u64 s, u32 t,
                                              float pseudocount) {
    return fmaxf(counts[s + t] + pseudocount, EINET_COUNT_FLOOR);
}

// The normalised target of weight t: its count over the vector's total of counts.
__device__ __forceinline__ float weight_target(const float* counts, u64 s, u32 t,
                                               float pseudocount, float total) {
    return weight_count(counts, s, t, pseudocount) / total;
}

// entropy_regularised's multiplier for the vector at s (n weights), by Newton's method from
// lambda = 1; every lane of the warp returns the same value.
__device__ double entropy_multiplier(const float* counts, u64 s, u32 n, float pseudocount,
                                     float total, double tau, u32 lane) {
    double lambda = 1.0;
    for (u32 it = 0; it < EINET_ENTROPY_MULTIPLIER_STEPS; ++it) {
        double sum = 0.0, slope = 0.0, z;
        for (u32 t = lane; t < n; t += 32) {
            double theta =
                entropy_weight(weight_target(counts, s, t, pseudocount, total), tau, lambda, &z);
            sum += theta;
            slope += theta / (tau * (z + 1.0));
        }
        double step = ((double)warp_sum((float)sum) - 1.0) / (double)warp_sum((float)slope);
        lambda += step;
        if (fabs(step) <= 1e-12 * lambda) break;
    }
    return lambda;
}

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
    u32 nvec, float s_step, u32 statistics_rule, float pseudocount, float entropy) {
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
    for (u32 t = lane; t < n; t += 32) total += weight_count(counts, s, t, pseudocount);
    total = warp_sum(total);
    double lambda = 0.0, theta_sum = 1.0, z;
    if (entropy > 0.0f) {
        lambda = entropy_multiplier(counts, s, n, pseudocount, total, entropy, lane);
        double sum = 0.0;
        for (u32 t = lane; t < n; t += 32)
            sum += entropy_weight(weight_target(counts, s, t, pseudocount, total), entropy,
                                  lambda, &z);
        theta_sum = (double)warp_sum((float)sum);
    }
    float wsum = 0.0f;
    for (u32 t = lane; t < n; t += 32) {
        float target = weight_target(counts, s, t, pseudocount, total);
        if (entropy > 0.0f)
            target = (float)(entropy_weight(target, entropy, lambda, &z) / theta_sum);
        float w = (1.0f - step) * weights[s + t] + step * target;
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
    u32 D, float s_step, u32 statistics_rule, float pseudocount, float softening) {
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
    // Pseudocount and softening (LeafFamily::estimate and LeafFamily::soften): the support's
    // size and the sum over it of each statistic.
    float virtual_stat = 0.0f, virtual_mass = 0.0f, all = 0.0f, values = 0.0f;
    switch (f.code) {
        case FAM_BERNOULLI:
            virtual_stat = 0.5f * pseudocount;
            virtual_mass = pseudocount;
            all = 1.0f;
            values = 2.0f;
            break;
        case FAM_BINOMIAL:
            virtual_stat = 0.5f * (float)f.n * pseudocount;
            virtual_mass = pseudocount;
            all = 0.5f * (float)f.n * ((float)f.n + 1.0f);
            values = (float)f.n + 1.0f;
            break;
        case FAM_CATEGORICAL:
            virtual_stat = pseudocount;
            virtual_mass = (float)f.n * pseudocount;
            all = 1.0f;
            values = (float)f.n;
            break;
        default:
            break;
    }
    // The softened statistic with the pseudocount: keep * stat + added.
    float keep = 1.0f, added = virtual_stat;
    if (softening != 0.0f && values >= 2.0f) {
        float other = softening / (values - 1.0f);
        keep = 1.0f - softening - other;
        added += other * m * all;
    }
    float denominator = m + virtual_mass;
    for (u32 t = 0; t < f.num_stats; ++t) {
        float estimate = (keep * st[t] + added) / denominator;
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
