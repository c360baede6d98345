//! The console's two languages. Messages live in one TOML catalog per language
//! (`i18n/en.toml`, `i18n/zh-CN.toml`, compiled into the binary); a test checks that both have
//! exactly the same keys and that every key the code uses exists.

use std::collections::HashMap;
use std::sync::LazyLock;

/// A console language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

const EN: &str = include_str!("i18n/en.toml");
const ZH_CN: &str = include_str!("i18n/zh-CN.toml");

type Catalog = HashMap<String, &'static str>;

fn flatten(prefix: &str, table: &toml::Table, out: &mut Catalog) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, Box::leak(s.clone().into_boxed_str()));
            }
            other => panic!("console catalog: {key} is not a string: {other:?}"),
        }
    }
}

fn load(src: &str) -> Catalog {
    let table: toml::Table = toml::from_str(src).expect("console catalog is valid TOML");
    let mut out = Catalog::new();
    flatten("", &table, &mut out);
    out
}

static CATALOGS: LazyLock<[Catalog; 2]> = LazyLock::new(|| [load(EN), load(ZH_CN)]);

/// A missing key as a `&'static str`, allocated once per key (not once per request).
fn missing(key: &str) -> &'static str {
    static MISSES: LazyLock<std::sync::Mutex<HashMap<String, &'static str>>> =
        LazyLock::new(Default::default);
    let mut m = MISSES.lock().expect("i18n lock");
    if let Some(s) = m.get(key) {
        return s;
    }
    let s: &'static str = Box::leak(key.to_owned().into_boxed_str());
    // Bounded: keys come from the code and from stored statuses, not from requests.
    if m.len() < 1024 {
        m.insert(key.to_owned(), s);
    }
    s
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    /// The message `key`; the key itself if a catalog lacks it (a test prevents that for the
    /// keys the code spells out; a key built from data, like an unknown status, can miss).
    pub fn t(self, key: &str) -> &'static str {
        self.get(key).unwrap_or_else(|| {
            tracing::warn!(key, "console message missing");
            missing(key)
        })
    }

    /// The message `key`, if the catalog has it.
    pub fn get(self, key: &str) -> Option<&'static str> {
        CATALOGS[self as usize].get(key).copied()
    }

    /// The BCP 47 tag, as in `<html lang>` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language's own name for itself.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhCn => "中文",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s == "en" || s.starts_with("en-") {
            Some(Lang::En)
        } else if s == "zh" || s.starts_with("zh-") {
            // Traditional Chinese readers read Simplified better than English, as a rule.
            Some(Lang::ZhCn)
        } else {
            None
        }
    }

    /// The best of our languages for an `Accept-Language` header (by q-value, then order).
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or_default();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(l) = Lang::parse(tag)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn both_languages_have_exactly_the_same_keys() {
        let [en, zh] = &*CATALOGS;
        let en: BTreeSet<_> = en.keys().collect();
        let zh: BTreeSet<_> = zh.keys().collect();
        let only_en: Vec<_> = en.difference(&zh).collect();
        let only_zh: Vec<_> = zh.difference(&en).collect();
        assert!(
            only_en.is_empty() && only_zh.is_empty(),
            "only in en: {only_en:?}; only in zh-CN: {only_zh:?}"
        );
    }

    #[test]
    fn every_key_the_code_uses_exists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let src = std::fs::read_to_string(&path).unwrap();
            for (i, _) in src.match_indices("t(\"") {
                let rest = &src[i + 3..];
                let key = &rest[..rest.find('"').unwrap()];
                if key.contains('.') && !CATALOGS[0].contains_key(key) {
                    missing.push(format!("{}: {key}", path.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys missing from the catalogs: {missing:#?}"
        );
    }

    #[test]
    fn accept_language_picks_the_preferred_one() {
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Lang::ZhCn
        );
        assert_eq!(
            Lang::from_accept_language("en-GB,en;q=0.9,zh;q=0.5"),
            Lang::En
        );
        assert_eq!(
            Lang::from_accept_language("fr-FR,zh;q=0.7,en;q=0.5"),
            Lang::ZhCn
        );
        assert_eq!(Lang::from_accept_language("de"), Lang::En);
    }
}
