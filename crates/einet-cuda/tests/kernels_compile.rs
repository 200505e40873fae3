//! Every kernel compiles with NVRTC to PTX (compute_90) and SASS (sm_90), cleanly and without
//! register spills; prints each kernel's registers and spills. Needs NVRTC, not a GPU: without
//! it the test prints SKIP, unless `EINET_REQUIRE_NVRTC=1` is set (CI), which makes it fail.

use einet_cuda::kernels::{Kernel, compile_all_for, nvrtc_available};

#[test]
fn every_kernel_compiles_for_sm_90_without_spills() {
    let required = std::env::var("EINET_REQUIRE_NVRTC").is_ok_and(|v| v == "1");
    if let Err(e) = nvrtc_available() {
        assert!(
            !required,
            "EINET_REQUIRE_NVRTC=1 but NVRTC is unavailable: {e}"
        );
        println!("SKIP every_kernel_compiles_for_sm_90_without_spills: {e}");
        return;
    }
    let reports = compile_all_for("sm_90").unwrap_or_else(|e| panic!("{e}"));
    for r in &reports {
        println!("{r}");
    }
    for k in Kernel::ALL {
        assert!(
            reports.iter().any(|r| r.kernel == k.name()),
            "no report for {}",
            k.name()
        );
    }
    let spilling: Vec<_> = reports
        .iter()
        .filter(|r| r.spill_stores > 0 || r.spill_loads > 0)
        .map(|r| r.kernel.clone())
        .collect();
    assert!(
        spilling.is_empty(),
        "kernels with register spills: {spilling:?}"
    );
}
