//! arXiv's category taxonomy: what `[sources.arxiv] categories` may name. A module of its
//! own, depending on nothing, because config checks with it and config must not depend on
//! the sources.

/// How an archive writes its subjects.
#[derive(Clone, Copy, PartialEq)]
enum Subjects {
    /// The archive is a category by itself (`hep-th`).
    None,
    /// The subjects a category may name (`cs.LG`, `cond-mat.mes-hall`).
    Listed(&'static [&'static str]),
}

/// arXiv's archives and their subjects, from its category taxonomy
/// (https://arxiv.org/category_taxonomy). A subject arXiv adds must be added here before it can
/// be configured.
const ARCHIVES: &[(&str, Subjects)] = &[
    (
        "astro-ph",
        Subjects::Listed(&["CO", "EP", "GA", "HE", "IM", "SR"]),
    ),
    (
        "cond-mat",
        Subjects::Listed(&[
            "dis-nn",
            "mes-hall",
            "mtrl-sci",
            "other",
            "quant-gas",
            "soft",
            "stat-mech",
            "str-el",
            "supr-con",
        ]),
    ),
    (
        "cs",
        Subjects::Listed(&[
            "AI", "AR", "CC", "CE", "CG", "CL", "CR", "CV", "CY", "DB", "DC", "DL", "DM", "DS",
            "ET", "FL", "GL", "GR", "GT", "HC", "IR", "IT", "LG", "LO", "MA", "MM", "MS", "NA",
            "NE", "NI", "OH", "OS", "PF", "PL", "RO", "SC", "SD", "SE", "SI", "SY",
        ]),
    ),
    ("econ", Subjects::Listed(&["EM", "GN", "TH"])),
    ("eess", Subjects::Listed(&["AS", "IV", "SP", "SY"])),
    ("gr-qc", Subjects::None),
    ("hep-ex", Subjects::None),
    ("hep-lat", Subjects::None),
    ("hep-ph", Subjects::None),
    ("hep-th", Subjects::None),
    (
        "math",
        Subjects::Listed(&[
            "AC", "AG", "AP", "AT", "CA", "CO", "CT", "CV", "DG", "DS", "FA", "GM", "GN", "GR",
            "GT", "HO", "IT", "KT", "LO", "MG", "MP", "NA", "NT", "OA", "OC", "PR", "QA", "RA",
            "RT", "SG", "SP", "ST",
        ]),
    ),
    ("math-ph", Subjects::None),
    ("nlin", Subjects::Listed(&["AO", "CD", "CG", "PS", "SI"])),
    ("nucl-ex", Subjects::None),
    ("nucl-th", Subjects::None),
    (
        "physics",
        Subjects::Listed(&[
            "acc-ph", "ao-ph", "app-ph", "atm-clus", "atom-ph", "bio-ph", "chem-ph", "class-ph",
            "comp-ph", "data-an", "ed-ph", "flu-dyn", "gen-ph", "geo-ph", "hist-ph", "ins-det",
            "med-ph", "optics", "plasm-ph", "pop-ph", "soc-ph", "space-ph",
        ]),
    ),
    (
        "q-bio",
        Subjects::Listed(&["BM", "CB", "GN", "MN", "NC", "OT", "PE", "QM", "SC", "TO"]),
    ),
    (
        "q-fin",
        Subjects::Listed(&["CP", "EC", "GN", "MF", "PM", "PR", "RM", "ST", "TR"]),
    ),
    ("quant-ph", Subjects::None),
    (
        "stat",
        Subjects::Listed(&["AP", "CO", "ME", "ML", "OT", "TH"]),
    ),
];

/// Checks that `text` is an arXiv category as the feeds and the API spell it: an archive
/// (`cs`, `hep-th`) or `archive.SUBJECT` (`cs.LG`, `cond-mat.mes-hall`). The error says what
/// is wrong, and suggests the spelling when only case or surrounding spaces differ.
pub fn check_category(text: &str) -> Result<(), String> {
    if let Some(right) = canonical_category(text.trim())
        && right != text
    {
        return Err(format!(
            "`{text}` is not an arXiv category: did you mean `{right}`?"
        ));
    }
    let (archive, subject) = match text.split_once('.') {
        Some((archive, subject)) => (archive, Some(subject)),
        None => (text, None),
    };
    let Some(&(_, subjects)) = ARCHIVES.iter().find(|(name, _)| *name == archive) else {
        let archives: Vec<&str> = ARCHIVES.iter().map(|(name, _)| *name).collect();
        return Err(format!(
            "`{text}` is not an arXiv category: there is no archive `{archive}` (arXiv's are {})",
            archives.join(", ")
        ));
    };
    match (subjects, subject) {
        (_, None) => Ok(()),
        (Subjects::None, Some(_)) => Err(format!(
            "`{text}` is not an arXiv category: {archive} has no subjects, write `{archive}`"
        )),
        (Subjects::Listed(listed), Some(subject)) if listed.contains(&subject) => Ok(()),
        (Subjects::Listed(listed), Some(subject)) => Err(format!(
            "`{text}` is not an arXiv category: {archive} has no subject `{subject}` (its \
             subjects are {})",
            listed.join(", ")
        )),
    }
}

