//! P4Runtime over TLS on 127.0.0.1, with throwaway CAs: TLS and mutual TLS
//! serve every call, and each mismatch fails in words that say which.

mod support;

use netcraq_p4runtime_client::{ClientError, ClientTlsFiles, IdentityFiles, P4RuntimeClient};
use netcraq_p4runtime_server::ServerTlsFiles;
use std::path::{Path, PathBuf};
use support::pki::{Issued, Pki};
use support::{bounded, Fixture, CALL_TIMEOUT};

/// Two CAs, a node's certificate for 127.0.0.1 and netcraq-node, a
/// controller's from the same CA and a stranger's from the other.
struct Certificates {
    pki: Pki,
    ca: PathBuf,
    other_ca: PathBuf,
    node: Issued,
    controller: Issued,
    stranger: Issued,
}

impl Certificates {
    fn new(test: &str) -> Certificates {
        let pki = Pki::new(test);
        let ca = pki.ca("ca");
        let other = pki.ca("other-ca");
        Certificates {
            node: pki.issue(&ca, "node", &["127.0.0.1", "netcraq-node"]),
            controller: pki.issue(&ca, "controller", &["controller"]),
            stranger: pki.issue(&other, "stranger", &["stranger"]),
            ca: ca.cert,
            other_ca: other.cert,
            pki,
        }
    }

    /// A node serving TLS; `mutual`: it requires a certificate from the CA.
    fn node(&self, mutual: bool) -> Fixture {
        let files = ServerTlsFiles { identity: identity(&self.node), client_ca: mutual.then(|| self.ca.clone()) };
        Fixture::start_with(Some(files.load().expect("the node's files load")))
    }

    /// The controller's files: verifies nodes with `ca`, proves itself with `identity`.
    fn client(&self, ca: &Path, identity: Option<&Issued>) -> ClientTlsFiles {
        ClientTlsFiles { ca: ca.to_path_buf(), identity: identity.map(self::identity), server_name: None }
    }
}

fn identity(issued: &Issued) -> IdentityFiles {
    IdentityFiles { cert: issued.cert.clone(), key: issued.key.clone() }
}

async fn connect(node: &Fixture, files: &ClientTlsFiles) -> Result<P4RuntimeClient, ClientError> {
    let tls = files.load().expect("the controller's files load");
    P4RuntimeClient::connect_secured(&node.address(), 1, CALL_TIMEOUT, Some(&tls)).await
}

/// The TLS failure of connecting to `node` with `files`, as text.
async fn refusal(node: &Fixture, files: &ClientTlsFiles) -> String {
    match connect(node, files).await {
        Err(error @ ClientError::Tls { .. }) => error.to_string(),
        Err(other) => panic!("a TLS failure, not {other:?}"),
        Ok(_) => panic!("the connection should fail"),
    }
}

fn assert_says(error: &str, words: &[&str]) {
    for word in words {
        assert!(error.contains(word), "{error:?} should say {word:?}");
    }
}

#[test]
fn tls_and_mutual_tls_serve_every_call() {
    let certificates = Certificates::new("serve");
    let tls = certificates.node(false);
    let mutual = certificates.node(true);
    bounded(async {
        for (node, files) in [
            (&tls, certificates.client(&certificates.ca, None)),
            (&mutual, certificates.client(&certificates.ca, Some(&certificates.controller))),
            (
                &tls,
                ClientTlsFiles {
                    server_name: Some("netcraq-node".into()),
                    ..certificates.client(&certificates.ca, None)
                },
            ),
        ] {
            let mut client = connect(node, &files).await.expect("connects over TLS");
            client.become_primary(5).await.expect("becomes primary over TLS");
            assert_eq!(&client.get_p4info().await.expect("reads the P4Info"), node.index.p4info());
        }
    });
}

#[test]
fn a_node_certificate_from_another_ca_or_for_another_name_is_refused_in_words() {
    let certificates = Certificates::new("server-mismatch");
    let node = certificates.node(false);
    bounded(async {
        let other_ca = refusal(&node, &certificates.client(&certificates.other_ca, None)).await;
        let other_ca_path = certificates.other_ca.display().to_string();
        assert_says(&other_ca, &[&node.address(), "not signed by the CA in", &other_ca_path]);
        let renamed =
            ClientTlsFiles { server_name: Some("n9.example".into()), ..certificates.client(&certificates.ca, None) };
        let other_name = refusal(&node, &renamed).await;
        assert_says(
            &other_name,
            &[&node.address(), "not valid for the name \"n9.example\"", "holds 127.0.0.1, netcraq-node"],
        );
    });
}

