//! TLS: a dev CA and a localhost certificate made on first start, or the admin's own files.
//!
//! The dev CA lets clients verify the server instead of turning verification off: point
//! `IDM_CA` (the CLI) or a client's trust store at `<data>/tls/ca.pem`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use chrono::{Datelike, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {message}")]
    Pem { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes a file readable by the owner only, from its creation on.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Makes `<data>/tls/{ca.pem,ca.key,cert.pem,key.pem}` when they are missing.
pub fn ensure_dev_certs(dir: &Path, origin_host: Option<&str>) -> Result<(), TlsError> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(io(dir))?;
    let now = Utc::now();
    // Dates from chrono are always valid calendar dates, which is all date_time_ymd asks.
    let ymd =
        |d: chrono::DateTime<Utc>| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "idm development CA");
    dn.push(DnType::OrganizationName, "idm");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = ymd(now - Duration::days(1));
    ca.not_after = ymd(now + Duration::days(3650));
    let ca_cert = ca.self_signed(&ca_key)?;

    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    // The machine's own name too: some clients (OpenLDAP's libldap) canonicalise "localhost"
    // to it before checking the certificate.
    let machine = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        });
    for h in [origin_host.map(str::to_owned), machine]
        .into_iter()
        .flatten()
    {
        if !names.contains(&h) {
            names.push(h);
        }
    }
    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(names)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, origin_host.unwrap_or("localhost"));
    leaf.distinguished_name = dn;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Lets clients that build chains by key identifier (not only by name) find the issuer.
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = ymd(now - Duration::days(1));
    leaf.not_after = ymd(now + Duration::days(397));
    let issuer = Issuer::new(ca, &ca_key);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

    write_private(&dir.join("ca.key"), ca_key.serialize_pem().as_bytes())?;
    let ca_pem = dir.join("ca.pem");
    fs::write(&ca_pem, ca_cert.pem()).map_err(io(&ca_pem))?;
    write_private(&key, leaf_key.serialize_pem().as_bytes())?;
    // The chain: leaf then CA, so clients that only know the CA can build the path.
    write_private(
        &cert,
        format!("{}{}", leaf_cert.pem(), ca_cert.pem()).as_bytes(),
    )?;
    Ok(())
}

pub fn server_config(cfg: &Config) -> Result<Arc<ServerConfig>, TlsError> {
    let (cert, key) = match (&cfg.https.cert, &cfg.https.key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => {
            let dir = cfg.tls_dir();
            ensure_dev_certs(&dir, cfg.origin_host())?;
            (dir.join("cert.pem"), dir.join("key.pem"))
        }
    };
    let pem_err = |p: &Path| {
        let path = p.display().to_string();
        move |e: rustls::pki_types::pem::Error| TlsError::Pem {
            path,
            message: e.to_string(),
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .map_err(pem_err(&cert))?
        .collect::<Result<_, _>>()
        .map_err(pem_err(&cert))?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: cert.display().to_string(),
            message: "no certificate found".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(&key).map_err(pem_err(&key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut sc = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    sc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(sc))
}
