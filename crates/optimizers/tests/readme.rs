//! The README's burn example is examples/readme_burn.rs, which the test suite compiles with the
//! `burn` feature: the block a reader copies into a new crate is code that builds.

/// The ```` ```rust,ignore ```` block of the README, the only one the README's doctests skip.
fn readme_burn_block() -> String {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("```rust,ignore\n")
        .expect("the README has its burn block")
        + "```rust,ignore\n".len();
    let len = readme[start..].find("\n```\n").expect("the block ends") + 1;
    readme[start..start + len].to_owned()
}

#[test]
fn the_readme_burn_block_is_the_compiled_example() {
    let example = include_str!("../examples/readme_burn.rs");
    assert_eq!(
        readme_burn_block(),
        example,
        "README.md's burn block and crates/optimizers/examples/readme_burn.rs differ: change both"
    );
}