#[test]
fn a_mutual_tls_node_refuses_a_controller_without_a_certificate_or_with_a_strangers() {
    let certificates = Certificates::new("client-mismatch");
    let node = certificates.node(true);
    bounded(async {
        let anonymous = refusal(&node, &certificates.client(&certificates.ca, None)).await;
        assert_says(&anonymous, &[&node.address(), "requires a client certificate (mutual TLS)"]);
        let stranger = refusal(&node, &certificates.client(&certificates.ca, Some(&certificates.stranger))).await;
        let stranger_path = certificates.stranger.cert.display().to_string();
        assert_says(
            &stranger,
            &[
                &node.address(),
                "refused this controller's certificate",
                &stranger_path,
                "not signed by the CA the node trusts",
            ],
        );
    });
}

#[test]
fn plaintext_and_tls_do_not_mix_and_say_so() {
    let certificates = Certificates::new("mix");
    let tls = certificates.node(false);
    let plain = Fixture::start();
    bounded(async {
        let tls_to_plain = refusal(&plain, &certificates.client(&certificates.ca, None)).await;
        assert_says(&tls_to_plain, &[&plain.address(), "does not answer in TLS"]);
        // Connecting is lazy in plaintext: the first call fails.
        let mut client = P4RuntimeClient::connect(&tls.address(), 1, CALL_TIMEOUT).await.expect("a lazy connection");
        let plain_to_tls = client.get_p4info().await.expect_err("a TLS node ignores plaintext").to_string();
        assert_says(&plain_to_tls, &[&tls.address(), "serve TLS", "--tls-ca"]);
    });
}

#[test]
fn wrong_files_are_named_and_said_wrong() {
    let certificates = Certificates::new("files");
    let missing = certificates.pki.dir().join("missing.pem");
    let garbage = certificates.pki.write("garbage.pem", "not a certificate\n");
    let node = &certificates.node;
    let server = |cert: &Path, key: &Path| {
        let files = ServerTlsFiles { identity: IdentityFiles { cert: cert.into(), key: key.into() }, client_ca: None };
        files.load().expect_err("refused")
    };
    let shown = |path: &Path| path.display().to_string();
    assert_says(&server(&missing, &node.key), &[&format!("certificate {}: cannot read it", shown(&missing))]);
    assert_says(
        &server(&node.key, &node.key),
        &[&format!("certificate {}: holds a private key, not a certificate", shown(&node.key))],
    );
    assert_says(
        &server(&node.cert, &node.cert),
        &[&format!("private key {}: holds a certificate, not a private key", shown(&node.cert))],
    );
    assert_says(&server(&garbage, &node.key), &[&format!("certificate {}: holds no certificate", shown(&garbage))]);
    assert_says(&server(&node.cert, &garbage), &[&format!("private key {}: holds no private key", shown(&garbage))]);
    let mismatch = server(&node.cert, &certificates.controller.key);
    assert_says(
        &mismatch,
        &[&format!(
            "private key {} does not belong to certificate {}",
            shown(&certificates.controller.key),
            shown(&node.cert)
        )],
    );
    let client_ca =
        ServerTlsFiles { identity: identity(node), client_ca: Some(node.key.clone()) }.load().expect_err("refused");
    assert_says(&client_ca, &[&format!("client CA certificate {}: holds a private key", shown(&node.key))]);
    let ca = certificates.client(&garbage, None).load().expect_err("refused");
    assert_says(&ca, &[&format!("CA certificate {}: holds no certificate", shown(&garbage))]);
    let bad_name =
        ClientTlsFiles { server_name: Some("no such name!".into()), ..certificates.client(&certificates.ca, None) };
    assert_says(
        &bad_name.load().expect_err("refused"),
        &["TLS server name \"no such name!\": neither a DNS name nor an IP address"],
    );
}
