//! placeholder: filled in by the PKI work in this same change.
