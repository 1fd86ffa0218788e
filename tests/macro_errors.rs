//! `#[mizan::function]` misuse: each case in `tests/ui` must fail to
//! compile with the message in its `.stderr` file. Regenerate the
//! snapshots with `TRYBUILD=overwrite cargo test --test macro_errors`.

#[test]
fn misuse_is_a_compile_error_that_says_what_to_write() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
