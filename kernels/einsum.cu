// Einsum layers: the fused log-einsum-exp forward pass over all products of a layer (and its
// max-product variant), and the explicit EM backward pass (expected counts and child
// gradients). The K_l x K_r outer product of a product's children is never written to global
// memory: children are exponentiated (max-shifted) into shared-memory tiles and contracted
// in registers, accumulating in fp32.
//
// Product p of a layer has children left[p], right[p], output node out[p], and weights
// W[o][i][j] at weights + wofs[p] (weights points at the layer's first weight):
//   out[b,o] = a_b + c_b + log sum_i e^{l_bi - a_b} sum_j W[o,i,j] e^{r_bj - c_b}
// with a_b = max_i l_bi and c_b = max_j r_bj (an all -inf child gives -inf, never NaN).

// Forward tiling: a block computes TR rows (TR = blockDim.x) by EINSUM_TO outputs of one
// product; thread (rg, og) owns rows rg*4 .. rg*4+3 and outputs og*2, og*2+1 of the tile.

// Loads the tile rows [r0, r0 + TR) of node block `src` (rows x K, row-major) into `dst`
// transposed to [K][TR]; rows past the end read as -inf.
__device__ __forceinline__ void load_tile_transposed(const float* __restrict__ src, u32 rows,
                                                     u32 r0, u32 TR, u32 K, float* dst) {
    for (u32 idx = threadIdx.x; idx < TR * K; idx += blockDim.x) {
        u32 b = idx / K, i = idx % K;
        dst[i * TR + b] = r0 + b < rows ? src[(u64)(r0 + b) * K + i] : EINET_NEG_INF;
    }
}

// Replaces column b of the transposed tile t ([K][TR]) by e^{t - max} and returns the max
// (all zeros and -inf when the whole column is -inf).
__device__ __forceinline__ float exp_shift_column(float* t, u32 TR, u32 K, u32 b) {
    float m = EINET_NEG_INF;
    for (u32 i = 0; i < K; ++i) m = fmaxf(m, t[i * TR + b]);
    if (m == EINET_NEG_INF) {
        for (u32 i = 0; i < K; ++i) t[i * TR + b] = 0.0f;
    } else {
        for (u32 i = 0; i < K; ++i) t[i * TR + b] = expf(t[i * TR + b] - m);
    }
    return m;
}

// The same for row b of a row-major tile t ([rows][stride], K valid columns).
__device__ __forceinline__ float exp_shift_row(float* t, u32 stride, u32 K, u32 b) {
    float* row = t + b * stride;
    float m = EINET_NEG_INF;
    for (u32 i = 0; i < K; ++i) m = fmaxf(m, row[i]);
    if (m == EINET_NEG_INF) {
        for (u32 i = 0; i < K; ++i) row[i] = 0.0f;
    } else {
        for (u32 i = 0; i < K; ++i) row[i] = expf(row[i] - m);
    }
    return m;
}

// Stages W[o0 .. o0+EINSUM_TO)[i0 .. i0+nic)[0 .. Kr) into ws laid out [ii][j][EINSUM_TO]
// (outputs past k_out read as `pad`).
__device__ __forceinline__ void stage_forward_weights(const float* __restrict__ W, u32 o0,
                                                      u32 Ko, u32 Kl, u32 Kr, u32 i0, u32 nic,
                                                      float pad, float* ws) {
    for (u32 idx = threadIdx.x; idx < nic * EINSUM_TO * Kr; idx += blockDim.x) {
        u32 j = idx % Kr;
        u32 ol = (idx / Kr) % EINSUM_TO;
        u32 ii = idx / (Kr * EINSUM_TO);
        u32 o = o0 + ol;
        ws[(ii * Kr + j) * EINSUM_TO + ol] =
            o < Ko ? W[((u64)o * Kl + i0 + ii) * Kr + j] : pad;
    }
}

