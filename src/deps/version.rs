//! Hub version ranges with dbt's semantics: a requirement is a list of bounds such as `>=1.0.0`
//! and `<2.0.0` (a bare `1.1.1` means exactly that version); every requester's bounds are
//! intersected, and the highest published version inside the result is picked. Prereleases are
//! candidates only when asked for (`install_prerelease: true`, or a bound that names one).

use semver::Version;
use std::cmp::Ordering;
use std::fmt;

/// How a bound compares a candidate with its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>`
    Greater,
    /// `>=`
    GreaterEq,
    /// `<`
    Less,
    /// `<=`
    LessEq,
    /// `=` or a bare version.
    Exact,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Greater => ">",
            Op::GreaterEq => ">=",
            Op::Less => "<",
            Op::LessEq => "<=",
            Op::Exact => "=",
        }
    }
}

/// One bound of a version requirement, as written in `version:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// The comparison.
    pub op: Op,
    /// The version compared with.
    pub version: Version,
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            Op::Exact => write!(f, "{}", self.version),
            op => write!(f, "{}{}", op.as_str(), self.version),
        }
    }
}

impl Bound {
    /// Parses `>=1.0.0`, `<2.0.0`, `=1.1.1` or `1.1.1`; `None` when it is not one of those.
    pub fn parse(text: &str) -> Option<Bound> {
        let text = text.trim();
        let (op, rest) = [
            (">=", Op::GreaterEq),
            ("<=", Op::LessEq),
            (">", Op::Greater),
            ("<", Op::Less),
            ("=", Op::Exact),
        ]
        .iter()
        .find_map(|(p, op)| text.strip_prefix(p).map(|r| (*op, r)))
        .unwrap_or((Op::Exact, text));
        Some(Bound {
            op,
            version: parse_version(rest.trim())?,
        })
    }

    /// True when `v` satisfies this bound.
    pub fn matches(&self, v: &Version) -> bool {
        let ord = cmp(v, &self.version);
        match self.op {
            Op::Greater => ord == Ordering::Greater,
            Op::GreaterEq => ord != Ordering::Less,
            Op::Less => ord == Ordering::Less,
            Op::LessEq => ord != Ordering::Greater,
            Op::Exact => ord == Ordering::Equal,
        }
    }

    fn is_lower(&self) -> bool {
        matches!(self.op, Op::Greater | Op::GreaterEq | Op::Exact)
    }

    fn is_upper(&self) -> bool {
        matches!(self.op, Op::Less | Op::LessEq | Op::Exact)
    }
}

/// Parses a published version. dbt also accepts a prerelease without the dash (`1.0.0b1`).
pub fn parse_version(text: &str) -> Option<Version> {
    if let Ok(v) = Version::parse(text) {
        return Some(v);
    }
    // Insert the dash after MAJOR.MINOR.PATCH when the prerelease follows it directly.
    let mut dots = 0;
    let split = text.char_indices().find(|&(_, c)| {
        if c == '.' {
            dots += 1;
        }
        dots == 2 && c.is_ascii_alphabetic()
    })?;
    Version::parse(&format!("{}-{}", &text[..split.0], &text[split.0..])).ok()
}

/// Compares two versions ignoring build metadata, as semver says.
fn cmp(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| a.pre.cmp(&b.pre))
}

/// Bounds that contradict each other: the tightest lower bound and the tightest upper bound,
/// with the index (into the input) of whoever asked for each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Index of the requester of the lower bound.
    pub lower: usize,
    /// Index of the requester of the upper bound.
    pub upper: usize,
}

/// Checks that the bounds (each tagged with the index of its requester) leave room for at least
/// one version; on failure names the two requesters whose bounds exclude each other.
pub fn check_compatible(bounds: &[(usize, Bound)]) -> Result<(), Conflict> {
    let tightest = |want_lower: bool| {
        let mut best: Option<&(usize, Bound)> = None;
        for b in bounds {
            let fits = if want_lower {
                b.1.is_lower()
            } else {
                b.1.is_upper()
            };
            if !fits {
                continue;
            }
            best = match best {
                None => Some(b),
                Some(cur) => {
                    let ord = cmp(&b.1.version, &cur.1.version);
                    let tighter = if want_lower {
                        ord == Ordering::Greater
                            || (ord == Ordering::Equal && b.1.op == Op::Greater)
                    } else {
                        ord == Ordering::Less || (ord == Ordering::Equal && b.1.op == Op::Less)
                    };
                    Some(if tighter { b } else { cur })
                }
            };
        }
        best
    };
    let (Some(lo), Some(hi)) = (tightest(true), tightest(false)) else {
        return Ok(());
    };
    let ord = cmp(&lo.1.version, &hi.1.version);
    let inclusive =
        matches!(lo.1.op, Op::GreaterEq | Op::Exact) && matches!(hi.1.op, Op::LessEq | Op::Exact);
    // Exact bounds must all agree, whatever else is asked.
    let exact_clash = bounds
        .iter()
        .filter(|b| b.1.op == Op::Exact)
        .find(|b| bounds.iter().any(|o| !o.1.matches(&b.1.version)));
    if let Some(e) = exact_clash {
        let other = bounds
            .iter()
            .find(|o| !o.1.matches(&e.1.version))
            .map(|o| o.0)
            .unwrap_or(e.0);
        return Err(Conflict {
            lower: e.0,
            upper: other,
        });
    }
    if ord == Ordering::Greater || (ord == Ordering::Equal && !inclusive) {
        return Err(Conflict {
            lower: lo.0,
            upper: hi.0,
        });
    }
    Ok(())
}

