//! Auditor tools (filled in below).
