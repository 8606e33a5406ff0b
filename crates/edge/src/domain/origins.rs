//! Which browser origins may call edge (gRPC-Web with CORS). Each is named exactly, as a
//! browser sends it in `Origin`: `scheme://host[:port]`, http or https, nothing after the
//! authority. A wildcard is refused: a page that holds a person's access token should be
//! one the platform team chose.

/// Parses a comma-separated list of origins; empty (or blank) is no origin at all.
pub fn parse(list: &str) -> Result<Vec<String>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(origin)
        .collect()
}

fn origin(value: &str) -> Result<String, String> {
    let refuse = |why: &str| Err(format!("{value:?}: {why}"));
    if value == "*" {
        return refuse("name each origin; a wildcard is not allowed");
    }
    let Some((scheme, authority)) = value.split_once("://") else {
        return refuse("an origin is scheme://host[:port]");
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return refuse("the scheme must be http or https");
    }
    if authority.contains(['/', '?', '#', '@', '*']) {
        return refuse("an origin has no path, query, user or wildcard");
    }
    // An IPv6 host is bracketed: its colons are not the port's.
    let (host, port) = if authority.starts_with('[') {
        match authority.split_once(']') {
            Some((inside, "")) => (&authority[..=inside.len()], None),
            Some((inside, rest)) => match rest.strip_prefix(':') {
                Some(port) => (&authority[..=inside.len()], Some(port)),
                None => return refuse("the host is missing or malformed"),
            },
            None => return refuse("the host is missing or malformed"),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c))
    {
        return refuse("the host is missing or malformed");
    }
    if port.is_some_and(|port| !matches!(port.parse::<u16>(), Ok(1..))) {
        return refuse("the port must be 1 to 65535");
    }
    Ok(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_origins_in_their_browser_form() {
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(parse(" , "), Ok(vec![]));
        assert_eq!(
            parse("https://App.Example.com, http://127.0.0.1:8080"),
            Ok(vec![
                "https://app.example.com".to_owned(),
                "http://127.0.0.1:8080".to_owned()
            ])
        );
        assert_eq!(
            parse("http://[::1]:3000"),
            Ok(vec!["http://[::1]:3000".to_owned()])
        );
    }

    #[test]
    fn wildcards_paths_and_other_schemes_are_refused() {
        for bad in [
            "*",
            "https://*.example.com",
            "example.com",
            "ftp://example.com",
            "https://example.com/",
            "https://example.com/app",
            "https://user@example.com",
            "https://example.com:0",
            "https://example.com:00",
            "https://example.com:99999",
            "https://",
            "http://[::1]x",
            "http://[::1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
