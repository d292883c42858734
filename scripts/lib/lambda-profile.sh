# The release profile Lambda binaries are built with (sourced by scripts/build-lambdas.sh and
# scripts/lambda-bench.sh, so the benchmark measures what ships). Environment overrides keep the
# CLI's own release profile untouched.
#
# Built for size (issue target: at most 15 MB each, arm64, stripped): stripped, no line tables,
# opt-level z, fat LTO in one codegen unit, panic=abort (no unwinding tables or landing pads; a
# panic still prints its message to the log, then Lambda reports the invocation as failed and the
# SQS message is retried, as with any other error). Measured on arm64 (2026-11-27), the report
# function (the largest): 23 MB at the plain release profile, 17.5 MB with opt-level s and thin
# LTO, 16.8 MB with fat LTO, 14.8 MB with all of the above.
export CARGO_PROFILE_RELEASE_STRIP=symbols CARGO_PROFILE_RELEASE_DEBUG=false
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_LTO=fat
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_PANIC=abort
