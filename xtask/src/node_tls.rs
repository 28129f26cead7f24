//! TLS material for the local node, made with the JDK's keytool: a development CA, the node's
//! certificate for 127.0.0.1 signed by it, and an unrelated CA that tests use to show a client
//! that does not trust the node is refused. The node accepts TLS and plain CQL on one port
//! (`client_encryption_options.optional`), so existing clients keep working.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The keystore password. This is throwaway test material, never a secret.
pub const STORE_PASSWORD: &str = "changeit";

pub struct NodeTls {
    pub dir: PathBuf,
}

impl NodeTls {
    pub fn new(node_root: &Path) -> NodeTls {
        NodeTls { dir: node_root.join("tls") }
    }

    pub fn keystore(&self) -> PathBuf {
        self.dir.join("node.p12")
    }

    /// Creates the material once; later calls keep it, so clients' trust stays valid.
    pub fn ensure(&self) -> Result<(), String> {
        if self.keystore().exists() && self.dir.join("ca.pem").exists() && self.dir.join("other-ca.pem").exists() {
            return Ok(());
        }
        fs::create_dir_all(&self.dir).map_err(|error| format!("cannot create {}: {error}", self.dir.display()))?;
        for file in ["ca.p12", "ca.pem", "other-ca.p12", "other-ca.pem", "node.p12", "node.csr", "node.pem"] {
            let _ = fs::remove_file(self.dir.join(file));
        }
        let store = |name: &str| self.dir.join(name).display().to_string();
        let steps: Vec<Vec<String>> = vec![
            keypair("ca", "CN=scylla-table dev CA", &store("ca.p12"), true),
            export("ca", &store("ca.p12"), &store("ca.pem")),
            keypair("ca", "CN=untrusted CA", &store("other-ca.p12"), true),
            export("ca", &store("other-ca.p12"), &store("other-ca.pem")),
            keypair("node", "CN=127.0.0.1", &store("node.p12"), false),
            args(&["-certreq", "-alias", "node", "-keystore", &store("node.p12"), "-file", &store("node.csr")]),
            args(&[
                "-gencert",
                "-alias",
                "ca",
                "-keystore",
                &store("ca.p12"),
                "-infile",
                &store("node.csr"),
                "-outfile",
                &store("node.pem"),
                "-rfc",
                "-validity",
                "3650",
                "-ext",
                "SAN=IP:127.0.0.1",
                "-ext",
                "EKU=serverAuth",
                "-ext",
                "KU=digitalSignature,keyEncipherment",
            ]),
            args(&[
                "-importcert",
                "-noprompt",
                "-alias",
                "ca",
                "-keystore",
                &store("node.p12"),
                "-file",
                &store("ca.pem"),
            ]),
            args(&[
                "-importcert",
                "-noprompt",
                "-alias",
                "node",
                "-keystore",
                &store("node.p12"),
                "-file",
                &store("node.pem"),
            ]),
        ];
        for step in steps {
            let output =
                Command::new("keytool").args(&step).args(["-storepass", STORE_PASSWORD]).output().map_err(|_| {
                    "keytool is missing: it comes with Java 17 (apt-get install openjdk-17-jre-headless)"
                })?;
            if !output.status.success() {
                return Err(format!(
                    "keytool {} failed: {}{}",
                    step.join(" "),
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
        Ok(())
    }
}

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn keypair(alias: &str, name: &str, store: &str, is_ca: bool) -> Vec<String> {
    let mut step = args(&[
        "-genkeypair",
        "-noprompt",
        "-alias",
        alias,
        "-keyalg",
        "RSA",
        "-keysize",
        "2048",
        "-validity",
        "3650",
        "-dname",
        name,
        "-storetype",
        "PKCS12",
        "-keystore",
        store,
    ]);
    if is_ca {
        step.extend(args(&["-ext", "bc:c"]));
    }
    step
}

fn export(alias: &str, store: &str, pem: &str) -> Vec<String> {
    args(&["-exportcert", "-rfc", "-alias", alias, "-keystore", store, "-file", pem])
}
