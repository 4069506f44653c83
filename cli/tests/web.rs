//! The web map in a real browser: Debian's headless Chromium driven through
//! chromedriver (the W3C WebDriver protocol, spoken here over loopback
//! HTTP), against real `communecter node` processes. Screenshots go to
//! `target/tmp/web-screenshots/`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_communecter");

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request with a JSON body to `127.0.0.1:port`; the JSON
/// answer.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to chromedriver");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Read the head, then exactly the body it announces (the driver may
    // keep the connection open).
    let mut response = Vec::new();
    let mut buffer = [0; 65536];
    let (head_end, length) = loop {
        let n = stream.read(&mut buffer).expect("read from chromedriver");
        assert!(n > 0, "chromedriver closed the connection");
        response.extend_from_slice(&buffer[..n]);
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .expect("a Content-Length");
            break (end + 4, length);
        }
    };
    while response.len() < head_end + length {
        let n = stream.read(&mut buffer).expect("read from chromedriver");
        assert!(n > 0, "chromedriver closed the connection");
        response.extend_from_slice(&buffer[..n]);
    }
    let body = String::from_utf8_lossy(&response[head_end..head_end + length]);
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

/// A browser session.
struct Browser {
    port: u16,
    session: String,
    _driver: Process,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    fn start() -> Self {
        let driver = ["chromedriver", "/usr/bin/chromedriver"]
            .into_iter()
            .find(|path| Command::new(path).arg("--version").output().is_ok())
            .expect("chromedriver is missing: apt-get install chromium chromium-driver");
        let port = free_port();
        let driver = Process(
            Command::new(driver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .unwrap_or("/usr/bin/chromium");
        let answer = http(
            port,
            "POST",
            "/session",
            Some(&json!({"capabilities": {"alwaysMatch": {
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
            }}})),
        );
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_owned();
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            port,
            session,
            _driver: driver,
            _profile: profile,
            shots,
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = http(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        );
        if let Some(error) = answer["value"].get("error") {
            panic!("{method} {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    fn go(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url})));
    }

    /// Runs a script in the page and returns its result.
    fn eval(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Waits until `script` returns something truthy; returns it.
    fn wait(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.eval(script, json!([]));
            if !matches!(value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("")
            {
                return value;
            }
            if Instant::now() > deadline {
                self.screenshot("timed-out");
                panic!("timed out waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn element(&self, css: &str) -> String {
        self.wait(
            css,
            &format!("return document.querySelector({css:?}) !== null"),
        );
        let found = self.command(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        found
            .as_object()
            .and_then(|object| object.values().next())
            .and_then(Value::as_str)
            .expect("an element reference")
            .to_owned()
    }

    fn click(&self, css: &str) {
        let element = self.element(css);
        self.command(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    fn type_in(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.command(
            "POST",
            &format!("/element/{element}/clear"),
            Some(json!({})),
        );
        self.command(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn select(&self, css: &str, value: &str) {
        self.eval(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change'));",
            json!([css, value]),
        );
    }

    fn text(&self, css: &str) -> String {
        self.element(css);
        self.eval(
            "return document.querySelector(arguments[0]).textContent",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    fn screenshot(&self, name: &str) {
        let png = self.command("GET", "/screenshot", None);
        if let Some(png) = png.as_str()
            && let Ok(bytes) = data_encoding::BASE64.decode(png.as_bytes())
        {
            let _ = std::fs::write(self.shots.join(format!("{name}.png")), bytes);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

/// Starts `communecter node` on loopback; returns it and its address file
/// once written.
fn node(home: &Path, extra: &[&str]) -> (Process, Value) {
    let addr_file = home.with_extension("json");
    let child = Command::new(BIN)
        .arg("--data-dir")
        .arg(home)
        .args([
            "node",
            "--api",
            "127.0.0.1:0",
            "--tiles",
            "none",
            "--no-browser",
        ])
        .args([
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--addr-file",
        ])
        .arg(&addr_file)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let process = Process(child);
    (process, read_addr_file(&addr_file, |_| true))
}

fn read_addr_file(path: &Path, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(value) = serde_json::from_str::<Value>(&text)
            && ready(&value)
        {
            return value;
        }
        assert!(Instant::now() < deadline, "{} not written", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cli(home: &Path, args: &[&str]) -> Value {
    let output = Command::new(BIN)
        .arg("--data-dir")
        .arg(home)
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

const HOSTILE: &str = r#"<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"#;

#[test]
fn a_citizen_uses_the_web_map() {
    let temp = tempfile::tempdir().unwrap();
    let anne_home = temp.path().join("anne");
    let (_anne, published) = node(&anne_home, &[]);
    let url = format!("{}/", published["api"].as_str().unwrap());
    let browser = Browser::start();
    browser.go(&url);
    // French first, whatever the browser's language.
    browser.eval("localStorage.setItem('communecter-lang', 'fr')", json!([]));
    browser.go(&url);

    // Join: the commune list follows the postal code.
    browser.wait(
        "the join dialog",
        "return document.getElementById('join-dialog').open",
    );
    browser.screenshot("1-join");
    browser.type_in("#join-name", "Anne Hoarau");
    browser.type_in("#join-email", "anne@example.org");
    browser.type_in("#join-postal", "97400");
    browser.wait(
        "the communes of 97400",
        "return document.querySelectorAll('#join-commune option').length",
    );
    browser.click("#join-form button[type=submit]");
    browser.wait("joined", "return !document.getElementById('join-dialog').open && document.getElementById('commune').textContent");
    assert!(browser.text("#commune").contains("Saint-Denis"));

    // Add an organization by the form, placed by clicking on the map.
    browser.click("#add-button");
    browser.type_in("#entity-name", "Théâtre du Kiosque");
    browser.select("#entity-organization-type", "ngo");
    browser.type_in("#entity-category", "théâtre");
    browser.type_in("#entity-tags", "culture, spectacle");
    browser.click("#place-button");
    browser.click("#map");
    browser.wait("the position", "return document.getElementById('entity-dialog').open && document.getElementById('entity-lat').value");
    browser.click("#entity-save");
    browser.wait(
        "the theatre's page",
        "return document.getElementById('detail-name')?.textContent === 'Théâtre du Kiosque'",
    );
    browser.wait(
        "its marker",
        "return document.querySelectorAll('.pin-organization, .marker-cluster').length",
    );
    browser.screenshot("2-added");

    // Recommend it, with a comment.
    browser.type_in("#recommend-comment", "Des spectacles formidables");
    browser.click(".recommend button[type=submit]");
    browser.wait(
        "the recommendation",
        "return document.querySelector('.links-recommends q')?.textContent === 'Des spectacles formidables'",
    );
    assert!(
        browser
            .text(".links-recommends .who")
            .contains("Anne Hoarau")
    );
    assert!(
        browser
            .text(".links-recommends h3")
            .contains("Recommandé par")
    );
    browser.screenshot("3-recommended");

    // Edit it by the form: a street and a short description.
    browser.click("#detail .actions button");
    browser.wait("the edit form", "return document.getElementById('entity-dialog').open && document.getElementById('entity-name').value === 'Théâtre du Kiosque'");
    browser.type_in("#entity-street", "1 rue du Kiosque");
    browser.type_in("#entity-short", "Théâtre amateur depuis 1987");
    browser.click("#entity-save");
    browser.wait(
        "the edited page",
        "return document.querySelector('#detail .short')?.textContent === 'Théâtre amateur depuis 1987'",
    );
    assert!(browser.text("#detail dl").contains("1 rue du Kiosque"));

    // Filters: no event yet; the organization is listed under its kind and
    // category.
    browser.click("#detail .back");
    browser.select("#filter-kind", "event");
    browser.wait(
        "an empty list",
        "return document.querySelector('#list .empty') !== null",
    );
    browser.select("#filter-kind", "organization");
    browser.select("#filter-category", "théâtre");
    browser.wait(
        "the theatre in the list",
        "return [...document.querySelectorAll('#list .name')].map(n => n.textContent).join('|') === 'Théâtre du Kiosque'",
    );
    browser.select("#filter-category", "");
    browser.select("#filter-kind", "");

    // Hostile names are shown as text.
    cli(
        &anne_home,
        &[
            "add", "place", "--name", HOSTILE, "--lat", "-20.88", "--lon", "55.45",
        ],
    );
    browser.wait(
        "the hostile name, live",
        &format!(
            "return [...document.querySelectorAll('#list .name')].some(n => n.textContent === {HOSTILE:?})"
        ),
    );
    assert_eq!(
        browser.eval(
            "return [window.__xss === undefined, document.querySelectorAll('#list img, #list script').length]",
            json!([])
        ),
        json!([true, 0])
    );
    browser.eval(
        "[...document.querySelectorAll('#list button')].find(b => b.querySelector('.name').textContent === arguments[0]).click()",
        json!([HOSTILE]),
    );
    browser.wait(
        "the hostile entity's page",
        &format!("return document.getElementById('detail-name')?.textContent === {HOSTILE:?}"),
    );
    assert_eq!(
        browser.eval(
            "return [window.__xss === undefined, document.querySelectorAll('#detail img, #detail script, .leaflet-tooltip img').length]",
            json!([])
        ),
        json!([true, 0])
    );
    browser.screenshot("4-hostile-name");
    browser.click("#detail .back");

    // A neighbour's edit on another node appears without reloading.
    let anne_network = read_addr_file(&anne_home.with_extension("json"), |value| {
        value["listen"]
            .as_array()
            .is_some_and(|listen| !listen.is_empty())
    });
    let bootstrap = anne_network["listen"][0].as_str().unwrap().to_owned();
    let bruno_home = temp.path().join("bruno");
    let (_bruno, _) = node(
        &bruno_home,
        &[
            "--postal-code",
            "97400",
            "--name",
            "Bruno",
            "--bootstrap",
            &bootstrap,
        ],
    );
    browser.eval("window.__stillHere = true", json!([]));
    cli(
        &bruno_home,
        &[
            "add",
            "organization",
            "--name",
            "Boulangerie du Port",
            "--lat",
            "-20.881",
            "--lon",
            "55.451",
        ],
    );
    browser.wait(
        "Bruno's bakery, live",
        "return [...document.querySelectorAll('#list .name')].some(n => n.textContent === 'Boulangerie du Port')",
    );
    assert_eq!(
        browser.eval("return window.__stillHere === true", json!([])),
        json!(true)
    );
    browser.screenshot("5-live");

    // English.
    browser.click("#lang");
    browser.wait(
        "English",
        "return document.getElementById('add-button').textContent === 'Add'",
    );
    assert_eq!(
        browser.eval("return document.documentElement.lang", json!([])),
        json!("en")
    );
}

#[test]
fn the_page_is_refused_to_other_host_names() {
    let temp = tempfile::tempdir().unwrap();
    let (_node, published) = node(&temp.path().join("home"), &[]);
    let api = published["api"].as_str().unwrap();
    let authority = api.strip_prefix("http://").unwrap();
    let port: u16 = authority.rsplit(':').next().unwrap().parse().unwrap();
    let status = |host: &str| {
        let mut stream = TcpStream::connect(authority).unwrap();
        write!(
            stream,
            "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response.split(' ').nth(1).unwrap().to_owned()
    };
    assert_eq!(status(&format!("localhost:{port}")), "200");
    assert_eq!(status(authority), "200");
    assert_eq!(status(&format!("evil.example:{port}")), "403");
}
