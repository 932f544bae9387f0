//! The idm server: configuration, TLS, the HTTPS admin API over the store, the admin socket and
//! the offline subcommands. Protocol crates stay sans-IO; this crate owns sockets, the clock and
//! randomness, and wires them to the engines.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod config;
pub mod error;
pub mod hashpool;
pub mod http;
pub mod ldap;
pub mod login;
pub mod mfa;
pub mod oidc;
pub mod ops;
pub mod proxy_protocol;
pub mod ratelimit;
pub mod rng;
pub mod serve;
pub mod state;
pub mod tls;
pub mod ui;
