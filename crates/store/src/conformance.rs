//! The backend-agnostic conformance suite of [`crate::Store`] (cases being written).
