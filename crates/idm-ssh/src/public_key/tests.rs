#![allow(
    clippy::indexing_slicing,
    reason = "tests index fixtures they just built"
)]

use super::*;
use proptest::prelude::*;

/// A key line made by `ssh-keygen` on the development machine, with what `ssh-keygen -lf`
/// printed for it. The sk keys were assembled by hand from the ed25519 and nistp256 keys
/// below (there is no FIDO token on the machine) and fingerprinted by `ssh-keygen -lf` too.
struct Fixture {
    line: &'static str,
    algorithm: &'static str,
    bits: u32,
    fingerprint: &'static str,
    comment: &'static str,
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG6sOxC1o9KEq6+RNPV3kkhj4d7PWE6Ff1LFR5BBtQGU ed25519@idm.test",
        algorithm: "ssh-ed25519",
        bits: 256,
        fingerprint: "SHA256:PhzmNgxY6tYk0dHBrzi/whD1sVgKkqLa5ukn+MPp8KA",
        comment: "ed25519@idm.test",
    },
    Fixture {
        line: "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLwJii/2sXWoJlWkJ/FrNmNeMvrDLSa4u1ywD/awqkpfsc7xf/XoRk6CmZuzKfsNpL8myG7C8KGaOhpjAk1Wyss= ecdsa256@idm.test",
        algorithm: "ecdsa-sha2-nistp256",
        bits: 256,
        fingerprint: "SHA256:7NPsWW+erqjqZw1R17CymUumv+gJR1Rjb7x5V84EP/E",
        comment: "ecdsa256@idm.test",
    },
    Fixture {
        line: "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBFqVLHs7cG4kx6xYuwY9bXN5I9J3ZtAOJM4CYJ86lgeYCUFltcxT9mOXyD6rgJ4UJ/jK8gcctbOEvk3B9Xm84nTiHTgpyHmC2cbCQtQQs3foqpRQs5lF5pLw4t4MOzPx/g== ecdsa384@idm.test",
        algorithm: "ecdsa-sha2-nistp384",
        bits: 384,
        fingerprint: "SHA256:xyZYXMx2+wnaMLhkpS6dKJY/ZA9UU6v2HGLkbs/B8wY",
        comment: "ecdsa384@idm.test",
    },
    Fixture {
        line: "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBABYOFSgbqfFneSE1/YoSnsoQfZabRSbZSTnZysxABGvK0NuYH20Rdn2jdPbBfSh0cZeQGO41iW6NdLtRMV5dc4P3AHs3bG/fsnJVvUFRgw+1079mDwpAckDmCJFyQQOlcSkhX+RHDYL3SY6kgk3I2AzeUVVm6oDfjE+/FeMlHaaICrvKw== ecdsa521@idm.test",
        algorithm: "ecdsa-sha2-nistp521",
        bits: 521,
        fingerprint: "SHA256:JeeCEprKf2ZDhs1jpa/tD0qyWxaIaYp7gY2/S9Pp6hU",
        comment: "ecdsa521@idm.test",
    },
    Fixture {
        line: "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIG6sOxC1o9KEq6+RNPV3kkhj4d7PWE6Ff1LFR5BBtQGUAAAABHNzaDo= sked@idm.test",
        algorithm: "sk-ssh-ed25519@openssh.com",
        bits: 256,
        fingerprint: "SHA256:J325NpT9lfZ4hRgqnkNgB3x33lG4O2jw3hvjXvR3zCk",
        comment: "sked@idm.test",
    },
    Fixture {
        line: "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBLwJii/2sXWoJlWkJ/FrNmNeMvrDLSa4u1ywD/awqkpfsc7xf/XoRk6CmZuzKfsNpL8myG7C8KGaOhpjAk1WyssAAAAEc3NoOg== skec@idm.test",
        algorithm: "sk-ecdsa-sha2-nistp256@openssh.com",
        bits: 256,
        fingerprint: "SHA256:q+J+WYYFWbqgx+ambuQnt5841u5wEqS6e0Muo1LHEu8",
        comment: "skec@idm.test",
    },
    Fixture {
        line: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCmgThQKH7TTW5vnHlV8N7ByGJy0+FV02sVM/Sg8dZ2ueu0FjQgRb6PwozdSj+1UscZzSdJSVEytcTKpkB/NGDASNZQNOxRIzA5dXHWFhN5JpX9VdRWaFyc4bIxLfNo94Wc424odzLj0S39/GTv17Yr9clY9Va2m4Pn8px/xQ6KP7E2WORN/YjG30DsdPQZVe6BAtC24tXxk43e4ckBDeeiAZhUKPwrTxcPJzJLOOpflxBYf9VV9HWj9BUFtc0R/5r9M4+UJoe6HJdouITFwQ1LZMpGLs9MjMpXaqy3bCtj9KGkFcCh4gfky7jFwY7uYb0147otIfK1jEkNUF4Gur8b rsa2048@idm.test",
        algorithm: "ssh-rsa",
        bits: 2048,
        fingerprint: "SHA256:b2CmJrFLtKLB8Wnmsblzw+i5rGkq3TDvvjYNBpHdAMI",
        comment: "rsa2048@idm.test",
    },
    Fixture {
        line: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQDF7Xh4dY1Iwb3/qNp2D9yYKfK0/v8VPb4vDIRg1GUzYSuffPlqHIISOsCRAj6SgyJVWktj6yOcRnblr8154fpbxFhtfQlDucq73mdGqNSmKgcRHttZAiwM6Wf2i/C4kHTvbauxx9D/jhLgVstf6yMXgIwD2zI4wGwfMFjTtu0EHJButqQvQRhdOzG8fgC4N5ue/5YqFpr1CFaPXO9hmnya0AwTpfpiz3FvV0vfUHEktaKYVWjMNdiCt2yyx5nkwzmNsYLWdVhcDlMgK2JcxBs+nnsKYx4AUTsGI4bkzRyyks9SejIx3Kv4K7Iula5EewydZUFNFl5qAjDngim2tottb4SPyu5qeCSv8JMGsAvAcWIcAy5kPtNa058OhtPbe4GRD1uX9/W086dl3aF+MxC0PZUnATIitZMQBI4vRxQkmrgY0FFAgklJGeBn0tiq/8GELQWYYeT2kE08dtxGF1hptPJfNC+jmJGD2iyH3E2fK7ZntNmoTi7N0sUCdqKiqec= rsa3072@idm.test",
        algorithm: "ssh-rsa",
        bits: 3072,
        fingerprint: "SHA256:Zl+yBCPAsEpSpqj9nxiqgpvYEJ+q0zc9XJTOt08Ae1Y",
        comment: "rsa3072@idm.test",
    },
];

