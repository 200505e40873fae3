// einet CUDA kernels: definitions shared by every kernel file.
//
// The Rust side prepends this text to each `kernels/*.cu` source before compiling it with
// NVRTC (no include paths are needed), and the CPU emulator used by the tests compiles it once
// in front of all kernel files (with EINET_EMU defined). Only `__device__` helpers live here,
// never kernels, so that the emulator can put every file into one translation unit.
//
// Layouts (as einet_core::layout describes them):
//   activations  node-major [node][row][k], node n at rows * k_offset[n]
//   einsum W     per product [k_out][k_left][k_right] at weight_offsets[p]
//   mixing V     [m][k][max_components]
//   leaf params  [entry][k][channel][stat] at param_offsets[e]
//   leaf mass    [entry][k][channel]
//   leaf tables  [entry][channel][slot][k] at tab_offsets[e] (built by leaf_prepare)

typedef unsigned int u32;
typedef unsigned long long u64;

#ifdef EINET_EMU
#define EINET_DYNAMIC_SMEM(name) float* name = einet_emu::dynamic_smem()
#else
#define EINET_DYNAMIC_SMEM(name) extern __shared__ __align__(16) float name[]
#endif

#define EINET_NEG_INF (__int_as_float(0xff800000))
#define EINET_NAN (__int_as_float(0x7fffffff))
// Clamp of Bernoulli/Binomial success probabilities (einet_core::leaf PROB_EPS).
#define EINET_PROB_EPS 1e-6f
// Clamp of categorical probabilities (einet_core::leaf CAT_EPS).
#define EINET_CAT_EPS 1e-12f
// Responsibility mass below which parameters are kept (einet_core::em::MIN_MASS).
#define EINET_MIN_MASS 1e-10f
// Floor of normalised expected counts in the M-step.
#define EINET_COUNT_FLOOR 1e-16f
#define EINET_TAU 6.28318530717958647692f
// From here on every float is a whole number (WHOLE_ABOVE in einet_core::leaf).
#define EINET_WHOLE_ABOVE 16777216.0f
// Sentinel for "no class given" in the backtracking kernel.
#define EINET_NONE 0xffffffffu
// Defined by the host before this file (einet-cuda's abi.rs): the family codes FAM_*, the
// FAMILY_WORDS words per family, the node kinds NODE_* and NODE_WORDS of the backtracking
// node table, EINSUM_TO, STACK_WORDS (words per entry of the backtracking kernel's stack)
// and BACKTRACK_EXTRA.

// One leaf family as the host describes it:
//   word 0 code, 1 n (categories or trials), 2 table width (slots per channel),
//   3 offset of its log-binomial-coefficient table, 4 number of statistics,
//   5 bits of min_var, 6 bits of max_var, 7 unused.
// Table slots per (entry, channel, k): Bernoulli [log q, log p, max, argmax];
// Categorical [log p_0 .. log p_{C-1}, max, argmax]; Binomial [log p, log q, max, argmax];
// Normal [mu, -1/(2 var), -log(2 pi var)/2, max, argmax]. `max` is the largest log-density
// (the contribution of a missing channel to a max-product pass), `argmax` the most probable
// value (the first one on ties).
struct Family {
    u32 code;
    u32 n;
    u32 width;
    u32 lbinom;
    u32 num_stats;
    float min_var;
    float max_var;
};

__device__ __forceinline__ Family load_family(const u32* __restrict__ families, u32 f) {
    const u32* w = families + FAMILY_WORDS * f;
    Family fam;
    fam.code = w[0];
    fam.n = w[1];
    fam.width = w[2];
    fam.lbinom = w[3];
    fam.num_stats = w[4];
    fam.min_var = __uint_as_float(w[5]);
    fam.max_var = __uint_as_float(w[6]);
    return fam;
}

__device__ __forceinline__ bool is_nan(float x) { return x != x; }
__device__ __forceinline__ float clampf(float x, float lo, float hi) {
    return fminf(fmaxf(x, lo), hi);
}
__device__ __forceinline__ u32 min_u32(u32 a, u32 b) { return a < b ? a : b; }
__device__ __forceinline__ u32 ceil4(u32 a) { return (a + 3u) & ~3u; }

// Sums of `v` over the 32 lanes of a warp (every lane gets the total).
__device__ __forceinline__ float warp_sum(float v) {
    for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    return v;
}

// ---------------------------------------------------------------------------------------
// Philox4x32-10, bit-identical to einet_core::rng (stream = row index when sampling).
// ---------------------------------------------------------------------------------------
struct Philox {
    u32 key0, key1;
    u64 stream;
    u64 block;
    u32 buf0, buf1, buf2, buf3;
    u32 used;
};

