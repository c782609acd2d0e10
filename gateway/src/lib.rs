//! heatgate: OpenStack Heat's authentication and authorization model as a
//! gateway, a reverse proxy and an auditor CLI. The binary is a thin shell over
//! this library, so tests and benches can build the same stacks in-process.
#![deny(unsafe_code)]

pub mod compose;
pub mod config;
pub mod demo;
pub mod engine_cmd;
pub mod heat_conf;
pub mod listen;
pub mod observability;
pub mod policy_cmd;
pub mod proxy;
pub mod serve;
pub mod server;
pub mod tls;
pub mod upstream;
