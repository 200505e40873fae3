//! # einet-testsuite
//!
//! The tests every backend must pass, written once against the [`Backend`](einet_core::Backend) trait. A backend
//! crate instantiates them with [`backend_testsuite!`]; each check compares the backend with
//! exact facts (normalisation by enumeration, explicit marginal sums, finite differences,
//! brute-force MPE) and with [`reference`](mod@reference), a naive f64 evaluator independent of any backend.
//!
//! A backend crate's `tests/backend_suite.rs` is one line; the argument is an
//! `Option<impl Backend>` (`None` prints `SKIP` for every check):
//!
//! ```
//! einet_testsuite::backend_testsuite!(Some(einet_cpu::CpuBackend));
//! # fn main() {}
//! ```
//!
//! [`fuzz`] holds the structured byte mutations that the file readers' fuzz tests share.

pub mod checks;
pub mod fuzz;
pub mod models;
pub mod reference;

/// Generates one `#[test]` per check of [`checks`] for the backend expression `$backend`
/// (evaluated as `Option<B>`-returning `$make()`: `None` means the backend is unavailable and
/// the test prints `SKIP` and passes).
#[macro_export]
macro_rules! backend_testsuite {
    ($make:expr) => {
        $crate::backend_testsuite!(@tests $make;
            normalises_by_enumeration,
            normalises_twelve_binary_variables,
            matches_the_reference_evaluator,
            marginalising_everything_gives_zero,
            marginals_equal_explicit_sums,
            conditionals_equal_ratios,
            expected_counts_equal_finite_differences,
            leaf_responsibilities_sum_to_one,
            full_batch_em_never_decreases_the_likelihood,
            stepwise_em_learns,
            statistics_rule_is_em_on_running_statistics,
            em_state_restores_stepwise_em_exactly,
            regularised_m_step_matches_the_host_and_its_bounds,
            samples_match_exact_probabilities,
            class_samples_match_class_probabilities,
            conditional_samples_keep_evidence_and_match_conditionals,
            sampling_is_reproducible_and_split_independent,
            max_product_mpe_is_the_brute_force_argmax,
            approximate_mpe_is_exact_without_latent_choices,
            mpe_backtracks_like_the_reference,
            normal_model_integrates_to_one,
            impossible_inputs_give_minus_infinity_not_nan,
            outputs_far_below_their_inputs_keep_exact_counts,
            batch_size_one_matches_batches,
            bad_input_is_an_error,
            invalid_values_are_named_and_change_nothing,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                match $make {
                    Some(backend) => $crate::checks::$name(&backend),
                    None => println!("SKIP {}: backend unavailable", stringify!($name)),
                }
            }
        )*
    };
}
