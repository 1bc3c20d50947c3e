//! `machinist print-config-example` and `machinist print-unit`: the files
//! the repository ships in config/, built into the binary, so that a user
//! who installed with `cargo install` (which copies only the binary) can
//! still get them.

/// config/machinist.example.toml, as in the repository.
pub const CONFIG_EXAMPLE: &str = include_str!("../../config/machinist.example.toml");

/// config/machinist.service, the systemd unit, as in the repository.
pub const UNIT: &str = include_str!("../../config/machinist.service");