const RSA_1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDVYsjCOcp2bH7Gt81NGUZ0RVIteRUU2Nk38n4obgnqmLBvfHQ35eFyqn69mi9agMlFeL9j2zpH7Fs3SzJrTAG8a97wekZ3hccvuZRcysTYZbM04CZW5tzKYT1JfUgjNEZBzLPSavx1lOw8OFbc4nDqhIHZIMKe0v1bOdOTEXbs4Q== rsa1024@idm.test";
const RSA_1024_FINGERPRINT: &str = "SHA256:rOAk7JYFxoWI/1z0GGXv3UG3IIi1SqA4qEhAfn9c5f8";

/// A syntactically valid DSA blob (ssh-keygen -lf reads it as a 1016-bit DSA key).
const DSS: &str = "ssh-dss AAAAB3NzaC1kc3MAAACAAP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8A/wD/AP8AAAAUAQEBAQEBAQEBAQEBAQEBAQEBAQEAAACAAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAAACAAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM= dss@idm.test";

fn parse(line: &str) -> Result<SshPublicKey, SshError> {
    SshPublicKey::parse(line, &KeyPolicy::default())
}

fn fixture_key(i: usize) -> SshPublicKey {
    parse(FIXTURES[i].line).unwrap()
}

/// Build a line from raw blob fields, for keys ssh-keygen would never write.
fn line_from_fields(declared: &str, fields: &[&[u8]]) -> String {
    let mut blob = Vec::new();
    for field in fields {
        blob.extend_from_slice(&u32::try_from(field.len()).unwrap().to_be_bytes());
        blob.extend_from_slice(field);
    }
    format!("{declared} {}", Base64::encode_string(&blob))
}

fn blob_of(line: &str) -> Vec<u8> {
    Base64::decode_vec(line.split(' ').nth(1).unwrap()).unwrap()
}

#[test]
fn fixtures_match_ssh_keygen() {
    for f in FIXTURES {
        let key = parse(f.line).unwrap_or_else(|e| panic!("{}: {e}", f.algorithm));
        assert_eq!(key.algorithm(), f.algorithm);
        assert_eq!(key.fingerprint(), f.fingerprint, "{}", f.algorithm);
        assert_eq!(key.bits(), Some(f.bits), "{}", f.algorithm);
        assert_eq!(key.comment(), Some(f.comment));
        assert_eq!(key.to_openssh(), f.line);
    }
}