__device__ __forceinline__ Philox philox_new(u64 seed, u64 stream) {
    Philox r;
    r.key0 = (u32)seed;
    r.key1 = (u32)(seed >> 32);
    r.stream = stream;
    r.block = 0;
    r.buf0 = r.buf1 = r.buf2 = r.buf3 = 0;
    r.used = 4;
    return r;
}

__device__ __forceinline__ void philox_refill(Philox& r) {
    u32 c0 = (u32)r.block, c1 = (u32)(r.block >> 32);
    u32 c2 = (u32)r.stream, c3 = (u32)(r.stream >> 32);
    u32 k0 = r.key0, k1 = r.key1;
    for (int i = 0; i < 10; ++i) {
        u32 lo0 = 0xD2511F53u * c0, hi0 = __umulhi(0xD2511F53u, c0);
        u32 lo1 = 0xCD9E8D57u * c2, hi1 = __umulhi(0xCD9E8D57u, c2);
        u32 n0 = hi1 ^ c1 ^ k0;
        u32 n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    r.buf0 = c0;
    r.buf1 = c1;
    r.buf2 = c2;
    r.buf3 = c3;
    r.block += 1;
    r.used = 0;
}

__device__ __forceinline__ u32 philox_next(Philox& r) {
    if (r.used == 4) philox_refill(r);
    u32 u = r.used++;
    return u == 0 ? r.buf0 : u == 1 ? r.buf1 : u == 2 ? r.buf2 : r.buf3;
}

// Uniform in (0, 1) with 24 random bits (Rng::uniform).
__device__ __forceinline__ float philox_uniform(Philox& r) {
    return ((float)(philox_next(r) >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

// Standard normal by Box-Muller (Rng::normal).
__device__ __forceinline__ float philox_normal(Philox& r) {
    float u1 = philox_uniform(r);
    float u2 = philox_uniform(r);
    return sqrtf(-2.0f * logf(u1)) * cosf(EINET_TAU * u2);
}

// Entry j of the concatenation of the vectors of nodes inputs[0 .. n_in) (a CP sum's inputs)
// is entry i (returned) of input *c.
__device__ __forceinline__ u32 cp_locate(const u32* __restrict__ inputs, u32 n_in, u32 j,
                                         const u32* __restrict__ kvec, u32* c) {
    u32 at = 0;
    while (at + 1 < n_in && j >= kvec[inputs[at]]) j -= kvec[inputs[at++]];
    *c = at;
    return j;
}

// ---------------------------------------------------------------------------------------
// Leaf families
// ---------------------------------------------------------------------------------------

// Log-density of the observed value `x` of one channel under table column `t` (slot s at
// t[s * K]); `lbinom` is the log-binomial-coefficient table of all Binomial families.
__device__ __forceinline__ float family_log_density(const Family& f, const float* __restrict__ t,
                                                    u32 K, float x,
                                                    const float* __restrict__ lbinom) {
    switch (f.code) {
        case FAM_BERNOULLI:
            return x > 0.5f ? t[K] : t[0];
        case FAM_CATEGORICAL:
            return t[(u32)x * K];
        case FAM_BINOMIAL: {
            float n = (float)f.n;
            return fmaf(x, t[0], fmaf(n - x, t[K], lbinom[f.lbinom + (u32)x]));
        }
        default: {
            float d = x - t[0];
            return fmaf(t[K] * d, d, t[2 * K]);
        }
    }
}

// Draws one value of a family with expectation parameters `phi` (LeafFamily::sample).
__device__ __forceinline__ float family_sample(const Family& f, const float* __restrict__ phi,
                                               Philox& rng, float std_correction) {
    switch (f.code) {
        case FAM_BERNOULLI:
            return philox_uniform(rng) < phi[0] ? 1.0f : 0.0f;
        case FAM_CATEGORICAL: {
            float total = 0.0f;
            for (u32 c = 0; c < f.n; ++c) total += fmaxf(phi[c], EINET_CAT_EPS);
            float u = philox_uniform(rng) * total;
            for (u32 c = 0; c < f.n; ++c) {
                u -= fmaxf(phi[c], EINET_CAT_EPS);
                if (u <= 0.0f) return (float)c;
            }
            return (float)(f.n - 1);
        }
        case FAM_BINOMIAL: {
            float p = phi[0] / (float)f.n;
            u32 count = 0;
            for (u32 t = 0; t < f.n; ++t) count += philox_uniform(rng) < p ? 1u : 0u;
            return (float)count;
        }
        default: {
            float var = clampf(phi[1] - phi[0] * phi[0], f.min_var, f.max_var);
            return phi[0] + std_correction * sqrtf(var) * philox_normal(rng);
        }
    }
}
