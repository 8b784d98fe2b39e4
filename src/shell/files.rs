//! Where files live, reading them with bounds, and writing them atomically with mode 0600.

use crate::core::audio::{ContentHash, Format};
use crate::core::settings::{self, Loaded};
use crate::core::{FileError, FileName, JobResult};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The most of `config.yaml` or the state file that is read.
const MAX_SETTINGS_FILE: u64 = 1 << 20;

/// The files and directories the server uses.
#[derive(Clone, Debug)]
pub struct Paths {
    /// `config.yaml`.
    pub config: PathBuf,
    /// The state file the server writes (`set_default_voice`, caches).
    pub state: PathBuf,
    /// The default output directory for audio.
    pub data_audio: PathBuf,
    /// The audio cache (`cache.*`).
    pub cache: PathBuf,
    /// The usage ledger (`usage.sqlite3` in the data directory).
    pub usage: PathBuf,
    /// Where the speaker lock shared by this user's server processes is: `$XDG_RUNTIME_DIR`,
    /// else the state directory.
    pub runtime: PathBuf,
    /// The user's home directory, for `~/` and relative `output.dir`.
    pub home: Option<PathBuf>,
}

impl Paths {
    /// Locates everything from the environment (XDG on Unix, `%APPDATA%` on Windows).
    pub fn from_env(env: &dyn Fn(&str) -> Option<OsString>) -> Self {
        let get = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = get("HOME").or_else(|| get("USERPROFILE"));
        let base = |xdg: &str, unix_rel: &str, windows: &str| -> PathBuf {
            if let Some(dir) = get(xdg).filter(|d| d.is_absolute()) {
                return dir;
            }
            if cfg!(windows)
                && let Some(dir) = get(windows)
            {
                return dir;
            }
            home.clone()
                .unwrap_or_else(|| PathBuf::from("."))
                .join(unix_rel)
        };
        let app = "mcp-elevenlabs";
        let config = get("MCP_ELEVENLABS_CONFIG").unwrap_or_else(|| {
            base("XDG_CONFIG_HOME", ".config", "APPDATA")
                .join(app)
                .join("config.yaml")
        });
        Self {
            config,
            state: base("XDG_STATE_HOME", ".local/state", "LOCALAPPDATA")
                .join(app)
                .join("state.json"),
            data_audio: base("XDG_DATA_HOME", ".local/share", "LOCALAPPDATA")
                .join(app)
                .join("audio"),
            cache: base("XDG_CACHE_HOME", ".cache", "LOCALAPPDATA")
                .join(app)
                .join("tts"),
            usage: base("XDG_DATA_HOME", ".local/share", "LOCALAPPDATA")
                .join(app)
                .join("usage.sqlite3"),
            runtime: get("XDG_RUNTIME_DIR")
                .filter(|d| d.is_absolute())
                .unwrap_or_else(|| base("XDG_STATE_HOME", ".local/state", "LOCALAPPDATA"))
                .join(app),
            home,
        }
    }

    /// The output directory for `output.dir` (`None` = the default data directory).
    /// `~/x` and relative paths are taken from the home directory, so every host agrees.
    pub fn output_dir(&self, configured: Option<&str>) -> PathBuf {
        match configured {
            None => self.data_audio.clone(),
            Some(dir) => self.resolve(dir),
        }
    }

    /// A configured path: absolute as is; `~`, `~/x` and relative paths from the home directory.
    pub fn resolve(&self, dir: &str) -> PathBuf {
        let home = self.home.clone().unwrap_or_else(|| PathBuf::from("."));
        if dir == "~" {
            return home;
        }
        if let Some(rest) = dir.strip_prefix("~/") {
            return home.join(rest);
        }
        let path = PathBuf::from(dir);
        if path.is_absolute() {
            path
        } else {
            home.join(path)
        }
    }
}

/// Reads a settings file: `Ok(None)` if it does not exist.
pub fn read_settings_file(path: &Path) -> io::Result<Option<String>> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    file.take(MAX_SETTINGS_FILE + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SETTINGS_FILE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_SETTINGS_FILE} bytes"),
        ));
    }
    Ok(Some(text))
}

