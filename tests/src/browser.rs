//! Real headless Chromium for the web client's tests, driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`; `cargo xtask test` installs them). Each [`Page`] is its own
//! browser session with its own profile, so two pages are two players with their own storage.
//! Missing pieces fail the test with what to install: browser tests are never skipped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use fantoccini::actions::{
    InputSource, KeyAction, KeyActions, MOUSE_BUTTON_LEFT, MouseActions, PointerAction,
};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value as Json, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page condition may take to hold.
pub const PAGE_WAIT: Duration = Duration::from_secs(20);

/// The built web client (`ARBITER_WEB_DIR`, which `cargo xtask test` sets).
pub fn web_dir() -> Result<PathBuf> {
    let dir = std::env::var_os("ARBITER_WEB_DIR").map(PathBuf::from).ok_or_else(|| {
        anyhow!("ARBITER_WEB_DIR is not set: run `cargo xtask test`, which builds the web client")
    })?;
    if !dir.join("index.html").is_file() || !dir.join("pkg/arbiter_bg.wasm").is_file() {
        bail!("{} holds no built web client: run `cargo xtask test`", dir.display());
    }
    Ok(dir)
}

/// Where tests leave screenshots: `target/browser-artifacts/`.
pub fn artifacts_dir() -> Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/browser-artifacts");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A running chromedriver; pages are sessions of it.
pub struct Browser {
    driver: Child,
    url: String,
}

impl Browser {
    /// Starts chromedriver on a free port.
    pub async fn start() -> Result<Browser> {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            if !std::path::Path::new(path).exists() {
                bail!(
                    "{path} is missing: install Debian's `chromium` and `chromium-driver` \
                     (`cargo xtask test` does, as root); package {package}"
                );
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let browser = Browser { driver, url: format!("http://127.0.0.1:{port}") };
        browser.wait_ready().await?;
        Ok(browser)
    }

    async fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = format!("{}/status", self.url);
        while Instant::now() < deadline {
            if let Ok(resp) = reqwest::get(&status).await
                && resp.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("chromedriver did not answer at {status}")
    }

    /// A new headless browser session of `width` × `height` CSS pixels.
    pub async fn page(&self, width: u32, height: u32) -> Result<Page> {
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            &format!("--window-size={width},{height}"),
        ];
        // Chromium's windows have a minimum width above a phone's, so narrow pages get their
        // viewport from device emulation instead.
        let emulation =
            json!({ "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2 } });
        let mut options = json!({ "binary": CHROMIUM, "args": args });
        if width < 500 {
            options["mobileEmulation"] = emulation;
        }
        let caps = json!({ "browserName": "chrome", "goog:chromeOptions": options });
        let Json::Object(caps) = caps else { unreachable!("a JSON object literal") };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .context("opening a Chromium session")?;
        Ok(Page { client })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver ends the browsers of its sessions with it.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One browser session (one tab).
pub struct Page {
    /// The WebDriver client, for anything the helpers below do not cover.
    pub client: Client,
}

impl Page {
    /// Navigates and waits for the load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client.goto(url).await.with_context(|| format!("opening {url}"))
    }

    /// Runs a script (its `return` value comes back as JSON).
    pub async fn js(&self, script: &str, args: Vec<Json>) -> Result<Json> {
        self.client.execute(script, args).await.with_context(|| format!("running {script}"))
    }

    /// Waits until `expression` (a JavaScript expression) is truthy; returns its value.
    pub async fn wait_until(&self, expression: &str) -> Result<Json> {
        let deadline = Instant::now() + PAGE_WAIT;
        let script =
            format!("try {{ return ({expression}) || null; }} catch (e) {{ return null; }}");
        loop {
            let value = self.js(&script, vec![]).await?;
            if !value.is_null() && value != Json::Bool(false) {
                return Ok(value);
            }
            if Instant::now() > deadline {
                let shot = self.screenshot("timeout").await.ok();
                bail!("waited {PAGE_WAIT:?} for `{expression}` (screenshot: {shot:?})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element `css` selects, once it exists.
    pub async fn click(&self, css: &str) -> Result<()> {
        let element = self.client.wait().at_most(PAGE_WAIT).for_element(Locator::Css(css)).await;
        element
            .with_context(|| format!("finding {css}"))?
            .click()
            .await
            .with_context(|| format!("clicking {css}"))
    }

    /// Types into the input `css` selects, replacing its text.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let element = self.client.wait().at_most(PAGE_WAIT).for_element(Locator::Css(css)).await?;
        element.clear().await?;
        element.send_keys(text).await.with_context(|| format!("typing into {css}"))
    }

    /// A real mouse click at viewport coordinates (CSS pixels).
    pub async fn click_at(&self, x: f64, y: f64) -> Result<()> {
        let mouse = MouseActions::new("mouse".into())
            .then(PointerAction::MoveTo { duration: None, x: x.round(), y: y.round() })
            .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
            .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
        self.client.perform_actions(mouse).await.context("clicking")
    }

    /// A real mouse drag (a swipe) between viewport coordinates (CSS pixels).
    pub async fn drag(&self, from: (f64, f64), to: (f64, f64)) -> Result<()> {
        let step = Some(Duration::from_millis(100));
        let mouse = MouseActions::new("mouse".into())
            .then(PointerAction::MoveTo { duration: None, x: from.0.round(), y: from.1.round() })
            .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
            .then(PointerAction::MoveTo { duration: step, x: to.0.round(), y: to.1.round() })
            .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
        self.client.perform_actions(mouse).await.context("dragging")
    }

    /// A real key press (down, then up) on the focused element: `key` is a character or a
    /// WebDriver key code, such as `'\u{e013}'` for ArrowUp.
    pub async fn press(&self, key: char) -> Result<()> {
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.client.perform_actions(keys).await.context("pressing a key")
    }

    /// Saves a PNG of the viewport under the artifacts directory; returns its path.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let path = artifacts_dir()?.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Ends the session.
    pub async fn close(self) -> Result<()> {
        self.client.close().await.context("closing the session")
    }
}
