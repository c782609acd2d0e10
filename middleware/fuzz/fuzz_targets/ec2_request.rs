//! The EC2 request parsers on arbitrary bytes: see
//! `heatgate_middleware::ec2token::fuzz` for what is checked and the input
//! layout. Seeds: `corpus/ec2_request/` (from `seeds.py`); a campaign:
//! `scripts/fuzz`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| heatgate_middleware::ec2token::fuzz::ec2_request(data));
