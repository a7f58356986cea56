//! The os-collect-config cache directory (spec os-config-tools §1.5).