// Sum-product forward pass of one einsum layer. Grid: x = products * o_tiles, y = row tiles
// of TR = blockDim.x rows (a multiple of 4). Dynamic shared memory (floats):
// TR * (kl_max + kr_max + 1) + ic * kr_max * EINSUM_TO.
extern "C" __global__ void __launch_bounds__(128) einsum_forward(
    const u32* __restrict__ left, const u32* __restrict__ right, const u32* __restrict__ out,
    const u32* __restrict__ wofs, const u32* __restrict__ kvec, const u32* __restrict__ koff,
    const float* __restrict__ weights, u32 rows, u32 o_tiles, u32 kl_max, u32 kr_max, u32 ic,
    float* __restrict__ act) {
    EINET_DYNAMIC_SMEM(sm);
    const u32 TR = blockDim.x;
    const u32 p = blockIdx.x / o_tiles;
    const u32 o0 = (blockIdx.x % o_tiles) * EINSUM_TO;
    const u32 l = left[p], r = right[p], on = out[p];
    const u32 Kl = kvec[l], Kr = kvec[r], Ko = kvec[on];
    if (o0 >= Ko) return;
    const u32 r0 = blockIdx.y * TR;
    float* elT = sm;
    float* erT = elT + kl_max * TR;
    float* shift = erT + kr_max * TR;
    float* ws = shift + TR;

    load_tile_transposed(act + (u64)rows * koff[l], rows, r0, TR, Kl, elT);
    load_tile_transposed(act + (u64)rows * koff[r], rows, r0, TR, Kr, erT);
    __syncthreads();
    {
        u32 b = threadIdx.x;
        float a = exp_shift_column(elT, TR, Kl, b);
        float c = exp_shift_column(erT, TR, Kr, b);
        shift[b] = a + c;
    }

    const u32 rg = threadIdx.x >> 2, og = threadIdx.x & 3;
    float acc[4][2];
#pragma unroll
    for (int rb = 0; rb < 4; ++rb) acc[rb][0] = acc[rb][1] = 0.0f;
    const float* W = weights + wofs[p];
    for (u32 i0 = 0; i0 < Kl; i0 += ic) {
        u32 nic = min_u32(ic, Kl - i0);
        __syncthreads();
        stage_forward_weights(W, o0, Ko, Kl, Kr, i0, nic, 0.0f, ws);
        __syncthreads();
        for (u32 ii = 0; ii < nic; ++ii) {
            float4 e4 = *reinterpret_cast<const float4*>(elT + (i0 + ii) * TR + rg * 4);
            const float* wrow = ws + ii * Kr * EINSUM_TO + og * 2;
            float t[4][2];
#pragma unroll
            for (int rb = 0; rb < 4; ++rb) t[rb][0] = t[rb][1] = 0.0f;
            for (u32 j = 0; j < Kr; ++j) {
                float4 r4 = *reinterpret_cast<const float4*>(erT + j * TR + rg * 4);
                float2 w2 = *reinterpret_cast<const float2*>(wrow + j * EINSUM_TO);
                t[0][0] = fmaf(r4.x, w2.x, t[0][0]);
                t[0][1] = fmaf(r4.x, w2.y, t[0][1]);
                t[1][0] = fmaf(r4.y, w2.x, t[1][0]);
                t[1][1] = fmaf(r4.y, w2.y, t[1][1]);
                t[2][0] = fmaf(r4.z, w2.x, t[2][0]);
                t[2][1] = fmaf(r4.z, w2.y, t[2][1]);
                t[3][0] = fmaf(r4.w, w2.x, t[3][0]);
                t[3][1] = fmaf(r4.w, w2.y, t[3][1]);
            }
            acc[0][0] = fmaf(e4.x, t[0][0], acc[0][0]);
            acc[0][1] = fmaf(e4.x, t[0][1], acc[0][1]);
            acc[1][0] = fmaf(e4.y, t[1][0], acc[1][0]);
            acc[1][1] = fmaf(e4.y, t[1][1], acc[1][1]);
            acc[2][0] = fmaf(e4.z, t[2][0], acc[2][0]);
            acc[2][1] = fmaf(e4.z, t[2][1], acc[2][1]);
            acc[3][0] = fmaf(e4.w, t[3][0], acc[3][0]);
            acc[3][1] = fmaf(e4.w, t[3][1], acc[3][1]);
        }
    }

    float* dst = act + (u64)rows * koff[on];
#pragma unroll
    for (int rb = 0; rb < 4; ++rb) {
        u32 bl = rg * 4 + rb;
        u32 b = r0 + bl;
        if (b >= rows) continue;
        float s = shift[bl];
#pragma unroll
        for (int ro = 0; ro < 2; ++ro) {
            u32 o = o0 + og * 2 + ro;
            if (o < Ko) dst[(u64)b * Ko + o] = s == EINET_NEG_INF ? EINET_NEG_INF : logf(acc[rb][ro]) + s;
        }
    }
}

