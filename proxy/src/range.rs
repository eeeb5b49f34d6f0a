//! Which Ranges a hot-key cache could answer (hot reads answer those of
//! placed keys: `hot`).

use etcd_client::proto::PbRangeRequest;

/// The key of a Range that reads one key's latest value in full, as
/// kube-apiserver's GET does: no range end, limit at most 1, the current
/// revision, linearizable, with no sort, filter, keys-only or count-only
/// option. Anything else is left to etcd (a serializable read is already
/// answered by one etcd member without consensus).
pub fn cache_candidate(request: &PbRangeRequest) -> Option<&[u8]> {
    let plain_read = request.range_end.is_empty()
        && (0..=1).contains(&request.limit)
        && request.revision == 0
        && !request.serializable
        && !request.keys_only
        && !request.count_only
        && request.sort_order == 0
        && request.sort_target == 0
        && request.min_mod_revision == 0
        && request.max_mod_revision == 0
        && request.min_create_revision == 0
        && request.max_create_revision == 0;
    (plain_read && !request.key.is_empty()).then_some(request.key.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(key: &str) -> PbRangeRequest {
        PbRangeRequest { key: key.into(), limit: 1, ..Default::default() }
    }

    #[test]
    fn a_kubernetes_get_is_a_candidate() {
        assert_eq!(cache_candidate(&get("/registry/pods/default/web")), Some(&b"/registry/pods/default/web"[..]));
        let no_limit = PbRangeRequest { limit: 0, ..get("k") };
        assert_eq!(cache_candidate(&no_limit), Some(&b"k"[..]));
    }

    #[test]
    fn lists_and_every_option_go_to_etcd() {
        let not_candidates = [
            PbRangeRequest { range_end: "/registry/pods0".into(), ..get("/registry/pods/") },
            PbRangeRequest { range_end: vec![0], ..get("k") },
            PbRangeRequest { limit: 2, ..get("k") },
            PbRangeRequest { limit: -1, ..get("k") },
            PbRangeRequest { revision: 7, ..get("k") },
            PbRangeRequest { serializable: true, ..get("k") },
            PbRangeRequest { keys_only: true, ..get("k") },
            PbRangeRequest { count_only: true, ..get("k") },
            PbRangeRequest { sort_order: 1, ..get("k") },
            PbRangeRequest { sort_target: 3, ..get("k") },
            PbRangeRequest { min_mod_revision: 1, ..get("k") },
            PbRangeRequest { max_mod_revision: 1, ..get("k") },
            PbRangeRequest { min_create_revision: 1, ..get("k") },
            PbRangeRequest { max_create_revision: 1, ..get("k") },
            get(""),
        ];
        for request in not_candidates {
            assert_eq!(cache_candidate(&request), None, "{request:?}");
        }
    }
}
