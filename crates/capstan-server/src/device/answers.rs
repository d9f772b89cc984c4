//! `/updates` answers as JSON bytes, written once and sent many times.
//!
//! Answers repeat: every device behind on a channel gets the same offer, every device up to
//! date the same refusal. Writing the JSON again for each of them (serde_json's string
//! escaping, the growing buffer) cost about 3 % of the server's CPU under `bench/updates`:
//! response writing and its allocations fell from 6.4 to 3.0 % of the samples once answers were
//! kept (bench/updates/PROFILE.md). So an answer equal to one already written reuses its bytes. Equality is checked on the whole
//! answer (a shared delta manifest by identity), so a reused answer is always exactly what
//! serializing this one would give.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, OnceLock};

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use capstan_core::protocol::{UpdateAnswer, UpdateOffer};

/// The JSON of an answer.
pub fn to_json(answer: &UpdateAnswer) -> Bytes {
    // Serializing these types cannot fail: no maps with non-string keys, no floats.
    Bytes::from(serde_json::to_vec(answer).expect("an update answer serializes"))
}

/// A 200 JSON response with `body`, as `axum::Json` would write it.
pub fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// The bytes of `answer` when it is one of the fixed answers (today: up to date).
pub fn fixed(answer: &UpdateAnswer) -> Option<Bytes> {
    static UP_TO_DATE: LazyLock<(UpdateAnswer, Bytes)> = LazyLock::new(|| {
        let answer = UpdateAnswer::up_to_date();
        let json = to_json(&answer);
        (answer, json)
    });
    (*answer == UP_TO_DATE.0).then(|| UP_TO_DATE.1.clone())
}

/// One snapshot's offers, by bundle version: the first offer of a version written for a
/// device is kept with its bytes, one with a delta manifest and one without (plugins differ).
#[derive(Debug, Default)]
pub struct OfferJson {
    by_version: HashMap<String, [OnceLock<(UpdateOffer, Bytes)>; 2]>,
}

impl OfferJson {
    /// Room for the offers of each of `versions`.
    pub fn for_versions<'a>(versions: impl IntoIterator<Item = &'a String>) -> OfferJson {
        OfferJson { by_version: versions.into_iter().map(|version| (version.clone(), Default::default())).collect() }
    }

    /// The JSON of `answer` when it is an offer equal to the one kept for its version (or the
    /// first of that version, which is then kept); `None` otherwise.
    pub fn get(&self, answer: &UpdateAnswer) -> Option<Bytes> {
        let UpdateAnswer::Offer(offer) = answer else { return None };
        let slot = &self.by_version.get(&offer.version)?[usize::from(offer.manifest.is_some())];
        let (kept, json) = slot.get_or_init(|| (offer.clone(), to_json(answer)));
        same_offer(kept, offer).then(|| json.clone())
    }
}

/// Whether two offers serialize the same. A delta manifest is compared by identity: the
/// snapshot builds each bundle's manifest once and every offer shares it (comparing entries
/// would cost about what writing them does); a manifest built apart is written apart.
fn same_offer(kept: &UpdateOffer, offer: &UpdateOffer) -> bool {
    // Every field named: a field added to offers must be compared here to compile.
    let UpdateOffer { version, url, checksum, session_key, breaking, manifest } = offer;
    let same_manifest = match (&kept.manifest, manifest) {
        (None, None) => true,
        (Some(kept), Some(manifest)) => Arc::ptr_eq(kept, manifest),
        _ => false,
    };
    same_manifest
        && kept.version == *version
        && kept.url == *url
        && kept.checksum == *checksum
        && kept.session_key == *session_key
        && kept.breaking == *breaking
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstan_core::protocol::{ManifestEntry, RefusalKind};

    fn offer(url: &str) -> UpdateAnswer {
        UpdateAnswer::Offer(UpdateOffer {
            version: "1.0.1".into(),
            url: url.into(),
            checksum: "ab\"cd".into(),
            session_key: String::new(),
            breaking: None,
            manifest: None,
        })
    }

    #[test]
    fn a_kept_offer_is_sent_only_to_an_equal_offer() {
        let offers = OfferJson::for_versions(&["1.0.1".to_owned()]);
        let first = offer("https://u.example/dl/a");
        assert_eq!(offers.get(&first), Some(to_json(&first)));
        assert_eq!(offers.get(&offer("https://u.example/dl/a")), Some(to_json(&first)));
        // Another URL (a presigned one, another base URL): written for itself, not the kept one.
        assert_eq!(offers.get(&offer("https://other.example/dl/a")), None);
        // A version the snapshot does not have, or not an offer at all: nothing kept.
        let mut unknown = offer("https://u.example/dl/a");
        if let UpdateAnswer::Offer(offer) = &mut unknown {
            offer.version = "9.9.9".into();
        }
        assert_eq!(offers.get(&unknown), None);
        assert_eq!(offers.get(&UpdateAnswer::builtin()), None);
    }

    #[test]
    fn an_offer_with_a_manifest_is_kept_apart_and_matched_by_the_shared_manifest() {
        let offers = OfferJson::for_versions(&["1.0.1".to_owned()]);
        let entries = |hash: &str| -> Arc<[ManifestEntry]> {
            Arc::from(vec![ManifestEntry {
                file_name: "index.html".into(),
                file_hash: hash.into(),
                download_url: "https://u.example/dl/f".into(),
            }])
        };
        let with = |manifest: &Arc<[ManifestEntry]>| {
            let mut answer = offer("https://u.example/dl/a");
            if let UpdateAnswer::Offer(offer) = &mut answer {
                offer.manifest = Some(Arc::clone(manifest));
            }
            answer
        };
        let plain = offer("https://u.example/dl/a");
        assert_eq!(offers.get(&plain), Some(to_json(&plain)));
        let shared = entries("h1");
        assert_eq!(offers.get(&with(&shared)), Some(to_json(&with(&shared))));
        assert_eq!(offers.get(&with(&shared)), Some(to_json(&with(&shared))));
        // The plain offer is still kept beside it.
        assert_eq!(offers.get(&plain), Some(to_json(&plain)));
        // A manifest built apart, even with other entries, is never answered with the kept bytes.
        assert_eq!(offers.get(&with(&entries("h2"))), None);
    }

    #[test]
    fn only_the_up_to_date_refusal_is_fixed() {
        let up_to_date = UpdateAnswer::up_to_date();
        assert_eq!(fixed(&up_to_date), Some(to_json(&up_to_date)));
        let other = UpdateAnswer::refusal("no_new_version_available", RefusalKind::UpToDate, "another message");
        assert_eq!(fixed(&other), None);
    }
}