// Max-product forward pass: out[b,o] = max_ij log W[o,i,j] + l_bi + r_bj, with `logw` the
// element-wise log of the layer's weights (log_weights). Same grid, block and shared memory
// as einsum_forward.
extern "C" __global__ void __launch_bounds__(128) einsum_forward_max(
    const u32* __restrict__ left, const u32* __restrict__ right, const u32* __restrict__ out,
    const u32* __restrict__ wofs, const u32* __restrict__ kvec, const u32* __restrict__ koff,
    const float* __restrict__ logw, u32 rows, u32 o_tiles, u32 kl_max, u32 kr_max, u32 ic,
    float* __restrict__ act) {
    EINET_DYNAMIC_SMEM(sm);
    const u32 TR = blockDim.x;
    const u32 p = blockIdx.x / o_tiles;
    const u32 o0 = (blockIdx.x % o_tiles) * EINSUM_TO;
    const u32 l = left[p], r = right[p], on = out[p];
    const u32 Kl = kvec[l], Kr = kvec[r], Ko = kvec[on];
    if (o0 >= Ko) return;
    const u32 r0 = blockIdx.y * TR;
    float* lT = sm;
    float* rT = lT + kl_max * TR;
    float* ws = rT + kr_max * TR + TR;

    load_tile_transposed(act + (u64)rows * koff[l], rows, r0, TR, Kl, lT);
    load_tile_transposed(act + (u64)rows * koff[r], rows, r0, TR, Kr, rT);

    const u32 rg = threadIdx.x >> 2, og = threadIdx.x & 3;
    float best[4][2];
#pragma unroll
    for (int rb = 0; rb < 4; ++rb) best[rb][0] = best[rb][1] = EINET_NEG_INF;
    const float* LW = logw + wofs[p];
    for (u32 i0 = 0; i0 < Kl; i0 += ic) {
        u32 nic = min_u32(ic, Kl - i0);
        __syncthreads();
        stage_forward_weights(LW, o0, Ko, Kl, Kr, i0, nic, EINET_NEG_INF, ws);
        __syncthreads();
        for (u32 ii = 0; ii < nic; ++ii) {
            float4 l4 = *reinterpret_cast<const float4*>(lT + (i0 + ii) * TR + rg * 4);
            const float* wrow = ws + ii * Kr * EINSUM_TO + og * 2;
            for (u32 j = 0; j < Kr; ++j) {
                float4 r4 = *reinterpret_cast<const float4*>(rT + j * TR + rg * 4);
                float2 w2 = *reinterpret_cast<const float2*>(wrow + j * EINSUM_TO);
                best[0][0] = fmaxf(best[0][0], (w2.x + l4.x) + r4.x);
                best[0][1] = fmaxf(best[0][1], (w2.y + l4.x) + r4.x);
                best[1][0] = fmaxf(best[1][0], (w2.x + l4.y) + r4.y);
                best[1][1] = fmaxf(best[1][1], (w2.y + l4.y) + r4.y);
                best[2][0] = fmaxf(best[2][0], (w2.x + l4.z) + r4.z);
                best[2][1] = fmaxf(best[2][1], (w2.y + l4.z) + r4.z);
                best[3][0] = fmaxf(best[3][0], (w2.x + l4.w) + r4.w);
                best[3][1] = fmaxf(best[3][1], (w2.y + l4.w) + r4.w);
            }
        }
    }

    float* dst = act + (u64)rows * koff[on];
#pragma unroll
    for (int rb = 0; rb < 4; ++rb) {
        u32 b = r0 + rg * 4 + rb;
        if (b >= rows) continue;
#pragma unroll
        for (int ro = 0; ro < 2; ++ro) {
            u32 o = o0 + og * 2 + ro;
            if (o < Ko) dst[(u64)b * Ko + o] = best[rb][ro];
        }
    }
}

// The K_l K_r log outer product of one product's children, as tc_log_matmul reads it: entry
// j = i K_r + jr of row b is l_bi + r_b,jr, so that W[o][i][jr] is w[o K_l K_r + j].
struct OuterInputs {
    const float* l;
    const float* r;
    u32 Kl, Kr;
    __device__ __forceinline__ float z(u32 j, u32 b) const {
        return l[(u64)b * Kl + j / Kr] + r[(u64)b * Kr + j % Kr];
    }
};

// The parameters of the tensor-core einsum kernels, and the arguments that pass them on.
#define EINSUM_TC_PARAMS                                                                  \
    const u32* __restrict__ left, const u32* __restrict__ right,                         \
        const u32* __restrict__ out, const u32* __restrict__ wofs,                       \
        const u32* __restrict__ kvec, const u32* __restrict__ koff,                      \
        const float* __restrict__ weights, u32 rows, float* act
#define EINSUM_TC_ARGS left, right, out, wofs, kvec, koff, weights, rows, act

// einsum_forward on tensor cores: the (B x K_l K_r)(K_l K_r x K_o) product of the outer
// product of the children and W, by tc_log_matmul with operands P (the row maximum of the
// outer product is a_b + c_b). Block (p, y, z): rows [y TC_ROWS, +TC_ROWS) and outputs
// [z TC_COLS, +TC_COLS) of product p.
template <class P>
__device__ __forceinline__ void einsum_forward_tc(EINSUM_TC_PARAMS) {
    u32 p = blockIdx.x;
    u32 l = left[p], r = right[p], on = out[p];
    u32 Kl = kvec[l], Kr = kvec[r], Ko = kvec[on], o0 = blockIdx.z * TC_COLS;
    if (o0 >= Ko) return;
    OuterInputs in{act + (u64)rows * koff[l], act + (u64)rows * koff[r], Kl, Kr};
    tc_log_matmul<P>(in, Kl * Kr, weights + wofs[p], Ko, rows, blockIdx.y * TC_ROWS, o0,
                     act + (u64)rows * koff[on]);
}

// einsum_forward with TF32 operands on tensor cores (einsum_forward_tc).
extern "C" __global__ void __launch_bounds__(2 * TC_ROWS) einsum_forward_tf32(EINSUM_TC_PARAMS) {
    einsum_forward_tc<Tf32>(EINSUM_TC_ARGS);
}

// einsum_forward with BF16 operands on tensor cores (einsum_forward_tc).
extern "C" __global__ void __launch_bounds__(2 * TC_ROWS) einsum_forward_bf16(EINSUM_TC_PARAMS) {
    einsum_forward_tc<Bf16>(EINSUM_TC_ARGS);
}

// Element-wise natural log of n weights (the max-product pass and MPE use log W).
extern "C" __global__ void __launch_bounds__(256) log_weights(const float* __restrict__ w, u64 n,
                                                              float* __restrict__ logw) {
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < n) logw[idx] = logf(w[idx]);
}

