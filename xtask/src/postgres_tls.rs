//! TLS material for the local PostgreSQL server, made with the openssl command: a development
//! CA, the server's certificate for 127.0.0.1 and localhost signed by it, and an unrelated CA
//! that tests use to show that a client which does not trust the server is refused. The server
//! takes TLS and plain connections alike, so clients that do not ask for TLS keep working.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PostgresTls {
    pub dir: PathBuf,
}

impl PostgresTls {
    pub fn new(server_root: &Path) -> PostgresTls {
        PostgresTls { dir: server_root.join("tls") }
    }

    pub fn certificate(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// Creates the material once; later calls keep it, so clients' trust stays valid.
    pub fn ensure(&self) -> Result<(), String> {
        let files = ["ca.pem", "other-ca.pem", "server.pem", "server.key"];
        if files.iter().all(|file| self.dir.join(file).exists()) {
            return Ok(());
        }
        fs::create_dir_all(&self.dir).map_err(|error| format!("cannot create {}: {error}", self.dir.display()))?;
        let path = |name: &str| self.dir.join(name).display().to_string();
        fs::write(
            self.dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|error| format!("cannot write the certificate's extensions: {error}"))?;
        let ca = |key: &str, pem: &str, name: &str| -> Vec<String> {
            let subject = format!("/CN={name}");
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", &subject, "-keyout", key,
                "-out", pem,
            ]
            .map(str::to_owned)
            .to_vec()
        };
        let steps: Vec<Vec<String>> = vec![
            ca(&path("ca.key"), &path("ca.pem"), "chat local PostgreSQL CA"),
            ca(&path("other-ca.key"), &path("other-ca.pem"), "untrusted CA"),
            [
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                &path("server.key"),
                "-out",
                &path("server.csr"),
            ]
            .map(str::to_owned)
            .to_vec(),
            [
                "x509",
                "-req",
                "-days",
                "3650",
                "-in",
                &path("server.csr"),
                "-CA",
                &path("ca.pem"),
                "-CAkey",
                &path("ca.key"),
                "-CAcreateserial",
                "-extfile",
                &path("server.ext"),
                "-out",
                &path("server.pem"),
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for step in steps {
            let output = Command::new("openssl").args(&step).output().map_err(|_| {
                "openssl is missing: it comes with Debian's openssl package (apt-get install openssl)".to_owned()
            })?;
            if !output.status.success() {
                return Err(format!("openssl {} failed: {}", step[0], String::from_utf8_lossy(&output.stderr)));
            }
        }
        // The server refuses a key that others can read.
        set_mode(&self.key(), 0o600)
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|error| format!("cannot set the mode of {}: {error}", path.display()))
}
