// Input validation on the device, so that a batch's values are checked without a pass over
// them on the host: value j of a row is valid when it is NaN (missing), or lies in
// [min[j], below[j]) and, where whole[j], is a whole number (LeafFamily::values). Any invalid
// value sets *invalid (every writer stores 1); the host then finds and names it.
extern "C" __global__ void __launch_bounds__(256) check_values(
    const float* __restrict__ x, u64 n, u32 width, const float* __restrict__ min,
    const float* __restrict__ below, const u32* __restrict__ whole, u32* __restrict__ invalid) {
    u64 idx = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n) return;
    u32 j = (u32)(idx % width);
    float v = x[idx];
    if (is_nan(v)) return;
    bool ok = v >= min[j] && v < below[j] &&
              (!whole[j] || fabsf(v) >= EINET_WHOLE_ABOVE || truncf(v) == v);
    if (!ok) *invalid = 1u;
}