// Loads rows [s0, s0 + nb) of a product's children and output gradient into the row-major
// tiles el [nb][Kl], er [nb][KrP] (exponentiated, max-shifted; padding columns 0), and
// rho [nb][KoP] = delta * e^{s - out} (0 where delta is 0 or out is -inf) with s the
// backward_shift of a + c, el's row scaled by e^{a + c - s} where s is lower. Ends with a
// barrier.
__device__ __forceinline__ void load_backward_rows(const float* __restrict__ act,
                                                   const float* __restrict__ grad, u32 rows,
                                                   u32 l, u32 r, u32 on, u32 Kl, u32 Kr,
                                                   u32 Ko, u32 KrP, u32 KoP, const u32* koff,
                                                   u32 s0, u32 nb, float* el, float* er,
                                                   float* rho, float* shift) {
    const float* L = act + (u64)rows * koff[l] + (u64)s0 * Kl;
    const float* R = act + (u64)rows * koff[r] + (u64)s0 * Kr;
    const float* Y = act + (u64)rows * koff[on] + (u64)s0 * Ko;
    const float* G = grad + (u64)rows * koff[on] + (u64)s0 * Ko;
    for (u32 idx = threadIdx.x; idx < nb * Kl; idx += blockDim.x) el[idx] = L[idx];
    for (u32 idx = threadIdx.x; idx < nb * KrP; idx += blockDim.x) {
        u32 b = idx / KrP, j = idx % KrP;
        er[idx] = j < Kr ? R[(u64)b * Kr + j] : EINET_NEG_INF;
    }
    __syncthreads();
    for (u32 b = threadIdx.x; b < nb; b += blockDim.x) {
        float a = exp_shift_row(el, Kl, Kl, b);
        float c = exp_shift_row(er, KrP, KrP, b);
        float scale;
        shift[b] = backward_shift(a + c, Y + (u64)b * Ko, G + (u64)b * Ko, Ko, &scale);
        if (scale != 1.0f)
            for (u32 i = 0; i < Kl; ++i) el[b * Kl + i] *= scale;
    }
    __syncthreads();
    for (u32 idx = threadIdx.x; idx < nb * KoP; idx += blockDim.x) {
        u32 b = idx / KoP, o = idx % KoP;
        float v = 0.0f;
        if (o < Ko) {
            float d = G[(u64)b * Ko + o];
            float y = Y[(u64)b * Ko + o];
            if (d != 0.0f && y != EINET_NEG_INF) v = d * expf(shift[b] - y);
        }
        rho[idx] = v;
    }
    __syncthreads();
}

// Expected counts of one einsum layer:
//   counts[o,i,j] += W[o,i,j] * sum_b rho[b,o] * el[b,i] * er[b,j]
// Each thread owns a micro-tile of 4 outputs x 4 right indices for one left index, summed
// over the rows [blockIdx.y * rows_per_block, ...) in sub-tiles of sub_rows rows, then added
// atomically. Grid: x = products * mt_blocks, y = row chunks. Dynamic shared memory
// (floats): sub_rows * (kl_max + krp_max + kop_max + 1), krp/kop being the maxima of K_r and
// K_out rounded up to multiples of 4; sub_rows is a multiple of 4.
extern "C" __global__ void __launch_bounds__(256) einsum_counts(
    const u32* __restrict__ left, const u32* __restrict__ right, const u32* __restrict__ out,
    const u32* __restrict__ wofs, const u32* __restrict__ kvec, const u32* __restrict__ koff,
    const float* __restrict__ act, const float* __restrict__ grad,
    const float* __restrict__ weights, float* __restrict__ counts, u32 rows, u32 mt_blocks,
    u32 kl_max, u32 krp_max, u32 kop_max, u32 sub_rows, u32 rows_per_block) {
    EINET_DYNAMIC_SMEM(sm);
    const u32 p = blockIdx.x / mt_blocks;
    const u32 mb = blockIdx.x % mt_blocks;
    const u32 l = left[p], r = right[p], on = out[p];
    const u32 Kl = kvec[l], Kr = kvec[r], Ko = kvec[on];
    const u32 KrP = ceil4(Kr), KoP = ceil4(Ko);
    const u32 njt = KrP / 4;
    const u32 n_mt = (KoP / 4) * Kl * njt;
    if (mb * blockDim.x >= n_mt) return;
    const u32 mt = mb * blockDim.x + threadIdx.x;
    const bool active = mt < n_mt;
    const u32 jt = mt % njt, i = (mt / njt) % Kl, ot = mt / (njt * Kl);

    float* el = sm;
    float* er = el + sub_rows * kl_max;
    float* rho = er + sub_rows * krp_max;
    float* shift = rho + sub_rows * kop_max;

    float acc[4][4];
#pragma unroll
    for (int a = 0; a < 4; ++a)
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[a][c] = 0.0f;

    const u32 c0 = blockIdx.y * rows_per_block;
    const u32 c1 = min_u32(rows, c0 + rows_per_block);
    for (u32 s0 = c0; s0 < c1; s0 += sub_rows) {
        u32 nb = min_u32(sub_rows, c1 - s0);
        __syncthreads();
        load_backward_rows(act, grad, rows, l, r, on, Kl, Kr, Ko, KrP, KoP, koff, s0, nb, el, er,
                           rho, shift);
        if (active) {
            for (u32 b = 0; b < nb; ++b) {
                float e = el[b * Kl + i];
                float4 r4 = *reinterpret_cast<const float4*>(er + b * KrP + jt * 4);
                float4 p4 = *reinterpret_cast<const float4*>(rho + b * KoP + ot * 4);
                float q[4] = {e * r4.x, e * r4.y, e * r4.z, e * r4.w};
                float pr[4] = {p4.x, p4.y, p4.z, p4.w};
#pragma unroll
                for (int a = 0; a < 4; ++a)
#pragma unroll
                    for (int c = 0; c < 4; ++c) acc[a][c] = fmaf(pr[a], q[c], acc[a][c]);
            }
        }
    }
    if (!active) return;
    const u32 base = wofs[p];
#pragma unroll
    for (int a = 0; a < 4; ++a) {
        u32 o = ot * 4 + a;
        if (o >= Ko) continue;
#pragma unroll
        for (int c = 0; c < 4; ++c) {
            u32 j = jt * 4 + c;
            if (j >= Kr || acc[a][c] == 0.0f) continue;
            u64 w = base + ((u64)o * Kl + i) * Kr + j;
            // A zero weight's count is zero, also where its product overflowed.
            if (weights[w] != 0.0f) atomicAdd(counts + w, weights[w] * acc[a][c]);
        }
    }
}

