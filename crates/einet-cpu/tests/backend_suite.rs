//! The backend-generic suite, run on the CPU backend.

einet_testsuite::backend_testsuite!(Some(einet_cpu::CpuBackend));
