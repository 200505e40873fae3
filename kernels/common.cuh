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
#define EINET_INF (__int_as_float(0x7f800000))
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

// Largest `v` over the 32 lanes of a warp (every lane gets it).
__device__ __forceinline__ float warp_max(float v) {
    for (int m = 16; m > 0; m >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, m));
    return v;
}

// Least `v` over the 32 lanes of a warp (every lane gets it).
__device__ __forceinline__ float warp_min(float v) {
    for (int m = 16; m > 0; m >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, m));
    return v;
}

// ---------------------------------------------------------------------------------------
// Tensor cores: warp-wide mma.sync with f32 accumulation (sm_80 and newer)
// ---------------------------------------------------------------------------------------
// Two shapes, one per operand precision: TF32 m16n8k8 and BF16 m16n8k16 (PTX ISA, "Matrix
// Fragments for mma.m16n8k8" and "for mma.m16n8k16" with .tf32 / .bf16 operands). Counted in
// 32-bit operand words (one tf32 or two bf16 neighbours along k, the lower k in the low half)
// both are the same: A is 16 rows x 8 words, B 8 words x 8 columns, C/D 16 x 8 f32. With
// g = lane / 4 and t = lane % 4, lane `lane` holds
//   A word (mma_a_row(lane, r), mma_a_word(lane, r)) in register r < 4: rows g (r = 0, 2) and
//     g + 8 (r = 1, 3), words t (r = 0, 1) and t + 4 (r = 2, 3);
//   B word (mma_b_word(lane, r), g) in register r < 2: words t (r = 0) and t + 4 (r = 1);
//   C/D element (mma_c_row(lane, i), mma_c_col(lane, i)) in register i < 4: rows g (i = 0, 1)
//     and g + 8 (i = 2, 3), columns 2t + i % 2.
__device__ __forceinline__ u32 mma_a_row(u32 lane, u32 r) { return (lane >> 2) + 8u * (r & 1u); }
__device__ __forceinline__ u32 mma_a_word(u32 lane, u32 r) { return (lane & 3u) + 4u * (r >> 1); }
__device__ __forceinline__ u32 mma_b_word(u32 lane, u32 r) { return (lane & 3u) + 4u * r; }
__device__ __forceinline__ u32 mma_b_col(u32 lane) { return lane >> 2; }
__device__ __forceinline__ u32 mma_c_row(u32 lane, u32 i) { return (lane >> 2) + 8u * (i >> 1); }
__device__ __forceinline__ u32 mma_c_col(u32 lane, u32 i) { return 2u * (lane & 3u) + (i & 1u); }