// Child gradients of one einsum layer, with U[b,i,j] = sum_o rho[b,o] W[o,i,j]:
//   grad_left[b,i]  += el[b,i] * sum_j U[b,i,j] er[b,j]
//   grad_right[b,j] += er[b,j] * sum_i U[b,i,j] el[b,i]
// added atomically (a region may have several parents). Grid: x = products, y = row tiles of
// TR rows; block = (TR / 4) * (krp_max / 4) threads, thread (rg, jg) owning rows rg*4..+3 and
// right indices jg*4..+3 (at most 256 threads). Dynamic shared memory (floats):
// TR * (2 kl_max + krp_max + ko_max + 1) + ic * ko_max * krp_max.
extern "C" __global__ void __launch_bounds__(256) einsum_grads(
    const u32* __restrict__ left, const u32* __restrict__ right, const u32* __restrict__ out,
    const u32* __restrict__ wofs, const u32* __restrict__ kvec, const u32* __restrict__ koff,
    const float* __restrict__ act, float* __restrict__ grad, const float* __restrict__ weights,
    u32 rows, u32 tr, u32 kl_max, u32 krp_max, u32 ko_max, u32 ic) {
    EINET_DYNAMIC_SMEM(sm);
    const u32 TR = tr;
    const u32 p = blockIdx.x;
    const u32 l = left[p], r = right[p], on = out[p];
    const u32 Kl = kvec[l], Kr = kvec[r], Ko = kvec[on];
    const u32 KrP = ceil4(Kr);
    const u32 njg_max = krp_max / 4;
    const u32 jg = threadIdx.x % njg_max, rg = threadIdx.x / njg_max;
    const bool active = jg * 4 < KrP;
    const u32 r0 = blockIdx.y * TR;

    float* elT = sm;                    // [kl_max][TR]
    float* sdl = elT + kl_max * TR;     // [kl_max][TR]
    float* erT = sdl + kl_max * TR;     // [krp_max][TR]
    float* rhoT = erT + krp_max * TR;   // [ko_max][TR]
    float* shift = rhoT + ko_max * TR;  // [TR]
    float* ws = shift + TR;             // [ic][Ko][KrP]

    const float* Lsrc = act + (u64)rows * koff[l];
    const float* Rsrc = act + (u64)rows * koff[r];
    load_tile_transposed(Lsrc, rows, r0, TR, Kl, elT);
    for (u32 idx = threadIdx.x; idx < TR * KrP; idx += blockDim.x) {
        u32 b = idx / KrP, j = idx % KrP;
        erT[j * TR + b] =
            (r0 + b < rows && j < Kr) ? Rsrc[(u64)(r0 + b) * Kr + j] : EINET_NEG_INF;
    }
    for (u32 idx = threadIdx.x; idx < TR * Kl; idx += blockDim.x) sdl[idx] = 0.0f;
    __syncthreads();
    const float* Y = act + (u64)rows * koff[on];
    const float* G = grad + (u64)rows * koff[on];
    for (u32 b = threadIdx.x; b < TR; b += blockDim.x) {
        float a = exp_shift_column(elT, TR, Kl, b);
        float c = exp_shift_column(erT, TR, KrP, b);
        float scale = 1.0f;
        shift[b] = r0 + b < rows ? backward_shift(a + c, Y + (u64)(r0 + b) * Ko,
                                                  G + (u64)(r0 + b) * Ko, Ko, &scale)
                                 : a + c;
        if (scale != 1.0f)
            for (u32 i = 0; i < Kl; ++i) elT[i * TR + b] *= scale;
    }
    __syncthreads();
    for (u32 idx = threadIdx.x; idx < TR * Ko; idx += blockDim.x) {
        u32 b = idx / Ko, o = idx % Ko;
        float v = 0.0f;
        if (r0 + b < rows) {
            float d = G[(u64)(r0 + b) * Ko + o];
            float y = Y[(u64)(r0 + b) * Ko + o];
            if (d != 0.0f && y != EINET_NEG_INF) v = d * expf(shift[b] - y);
        }
        rhoT[o * TR + b] = v;
    }
    __syncthreads();

    float erv[4][4], dr[4][4];
#pragma unroll
    for (int c = 0; c < 4; ++c) {
        float4 e4 = active ? *reinterpret_cast<const float4*>(erT + (jg * 4 + c) * TR + rg * 4)
                           : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        erv[0][c] = e4.x;
        erv[1][c] = e4.y;
        erv[2][c] = e4.z;
        erv[3][c] = e4.w;
#pragma unroll
        for (int a = 0; a < 4; ++a) dr[a][c] = 0.0f;
    }

    const float* W = weights + wofs[p];
    for (u32 i0 = 0; i0 < Kl; i0 += ic) {
        u32 nic = min_u32(ic, Kl - i0);
        __syncthreads();
        for (u32 idx = threadIdx.x; idx < nic * Ko * KrP; idx += blockDim.x) {
            u32 j = idx % KrP;
            u32 o = (idx / KrP) % Ko;
            u32 ii = idx / (KrP * Ko);
            ws[idx] = j < Kr ? W[((u64)o * Kl + i0 + ii) * Kr + j] : 0.0f;
        }
        __syncthreads();
        if (!active) continue;
        for (u32 ii = 0; ii < nic; ++ii) {
            float u[4][4];
#pragma unroll
            for (int a = 0; a < 4; ++a)
#pragma unroll
                for (int c = 0; c < 4; ++c) u[a][c] = 0.0f;
            const float* wrow = ws + ii * Ko * KrP + jg * 4;
            for (u32 o = 0; o < Ko; ++o) {
                float4 p4 = *reinterpret_cast<const float4*>(rhoT + o * TR + rg * 4);
                float4 w4 = *reinterpret_cast<const float4*>(wrow + o * KrP);
                float pr[4] = {p4.x, p4.y, p4.z, p4.w};
                float wv[4] = {w4.x, w4.y, w4.z, w4.w};
#pragma unroll
                for (int a = 0; a < 4; ++a)
#pragma unroll
                    for (int c = 0; c < 4; ++c) u[a][c] = fmaf(pr[a], wv[c], u[a][c]);
            }
            u32 i = i0 + ii;
            float4 e4 = *reinterpret_cast<const float4*>(elT + i * TR + rg * 4);
            float ev[4] = {e4.x, e4.y, e4.z, e4.w};
#pragma unroll
            for (int a = 0; a < 4; ++a) {
                float part = 0.0f;
#pragma unroll
                for (int c = 0; c < 4; ++c) {
                    part = fmaf(u[a][c], erv[a][c], part);
                    dr[a][c] = fmaf(u[a][c], ev[a], dr[a][c]);
                }
                if (part != 0.0f) atomicAdd(sdl + i * TR + rg * 4 + a, part);
            }
        }
    }
    __syncthreads();

    if (active) {
        float* GR = grad + (u64)rows * koff[r];
#pragma unroll
        for (int a = 0; a < 4; ++a) {
            u32 b = r0 + rg * 4 + a;
            if (b >= rows) continue;
#pragma unroll
            for (int c = 0; c < 4; ++c) {
                u32 j = jg * 4 + c;
                float v = erv[a][c] * dr[a][c];
                if (j < Kr && v != 0.0f) atomicAdd(GR + (u64)b * Kr + j, v);
            }
        }
    }
    float* GL = grad + (u64)rows * koff[l];
    for (u32 idx = threadIdx.x; idx < TR * Kl; idx += blockDim.x) {
        u32 b = idx / Kl, i = idx % Kl;
        if (r0 + b >= rows) continue;
        float v = elT[i * TR + b] * sdl[i * TR + b];
        if (v != 0.0f) atomicAdd(GL + (u64)(r0 + b) * Kl + i, v);
    }
}

