//! Tests of the spec module as a whole: loading YAML and JSON, errors with
//! their key paths and lines, a realistic multi-VM file, and robustness
//! against arbitrary input.

mod errors;
mod fuzz;
mod loading;
mod realistic;

use std::path::Path;

use super::{EnvSpec, SpecError, load_str_with};

/// The variables the tests see besides `$LAGO_INITFILE_PATH`.
fn test_vars(name: &str) -> Option<String> {
    match name {
        "SUITE" => Some("basic-suite".to_owned()),
        _ => None,
    }
}

/// Loads `text` as if read from `/suite/init.yaml`.
fn load(text: &str) -> EnvSpec {
    match load_str_with(text, Path::new("/suite/init.yaml"), &test_vars) {
        Ok(env) => env,
        Err(err) => panic!("unexpected error: {err}"),
    }
}

/// Loads `text` as if read from `file` and expects an error.
fn load_err_as(file: &str, text: &str) -> SpecError {
    match load_str_with(text, Path::new(file), &test_vars) {
        Ok(env) => panic!("expected an error, got {env:#?}"),
        Err(err) => err,
    }
}

/// Loads `text` as if read from `init.yaml` and expects an error.
fn load_err(text: &str) -> SpecError {
    load_err_as("init.yaml", text)
}