#[test]
fn rsa_below_policy_is_refused() {
    assert_eq!(
        parse(RSA_1024),
        Err(SshError::RsaTooShort {
            bits: 1024,
            min: 2048
        })
    );
    let lenient = KeyPolicy { min_rsa_bits: 1024 };
    let key = SshPublicKey::parse(RSA_1024, &lenient).unwrap();
    assert_eq!(key.bits(), Some(1024));
    assert_eq!(key.fingerprint(), RSA_1024_FINGERPRINT);

    let strict = KeyPolicy { min_rsa_bits: 3072 };
    assert_eq!(
        SshPublicKey::parse(FIXTURES[6].line, &strict),
        Err(SshError::RsaTooShort {
            bits: 2048,
            min: 3072
        })
    );
    assert!(SshPublicKey::parse(FIXTURES[7].line, &strict).is_ok());
}

#[test]
fn policy_cannot_go_below_openssh_floor() {
    let e65537: &[u8] = &[1, 0, 1];
    let mut n = vec![0x80_u8; 64]; // 512 bits
    n.insert(0, 0);
    let line = line_from_fields("ssh-rsa", &[b"ssh-rsa", e65537, &n]);
    let anything = KeyPolicy { min_rsa_bits: 0 };
    assert_eq!(
        SshPublicKey::parse(&line, &anything),
        Err(SshError::RsaTooShort {
            bits: 512,
            min: 1024
        })
    );
}

#[test]
fn rsa_bits_count_significant_bits() {
    // A 2047-bit modulus (top byte 0x40) is 2047 bits for ssh-keygen, not 2048.
    let mut n = vec![0x40_u8];
    n.extend(std::iter::repeat_n(0xff, 255));
    let line = line_from_fields("ssh-rsa", &[b"ssh-rsa", &[1, 0, 1], &n]);
    assert_eq!(
        parse(&line),
        Err(SshError::RsaTooShort {
            bits: 2047,
            min: 2048
        })
    );
}

#[test]
fn rsa_above_openssh_maximum_is_refused() {
    let mut n = vec![0x7f_u8];
    n.extend(std::iter::repeat_n(0xff, 2048)); // 16391 bits
    let line = line_from_fields("ssh-rsa", &[b"ssh-rsa", &[1, 0, 1], &n]);
    assert_eq!(
        parse(&line),
        Err(SshError::RsaTooLong {
            bits: 16391,
            max: MAX_RSA_BITS
        })
    );
}

