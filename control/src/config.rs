//! Configuration (DESIGN.md §5): one [`Config`] with documented defaults, overlaid by a TOML file
//! (`--config`), then `SLUICE_*` environment variables, then command-line flags.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use serde::Deserialize;
use sluice_engine::io::IoKind;

/// Every setting of `sluice serve`.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Control API and demo page (default `127.0.0.1:3000`).
    pub http: SocketAddr,
    /// WebRTC UDP listen address (default `127.0.0.1`).
    pub media_ip: IpAddr,
    /// WebRTC UDP port shared by every worker with `SO_REUSEPORT` (default 40000).
    pub media_port: u16,
    /// Address put in ICE candidates and transport tuples instead of the listen address.
    pub announced_ip: Option<IpAddr>,
    /// Ports of plain and pipe transports (default 40100-49999).
    pub rtc_ports: PortRange,
    /// Number of pinned worker threads (default: one per available core).
    pub workers: usize,
    /// Pin worker `i` to core `i` (default true). Off lets the scheduler place workers, which
    /// can be cheaper when another busy process sits on the pinned cores (docs/OPERATIONS.md).
    pub pin_workers: bool,
    /// I/O backend (default `auto`).
    pub io: IoKind,
    /// Bearer token required by the control API; mandatory on a non-loopback address.
    pub token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: SocketAddr::from((Ipv4Addr::LOCALHOST, 3000)),
            media_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            media_port: 40000,
            announced_ip: None,
            rtc_ports: PortRange {
                lo: 40100,
                hi: 49999,
            },
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            pin_workers: true,
            io: IoKind::Auto,
            token: None,
        }
    }
}

/// An inclusive port range written `LO-HI`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (lo, hi) = s
            .split_once('-')
            .ok_or_else(|| format!("'{s}' is not a range LO-HI"))?;
        let lo: u16 = lo
            .trim()
            .parse()
            .map_err(|_| format!("'{lo}' is not a port"))?;
        let hi: u16 = hi
            .trim()
            .parse()
            .map_err(|_| format!("'{hi}' is not a port"))?;
        if lo == 0 || lo > hi {
            return Err(format!("'{s}': need 1 <= LO <= HI <= 65535"));
        }
        Ok(Self { lo, hi })
    }
}

/// Parses `auto|uring|mmsg`.
pub fn parse_io(s: &str) -> Result<IoKind, String> {
    match s {
        "auto" => Ok(IoKind::Auto),
        "uring" => Ok(IoKind::Uring),
        "mmsg" => Ok(IoKind::Mmsg),
        other => Err(format!("'{other}' is not one of auto, uring, mmsg")),
    }
}

/// The name of an I/O backend as the CLI and API spell it.
pub fn io_name(k: IoKind) -> &'static str {
    match k {
        IoKind::Auto => "auto",
        IoKind::Uring => "uring",
        IoKind::Mmsg => "mmsg",
    }
}

/// Flags of `sluice serve`; each also reads the environment variable of the same meaning.
#[derive(Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (keys as the flags, with `_` for `-`).
    #[arg(long, env = "SLUICE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Control API and demo page address.
    #[arg(long, env = "SLUICE_HTTP")]
    pub http: Option<SocketAddr>,
    /// WebRTC UDP listen IP.
    #[arg(long, env = "SLUICE_MEDIA_IP")]
    pub media_ip: Option<IpAddr>,
    /// WebRTC UDP port (shared by all workers).
    #[arg(long, env = "SLUICE_MEDIA_PORT")]
    pub media_port: Option<u16>,
    /// IP announced in ICE candidates and tuples.
    #[arg(long, env = "SLUICE_ANNOUNCED_IP")]
    pub announced_ip: Option<IpAddr>,
    /// Port range LO-HI for plain and pipe transports.
    #[arg(long, env = "SLUICE_RTC_PORTS")]
    pub rtc_ports: Option<PortRange>,
    /// Number of pinned worker threads.
    #[arg(long, env = "SLUICE_WORKERS")]
    pub workers: Option<usize>,
    /// Pin each worker to its own core: true or false.
    #[arg(long, env = "SLUICE_PIN_WORKERS")]
    pub pin_workers: Option<bool>,
    /// I/O backend: auto, uring or mmsg.
    #[arg(long, env = "SLUICE_IO", value_parser = parse_io)]
    pub io: Option<IoKind>,
    /// Bearer token for the control API.
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// The TOML file's shape: every key optional.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    http: Option<SocketAddr>,
    media_ip: Option<IpAddr>,
    media_port: Option<u16>,
    announced_ip: Option<IpAddr>,
    rtc_ports: Option<String>,
    workers: Option<usize>,
    pin_workers: Option<bool>,
    io: Option<String>,
    token: Option<String>,
}

