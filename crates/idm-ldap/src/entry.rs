//! Directory entries as the session sees them: a DN and a list of attributes.
//!
//! The normalized DN is computed once, when the entry is built, because every search checks
//! scope against it and a directory that keeps entries in memory (or caches them) should not pay
//! for that normalization on every candidate.

use crate::dn::Dn;

/// An attribute: a description and its values (the PartialAttribute of RFC 4511).
///
/// Values are octets: LDAP values are not necessarily UTF-8 (`jpegPhoto`, `userCertificate`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// The attribute description (type and options) as written, e.g. `cn` or `cn;lang-de`.
    pub description: String,
    /// The values, in their stored order.
    pub values: Vec<Vec<u8>>,
}

impl Attribute {
    /// An attribute from anything byte-like.
    pub fn new<V: AsRef<[u8]>>(
        description: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        Self {
            description: description.into(),
            values: values.into_iter().map(|v| v.as_ref().to_vec()).collect(),
        }
    }

    /// Whether this attribute has the description `name` (ASCII case-insensitive).
    #[must_use]
    pub fn is(&self, name: &str) -> bool {
        self.description.eq_ignore_ascii_case(name)
    }
}

/// An entry: its DN (as written and normalized) and its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    dn: Dn,
    dn_string: String,
    normalized_dn: Dn,
    attributes: Vec<Attribute>,
}

impl Entry {
    /// Builds an entry, normalizing the DN once.
    #[must_use]
    pub fn new(dn: Dn, attributes: Vec<Attribute>) -> Self {
        let dn_string = dn.to_string();
        let normalized_dn = dn.normalize();
        Self {
            dn,
            dn_string,
            normalized_dn,
            attributes,
        }
    }

    /// Adds values to an attribute (creating it if needed); builder style.
    #[must_use]
    pub fn with<V: AsRef<[u8]>>(
        mut self,
        description: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.add_values(description, values);
        self
    }

    /// Adds values to an attribute, creating it if needed.
    pub fn add_values<V: AsRef<[u8]>>(
        &mut self,
        description: &str,
        values: impl IntoIterator<Item = V>,
    ) {
        let values = values.into_iter().map(|v| v.as_ref().to_vec());
        if let Some(a) = self.attributes.iter_mut().find(|a| a.is(description)) {
            a.values.extend(values);
        } else {
            self.attributes.push(Attribute {
                description: description.to_owned(),
                values: values.collect(),
            });
        }
    }

    /// The DN as given.
    #[must_use]
    pub fn dn(&self) -> &Dn {
        &self.dn
    }

    /// The DN's string form (what a SearchResultEntry carries).
    #[must_use]
    pub fn dn_string(&self) -> &str {
        &self.dn_string
    }

    /// The normalized DN (what scope checks compare).
    #[must_use]
    pub fn normalized_dn(&self) -> &Dn {
        &self.normalized_dn
    }

    /// All attributes.
    #[must_use]
    pub fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    /// An attribute by description (ASCII case-insensitive).
    #[must_use]
    pub fn get(&self, description: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.is(description))
    }

    /// Takes the attributes out (for building a response without copying values).
    #[must_use]
    pub fn into_attributes(self) -> Vec<Attribute> {
        self.attributes
    }
}
