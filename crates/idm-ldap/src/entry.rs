//! Directory entries as the session sees them.
//!
//! [`EntryView`] is what the search engine needs from an entry: its DN, a scope check, and its
//! attributes one at a time. A directory may keep its data in any form and render an attribute
//! only when a filter tests it or a response returns it; [`Entry`] is the plain form (a DN and a
//! list of attributes) that tests, [`crate::MemDirectory`], the root DSE and the subschema use.
//!
//! An [`Entry`]'s normalized DN is computed once, when the entry is built, because every search
//! checks scope against it and a directory that keeps entries in memory (or caches them) should
//! not pay for that normalization on every candidate.

use std::borrow::Cow;

use crate::dn::Dn;
use crate::proto::SearchScope;

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

/// Read access to one entry, in whatever form the directory keeps it.
///
/// Search evaluates filters and builds responses only through this trait, so a directory can
/// hand out a small handle and render values on demand: a search then materializes the
/// attributes its filter tests and its response returns, not whole entries. The contract is that
/// every method describes the same entry: [`EntryView::attribute`] returns what
/// [`EntryView::select`] would list under that name, and [`EntryView::has_value`], when it
/// answers, agrees with comparing the normalized values of [`EntryView::attribute`].
pub trait EntryView {
    /// The DN's string form (what a SearchResultEntry carries).
    fn dn_string(&self) -> Cow<'_, str>;

    /// The DN as written (extensible matches with `dnAttributes` test its AVAs).
    fn dn(&self) -> Cow<'_, Dn>;

    /// Whether the entry lies within `scope` of the *normalized* DN `base`.
    fn in_scope(&self, base: &Dn, scope: SearchScope) -> bool;

    /// The attribute with the description `description` (ASCII case-insensitive), if present.
    fn attribute(&self, description: &str) -> Option<Cow<'_, Attribute>>;

    /// Whether the entry has the attribute. Override it when that is cheaper than rendering the
    /// values (presence filters and compare test only this).
    fn has_attribute(&self, description: &str) -> bool {
        self.attribute(description).is_some()
    }

    /// An equality test without listing the values: whether some value of `description` has the
    /// normalized form `assertion` (normalized with [`crate::schema::syntax_of`]`(description)`),
    /// or `None` when the view has no shortcut and every value must be compared. Worth
    /// overriding for attributes with many rendered values and a cheap membership test, such as
    /// a large group's `memberUid`.
    fn has_value(&self, description: &str, assertion: &[u8]) -> Option<bool> {
        let _ = (description, assertion);
        None
    }

    /// Owned copies of the attributes whose description `wanted` accepts, in the entry's order
    /// (what a SearchResultEntry carries).
    fn select(&self, wanted: &mut dyn FnMut(&str) -> bool) -> Vec<Attribute>;

    /// [`EntryView::select`], consuming the view, so that an owned entry can move its values
    /// instead of copying them.
    fn into_selected(self, wanted: &mut dyn FnMut(&str) -> bool) -> Vec<Attribute>
    where
        Self: Sized,
    {
        self.select(wanted)
    }
}

impl EntryView for Entry {
    fn dn_string(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.dn_string)
    }

    fn dn(&self) -> Cow<'_, Dn> {
        Cow::Borrowed(&self.dn)
    }

    fn in_scope(&self, base: &Dn, scope: SearchScope) -> bool {
        crate::search::in_scope(&self.normalized_dn, base, scope)
    }

    fn attribute(&self, description: &str) -> Option<Cow<'_, Attribute>> {
        self.get(description).map(Cow::Borrowed)
    }

    fn select(&self, wanted: &mut dyn FnMut(&str) -> bool) -> Vec<Attribute> {
        self.attributes
            .iter()
            .filter(|a| wanted(&a.description))
            .cloned()
            .collect()
    }

    fn into_selected(self, wanted: &mut dyn FnMut(&str) -> bool) -> Vec<Attribute> {
        self.attributes
            .into_iter()
            .filter(|a| wanted(&a.description))
            .collect()
    }
}

/// A borrowed view is a view (for directories handing out `&Entry`, and for generic callers).
impl<T: EntryView + ?Sized> EntryView for &T {
    fn dn_string(&self) -> Cow<'_, str> {
        (**self).dn_string()
    }

    fn dn(&self) -> Cow<'_, Dn> {
        (**self).dn()
    }

    fn in_scope(&self, base: &Dn, scope: SearchScope) -> bool {
        (**self).in_scope(base, scope)
    }

    fn attribute(&self, description: &str) -> Option<Cow<'_, Attribute>> {
        (**self).attribute(description)
    }

    fn has_attribute(&self, description: &str) -> bool {
        (**self).has_attribute(description)
    }

    fn has_value(&self, description: &str, assertion: &[u8]) -> Option<bool> {
        (**self).has_value(description, assertion)
    }

    fn select(&self, wanted: &mut dyn FnMut(&str) -> bool) -> Vec<Attribute> {
        (**self).select(wanted)
    }
}

/// What [`crate::MemDirectory`] hands out: its stored entry, or a filtered copy.
impl EntryView for Cow<'_, Entry> {
    fn dn_string(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.as_ref().dn_string())
    }

    fn dn(&self) -> Cow<'_, Dn> {
        Cow::Borrowed(self.as_ref().dn())
    }

    fn in_scope(&self, base: &Dn, scope: SearchScope) -> bool {
        self.as_ref().in_scope(base, scope)
    }

    fn attribute(&self, description: &str) -> Option<Cow<'_, Attribute>> {
        self.as_ref().attribute(description)
    }

    fn select(&self, wanted: &mut dyn FnMut(&str) -> bool) -> Vec<Attribute> {
        self.as_ref().select(wanted)
    }

    fn into_selected(self, wanted: &mut dyn FnMut(&str) -> bool) -> Vec<Attribute> {
        match self {
            Cow::Owned(e) => e.into_selected(wanted),
            Cow::Borrowed(e) => e.select(wanted),
        }
    }
}
