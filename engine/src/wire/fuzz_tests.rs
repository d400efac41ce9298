//! Robustness: random and mutated byte strings through every parser in `wire`.
