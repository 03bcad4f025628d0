//! The cilium backend (being written).

use super::{Input, Output};

/// Compile the plans for this backend.
pub fn compile(_input: &Input<'_>) -> Output {
    Output::default()
}
