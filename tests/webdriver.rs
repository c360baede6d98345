//! A small blocking W3C WebDriver client for the console's browser tests: chromedriver on a
//! free port driving Debian's headless Chromium. The protocol is JSON over HTTP, and the few
//! commands the tests need fit in this file on the blocking `reqwest` the harness already
//! uses, instead of an async client crate and its own HTTP and TLS stack.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where `scripts/ensure-chromium` puts them (Debian's packages).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process; dropped, it is killed.
pub struct Driver {
    child: Child,
    url: String,
    http: reqwest::blocking::Client,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Driver {
    /// Start chromedriver and wait until it answers.
    pub fn start() -> Driver {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "{CHROMEDRIVER} and {CHROMIUM} are needed: run scripts/ensure-chromium"
        );
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("http client");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{url}/status")).send()
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, url, http }
    }

    /// A new headless browser window, preferring `lang` (an Accept-Language value).
    pub fn browser(&self, lang: &str) -> Browser {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000",
                         format!("--lang={lang}")],
                "prefs": {"intl.accept_languages": lang},
            },
        }}});
        let v = post(&self.http, &format!("{}/session", self.url), &caps);
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        Browser {
            base: format!("{}/session/{id}", self.url),
            http: self.http.clone(),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn post(http: &reqwest::blocking::Client, url: &str, body: &Value) -> Value {
    let r = http.post(url).json(body).send().expect("webdriver request");
    let v: Value = r.json().expect("webdriver json");
    v.get("value").cloned().unwrap_or(Value::Null)
}

/// One browser session.
pub struct Browser {
    base: String,
    http: reqwest::blocking::Client,
}

/// A WebDriver error answer (`{"error": ...}`), e.g. no such element.
fn is_error(v: &Value) -> bool {
    v.get("error").is_some()
}

impl Browser {
    fn cmd(&self, path: &str, body: Value) -> Value {
        post(&self.http, &format!("{}{path}", self.base), &body)
    }

    fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .expect("webdriver request");
        r.json::<Value>().expect("webdriver json")["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        let v = self.cmd("/url", json!({"url": url}));
        assert!(!is_error(&v), "navigate to {url}: {v}");
    }

    pub fn url(&self) -> String {
        self.get("/url").as_str().unwrap_or_default().to_owned()
    }

    pub fn title(&self) -> String {
        self.get("/title").as_str().unwrap_or_default().to_owned()
    }

    /// The first element matching `css`, if any.
    pub fn try_find(&self, css: &str) -> Option<String> {
        let v = self.cmd("/element", json!({"using": "css selector", "value": css}));
        v.get(ELEMENT).and_then(Value::as_str).map(str::to_owned)
    }

    /// The first element matching `css`, waiting up to 10 s for it.
    pub fn find(&self, css: &str) -> String {
        self.wait(Duration::from_secs(10), || self.try_find(css))
            .unwrap_or_else(|| panic!("no element {css} on {} ({})", self.url(), self.title()))
    }

    pub fn find_all(&self, css: &str) -> Vec<String> {
        let v = self.cmd("/elements", json!({"using": "css selector", "value": css}));
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.get(ELEMENT).and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn click(&self, css: &str) {
        let el = self.find(css);
        let v = self.cmd(&format!("/element/{el}/click"), json!({}));
        assert!(!is_error(&v), "click {css}: {v}");
    }

    /// Clear an input and type into it.
    pub fn fill(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.cmd(&format!("/element/{el}/clear"), json!({}));
        let v = self.cmd(&format!("/element/{el}/value"), json!({"text": text}));
        assert!(!is_error(&v), "type into {css}: {v}");
    }

    /// Type into an element without clearing it first (a file input takes a path this way).
    pub fn send_keys(&self, css: &str, text: &str) {
        let el = self.find(css);
        let v = self.cmd(&format!("/element/{el}/value"), json!({"text": text}));
        assert!(!is_error(&v), "type into {css}: {v}");
    }

    pub fn text(&self, css: &str) -> String {
        let el = self.find(css);
        self.get(&format!("/element/{el}/text"))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let el = self.find(css);
        self.get(&format!("/element/{el}/attribute/{name}"))
            .as_str()
            .map(str::to_owned)
    }

    /// Run JavaScript in the page; `return` gives a value back.
    pub fn js(&self, script: &str, args: Value) -> Value {
        let v = self.cmd("/execute/sync", json!({"script": script, "args": args}));
        assert!(!is_error(&v), "script failed: {v}");
        v
    }

    /// Run axe-core (Deque's accessibility engine, from the npm registry: `tests/a11y`) on the
    /// page with the WCAG 2.1 A and AA rules, labels, names, landmarks and colour contrast among
    /// them. Returns the violations as `rule: element (why)` lines, empty when the page passes.
    pub fn axe_violations(&self) -> Vec<String> {
        let v = self.js(
            &format!(
                "{}\n;return axe.run(document, {{ runOnly: {{ type: 'tag', values: \
                 ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }}, resultTypes: ['violations'] }})
                 .then(r => r.violations.flatMap(v => v.nodes.map(n =>
                     `${{v.id}}: ${{n.target.join(' ')}} (${{n.failureSummary.replace(/\\s+/g, ' ')}})`)));",
                axe_source()
            ),
            json!([]),
        );
        v.as_array()
            .expect("axe gives a list")
            .iter()
            .map(|l| l.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Poll `f` every 100 ms until it gives something or `timeout` passes.
    pub fn wait<T>(&self, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return Some(v);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Save a PNG of the window to `target/screenshots/<name>.png`; returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let v = self.get("/screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("screenshot data"))
            .expect("screenshot is base64");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.base).send();
    }
}

/// axe-core's script, which `scripts/ensure-chromium` installs with `npm ci` in `tests/a11y`.
fn axe_source() -> &'static str {
    static AXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    AXE.get_or_init(|| {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("a11y/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run scripts/ensure-chromium", path.display()))
    })
}

/// `<target dir>/screenshots/`, the test artefacts (the test binary is
/// `<target dir>/debug/deps/<name>`).
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("screenshots")
}
