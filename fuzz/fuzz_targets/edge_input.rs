//! The checks of what people send, before anything is called (platform's field
//! violations, which edge and every service use): ids, codes, lists; and edge's reading of
//! the client address behind proxies and of browser origins. None panics; an id it accepts is
//! a UUID, a code it accepts is six digits, and the client address is the peer or a hop
//! of the header.
#![no_main]

use kuajing_edge::domain::client_ip::{TrustedProxies, client_ip};
use kuajing_platform::FieldViolations;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut v = FieldViolations::new();
    if let Some(id) = v.request_id(text) {
        assert_eq!(uuid::Uuid::try_parse(text).ok(), Some(id));
    }
    let _ = v.optional_uuid("id", text);
    let before = v.is_empty();
    v.six_digits("code", text);
    if before && v.is_empty() {
        assert!(text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()));
    }
    let list: Vec<String> = text.split(',').map(str::to_owned).collect();
    let ids = v.uuid_list("ids", &list, 20);
    assert!(ids.len() <= 20);

    let trusted: TrustedProxies = "10.0.0.0/8,127.0.0.1".parse().expect("proxies");
    let peer = std::net::IpAddr::from([10, 0, 0, 1]);
    let ip = client_ip(Some(peer), Some(text), &trusted).expect("a peer gives an address");
    let hop = |h: &str| {
        let h = h.trim();
        h.parse::<std::net::IpAddr>()
            .ok()
            .or_else(|| h.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
            .map(|ip| ip.to_canonical())
    };
    assert!(
        ip == peer || text.rsplit(',').any(|h| hop(h) == Some(ip)),
        "{ip} is neither the peer nor a hop of {text:?}"
    );
    let _ = text.parse::<TrustedProxies>();
    let _ = kuajing_edge::domain::origins::parse(text);
});
