//! Uploaded banks kept on disk, under `DATA_DIR/banks/`, byte for byte as
//! they were sent. A room restored after a restart may go on asking from an
//! uploaded bank, and a host expects the bank uploaded yesterday to still be
//! there, so an upload is only acknowledged once its file is saved; at start
//! the saved files are loaded after the seed banks, as if uploaded again in
//! name order (a file named like a seed bank replaces it, as the upload did).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::bank::catalog::{self, Catalog};
use crate::bank::BankError;
use crate::config::Config;

/// The folder uploaded banks are saved in.
pub fn dir(config: &Config) -> PathBuf {
    config.data_dir.join("banks")
}

/// Saves an upload as `dir/name`, replacing an earlier upload of that name.
/// The bytes go to a hidden temporary file first, are synced, then renamed
/// into place, so a crash leaves the old file or the new one, never half of
/// one (hidden files are not loaded).
pub fn save(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))?;
        // The rename itself is durable once the folder is synced.
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Adds the banks saved in `dir` to `catalog`; a missing folder means
/// nothing was uploaded yet. A saved file that no longer parses (e.g.
/// after an importer change) is reported and skipped, like a bad seed.
pub fn load_into(catalog: Catalog, dir: &Path) -> (Catalog, Vec<BankError>) {
    if !dir.is_dir() {
        return (catalog, Vec::new());
    }
    let (saved, errors) = catalog::load_dir(dir);
    let uploaded = saved.banks();
    if uploaded.is_empty() {
        return (catalog, errors);
    }
    let mut banks: Vec<_> = catalog
        .banks()
        .iter()
        .filter(|seed| {
            !uploaded
                .iter()
                .any(|u| u.file == seed.file || u.id == seed.id)
        })
        .cloned()
        .collect();
    banks.extend(uploaded.iter().cloned());
    (Catalog::from_banks(banks), errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIFT: &str =
        "$CATEGORY: Astronomy\n\n::p1:: Closest planet to the Sun? {=Mercury ~Venus}\n";

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("quizroom-uploads-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_saved_upload_is_loaded_back_with_the_same_ids() {
        let dir = temp_dir("roundtrip");
        save(&dir, "astro.gift", GIFT.as_bytes()).unwrap();
        let uploaded = crate::bank::parse("astro.gift", GIFT.as_bytes()).unwrap();
        let (catalog, errors) = load_into(Catalog::default(), &dir);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(catalog.banks().len(), 1);
        let loaded = &catalog.banks()[0];
        assert_eq!(loaded.id, uploaded.id);
        assert_eq!(
            loaded.topics[0].questions[0].id,
            uploaded.topics[0].questions[0].id
        );
        // Nothing but the file itself is left in the folder.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["astro.gift".to_string()]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_upload_named_like_a_seed_replaces_it_and_a_missing_folder_is_empty() {
        let dir = temp_dir("replace");
        let seeds = || {
            let seed =
                crate::bank::parse("astro.gift", b"$CATEGORY: Old\n\n::q:: Old question? {T}\n")
                    .unwrap();
            Catalog::from_banks(vec![seed])
        };
        let (same, errors) = load_into(seeds(), &dir);
        assert!(errors.is_empty());
        assert_eq!(same.banks().len(), 1);
        save(&dir, "astro.gift", GIFT.as_bytes()).unwrap();
        let (catalog, _) = load_into(seeds(), &dir);
        assert_eq!(catalog.banks().len(), 1);
        assert_eq!(
            catalog.banks()[0].topics[0].path,
            vec!["Astronomy".to_string()]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_saved_file_that_no_longer_parses_is_reported_and_skipped() {
        let dir = temp_dir("broken");
        save(&dir, "empty.md", b"").unwrap();
        save(&dir, "astro.gift", GIFT.as_bytes()).unwrap();
        let (catalog, errors) = load_into(Catalog::default(), &dir);
        assert_eq!(errors.len(), 1);
        assert_eq!(catalog.banks().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