/// Loads and merges config file, state file and environment.
pub fn load_settings(paths: &Paths, env: &dyn Fn(&str) -> Option<String>) -> Loaded {
    let config_name = paths.config.display().to_string();
    let state_name = paths.state.display().to_string();
    let mut problems = Vec::new();
    let mut read = |path: &Path, name: &str| match read_settings_file(path) {
        Ok(text) => text,
        Err(e) => {
            problems.push(settings::Problem {
                origin: name.to_string(),
                key: String::new(),
                message: format!("cannot be read: {e}"),
            });
            None
        }
    };
    let config = read(&paths.config, &config_name);
    let state = read(&paths.state, &state_name);
    let mut loaded = settings::load(&settings::Inputs {
        config: config.as_deref().map(|t| (t, config_name.as_str())),
        state: state.as_deref().map(|t| (t, state_name.as_str())),
        env,
    });
    problems.append(&mut loaded.problems);
    loaded.problems = problems;
    loaded
}

/// Writes `bytes` to `path` atomically (temp file + rename) with mode 0600, creating the
/// directory (mode 0700) if needed. A crash never leaves a half-written file under `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, true)
}

/// [`write_atomic`] without waiting for the disk: for records that may lose their last change
/// in a crash (readers still never see a partial file). Many writes a second stay cheap.
pub fn replace_quickly(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, false)
}

