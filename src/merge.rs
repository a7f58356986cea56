//! Deployment explosion (spec os-config-tools §1.11).