// x rounded to TF32 (10 mantissa bits, to nearest with ties away from zero: cvt.rna.tf32.f32),
// as the bits of a float whose low 13 bits are zero.
__device__ __forceinline__ u32 to_tf32(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    u32 r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
#else
    u32 u = __float_as_uint(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return u;
    return (u + 0x1000u) & ~0x1fffu;
#endif
}

// The two floats lo (lower k, low half) and hi rounded to BF16 (7 mantissa bits, to nearest
// with ties to even: cvt.rn.bf16x2.f32) in one word.
__device__ __forceinline__ u32 pack_bf16(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
#else
    u32 h[2] = {__float_as_uint(lo), __float_as_uint(hi)};
    for (u32 i = 0; i < 2; ++i)
        h[i] = is_nan(__uint_as_float(h[i])) ? 0x7fc0u
                                             : (h[i] + 0x7fffu + ((h[i] >> 16) & 1u)) >> 16;
    return h[0] | (h[1] << 16);
#endif
}

// The operand precisions: elements per word (PER_WORD), k of one mma (K), a word from the
// PER_WORD consecutive floats at p, and element `half` of a word as a float.
struct Tf32 {
    static constexpr u32 PER_WORD = 1;
    static constexpr u32 K = 8;
    __device__ static __forceinline__ u32 pack(const float* p) { return to_tf32(p[0]); }
    __device__ static __forceinline__ float element(u32 w, u32) { return __uint_as_float(w); }
};

struct Bf16 {
    static constexpr u32 PER_WORD = 2;
    static constexpr u32 K = 16;
    __device__ static __forceinline__ u32 pack(const float* p) { return pack_bf16(p[0], p[1]); }
    __device__ static __forceinline__ float element(u32 w, u32 half) {
        return __uint_as_float(half ? w & 0xffff0000u : w << 16);
    }
};

// d += A B by one mma.sync of `shape` ("m16n8k8") with operands of `type` ("tf32").
#define EINET_MMA(shape, type, d, a, b)                                                    \
    asm volatile("mma.sync.aligned." shape ".row.col.f32." type "." type ".f32 "          \
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"                 \
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                         \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]))

// d += A B over the warp's fragments (every lane of the warp calls it). On the device one
// mma.sync; in the emulator the same fragments are gathered from the warp's lanes and
// multiplied in plain C++: the operands are already rounded (exact products), each output
// sums its products in f32 in k order onto d.
template <class P>
__device__ __forceinline__ void mma_sync(float d[4], const u32 a[4], const u32 b[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if constexpr (P::PER_WORD == 1)
        EINET_MMA("m16n8k8", "tf32", d, a, b);
    else
        EINET_MMA("m16n8k16", "bf16", d, a, b);
#elif defined(EINET_EMU)
    u32 mine[6] = {a[0], a[1], a[2], a[3], b[0], b[1]};
    const u32* all = einet_emu::warp_gather(mine, 6);
    u32 A[16][8], B[8][8];
    for (u32 lane = 0; lane < 32; ++lane) {
        for (u32 r = 0; r < 4; ++r) A[mma_a_row(lane, r)][mma_a_word(lane, r)] = all[lane * 6 + r];
        for (u32 r = 0; r < 2; ++r) B[mma_b_word(lane, r)][mma_b_col(lane)] = all[lane * 6 + 4 + r];
    }
    __syncwarp();
    u32 lane = threadIdx.x & 31u;
    for (u32 i = 0; i < 4; ++i) {
        u32 row = mma_c_row(lane, i), col = mma_c_col(lane, i);
        float acc = d[i];
        for (u32 k = 0; k < P::K; ++k) {
            u32 w = k / P::PER_WORD, half = k % P::PER_WORD;
            acc += P::element(A[row][w], half) * P::element(B[w][col], half);
        }
        d[i] = acc;
    }
#else
    __trap();
#endif
}

// acc += X W^T for one chunk of TC_DEPTH on tensor cores, operands rounded to P (Tf32 or
// Bf16), f32 accumulation: X (the A operand) holds 16 rows per warp of the block at row
// stride xstride, W (the B operand) one row per output column, TC_COLS rows at row stride
// wstride, both in shared memory. Warp v multiplies rows 16v .. 16v + 15 of X, and lane
// `lane` ends with acc[t][i] = the output (16v + mma_c_row(lane, i), 8t + mma_c_col(lane, i)).
template <class P>
__device__ __forceinline__ void tc_mma_chunk(const float* xs, u32 xstride, const float* ws,
                                             u32 wstride, float acc[TC_COLS / 8][4]) {
    u32 lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    for (u32 k0 = 0; k0 < TC_DEPTH; k0 += P::K) {
        const float* xw = xs + 16 * warp * xstride + k0;
        u32 a[4];
        for (u32 r = 0; r < 4; ++r)
            a[r] = P::pack(xw + mma_a_row(lane, r) * xstride + P::PER_WORD * mma_a_word(lane, r));
        for (u32 t = 0; t < TC_COLS / 8; ++t) {
            const float* wt = ws + (8 * t + mma_b_col(lane)) * wstride + k0;
            u32 b[2];
            for (u32 r = 0; r < 2; ++r) b[r] = P::pack(wt + P::PER_WORD * mma_b_word(lane, r));
            mma_sync<P>(acc[t], a, b);
        }
    }
}

// Adds a counts tile computed by tc_mma_chunk (rows: weight entries j of [j0, +TC_ROWS),
// columns: outputs o of [o0, +TC_COLS)) to counts[o W + j] scaled by weights[o W + j]; both
// point at the sum's first weight. Entries past W and outputs past Ko are skipped.
__device__ __forceinline__ void tc_add_counts(const float acc[TC_COLS / 8][4], u32 j0, u32 o0,
                                              u32 W, u32 Ko, const float* __restrict__ weights,
                                              float* counts) {
    u32 lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    for (u32 t = 0; t < TC_COLS / 8; ++t)
        for (u32 i = 0; i < 4; ++i) {
            u32 j = j0 + 16 * warp + mma_c_row(lane, i), o = o0 + 8 * t + mma_c_col(lane, i);
            if (j >= W || o >= Ko || acc[t][i] == 0.0f) continue;
            u64 at = (u64)o * W + j;
            // A zero weight's count is zero, also where its product overflowed.
            if (weights[at] != 0.0f) atomicAdd(counts + at, weights[at] * acc[t][i]);
        }
}

// One tile of a log-space product on tensor cores (tc_mma_chunk with operands P):
// y[b, o] = m_b + log sum_j w[o W + j] e^{z_bj - m_b} for the rows b of [b0, b0 + TC_ROWS)
// below `rows` and the outputs o of [o0, o0 + TC_COLS) below Ko, with z_bj = in.z(j, b)
// (j < W) and m_b the row's largest z (-inf out for rows of -inf only). Each chunk of
// TC_DEPTH inputs is staged in shared memory as e^{z - m} and w (zero past the rows, inputs
// and outputs, and for rows of -inf only). Dynamic shared memory: (TC_ROWS + TC_COLS)
// TC_DEPTH + TC_ROWS floats.
template <class P, class In>
__device__ __forceinline__ void tc_log_matmul(const In& in, u32 W, const float* __restrict__ w,
                                              u32 Ko, u32 rows, u32 b0, u32 o0, float* y) {
    EINET_DYNAMIC_SMEM(sm);
    float* xs = sm;                             // [TC_ROWS][TC_DEPTH]
    float* ws = xs + TC_ROWS * TC_DEPTH;  // [TC_COLS][TC_DEPTH]
    float* ms = ws + TC_COLS * TC_DEPTH;  // [TC_ROWS]
    u32 lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (u32 r = warp; r < TC_ROWS; r += warps) {
        float m = EINET_NEG_INF;
        if (b0 + r < rows)
            for (u32 j = lane; j < W; j += 32) m = fmaxf(m, in.z(j, b0 + r));
        m = warp_max(m);
        if (lane == 0) ms[r] = m;
    }
    float acc[TC_COLS / 8][4] = {};
    for (u32 j0 = 0; j0 < W; j0 += TC_DEPTH) {
        __syncthreads();
        for (u32 e = threadIdx.x; e < TC_ROWS * TC_DEPTH; e += blockDim.x) {
            u32 r = e / TC_DEPTH, j = j0 + e % TC_DEPTH;
            float m = ms[r];
            bool live = b0 + r < rows && j < W && m != EINET_NEG_INF;
            xs[e] = live ? expf(in.z(j, b0 + r) - m) : 0.0f;
        }
        for (u32 e = threadIdx.x; e < TC_COLS * TC_DEPTH; e += blockDim.x) {
            u32 o = o0 + e / TC_DEPTH, j = j0 + e % TC_DEPTH;
            ws[e] = o < Ko && j < W ? w[(u64)o * W + j] : 0.0f;
        }
        __syncthreads();
        tc_mma_chunk<P>(xs, TC_DEPTH, ws, TC_DEPTH, acc);
    }
    for (u32 t = 0; t < TC_COLS / 8; ++t)
        for (u32 i = 0; i < 4; ++i) {
            u32 r = 16 * warp + mma_c_row(lane, i), o = o0 + 8 * t + mma_c_col(lane, i);
            if (b0 + r >= rows || o >= Ko) continue;
            float m = ms[r];
            y[(u64)(b0 + r) * Ko + o] = m == EINET_NEG_INF ? EINET_NEG_INF : logf(acc[t][i]) + m;
        }
}

// The EM backward pass of a sum on tensor cores rests on the shift t_b of row b: the least
// output y_bo over the outputs with a gradient (delta_bo != 0, y_bo > -inf), or -inf when
// none has one. Then delta_bo e^{z_bj - y_bo} = (delta_bo e^{t_b - y_bo}) e^{z_bj - t_b} with
// the first factor at most delta_bo; the second overflows where an output lies more than
// ~88 nats below the row's largest input (weights near zero on every large input), which
// tc_backward_range guards against.
__device__ __forceinline__ float tc_backward_shift(const float* __restrict__ y,
                                                   const float* __restrict__ delta, u32 Ko) {
    u32 lane = threadIdx.x & 31u;
    float t = EINET_INF;
    for (u32 o = lane; o < Ko; o += 32)
        if (delta[o] != 0.0f && y[o] != EINET_NEG_INF) t = fminf(t, y[o]);
    t = warp_min(t);
    return t == EINET_INF ? EINET_NEG_INF : t;
}

// The row factor delta_bo e^{t_b - y_bo} of tc_backward_shift (0 for a row of shift -inf).
__device__ __forceinline__ float tc_backward_scale(float delta, float y, float t) {
    return delta != 0.0f && y != EINET_NEG_INF && t != EINET_NEG_INF ? delta * expf(t - y)
                                                                      : 0.0f;
}

// How far (nats) the row shift s of a sum's backward pass may lie from the row's largest
// input or its least live output. A live output lies at most ~103 nats (the forward pass's
// subnormal range) below the largest input, so with s within this range of both neither
// e^{z - s} nor delta e^{s - y} exceeds e^80 in f32, also where weights near zero leave an
// output more than 88 nats below an input.
#define EINET_BACKWARD_RANGE 80.0f

// The shift t of tc_backward_shift raised to at least m - EINET_BACKWARD_RANGE, with m the
// largest input the block reads in that row.
__device__ __forceinline__ float tc_backward_range(float t, float m) {
    return t == EINET_NEG_INF ? t : fmaxf(t, m - EINET_BACKWARD_RANGE);
}

// The backward shift of a row whose inputs are shifted by `top` (their largest), lowered to
// at most EINET_BACKWARD_RANGE above the row's least live output (one thread reads the
// row's Ko outputs y and gradients g); *scale = e^{top - shift} (1 unless lowered) is the
// factor that the shifted inputs then take.
__device__ __forceinline__ float backward_shift(float top, const float* __restrict__ y,
                                                const float* __restrict__ g, u32 Ko,
                                                float* scale) {
    float least = EINET_INF;
    for (u32 o = 0; o < Ko; ++o)
        if (g[o] != 0.0f && y[o] != EINET_NEG_INF) least = fminf(least, y[o]);
    float s = least == EINET_INF ? top : fminf(top, least + EINET_BACKWARD_RANGE);
    *scale = s == top ? 1.0f : expf(top - s);
    return s;
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
