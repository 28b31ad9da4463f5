//! The fleet CA: creating it, loading it, and issuing agent and server certificates.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};

/// How long a CA certificate is valid.
const CA_VALIDITY_DAYS: i64 = 3650;

/// The fleet certificate authority: its certificate and signing key.
pub struct FleetCa {
    cert_pem: String,
    key: KeyPair,
}

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM.
    pub key_pem: String,
}

/// Where a certificate and its key were written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// The certificate file.
    pub cert: PathBuf,
    /// The key file (mode 0600).
    pub key: PathBuf,
}

impl FleetCa {
    /// Creates a new CA whose subject common name is `common_name`.
    ///
    /// # Errors
    /// Fails only if key generation or signing fails.
    pub fn create(common_name: &str) -> Result<Self> {
        let key = KeyPair::generate().map_err(generate("the CA key"))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(generate("the CA certificate"))?;
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
        let cert = params.self_signed(&key).map_err(generate("the CA certificate"))?;
        Ok(Self { cert_pem: cert.pem(), key })
    }

    /// Loads a CA from its certificate and key files (as written by [`FleetCa::write`]).
    ///
    /// # Errors
    /// A file cannot be read, or does not hold a PEM certificate / key.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self> {
        let cert_pem = read(cert_path)?;
        let key_pem = read(key_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| Error::InvalidPem {
            path: key_path.to_path_buf(),
            what: "private key",
            reason: e.to_string(),
        })?;
        // Parse once now so that a broken CA file is reported here, not at first issuance.
        Issuer::from_ca_cert_pem(&cert_pem, &key).map_err(|e| Error::InvalidPem {
            path: cert_path.to_path_buf(),
            what: "CA certificate",
            reason: e.to_string(),
        })?;
        Ok(Self { cert_pem, key })
    }

    /// The CA certificate, PEM: what every agent and aggregator trusts.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Writes `ca.pem` and `ca-key.pem` (mode 0600) into `dir`, creating it.
    ///
    /// # Errors
    /// The directory or a file cannot be written.
    pub fn write(&self, dir: &Path) -> Result<CertFiles> {
        let issued = IssuedCert { cert_pem: self.cert_pem.clone(), key_pem: self.key.serialize_pem() };
        issued.write(dir, "ca")
    }

    /// Issues a client certificate for agent `agent_id`: subject common name = the agent id,
    /// extended key usage = client authentication.
    ///
    /// # Errors
    /// Key generation or signing failed.
    pub fn issue_agent(&self, agent_id: &str, validity_days: i64) -> Result<IssuedCert> {
        let params = leaf_params(agent_id, &[], validity_days, &[ExtendedKeyUsagePurpose::ClientAuth])?;
        self.sign(params)
    }

    /// Issues a server certificate named `name`, valid for `name` and every entry of
    /// `extra_names` (DNS names or IP addresses). It also allows client authentication, so
    /// that an aggregator can present it to the aggregator above it.
    ///
    /// # Errors
    /// A name is not a valid DNS name or IP address, or signing failed.
    pub fn issue_server(&self, name: &str, extra_names: &[String], validity_days: i64) -> Result<IssuedCert> {
        let mut sans = vec![name.to_string()];
        sans.extend(extra_names.iter().filter(|n| n.as_str() != name).cloned());
        let params = leaf_params(
            name,
            &sans,
            validity_days,
            &[ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth],
        )?;
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Result<IssuedCert> {
        let key = KeyPair::generate().map_err(generate("a certificate key"))?;
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key).map_err(generate("the CA issuer"))?;
        let cert = params.signed_by(&key, &issuer).map_err(generate("a certificate"))?;
        Ok(IssuedCert { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

impl IssuedCert {
    /// Writes `<stem>.pem` and `<stem>-key.pem` (mode 0600) into `dir`, creating it.
    ///
    /// # Errors
    /// The directory or a file cannot be written.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<CertFiles> {
        fs::create_dir_all(dir).map_err(|source| Error::WriteFile { path: dir.to_path_buf(), source })?;
        let files = CertFiles { cert: dir.join(format!("{stem}.pem")), key: dir.join(format!("{stem}-key.pem")) };
        write_file(&files.cert, &self.cert_pem, 0o644)?;
        write_file(&files.key, &self.key_pem, 0o600)?;
        Ok(files)
    }
}

fn leaf_params(
    common_name: &str,
    sans: &[String],
    validity_days: i64,
    usages: &[ExtendedKeyUsagePurpose],
) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(sans.to_vec()).map_err(generate("certificate names"))?;
    params.distinguished_name = name(common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = usages.to_vec();
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(validity_days);
    Ok(params)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "sysmon fleet");
    dn
}

fn generate(what: &'static str) -> impl Fn(rcgen::Error) -> Error {
    move |source| Error::Generate { what: what.to_string(), source }
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| Error::ReadFile { path: path.to_path_buf(), source })
}

fn write_file(path: &Path, contents: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let wrap = |source| Error::WriteFile { path: path.to_path_buf(), source };
    let mut file =
        fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(path).map_err(wrap)?;
    file.write_all(contents.as_bytes()).map_err(wrap)?;
    file.sync_all().map_err(wrap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer_identity;

    fn der(pem: &str) -> Vec<u8> {
        let mut reader = pem.as_bytes();
        let cert = rustls_pki_types::pem::PemObject::from_pem_reader(&mut reader);
        let cert: rustls_pki_types::CertificateDer<'static> = cert.unwrap();
        cert.to_vec()
    }

    #[test]
    fn agent_certificate_carries_the_agent_id() {
        let ca = FleetCa::create("test CA").unwrap();
        let issued = ca.issue_agent("web-01", 30).unwrap();
        assert_eq!(peer_identity(&der(&issued.cert_pem)).unwrap(), "web-01");
    }

    #[test]
    fn written_ca_loads_back_and_keeps_issuing() {
        let dir = std::env::temp_dir().join(format!("sysmon-tls-test-{}", std::process::id()));
        let ca = FleetCa::create("test CA").unwrap();
        let files = ca.write(&dir).unwrap();
        let loaded = FleetCa::load(&files.cert, &files.key).unwrap();
        assert_eq!(loaded.cert_pem(), ca.cert_pem());
        let server = loaded.issue_server("localhost", &["127.0.0.1".to_string()], 30).unwrap();
        assert_eq!(peer_identity(&der(&server.cert_pem)).unwrap(), "localhost");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(fs::metadata(&files.key).unwrap().permissions().mode() & 0o777, 0o600);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn loading_a_non_pem_key_names_the_file() {
        let dir = std::env::temp_dir().join(format!("sysmon-tls-bad-{}", std::process::id()));
        let files = FleetCa::create("x").unwrap().write(&dir).unwrap();
        fs::write(&files.key, "not a key").unwrap();
        let err = FleetCa::load(&files.cert, &files.key).err().unwrap();
        assert!(err.to_string().starts_with("private key in "), "{err}");
        assert!(err.to_string().contains("ca-key.pem"), "{err}");
        fs::remove_dir_all(dir).unwrap();
    }
}