fn replace(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    // Unique per write, so concurrent writers never share (or delete) each other's temp file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut file = private_file(&tmp)?;
        file.write_all(bytes)?;
        if sync {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Sets `key` in the JSON state file to `value`, keeping every other key (a newer version may
/// have written some). Writes from this process are serialized.
pub fn update_state(path: &Path, key: &str, value: serde_json::Value) -> io::Result<()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut state = match read_settings_file(path)? {
        Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(), // unreadable: replaced (it was reported as a warning)
        },
        None => serde_json::Map::new(),
    };
    state.insert(key.to_string(), value);
    let mut text = serde_json::to_string_pretty(&state).map_err(io::Error::other)?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Removes temp files of audio writers whose process is gone (a crash or a kill mid-stream).
pub fn sweep_partials(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(".partial-")) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let alive = match pid {
            Some(p) if p == std::process::id() => true,
            Some(p) if cfg!(target_os = "linux") => Path::new(&format!("/proc/{p}")).exists(),
            _ => true, // cannot tell: leave it
        };
        if !alive {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn private_file(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// A new audio file being written: bytes go to a hidden temp file in the output directory and
/// appear under their final name only when complete, never replacing an existing file.
#[derive(Debug)]
pub struct AudioWriter {
    dir: PathBuf,
    tmp: PathBuf,
    file: Option<fs::File>,
    wav: Option<Format>,
    hash: ContentHash,
    data: u64,
}

impl AudioWriter {
    /// Creates the temp file (and the directory) for job `tag`.
    pub fn create(dir: &Path, tag: u64, wav: Option<Format>) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".partial-{}-{tag}.tmp", std::process::id()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        if let Some(format) = wav {
            // Placeholder sizes; patched once the length is known.
            file.write_all(&format.wav_header(0))?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            tmp,
            file: Some(file),
            wav,
            hash: ContentHash::default(),
            data: 0,
        })
    }

    /// Appends audio bytes.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("closed"))?;
        file.write_all(bytes)?;
        self.hash.update(bytes);
        self.data += bytes.len() as u64;
        Ok(())
    }

    /// Audio bytes written so far.
    pub fn data_bytes(&self) -> u64 {
        self.data
    }

    /// Completes the file under `name`; returns the final file name and its size.
    pub fn finish(mut self, name: &FileName) -> io::Result<(String, u64)> {
        let mut file = self.file.take().ok_or_else(|| io::Error::other("closed"))?;
        let mut total = self.data;
        if let Some(format) = self.wav {
            use std::io::{Seek, SeekFrom};
            let len = u32::try_from(self.data).map_err(|_| io::Error::other("too long for WAV"))?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&format.wav_header(len))?;
            total += crate::core::audio::WAV_HEADER_LEN as u64;
        }
        file.sync_all()?;
        drop(file);
        let (stem, ext) = match name {
            FileName::Exact(n) => match n.rsplit_once('.') {
                Some((stem, ext)) => (stem.to_string(), ext.to_string()),
                None => (n.clone(), String::new()),
            },
            FileName::Stem { stem, ext } => {
                (format!("{stem}-{}", self.hash.hex8()), (*ext).to_string())
            }
        };
        for n in 0..1000u32 {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            let dot = if ext.is_empty() { "" } else { "." };
            let candidate = format!("{stem}{suffix}{dot}{ext}");
            match link_new(&self.tmp, &self.dir.join(&candidate)) {
                Ok(()) => {
                    let _ = fs::remove_file(&self.tmp);
                    return Ok((candidate, total));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("no free file name"))
    }
}

impl Drop for AudioWriter {
    fn drop(&mut self) {
        // Unfinished (error or cancel): leave nothing behind.
        if self.tmp.exists() {
            self.file.take();
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Moves `from` to `to`, failing with `AlreadyExists` rather than replacing a file.
pub fn move_new(from: &Path, to: &Path) -> io::Result<()> {
    match link_new(from, to) {
        Ok(()) => fs::remove_file(from),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        // Another filesystem: copy into a name claimed with create_new, then drop the original.
        Err(_) => {
            let mut out = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(to)?;
            io::copy(&mut fs::File::open(from)?, &mut out)?;
            out.sync_all()?;
            fs::remove_file(from)
        }
    }
}

/// Gives `from` the new name `to` without ever replacing an existing `to`.
fn link_new(from: &Path, to: &Path) -> io::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        // Filesystems without hard links: claim the name first, then move over our own claim.
        Err(_) => {
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(to)?;
            fs::rename(from, to)
        }
    }
}

/// Reads a generated audio file `name` from `dir`, refusing anything that resolves outside it.
pub fn read_audio(dir: &Path, name: &str, max_bytes: u64) -> JobResult {
    JobResult::Audio(read_confined(dir, name, max_bytes))
}

fn read_confined(dir: &Path, name: &str, max_bytes: u64) -> Result<Vec<u8>, FileError> {
    let other = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => FileError::NotFound,
        _ => FileError::Other(e.kind().to_string()),
    };
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(FileError::NotFound);
    }
    let root = dir.canonicalize().map_err(other)?;
    let path = root.join(name).canonicalize().map_err(other)?;
    if path.parent() != Some(root.as_path()) {
        return Err(FileError::NotFound);
    }
    let file = fs::File::open(&path).map_err(other)?;
    let meta = file.metadata().map_err(other)?;
    if meta.is_dir() {
        return Err(FileError::NotFound);
    }
    if meta.len() > max_bytes {
        return Err(FileError::TooLarge { limit: max_bytes });
    }
    let mut bytes = Vec::new();
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(other)?;
    if bytes.len() as u64 > max_bytes {
        return Err(FileError::TooLarge { limit: max_bytes });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mcp-el-files-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn atomic_write_is_private_and_replaces() {
        let dir = temp("atomic");
        let path = dir.join("sub/state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            assert_eq!(
                fs::metadata(path.parent().unwrap())
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o700
            );
        }
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left behind");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn audio_reads_stay_in_the_directory() {
        let dir = temp("confine");
        fs::create_dir_all(dir.join("audio")).unwrap();
        fs::write(dir.join("secret.mp3"), b"s").unwrap();
        fs::write(dir.join("audio/a.mp3"), b"abc").unwrap();
        let audio = dir.join("audio");
        assert_eq!(
            read_audio(&audio, "a.mp3", 10),
            JobResult::Audio(Ok(b"abc".to_vec()))
        );
        assert_eq!(
            read_audio(&audio, "a.mp3", 2),
            JobResult::Audio(Err(FileError::TooLarge { limit: 2 }))
        );
        assert_eq!(
            read_audio(&audio, "../secret.mp3", 10),
            JobResult::Audio(Err(FileError::NotFound))
        );
        assert_eq!(
            read_audio(&audio, "missing.mp3", 10),
            JobResult::Audio(Err(FileError::NotFound))
        );
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.join("secret.mp3"), audio.join("link.mp3")).unwrap();
            assert_eq!(
                read_audio(&audio, "link.mp3", 10),
                JobResult::Audio(Err(FileError::NotFound))
            );
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn audio_files_never_overwrite_and_wav_is_patched() {
        let dir = temp("writer");
        let wav = Format::parse("pcm_16000");
        let mut w = AudioWriter::create(&dir, 1, wav).unwrap();
        w.write(&[1, 2, 3, 4]).unwrap();
        let (name, total) = w.finish(&FileName::Exact("a.wav".into())).unwrap();
        assert_eq!((name.as_str(), total), ("a.wav", 48));
        let bytes = fs::read(dir.join("a.wav")).unwrap();
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 4);
        let mut w = AudioWriter::create(&dir, 2, None).unwrap();
        w.write(b"x").unwrap();
        assert_eq!(
            w.finish(&FileName::Exact("a.wav".into())).unwrap().0,
            "a-1.wav"
        );
        let mut w = AudioWriter::create(&dir, 3, None).unwrap();
        w.write(b"abc").unwrap();
        let (stem_name, _) = w
            .finish(&FileName::Stem {
                stem: "20261127-000000-rachel".into(),
                ext: "mp3",
            })
            .unwrap();
        assert!(stem_name.starts_with("20261127-000000-rachel-") && stem_name.ends_with(".mp3"));
        // Dropped unfinished: nothing left behind.
        let mut w = AudioWriter::create(&dir, 4, None).unwrap();
        w.write(b"partial").unwrap();
        drop(w);
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.iter().all(|n| !n.starts_with('.')));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn concurrent_state_updates_keep_every_key() {
        let dir = temp("state");
        let path = dir.join("state.json");
        fs::create_dir_all(&dir).unwrap();
        fs::write(&path, r#"{"future.key": 1}"#).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || update_state(&path, &format!("k{i}"), i.into()))
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        let state: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(state.as_object().unwrap().len(), 9, "{state}");
        assert_eq!(state["future.key"], 1);
        let left: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temp files left");
        fs::write(dir.join(".partial-4000000-1.tmp"), b"x").unwrap();
        sweep_partials(&dir);
        #[cfg(target_os = "linux")]
        assert!(!dir.join(".partial-4000000-1.tmp").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn paths_follow_xdg_and_override() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let p = Paths::from_env(&env(&[("HOME", "/h")]));
        assert_eq!(
            p.config,
            PathBuf::from("/h/.config/mcp-elevenlabs/config.yaml")
        );
        assert_eq!(
            p.state,
            PathBuf::from("/h/.local/state/mcp-elevenlabs/state.json")
        );
        assert_eq!(
            p.data_audio,
            PathBuf::from("/h/.local/share/mcp-elevenlabs/audio")
        );
        let p = Paths::from_env(&env(&[
            ("HOME", "/h"),
            ("XDG_CONFIG_HOME", "/x/c"),
            ("XDG_STATE_HOME", "/x/s"),
            ("MCP_ELEVENLABS_CONFIG", "/etc/m.yaml"),
        ]));
        assert_eq!(p.config, PathBuf::from("/etc/m.yaml"));
        assert_eq!(p.state, PathBuf::from("/x/s/mcp-elevenlabs/state.json"));
        assert_eq!(p.output_dir(Some("~/Desktop")), PathBuf::from("/h/Desktop"));
        assert_eq!(p.output_dir(Some("voice")), PathBuf::from("/h/voice"));
        assert_eq!(p.output_dir(Some("/abs")), PathBuf::from("/abs"));
    }
}
