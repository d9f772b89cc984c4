//! `/updates` answers as JSON bytes, written once and sent many times.
//!
//! Answers repeat: every device behind on a channel gets the same offer, every device up to
//! date the same refusal. Writing the JSON again for each of them was about a tenth of the
//! request path's CPU under `bench/updates` (serde_json's string escaping, the growing buffer),
//! so an answer equal to one already written reuses its bytes. Equality is checked on the whole
//! answer, so a reused answer is always exactly what serializing this one would give.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

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
/// device is kept with its bytes. Offers with a delta manifest are not kept (comparing one
/// would cost about what writing it does).
#[derive(Debug, Default)]
pub struct OfferJson {
    by_version: HashMap<String, OnceLock<(UpdateOffer, Bytes)>>,
}

impl OfferJson {
    /// Room for an offer of each of `versions`.
    pub fn for_versions<'a>(versions: impl IntoIterator<Item = &'a String>) -> OfferJson {
        OfferJson { by_version: versions.into_iter().map(|version| (version.clone(), OnceLock::new())).collect() }
    }

    /// The JSON of `answer` when it is an offer equal to the one kept for its version (or the
    /// first of that version, which is then kept); `None` otherwise.
    pub fn get(&self, answer: &UpdateAnswer) -> Option<Bytes> {
        let UpdateAnswer::Offer(offer) = answer else { return None };
        if offer.manifest.is_some() {
            return None;
        }
        let (kept, json) = self.by_version.get(&offer.version)?.get_or_init(|| (offer.clone(), to_json(answer)));
        (kept == offer).then(|| json.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstan_core::protocol::RefusalKind;

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
    fn only_the_up_to_date_refusal_is_fixed() {
        let up_to_date = UpdateAnswer::up_to_date();
        assert_eq!(fixed(&up_to_date), Some(to_json(&up_to_date)));
        let other = UpdateAnswer::refusal("no_new_version_available", RefusalKind::UpToDate, "another message");
        assert_eq!(fixed(&other), None);
    }
}