/// The category `text` names when case is ignored, as arXiv spells it.
fn canonical_category(text: &str) -> Option<String> {
    let (archive, subject) = match text.split_once('.') {
        Some((archive, subject)) => (archive, Some(subject)),
        None => (text, None),
    };
    let &(archive, subjects) = ARCHIVES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(archive))?;
    match (subjects, subject) {
        (_, None) => Some(archive.to_string()),
        (Subjects::None, Some(_)) => None,
        (Subjects::Listed(listed), Some(subject)) => listed
            .iter()
            .find(|s| s.eq_ignore_ascii_case(subject))
            .map(|s| format!("{archive}.{s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_arxiv_categories() {
        for good in [
            "cs.LG",
            "cs.CL",
            "cs",
            "math.AG",
            "math",
            "stat.ML",
            "eess.SP",
            "econ.EM",
            "q-bio.BM",
            "q-fin.ST",
            "astro-ph.GA",
            "astro-ph",
            "cond-mat.mes-hall",
            "cond-mat",
            "physics.acc-ph",
            "physics.optics",
            "nlin.CD",
            "hep-th",
            "gr-qc",
            "quant-ph",
            "math-ph",
            "nucl-ex",
        ] {
            assert_eq!(check_category(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn refuses_other_text_saying_why() {
        let cases = [
            (
                "cs.lg",
                "`cs.lg` is not an arXiv category: did you mean `cs.LG`?",
            ),
            (
                "CS.LG",
                "`CS.LG` is not an arXiv category: did you mean `cs.LG`?",
            ),
            (
                "cond-mat.Mes-Hall",
                "`cond-mat.Mes-Hall` is not an arXiv category: did you mean `cond-mat.mes-hall`?",
            ),
            (
                "nlin.cd",
                "`nlin.cd` is not an arXiv category: did you mean `nlin.CD`?",
            ),
            (
                "astro-ph.ga",
                "`astro-ph.ga` is not an arXiv category: did you mean `astro-ph.GA`?",
            ),
            (
                " cs.LG",
                "` cs.LG` is not an arXiv category: did you mean `cs.LG`?",
            ),
            (
                "Hep-Th",
                "`Hep-Th` is not an arXiv category: did you mean `hep-th`?",
            ),
            (
                "hep-th.GA",
                "`hep-th.GA` is not an arXiv category: hep-th has no subjects, write `hep-th`",
            ),
        ];
        for (bad, want) in cases {
            assert_eq!(check_category(bad), Err(want.to_string()), "{bad}");
        }
        for (bad, starts) in [
            (
                "cs.XX",
                "`cs.XX` is not an arXiv category: cs has no subject `XX` (its subjects are AI, AR,",
            ),
            (
                "cs.",
                "`cs.` is not an arXiv category: cs has no subject ``",
            ),
            (
                "bio.BM",
                "`bio.BM` is not an arXiv category: there is no archive `bio` (arXiv's are astro-ph,",
            ),
            ("", "`` is not an arXiv category: there is no archive ``"),
            (
                "cs.LG.x",
                "`cs.LG.x` is not an arXiv category: cs has no subject `LG.x`",
            ),
        ] {
            let err = check_category(bad).unwrap_err();
            assert!(err.starts_with(starts), "{bad}: {err}");
        }
    }

    #[test]
    fn every_subject_has_its_archives_shape() {
        let lower = ["cond-mat", "physics"];
        for (archive, subjects) in ARCHIVES {
            let Subjects::Listed(listed) = subjects else {
                continue;
            };
            for subject in *listed {
                let shaped = if lower.contains(archive) {
                    subject.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                } else {
                    subject.len() == 2 && subject.bytes().all(|b| b.is_ascii_uppercase())
                };
                assert!(shaped, "{archive}.{subject}");
            }
        }
    }
}
