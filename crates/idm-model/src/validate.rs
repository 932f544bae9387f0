//! Validation rules as pure functions. Each returns the normalised value or a [`ModelError`]
//! naming the field and the rule, so the API, the importer and the CLI report the same thing.

use crate::error::ModelError;

pub const NAME_MAX: usize = 64;
pub const DISPLAY_NAME_MAX: usize = 256;
pub const MAIL_MAX: usize = 254;
pub const MAILS_MAX: usize = 16;
pub const LABEL_MAX: usize = 64;
pub const DESCRIPTION_MAX: usize = 1024;
pub const PATH_MAX: usize = 255;
pub const SSH_KEYS_MAX: usize = 32;
pub const API_TOKENS_MAX: usize = 32;
pub const MEMBERS_PER_CHANGE_MAX: usize = 10_000;

/// Login names: lowercase `[a-z0-9._-]`, starting with a letter, 1–64 characters.
///
/// The alphabet is what every consumer accepts unchanged: POSIX user names (`useradd`'s
/// portable set), LDAP RDN values without escaping, e-mail local parts and URL path segments.
pub fn name(field: &str, value: &str) -> Result<String, ModelError> {
    if value.is_empty() {
        return Err(ModelError::invalid(field, "must not be empty"));
    }
    if value.len() > NAME_MAX {
        return Err(ModelError::invalid(
            field,
            format!("must be at most {NAME_MAX} characters"),
        ));
    }
    let mut chars = value.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
        return Err(ModelError::invalid(
            field,
            "must start with a lowercase letter a-z",
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
    {
        return Err(ModelError::invalid(
            field,
            format!("may contain only a-z, 0-9, '.', '_' and '-' (found {bad:?})"),
        ));
    }
    Ok(value.to_owned())
}

/// Free text shown to people (display names, legal names): trimmed, non-empty, no control
/// characters (they break LDIF, logs and terminal tables).
pub fn text(field: &str, value: &str, max: usize) -> Result<String, ModelError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ModelError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(ModelError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(ModelError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_owned())
}

pub fn display_name(value: &str) -> Result<String, ModelError> {
    text("display_name", value, DISPLAY_NAME_MAX)
}

pub fn label(field: &str, value: &str) -> Result<String, ModelError> {
    let v = text(field, value, LABEL_MAX)?;
    if v.chars().any(char::is_whitespace) {
        return Err(ModelError::invalid(field, "must not contain spaces"));
    }
    Ok(v)
}

/// An e-mail address in the practical subset every mail system accepts: `local@domain`, the
/// domain made of LDH labels. The domain is lowercased; the local part is kept as typed, since
/// RFC 5321 lets it be case-sensitive, but uniqueness is checked case-insensitively.
pub fn mail(field: &str, value: &str) -> Result<String, ModelError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ModelError::invalid(field, "must not be empty"));
    }
    if v.len() > MAIL_MAX {
        return Err(ModelError::invalid(
            field,
            format!("must be at most {MAIL_MAX} characters"),
        ));
    }
    let Some((local, domain)) = v.rsplit_once('@') else {
        return Err(ModelError::invalid(field, "must look like local@domain"));
    };
    if local.is_empty() || local.len() > 64 {
        return Err(ModelError::invalid(
            field,
            "the part before '@' must be 1-64 characters",
        ));
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok {
        return Err(ModelError::invalid(
            field,
            "the part before '@' has a character or dot placement that is not allowed",
        ));
    }
    let domain = domain.to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !domain_ok {
        return Err(ModelError::invalid(
            field,
            "the domain must be dot-separated labels of a-z, 0-9 and '-'",
        ));
    }
    Ok(format!("{local}@{domain}"))
}

/// The key under which a mail is unique: the whole address, case-folded.
pub fn mail_key(mail: &str) -> String {
    mail.to_ascii_lowercase()
}

pub fn mails(values: &[String]) -> Result<Vec<String>, ModelError> {
    if values.len() > MAILS_MAX {
        return Err(ModelError::invalid(
            "mails",
            format!("at most {MAILS_MAX} addresses"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for (i, m) in values.iter().enumerate() {
        let m = mail(&format!("mails[{i}]"), m)?;
        if out.iter().any(|o| mail_key(o) == mail_key(&m)) {
            return Err(ModelError::invalid(
                format!("mails[{i}]"),
                "is listed twice",
            ));
        }
        out.push(m);
    }
    Ok(out)
}

/// Absolute paths for `homeDirectory` and `loginShell`: they end up in `/etc/passwd` lines via
/// NSS, so ':' and control characters are refused.
pub fn posix_path(field: &str, value: &str) -> Result<String, ModelError> {
    if !value.starts_with('/') {
        return Err(ModelError::invalid(field, "must be an absolute path"));
    }
    if value.len() > PATH_MAX {
        return Err(ModelError::invalid(
            field,
            format!("must be at most {PATH_MAX} bytes"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() || c == ':' || c.is_whitespace())
    {
        return Err(ModelError::invalid(
            field,
            "must not contain ':', spaces or control characters",
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        assert_eq!(name("name", "alice").unwrap(), "alice");
        assert_eq!(name("name", "a.b_c-9").unwrap(), "a.b_c-9");
        let e = name("name", "Alice").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid name: must start with a lowercase letter a-z"
        );
        assert!(name("name", "9lives").is_err());
        assert!(name("name", "").is_err());
        assert!(name("name", "al ice").is_err());
        assert!(name("name", "alicé").is_err());
        assert!(name("name", &"a".repeat(64)).is_ok());
        assert!(name("name", &"a".repeat(65)).is_err());
    }

    #[test]
    fn mails_rules() {
        assert_eq!(
            mail("mail", "Alice@Example.COM").unwrap(),
            "Alice@example.com"
        );
        for bad in [
            "", "a", "a@", "@b.c", "a@b", "a@-b.c", "a..b@c.d", "a b@c.d", "a@b_c.d",
        ] {
            assert!(mail("mail", bad).is_err(), "{bad} accepted");
        }
        let e = mails(&["a@b.c".into(), "A@B.C".into()]).unwrap_err();
        assert_eq!(e.to_string(), "invalid mails[1]: is listed twice");
    }

    #[test]
    fn paths() {
        assert!(posix_path("home", "/home/alice").is_ok());
        assert!(posix_path("home", "home").is_err());
        assert!(posix_path("home", "/a:b").is_err());
        assert!(posix_path("home", "/a\nb").is_err());
    }

    proptest! {
        #[test]
        fn name_accepts_exactly_the_alphabet(s in "\\PC{0,80}") {
            let ok = !s.is_empty() && s.len() <= 64
                && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
            prop_assert_eq!(name("n", &s).is_ok(), ok);
        }

        #[test]
        fn validators_never_panic(s in any::<String>()) {
            let _ = mail("m", &s);
            let _ = display_name(&s);
            let _ = posix_path("p", &s);
            let _ = label("l", &s);
        }

        #[test]
        fn accepted_mail_is_stable(local in "[a-z0-9]{1,10}", dom in "[a-z]{1,10}\\.[a-z]{2,5}") {
            let m = mail("m", &format!("{local}@{dom}")).unwrap();
            prop_assert_eq!(mail("m", &m).unwrap(), m);
        }
    }
}