// The parameters of the tensor-core einsum counts kernels, and the arguments that pass them on.
#define EINSUM_COUNTS_TC_PARAMS                                                            \
    const u32* __restrict__ left, const u32* __restrict__ right,                          \
        const u32* __restrict__ out, const u32* __restrict__ wofs,                        \
        const u32* __restrict__ kvec, const u32* __restrict__ koff,                       \
        const float* __restrict__ act, const float* __restrict__ grad,                    \
        const float* __restrict__ weights, float* __restrict__ counts, u32 rows,          \
        u32 rows_per_block, u32 j_tiles, u32 kl_max, u32 krp_max, u32 kop_max
#define EINSUM_COUNTS_TC_ARGS                                                                    \
    left, right, out, wofs, kvec, koff, act, grad, weights, counts, rows, rows_per_block, j_tiles, \
        kl_max, krp_max, kop_max

// einsum_counts on tensor cores with operands P: counts[o, j] += W[o, j] C[j, o] with
// C = sum_b el[b, i] er[b, k] rho[b, o] for j = i K_r + k (load_backward_rows' shifted
// children and scaled gradients): the (K_l K_r x B)(B x K_out) product of the outer products
// and rho, its depth the block's rows, staged TC_DEPTH rows at a time. Block (p, y, z):
// entries j of [(y % j_tiles) TC_ROWS, +TC_ROWS), outputs [(y / j_tiles) TC_COLS, +TC_COLS)
// and rows [z rows_per_block, +rows_per_block) of product p, added atomically. Dynamic
// shared memory (floats): (TC_ROWS + TC_COLS) TC_DEPTH + TC_DEPTH (kl_max + krp_max +
// kop_max + 1).
template <class P>
__device__ __forceinline__ void einsum_counts_tc(EINSUM_COUNTS_TC_PARAMS) {
    EINET_DYNAMIC_SMEM(sm);
    float* xs = sm;                           // [TC_ROWS][TC_DEPTH]: el er, j by b
    float* ws = xs + TC_ROWS * TC_DEPTH;      // [TC_COLS][TC_DEPTH]: rho, o by b
    float* el = ws + TC_COLS * TC_DEPTH;      // [TC_DEPTH][Kl]
    float* er = el + TC_DEPTH * kl_max;       // [TC_DEPTH][KrP]
    float* rho = er + TC_DEPTH * krp_max;     // [TC_DEPTH][KoP]
    float* shift = rho + TC_DEPTH * kop_max;  // [TC_DEPTH]
    u32 p = blockIdx.x;
    u32 l = left[p], r = right[p], on = out[p];
    u32 Kl = kvec[l], Kr = kvec[r], Ko = kvec[on], J = Kl * Kr;
    u32 KrP = ceil4(Kr), KoP = ceil4(Ko);
    u32 j0 = (blockIdx.y % j_tiles) * TC_ROWS, o0 = (blockIdx.y / j_tiles) * TC_COLS;
    if (j0 >= J || o0 >= Ko) return;
    u32 c0 = blockIdx.z * rows_per_block, c1 = min_u32(rows, c0 + rows_per_block);
    float acc[TC_COLS / 8][4] = {};
    for (u32 s0 = c0; s0 < c1; s0 += TC_DEPTH) {
        u32 nb = min_u32(TC_DEPTH, c1 - s0);
        __syncthreads();
        load_backward_rows(act, grad, rows, l, r, on, Kl, Kr, Ko, KrP, KoP, koff, s0, nb, el, er,
                           rho, shift);
        for (u32 e = threadIdx.x; e < TC_ROWS * TC_DEPTH; e += blockDim.x) {
            u32 row = e % TC_ROWS, k = e / TC_ROWS, j = j0 + row;
            xs[row * TC_DEPTH + k] = k < nb && j < J ? el[k * Kl + j / Kr] * er[k * KrP + j % Kr]
                                                     : 0.0f;
        }
        for (u32 e = threadIdx.x; e < TC_COLS * TC_DEPTH; e += blockDim.x) {
            u32 c = e % TC_COLS, k = e / TC_COLS, o = o0 + c;
            ws[c * TC_DEPTH + k] = k < nb && o < Ko ? rho[k * KoP + o] : 0.0f;
        }
        __syncthreads();
        tc_mma_chunk<P>(xs, TC_DEPTH, ws, TC_DEPTH, acc);
    }
    tc_add_counts(acc, j0, o0, J, Ko, weights + wofs[p], counts + wofs[p]);
}