impl Config {
    /// Defaults, then the file named by `--config`/`SLUICE_CONFIG`, then environment and flags
    /// (clap has already let a flag win over its environment variable). Validates the result.
    pub fn load(args: &ServeArgs) -> Result<Self, String> {
        let mut c = Config::default();
        if let Some(path) = &args.config {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            c.apply_toml(&text)
                .map_err(|e| format!("config file {}: {e}", path.display()))?;
        }
        if let Some(v) = args.http {
            c.http = v;
        }
        if let Some(v) = args.media_ip {
            c.media_ip = v;
        }
        if let Some(v) = args.media_port {
            c.media_port = v;
        }
        if let Some(v) = args.announced_ip {
            c.announced_ip = Some(v);
        }
        if let Some(v) = args.rtc_ports {
            c.rtc_ports = v;
        }
        if let Some(v) = args.workers {
            c.workers = v;
        }
        if let Some(v) = args.pin_workers {
            c.pin_workers = v;
        }
        if let Some(v) = args.io {
            c.io = v;
        }
        if let Some(v) = &args.token {
            c.token = Some(v.clone());
        }
        c.validate()?;
        Ok(c)
    }

    fn apply_toml(&mut self, text: &str) -> Result<(), String> {
        let f: FileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(v) = f.http {
            self.http = v;
        }
        if let Some(v) = f.media_ip {
            self.media_ip = v;
        }
        if let Some(v) = f.media_port {
            self.media_port = v;
        }
        if let Some(v) = f.announced_ip {
            self.announced_ip = Some(v);
        }
        if let Some(v) = f.rtc_ports {
            self.rtc_ports = v.parse().map_err(|e| format!("rtc_ports: {e}"))?;
        }
        if let Some(v) = f.workers {
            self.workers = v;
        }
        if let Some(v) = f.pin_workers {
            self.pin_workers = v;
        }
        if let Some(v) = f.io {
            self.io = parse_io(&v).map_err(|e| format!("io: {e}"))?;
        }
        if let Some(v) = f.token {
            self.token = Some(v);
        }
        Ok(())
    }

    /// Refuses settings that cannot work or would be unsafe.
    pub fn validate(&self) -> Result<(), String> {
        if self.workers == 0 {
            return Err("workers must be at least 1".into());
        }
        if self.workers > 64 {
            return Err("workers must be at most 64".into());
        }
        if let Some(t) = &self.token
            && t.is_empty()
        {
            return Err("token must not be empty".into());
        }
        if !self.http.ip().is_loopback() && self.token.is_none() {
            return Err(format!(
                "the control API on non-loopback address {} needs a bearer token: set --token or SLUICE_TOKEN",
                self.http
            ));
        }
        if self.media_ip.is_unspecified() && self.announced_ip.is_none() {
            return Err("media IP 0.0.0.0/:: needs --announced-ip: clients cannot reach an unspecified address".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> ServeArgs {
        Cli::try_parse_from(std::iter::once("sluice").chain(args.iter().copied()))
            .unwrap()
            .serve
    }

    #[test]
    fn defaults_match_design() {
        let c = Config::load(&ServeArgs::default()).unwrap();
        assert_eq!(c.http, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(c.media_ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(c.media_port, 40000);
        assert_eq!(
            c.rtc_ports,
            PortRange {
                lo: 40100,
                hi: 49999
            }
        );
        assert_eq!(c.io, IoKind::Auto);
        assert!(c.workers >= 1);
        assert!(c.pin_workers, "workers are pinned by default (DESIGN §2)");
        assert!(c.token.is_none());
    }

    #[test]
    fn flags_override_file() {
        let dir = std::env::temp_dir().join(format!("sluice-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "media_port = 41000\nworkers = 3\nrtc_ports = \"50000-50010\"\nio = \"mmsg\"\npin_workers = false\n",
        )
        .unwrap();
        let args = parse(&["--config", path.to_str().unwrap(), "--workers", "2"]);
        let c = Config::load(&args).unwrap();
        assert!(!c.pin_workers, "file turns pinning off");
        let on = parse(&["--config", path.to_str().unwrap(), "--pin-workers", "true"]);
        assert!(
            Config::load(&on).unwrap().pin_workers,
            "flag overrides file"
        );
        assert_eq!(c.media_port, 41000, "file overrides default");
        assert_eq!(c.workers, 2, "flag overrides file");
        assert_eq!(
            c.rtc_ports,
            PortRange {
                lo: 50000,
                hi: 50010
            }
        );
        assert_eq!(c.io, IoKind::Mmsg);
    }

    #[test]
    fn bad_file_is_an_error_naming_the_key() {
        let mut c = Config::default();
        let e = c.apply_toml("rtc_ports = \"9-1\"").unwrap_err();
        assert!(e.contains("rtc_ports"), "{e}");
        let e = c.apply_toml("no_such_key = 1").unwrap_err();
        assert!(e.contains("no_such_key"), "{e}");
    }

    #[test]
    fn non_loopback_control_needs_token() {
        let e = Config::load(&parse(&["--http", "0.0.0.0:3000"])).unwrap_err();
        assert!(e.contains("token"), "{e}");
        assert!(Config::load(&parse(&["--http", "0.0.0.0:3000", "--token", "s3cret"])).is_ok());
    }

    #[test]
    fn rejects_bad_values() {
        assert!("100-1".parse::<PortRange>().is_err());
        assert!("0-10".parse::<PortRange>().is_err());
        assert!("x".parse::<PortRange>().is_err());
        assert!(parse_io("epoll").is_err());
        assert!(Config::load(&parse(&["--workers", "0"])).is_err());
    }
}