/// The highest of `available` that satisfies every bound; prereleases only when `prerelease`.
pub fn pick<'a>(
    bounds: &[Bound],
    available: impl IntoIterator<Item = &'a str>,
    prerelease: bool,
) -> Option<&'a str> {
    installable(available, prerelease)
        .into_iter()
        .filter(|(v, _)| bounds.iter().all(|b| b.matches(v)))
        .max_by(|a, b| cmp(&a.0, &b.0))
        .map(|(_, s)| s)
}

/// The newest installable version of `available`.
pub fn latest<'a>(
    available: impl IntoIterator<Item = &'a str>,
    prerelease: bool,
) -> Option<&'a str> {
    pick(&[], available, prerelease)
}

fn installable<'a>(
    available: impl IntoIterator<Item = &'a str>,
    prerelease: bool,
) -> Vec<(Version, &'a str)> {
    available
        .into_iter()
        .filter_map(|s| parse_version(s).map(|v| (v, s)))
        .filter(|(v, _)| prerelease || v.pre.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(texts: &[&str]) -> Vec<Bound> {
        texts.iter().map(|t| Bound::parse(t).unwrap()).collect()
    }

    const PUBLISHED: &[&str] = &["0.9.0", "1.0.0", "1.1.1", "1.2.0-b1", "2.0.0"];

    #[test]
    fn picks_the_highest_version_inside_every_bound() {
        let p = |b: &[&str], pre| pick(&bounds(b), PUBLISHED.iter().copied(), pre);
        assert_eq!(p(&[">=1.0.0", "<2.0.0"], false), Some("1.1.1"));
        assert_eq!(p(&[">=1.0.0", "<2.0.0"], true), Some("1.2.0-b1"));
        assert_eq!(p(&["1.0.0"], false), Some("1.0.0"));
        assert_eq!(p(&["=0.9.0"], false), Some("0.9.0"));
        assert_eq!(p(&[">1.1.1"], false), Some("2.0.0"));
        assert_eq!(p(&["<=1.1.1", ">1.0.0"], false), Some("1.1.1"));
        assert_eq!(p(&[">=3.0.0"], false), None);
        assert_eq!(latest(PUBLISHED.iter().copied(), false), Some("2.0.0"));
    }

    #[test]
    fn dashless_prereleases_parse_as_dbt_writes_them() {
        assert_eq!(parse_version("1.0.0b1").unwrap().to_string(), "1.0.0-b1");
        assert!(Bound::parse(">=1.0").is_none());
        assert!(Bound::parse("latest").is_none());
    }

    #[test]
    fn conflicting_ranges_name_both_requesters() {
        let tagged = |items: &[(usize, &str)]| -> Vec<(usize, Bound)> {
            items
                .iter()
                .map(|(i, t)| (*i, Bound::parse(t).unwrap()))
                .collect()
        };
        assert_eq!(
            check_compatible(&tagged(&[(0, ">=1.0.0"), (0, "<2.0.0"), (1, ">=1.1.0")])),
            Ok(())
        );
        assert_eq!(
            check_compatible(&tagged(&[(0, ">=1.0.0"), (0, "<2.0.0"), (1, ">=2.0.0")])),
            Err(Conflict { lower: 1, upper: 0 })
        );
        assert_eq!(
            check_compatible(&tagged(&[(0, "1.0.0"), (1, "1.1.0")])),
            Err(Conflict { lower: 0, upper: 1 })
        );
        assert_eq!(
            check_compatible(&tagged(&[(0, ">1.0.0"), (1, "<=1.0.0")])),
            Err(Conflict { lower: 0, upper: 1 })
        );
    }
}