// einsum_counts with TF32 operands on tensor cores (einsum_counts_tc).
extern "C" __global__ void __launch_bounds__(2 * TC_ROWS)
    einsum_counts_tf32(EINSUM_COUNTS_TC_PARAMS) {
    einsum_counts_tc<Tf32>(EINSUM_COUNTS_TC_ARGS);
}

// einsum_counts with BF16 operands on tensor cores (einsum_counts_tc).
extern "C" __global__ void __launch_bounds__(2 * TC_ROWS)
    einsum_counts_bf16(EINSUM_COUNTS_TC_PARAMS) {
    einsum_counts_tc<Bf16>(EINSUM_COUNTS_TC_ARGS);
}

// The parameters of the tensor-core einsum gradient kernels, and the arguments that pass them
// on.
#define EINSUM_GRADS_TC_PARAMS                                                             \
    const u32* __restrict__ left, const u32* __restrict__ right,                          \
        const u32* __restrict__ out, const u32* __restrict__ wofs,                        \
        const u32* __restrict__ kvec, const u32* __restrict__ koff,                       \
        const float* __restrict__ act, float* __restrict__ grad,                          \
        const float* __restrict__ weights, u32 rows, u32 kl_max, u32 krp_max, u32 ko16_max
#define EINSUM_GRADS_TC_ARGS \
    left, right, out, wofs, kvec, koff, act, grad, weights, rows, kl_max, krp_max, ko16_max

