//! The client's TLS (`docs/p4runtime.md`): the files it verifies servers
//! with and proves itself with, and what a failed handshake means, in words.

use netcraq_p4runtime::tls::{load_ca, IdentityFiles};
use rustls::pki_types::ServerName;
use rustls::CertificateError;
use std::error::Error;
use std::path::PathBuf;
use tonic::transport::ClientTlsConfig;

/// How a client reaches servers that serve TLS: PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTlsFiles {
    /// The CA that must have signed every server's certificate.
    pub ca: PathBuf,
    /// This client's certificate and key, for servers that require mutual TLS.
    pub identity: Option<IdentityFiles>,
    /// The name a server's certificate must hold; default: the host of its address.
    pub server_name: Option<String>,
}

impl ClientTlsFiles {
    /// Reads and checks the files; an error names the file at fault.
    pub fn load(&self) -> Result<ClientTls, String> {
        let mut config = ClientTlsConfig::new().ca_certificate(load_ca(&self.ca)?);
        if let Some(identity) = &self.identity {
            config = config.identity(identity.load()?);
        }
        if let Some(name) = &self.server_name {
            ServerName::try_from(name.as_str())
                .map_err(|_| format!("TLS server name {name:?}: neither a DNS name nor an IP address"))?;
            config = config.domain_name(name.clone());
        }
        Ok(ClientTls { config, files: self.clone() })
    }
}

/// [`ClientTlsFiles`], read and checked.
#[derive(Debug, Clone)]
pub struct ClientTls {
    pub(crate) config: ClientTlsConfig,
    pub(crate) files: ClientTlsFiles,
}

/// What a failed connection or call means, when TLS is why: `tls` is the
/// client's (`None`: it spoke plaintext).
pub(crate) fn tls_failure(error: &(dyn Error + 'static), tls: Option<&ClientTls>) -> Option<String> {
    let Some(tls) = tls else {
        return answered_in_tls(error).then(|| {
            "the node answered with no HTTP/2 (a TLS alert, by the look of it): does it serve TLS \
             (--p4runtime-tls-cert)? Then give this controller the CA that signed its certificate ([tls] ca in \
             the deployment file, or --tls-ca)"
                .to_string()
        });
    };
    let files = &tls.files;
    let described = match rustls_error(error) {
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => format!(
            "the node's certificate is not signed by the CA in {} (or the node does not send the intermediate \
             CAs' certificates after its own): give the CA that signed it",
            files.ca.display()
        ),
        Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { expected, presented })) => {
            let presented: Vec<&str> = presented.iter().map(|name| bare_name(name)).collect();
            format!(
                "the node's certificate is not valid for the name {:?} (it holds {}): connect by a name it holds, \
                 or set that name as the TLS server name ([tls] server_name, --tls-server-name)",
                expected.to_str(),
                if presented.is_empty() { "no names".to_string() } else { presented.join(", ") }
            )
        }
        Some(rustls::Error::InvalidCertificate(problem)) => format!("the node's certificate is refused: {problem}"),
        Some(rustls::Error::InvalidMessage(_)) => "the node does not answer in TLS: does it serve plaintext (no \
             --p4runtime-tls-cert)? Then remove this controller's TLS settings, or give the node its certificate"
            .to_string(),
        Some(rustls::Error::AlertReceived(alert)) => refused_by_node(Some(&format!("{alert:?}")), files),
        Some(other) => format!("the handshake failed: {other}"),
        // Past the handshake, an alert arrives as text only.
        None => refused_by_node(Some(&alert_received(error)?), files),
    };
    Some(described)
}

/// Why a server that completed the handshake refused this client: its
/// `alert`, if it arrived (the connection may break before it is read).
pub(crate) fn refused_by_node(alert: Option<&str>, files: &ClientTlsFiles) -> String {
    match (&files.identity, alert) {
        (None, None | Some("CertificateRequired")) => "the node closed the connection after the handshake: it \
             requires a client certificate (mutual TLS), and this controller has none: give it a certificate and \
             key signed by the node's client CA ([tls] cert and key, --tls-cert and --tls-key)"
            .to_string(),
        (Some(identity), None | Some("UnknownCA")) => format!(
            "the node refused this controller's certificate {}: it is not signed by the CA the node trusts for \
             clients (--p4runtime-tls-client-ca)",
            identity.cert.display()
        ),
        (_, Some(alert)) => format!("the node refused the handshake ({alert})"),
    }
}

/// The alert in `error`'s chain, as rustls writes it.
fn alert_received(error: &(dyn Error + 'static)) -> Option<String> {
    const RECEIVED: &str = "received fatal alert: ";
    let text = causes(error).map(|cause| cause.to_string()).find(|text| text.contains(RECEIVED))?;
    let alert = text.split(RECEIVED).nth(1)?;
    Some(alert.chars().take_while(|c| c.is_ascii_alphanumeric()).collect())
}

/// `IpAddress(127.0.0.1)` and `DnsName("node")` as rustls lists them: the names alone.
fn bare_name(listed: &str) -> &str {
    let inner = listed.split_once('(').and_then(|(_, rest)| rest.strip_suffix(')')).unwrap_or(listed);
    inner.trim_matches('"')
}

/// Whether a plaintext client read a TLS alert as HTTP/2: a frame too
/// large to be one.
fn answered_in_tls(error: &(dyn Error + 'static)) -> bool {
    causes(error).any(|cause| {
        cause.downcast_ref::<h2::Error>().is_some_and(|h2| h2.reason() == Some(h2::Reason::FRAME_SIZE_ERROR))
    })
}

/// The rustls error in `error`'s chain, if it is still there.
fn rustls_error<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    causes(error).find_map(|cause| cause.downcast_ref::<rustls::Error>())
}

/// `error` and its causes, looking into io::Errors (whose source() skips
/// the error they wrap).
fn causes<'a>(error: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(error), |&current: &&'a (dyn Error + 'static)| {
        match current.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|wrapped| wrapped as &(dyn Error + 'static)),
            None => current.source(),
        }
    })
}
