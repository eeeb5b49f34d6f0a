//! The server's TLS (`docs/p4runtime.md`): its certificate and key, and for
//! mutual TLS the CA that must have signed every client's certificate.

use netcraq_p4runtime::tls::{load_ca, IdentityFiles};
use std::path::PathBuf;
use std::time::Duration;
use tonic::transport::ServerTlsConfig;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's TLS files (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsFiles {
    pub identity: IdentityFiles,
    /// Mutual TLS: a client must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
}

impl ServerTlsFiles {
    /// Reads and checks the files; an error names the file at fault.
    pub fn load(&self) -> Result<ServerTlsConfig, String> {
        let mut config = ServerTlsConfig::new().identity(self.identity.load()?).timeout(HANDSHAKE_TIMEOUT);
        if let Some(client_ca) = &self.client_ca {
            config = config.client_ca_root(load_ca(client_ca).map_err(|e| format!("client {e}"))?);
        }
        Ok(config)
    }
}