// einsum_grads on tensor cores with operands P: for each left index i, the (B x K_out)
// (K_out x 32) product U_i = rho W[., i, k-tile] (load_backward_rows' scaled gradients and
// the weights), then in fp32
//   grad_left[b, i]  += el[b, i] sum_k U_i[b, k] er[b, k]   (over the block's k, atomically)
//   grad_right[b, k] += er[b, k] sum_i U_i[b, k] el[b, i]   (over every i, in registers).
// Block (p, y, z): rows [y TR, +TR) with TR = 16 warps (the block's 32 TR threads) and right
// indices [z TC_COLS, +TC_COLS) of product p. Rows past the batch are not loaded: their
// outputs are computed from what shared memory holds and never written. Dynamic shared
// memory (floats): TR (kl_max + krp_max + ko16_max + 1) + TC_COLS ko16_max.
template <class P>
__device__ __forceinline__ void einsum_grads_tc(EINSUM_GRADS_TC_PARAMS) {
    EINET_DYNAMIC_SMEM(sm);
    u32 lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, TR = 16 * (blockDim.x >> 5);
    u32 p = blockIdx.x;
    u32 l = left[p], r = right[p], on = out[p];
    u32 Kl = kvec[l], Kr = kvec[r], Ko = kvec[on];
    u32 KrP = ceil4(Kr), Ko16 = (Ko + TC_DEPTH - 1) / TC_DEPTH * TC_DEPTH;  // host: ko16_max
    u32 b0 = blockIdx.y * TR, k0 = blockIdx.z * TC_COLS;
    if (k0 >= Kr) return;
    float* el = sm;                        // [TR][Kl]
    float* er = el + TR * kl_max;          // [TR][KrP]
    float* rho = er + TR * krp_max;        // [TR][Ko16]: the A operand
    float* shift = rho + TR * ko16_max;    // [TR]
    float* ws = shift + TR;                // [TC_COLS][Ko16]: W[o][i][k0 + c], the B operand
    load_backward_rows(act, grad, rows, l, r, on, Kl, Kr, Ko, KrP, Ko16, koff, b0,
                       min_u32(TR, rows - b0), el, er, rho, shift);
    // This lane's outputs: rows 16 warp + g + 8 h (h = q / 2) and right indices k0 + 8 t +
    // 2 (lane % 4) + q % 2.
    u32 row[2] = {16 * warp + (lane >> 2), 16 * warp + (lane >> 2) + 8};
    float erv[TC_COLS / 8][4], dr[TC_COLS / 8][4];
#pragma unroll
    for (u32 t = 0; t < TC_COLS / 8; ++t)
#pragma unroll
        for (u32 q = 0; q < 4; ++q) {
            u32 k = k0 + 8 * t + mma_c_col(lane, q);
            erv[t][q] = k < Kr ? er[row[q >> 1] * KrP + k] : 0.0f;
            dr[t][q] = 0.0f;
        }
    const float* W = weights + wofs[p];
    float* GL = grad + (u64)rows * koff[l];
    for (u32 i = 0; i < Kl; ++i) {
        __syncthreads();
        for (u32 e = threadIdx.x; e < TC_COLS * Ko16; e += blockDim.x) {
            u32 c = e % TC_COLS, o = e / TC_COLS, k = k0 + c;
            ws[c * Ko16 + o] = k < Kr && o < Ko ? W[((u64)o * Kl + i) * Kr + k] : 0.0f;
        }
        __syncthreads();
        float acc[TC_COLS / 8][4] = {};
        for (u32 o0 = 0; o0 < Ko16; o0 += TC_DEPTH)
            tc_mma_chunk<P>(rho + o0, Ko16, ws + o0, Ko16, acc);
        float ev[2] = {el[row[0] * Kl + i], el[row[1] * Kl + i]};
        float part[2] = {0.0f, 0.0f};
#pragma unroll
        for (u32 t = 0; t < TC_COLS / 8; ++t)
#pragma unroll
            for (u32 q = 0; q < 4; ++q) {
                part[q >> 1] = fmaf(acc[t][q], erv[t][q], part[q >> 1]);
                dr[t][q] = fmaf(acc[t][q], ev[q >> 1], dr[t][q]);
            }
#pragma unroll
        for (u32 h = 0; h < 2; ++h) {
            part[h] += __shfl_xor_sync(0xffffffffu, part[h], 1);
            part[h] += __shfl_xor_sync(0xffffffffu, part[h], 2);
            u32 b = b0 + row[h];
            float v = ev[h] * part[h];
            if ((lane & 3u) == 0 && b < rows && v != 0.0f) atomicAdd(GL + (u64)b * Kl + i, v);
        }
    }
    float* GR = grad + (u64)rows * koff[r];
#pragma unroll
    for (u32 t = 0; t < TC_COLS / 8; ++t)
#pragma unroll
        for (u32 q = 0; q < 4; ++q) {
            u32 b = b0 + row[q >> 1], k = k0 + 8 * t + mma_c_col(lane, q);
            float v = erv[t][q] * dr[t][q];
            if (b < rows && k < Kr && v != 0.0f) atomicAdd(GR + (u64)b * Kr + k, v);
        }
}

// einsum_grads with TF32 operands on tensor cores (einsum_grads_tc).
extern "C" __global__ void __launch_bounds__(2 * TC_ROWS) einsum_grads_tf32(EINSUM_GRADS_TC_PARAMS) {
    einsum_grads_tc<Tf32>(EINSUM_GRADS_TC_ARGS);
}

// einsum_grads with BF16 operands on tensor cores (einsum_grads_tc).
extern "C" __global__ void __launch_bounds__(2 * TC_ROWS) einsum_grads_bf16(EINSUM_GRADS_TC_PARAMS) {
    einsum_grads_tc<Bf16>(EINSUM_GRADS_TC_ARGS);
}
