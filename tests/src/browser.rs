//! The web map in a real browser: Debian's headless Chromium driven by
//! chromedriver through [`fantoccini`], behind blocking calls so that a
//! test reads as the steps of a citizen.

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::Locator;
use fantoccini::elements::Element;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::poll::{poll, within};
use crate::process::Process;

/// How long the page may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(30);

/// How long chromedriver may take to listen.
const DRIVER_STARTING: Duration = Duration::from_secs(30);

/// A headless Chromium session, its chromedriver and its own fresh
/// profile, all gone when dropped. Every call panics on a WebDriver error:
/// it is a failed test.
#[derive(Debug)]
pub struct Browser {
    client: fantoccini::Client,
    // The WebDriver client is async; the tests are not.
    runtime: tokio::runtime::Runtime,
    screenshots: PathBuf,
    _driver: Process,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a browser in it; screenshots go to the
    /// directory `screenshots` (created if needed).
    pub fn start(screenshots: impl Into<PathBuf>) -> Self {
        let driver = ["chromedriver", "/usr/bin/chromedriver"]
            .into_iter()
            .find(|path| Command::new(path).arg("--version").output().is_ok())
            .expect("chromedriver is missing: apt-get install chromium chromium-driver");
        let port = free_port();
        let driver = Process::spawn(
            Command::new(driver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let listening = poll(DRIVER_STARTING, Duration::from_millis(50), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(listening, "chromedriver did not start");
        let profile = tempfile::tempdir().expect("a temporary directory");
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .unwrap_or("/usr/bin/chromium");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let client = runtime
            .block_on(
                fantoccini::ClientBuilder::new(HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .unwrap_or_else(|error| panic!("no browser session: {error}"));
        let screenshots = screenshots.into();
        std::fs::create_dir_all(&screenshots).expect("the screenshots directory");
        Self {
            client,
            runtime,
            screenshots,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Runs one WebDriver command to its end.
    fn run<T>(
        &self,
        what: &str,
        command: impl Future<Output = Result<T, fantoccini::error::CmdError>>,
    ) -> T {
        self.runtime
            .block_on(command)
            .unwrap_or_else(|error| panic!("{what}: {error}"))
    }

    /// Sizes the browser's window as a screen of `width` × `height`
    /// pixels (a phone: 375 × 812).
    pub fn resize(&self, width: u32, height: u32) {
        self.run("resize", self.client.set_window_size(width, height));
    }

    /// Opens `url`.
    pub fn go(&self, url: &str) {
        self.run(url, self.client.goto(url));
    }

    /// Runs `script` in the page (with `arguments` = `args`) and returns
    /// what it returns.
    pub fn eval(&self, script: &str, args: &[Value]) -> Value {
        self.run(script, self.client.execute(script, args.to_vec()))
    }

    /// Waits until `script` returns something truthy (not null, false, 0
    /// or ""); returns it. On timing out, takes the screenshot
    /// `timed-out` and panics with `what`.
    pub fn wait(&self, what: &str, script: &str) -> Value {
        let mut value = Value::Null;
        let truthy = within(PATIENCE, || {
            value = self.eval(script, &[]);
            !matches!(value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("")
        });
        if !truthy {
            self.screenshot("timed-out");
            panic!("timed out waiting for {what}");
        }
        value
    }

    /// The element `css` selects, once it is in the page.
    fn element(&self, css: &str) -> Element {
        self.wait(
            css,
            &format!("return document.querySelector({css:?}) !== null"),
        );
        self.run(css, self.client.find(Locator::Css(css)))
    }

    /// Runs `act` on the element `css` selects; when the page redrew that
    /// element between finding it and acting on it (a live change
    /// arriving), finds it again, up to a few times.
    fn on_element<F, Fut>(&self, css: &str, act: F)
    where
        F: Fn(Element) -> Fut,
        Fut: Future<Output = Result<(), fantoccini::error::CmdError>>,
    {
        let mut tries = 0;
        loop {
            let element = self.element(css);
            match self.runtime.block_on(act(element)) {
                Ok(()) => return,
                Err(error) if error.is_stale_element_reference() && tries < 5 => tries += 1,
                Err(error) => panic!("{css}: {error}"),
            }
        }
    }

    /// Clicks the element `css` selects.
    pub fn click(&self, css: &str) {
        self.on_element(css, |element| async move { element.click().await });
    }

    /// Replaces the text of the field `css` selects with `text`, typed.
    pub fn type_in(&self, css: &str, text: &str) {
        self.on_element(css, |element| async move {
            element.clear().await?;
            element.send_keys(text).await
        });
    }

    /// Chooses `value` in the `<select>` that `css` selects, as a change
    /// event tells the page.
    pub fn select(&self, css: &str, value: &str) {
        self.eval(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change'));",
            &[json!(css), json!(value)],
        );
    }

    /// The text content of the element `css` selects, once it is there.
    pub fn text(&self, css: &str) -> String {
        self.element(css);
        self.eval(
            "return document.querySelector(arguments[0]).textContent",
            &[json!(css)],
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Runs axe-core's accessibility rules on the page as it is; saves
    /// every violation as `axe-name.json` beside the screenshots and
    /// returns those whose impact is serious or critical (rule, impact,
    /// help, and the elements at fault).
    pub fn axe(&self, name: &str) -> Vec<Value> {
        let source = axe_source();
        self.eval(&format!("{source}\nreturn typeof axe;"), &[]);
        let violations = self.run(
            "axe.run",
            self.client.execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then((result) => done(result.violations.map((v) => ({
                     id: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.map((n) => n.target.join(' ')),
                   }))))
                   .catch((error) => done([{ id: 'axe-failed', impact: 'critical', help: String(error), nodes: [] }]));",
                Vec::new(),
            ),
        );
        let violations = violations.as_array().cloned().unwrap_or_default();
        let _ = std::fs::write(
            self.screenshots.join(format!("axe-{name}.json")),
            serde_json::to_string_pretty(&violations).unwrap_or_default(),
        );
        violations
            .into_iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect()
    }

    /// Saves a screenshot of the page as `name.png`; a screenshot that
    /// fails is not a failed test.
    pub fn screenshot(&self, name: &str) {
        if let Ok(png) = self.runtime.block_on(self.client.screenshot()) {
            let _ = std::fs::write(self.screenshots.join(format!("{name}.png")), png);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.runtime.block_on(self.client.clone().close());
    }
}

/// axe-core's script, installed by `npm ci --prefix tests` (as CI does)
/// from `tests/package.json`.
fn axe_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "axe-core is missing ({}: {error}): run `npm ci --prefix tests`",
                path.display()
            )
        })
    })
}

/// A port that was free a moment ago, for chromedriver to listen on.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on loopback")
        .port()
}
