//! heatgate-engine: the minimal Heat engine behind the gateway.
//!
//! Built so far: [`crypt`], the encryption at rest of every secret the engine
//! keeps (stack domain user passwords, EC2 secrets, trust ids), with key ids so
//! `auth_encryption_key` can rotate. Stacks, stack domain users and deferred
//! auth follow (see the project's engine issue).
#![deny(unsafe_code)]

pub mod crypt;
pub mod store;