#[test]
fn dsa_is_always_refused() {
    assert_eq!(
        parse(DSS),
        Err(SshError::UnsupportedAlgorithm("ssh-dss".to_owned()))
    );
    assert!(matches!(
        SshPublicKey::parse(DSS, &KeyPolicy { min_rsa_bits: 0 }),
        Err(SshError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn certificates_and_unknown_types_are_refused() {
    let cert = FIXTURES[0]
        .line
        .replace("ssh-ed25519 ", "ssh-ed25519-cert-v01@openssh.com ");
    assert_eq!(
        parse(&cert),
        Err(SshError::UnsupportedAlgorithm(
            "ssh-ed25519-cert-v01@openssh.com".to_owned()
        ))
    );
    assert_eq!(
        parse("hello world"),
        Err(SshError::UnsupportedAlgorithm("hello".to_owned()))
    );
    let long = "x".repeat(500);
    match parse(&long) {
        Err(SshError::UnsupportedAlgorithm(echoed)) => assert!(echoed.chars().count() <= 65),
        other => panic!("{other:?}"),
    }
}

#[test]
fn declared_type_must_match_blob() {
    let ed = FIXTURES[0].line.replacen("ssh-ed25519", "ssh-rsa", 1);
    assert_eq!(
        parse(&ed),
        Err(SshError::TypeMismatch {
            declared: "ssh-rsa".to_owned(),
            actual: "ssh-ed25519".to_owned()
        })
    );
    let p256_as_p384 = FIXTURES[1]
        .line
        .replacen("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", 1);
    assert!(matches!(
        parse(&p256_as_p384),
        Err(SshError::TypeMismatch { .. })
    ));
    // The RSA signature names are not key types.
    let rsa = FIXTURES[6].line.replacen("ssh-rsa", "rsa-sha2-256", 1);
    assert!(matches!(
        parse(&rsa),
        Err(SshError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn curve_inside_must_match_the_type() {
    // An ecdsa-sha2-nistp256 blob whose curve field says nistp384.
    let blob = blob_of(FIXTURES[1].line);
    let fields = split_fields(&blob);
    let line = line_from_fields("ecdsa-sha2-nistp256", &[fields[0], b"nistp384", fields[2]]);
    assert!(matches!(parse(&line), Err(SshError::Malformed(_))));
}

fn split_fields(mut blob: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((len, rest)) = blob.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        out.push(&rest[..len]);
        blob = &rest[len..];
    }
    out
}

#[test]
fn options_are_refused() {
    let lines = [
        format!("restrict {}", FIXTURES[0].line),
        format!("no-pty,from=\"10.0.0.0/8\" {}", FIXTURES[1].line),
        format!("command=\"echo hi there\" {}", FIXTURES[6].line),
        format!("environment=\"A=b\"\t{}", DSS),
    ];
    for line in &lines {
        assert_eq!(parse(line), Err(SshError::Options), "{line}");
    }
}

#[test]
fn limits() {
    let long = format!("{} {}", FIXTURES[0].line, "c".repeat(MAX_LINE_BYTES));
    assert!(matches!(parse(&long), Err(SshError::TooLong { .. })));

    let base = FIXTURES[0].line.rsplit_once(' ').unwrap().0;
    let max_comment = format!("{base} {}", "é".repeat(MAX_COMMENT_CHARS));
    assert!(
        parse(&max_comment).is_ok(),
        "the comment limit counts characters"
    );
    let over = format!("{base} {}", "é".repeat(MAX_COMMENT_CHARS + 1));
    assert_eq!(
        parse(&over),
        Err(SshError::CommentTooLong {
            chars: MAX_COMMENT_CHARS + 1,
            max: MAX_COMMENT_CHARS
        })
    );
}

#[test]
fn whitespace_and_line_breaks() {
    let padded = format!("  \t{}\r\n", FIXTURES[0].line);
    assert_eq!(parse(&padded).unwrap(), fixture_key(0));

    let spaced = FIXTURES[0].line.replacen(' ', " \t  ", 2);
    assert_eq!(parse(&spaced).unwrap(), fixture_key(0));

    let two_lines = format!("{}\n{}", FIXTURES[0].line, FIXTURES[1].line);
    assert!(matches!(parse(&two_lines), Err(SshError::Malformed(_))));
    let nul = format!("{}\0", FIXTURES[0].line);
    assert!(matches!(parse(&nul), Err(SshError::Malformed(_))));
    let escape = format!("{} \x1b[2Jevil", FIXTURES[0].line);
    assert!(matches!(parse(&escape), Err(SshError::Malformed(_))));

    assert_eq!(parse(""), Err(SshError::Empty));
    assert_eq!(parse(" \r\n\t"), Err(SshError::Empty));
}

#[test]
fn private_keys_are_recognised() {
    let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n";
    assert_eq!(parse(pem), Err(SshError::PrivateKey));
    assert_eq!(
        parse("-----BEGIN RSA PRIVATE KEY----- MIIEpAIBAAKCAQEA"),
        Err(SshError::PrivateKey)
    );
    assert_eq!(
        parse("PuTTY-User-Key-File-3: ssh-ed25519"),
        Err(SshError::PrivateKey)
    );
}

#[test]
fn no_comment() {
    let bare = FIXTURES[0].line.rsplit_once(' ').unwrap().0;
    let key = parse(bare).unwrap();
    assert_eq!(key.comment(), None);
    assert_eq!(key.to_openssh(), bare);
    assert_eq!(key.fingerprint(), FIXTURES[0].fingerprint);
    // The comment is not part of the key's identity for fingerprints, but is for equality.
    assert_ne!(key, fixture_key(0));
}

#[test]
fn comment_keeps_inner_spaces() {
    let base = FIXTURES[0].line.rsplit_once(' ').unwrap().0;
    let key = parse(&format!("{base}   Jane Doe's laptop  ")).unwrap();
    assert_eq!(key.comment(), Some("Jane Doe's laptop"));
    assert_eq!(key.to_openssh(), format!("{base} Jane Doe's laptop"));
}

#[test]
fn malformed_key_data() {
    let cases = [
        "ssh-ed25519".to_owned(),
        "ssh-ed25519 !!!notbase64".to_owned(),
        // Unpadded base64 is not what ssh-keygen writes.
        FIXTURES[1].line.replacen("yss=", "yss", 1),
        // Truncated blob.
        line_from_fields("ssh-ed25519", &[b"ssh-ed25519", &[7; 31]]),
        // Trailing bytes after the key.
        format!(
            "ssh-ed25519 {}",
            Base64::encode_string(&[blob_of(FIXTURES[0].line), vec![0]].concat())
        ),
        // A length prefix pointing past the end.
        format!(
            "ssh-ed25519 {}",
            Base64::encode_string(&[0, 0, 0, 200, b's'])
        ),
        format!("ssh-ed25519 {}", Base64::encode_string(&[0, 0])),
    ];
    for line in &cases {
        assert!(
            matches!(parse(line), Err(SshError::Malformed(_))),
            "{line}: {:?}",
            parse(line)
        );
    }
}

#[test]
fn non_canonical_rsa_is_refused() {
    // An exponent with a superfluous leading zero byte.
    let blob = blob_of(FIXTURES[6].line);
    let fields = split_fields(&blob);
    let line = line_from_fields("ssh-rsa", &[fields[0], &[0, 1, 0, 1], fields[2]]);
    assert!(matches!(parse(&line), Err(SshError::Malformed(_))));
}

#[test]
fn compressed_ecdsa_point_is_refused() {
    let blob = blob_of(FIXTURES[1].line);
    let fields = split_fields(&blob);
    let point = fields[2];
    let y_odd = point[64] & 1 == 1;
    let mut compressed = vec![if y_odd { 3 } else { 2 }];
    compressed.extend_from_slice(&point[1..33]);
    let line = line_from_fields("ecdsa-sha2-nistp256", &[fields[0], fields[1], &compressed]);
    assert!(matches!(parse(&line), Err(SshError::Malformed(_))));
}

#[test]
fn authorized_keys_line_joins_options() {
    let key = fixture_key(0);
    assert_eq!(key.authorized_keys_line(&[]).unwrap(), FIXTURES[0].line);
    assert_eq!(
        key.authorized_keys_line(&[
            "restrict",
            "from=\"10.0.0.0/8,192.168.1.1\"",
            "command=\"/usr/bin/true --x\""
        ])
        .unwrap(),
        format!(
            "restrict,from=\"10.0.0.0/8,192.168.1.1\",command=\"/usr/bin/true --x\" {}",
            FIXTURES[0].line
        )
    );
}

#[test]
fn authorized_keys_line_refuses_injection() {
    let key = fixture_key(0);
    let bad = [
        "",
        "no-pty\nssh-ed25519 AAAA attacker",
        "from=\"a\" ssh-ed25519",
        "from=10.0.0.1",
        "from=\"a\",command=\"sh\"",
        "command=\"a\"b\"",
        "command=\"a\\\"",
        "command=\"",
        "command=\"x\ny\"",
        "no pty",
        "no-pty,restrict",
        "restrict ",
    ];
    for option in bad {
        assert!(
            matches!(
                key.authorized_keys_line(&["restrict", option]),
                Err(SshError::InvalidOption(_))
            ),
            "{option:?}"
        );
    }
    let huge = format!("command=\"{}\"", "a".repeat(5000));
    assert!(key.authorized_keys_line(&[&huge]).is_err());
}

#[test]
fn serde_is_the_canonical_line() {
    let key = fixture_key(2);
    let json = serde_json::to_string(&key).unwrap();
    assert_eq!(json, serde_json::to_string(FIXTURES[2].line).unwrap());
    let back: SshPublicKey = serde_json::from_str(&json).unwrap();
    assert_eq!(back, key);

    let weak = serde_json::to_string(RSA_1024).unwrap();
    let err = serde_json::from_str::<SshPublicKey>(&weak).unwrap_err();
    assert!(err.to_string().contains("too short"), "{err}");

    let policy: KeyPolicy = serde_json::from_str("{}").unwrap();
    assert_eq!(policy, KeyPolicy::default());
    assert!(serde_json::from_str::<KeyPolicy>(r#"{"min_rsa_bit": 1}"#).is_err());
}

#[test]
fn debug_shows_identity_not_blob() {
    let debug = format!("{:?}", fixture_key(0));
    assert!(debug.contains(FIXTURES[0].fingerprint), "{debug}");
    assert!(!debug.contains("AAAAC3Nza"), "{debug}");
    assert_eq!(fixture_key(0).to_string(), FIXTURES[0].line);
}

#[test]
fn errors_read_well() {
    assert_eq!(
        SshError::RsaTooShort {
            bits: 1024,
            min: 2048
        }
        .to_string(),
        "RSA key of 1024 bits is too short, at least 2048 bits are required"
    );
    assert!(
        SshError::Options
            .to_string()
            .contains("options are not accepted")
    );
}

/// Generates a fresh key of each type with this machine's `ssh-keygen` and compares the
/// fingerprint and size with what `ssh-keygen -lf` prints. Skipped where `ssh-keygen` is
/// not installed.
#[test]
fn fresh_keys_match_ssh_keygen() {
    use std::process::Command;

    if Command::new("ssh-keygen").arg("-?").output().is_err() {
        eprintln!("ssh-keygen not found; skipping");
        return;
    }
    let dir = std::env::temp_dir().join(format!("idm-ssh-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (kind, bits) in [
        ("ed25519", None),
        ("ecdsa", Some("256")),
        ("ecdsa", Some("384")),
        ("ecdsa", Some("521")),
        ("rsa", Some("2048")),
    ] {
        let path = dir.join(format!("{kind}{}", bits.unwrap_or("")));
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-t", kind, "-N", "", "-C", "fresh@idm.test", "-f"])
            .arg(&path);
        if let Some(bits) = bits {
            cmd.args(["-b", bits]);
        }
        assert!(cmd.status().unwrap().success());
        let pub_path = path.with_extension("pub");
        let line = std::fs::read_to_string(&pub_path).unwrap();
        let listed = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&pub_path)
            .output()
            .unwrap();
        let listed = String::from_utf8(listed.stdout).unwrap();
        let mut words = listed.split_whitespace();
        let expected_bits: u32 = words.next().unwrap().parse().unwrap();
        let expected_fingerprint = words.next().unwrap();

        let key = parse(&line).unwrap();
        assert_eq!(key.fingerprint(), expected_fingerprint, "{kind}");
        assert_eq!(key.bits(), Some(expected_bits), "{kind}");
        assert_eq!(key.comment(), Some("fresh@idm.test"));
        assert_eq!(key.to_openssh(), line.trim_end());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn arb_key_line() -> impl Strategy<Value = String> {
    let comment = proptest::string::string_regex("[ -~\u{a0}-\u{24f}]{0,256}").unwrap();
    (0..FIXTURES.len(), comment).prop_map(|(i, comment)| {
        let base = FIXTURES[i].line.rsplit_once(' ').unwrap().0;
        format!("{base} {comment}")
    })
}

/// Lines that reach the blob decoder: an accepted type and random (valid) base64.
fn arb_blob_line() -> impl Strategy<Value = String> {
    (
        0..ACCEPTED_ALGORITHMS.len(),
        proptest::collection::vec(any::<u8>(), 0..600),
        any::<bool>(),
    )
        .prop_map(|(i, mut bytes, typed)| {
            let name = ACCEPTED_ALGORITHMS[i];
            if typed {
                let mut blob = u32::try_from(name.len()).unwrap().to_be_bytes().to_vec();
                blob.extend_from_slice(name.as_bytes());
                blob.append(&mut bytes);
                bytes = blob;
            }
            format!("{name} {}", Base64::encode_string(&bytes))
        })
}

proptest! {
    #[test]
    fn parse_never_panics(line in any::<String>()) {
        let _ = parse(&line);
    }

    #[test]
    fn parse_never_panics_on_blobs(line in arb_blob_line()) {
        let _ = parse(&line);
    }

    #[test]
    fn canonical_line_round_trips(line in arb_key_line()) {
        let key = parse(&line).unwrap();
        let again = parse(&key.to_openssh()).unwrap();
        prop_assert_eq!(&again, &key);
        prop_assert_eq!(again.to_openssh(), key.to_openssh());
    }

    #[test]
    fn round_trip_with_mutated_lines(line in arb_key_line(), at in any::<prop::sample::Index>(), ch in any::<char>()) {
        let mut chars: Vec<char> = line.chars().collect();
        let i = at.index(chars.len());
        chars[i] = ch;
        let line: String = chars.into_iter().collect();
        if let Ok(key) = parse(&line) {
            prop_assert_eq!(parse(&key.to_openssh()).unwrap(), key);
        }
    }
}
