//! `Client`: the core driven by a browser `WebSocket` and `setTimeout`. The core decides;
//! this file only carries its messages, timers and updates.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use protocol::v1::{Role, ServerMsg};
use protocol::{Encoding, decode, encode};
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, MessageEvent, WebSocket};

use super::{to_js, value_from_js};
use crate::core::{Core, SocketAction, Update};

/// One connection to a server, following any number of matches.
#[wasm_bindgen]
pub struct Client {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    core: Core,
    ws_url: String,
    socket: Option<Socket>,
    /// Counts sockets, so events of a replaced socket are ignored.
    generation: u32,
    on_update: Option<js_sys::Function>,
    /// One timer function for the client's life: a closure must not be dropped while it
    /// runs, and the timer's own run reschedules it.
    timer_fn: Option<Closure<dyn FnMut()>>,
    timer_handle: Option<i32>,
}

/// A socket and the handlers that must live as long as it does.
struct Socket {
    ws: WebSocket,
    _handlers: [Closure<dyn FnMut(JsValue)>; 3],
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// `http://h/` → `ws://h/ws`; `""` → this page's origin.
fn ws_url(server: &str) -> String {
    let server = server.trim_end_matches('/');
    let origin = if server.is_empty() {
        web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
    } else {
        server.to_string()
    };
    let origin = origin.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    format!("{origin}/ws")
}

fn role_from(role: &str) -> Result<Role, JsValue> {
    match role {
        "player" => Ok(Role::Player),
        "spectator" => Ok(Role::Spectator),
        other => {
            Err(JsValue::from(format!("a role is \"player\" or \"spectator\", not {other:?}")))
        }
    }
}

#[wasm_bindgen]
impl Client {
    /// A client of `server` (a base URL; `""` for this page's origin) with a guest token.
    /// `options.seed` seeds the reconnect jitter.
    #[wasm_bindgen(constructor)]
    pub fn new(
        server: String,
        token: String,
        #[wasm_bindgen(unchecked_param_type = "{seed?: number}")] options: JsValue,
    ) -> Client {
        let seed = js_sys::Reflect::get(&options, &"seed".into())
            .ok()
            .and_then(|s| s.as_f64())
            .map_or_else(|| (js_sys::Math::random() * 2f64.powi(53)) as u64, |s| s as u64);
        let inner = Inner {
            core: Core::new(builtin_games::games(), token, now_ms(), seed),
            ws_url: ws_url(&server),
            socket: None,
            generation: 0,
            on_update: None,
            timer_fn: None,
            timer_handle: None,
        };
        Client { inner: Rc::new(RefCell::new(inner)) }
    }

    /// Sets the one function called with every update.
    #[wasm_bindgen(js_name = onUpdate)]
    pub fn on_update(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(update: Update) => void")]
        callback: js_sys::Function,
    ) {
        self.inner.borrow_mut().on_update = Some(callback);
    }

    /// Opens the connection; it reconnects by itself until `close`.
    pub fn connect(&self) {
        self.inner.borrow_mut().core.connect();
        pump(&self.inner);
    }

    /// Presents `token` from the next reconnect on (after `refresh`).
    #[wasm_bindgen(js_name = setToken)]
    pub fn set_token(&self, token: String) {
        self.inner.borrow_mut().core.set_token(token);
    }

    /// Closes for good.
    pub fn close(&self) {
        self.inner.borrow_mut().core.close();
        pump(&self.inner);
    }

    /// Follows a match as `"player"` or `"spectator"`.
    pub fn join(&self, match_id: String, role: String) -> Result<(), JsValue> {
        self.inner.borrow_mut().core.join(&match_id, role_from(&role)?);
        pump(&self.inner);
        Ok(())
    }

    /// Stops following a match.
    pub fn leave(&self, match_id: String) {
        self.inner.borrow_mut().core.leave(&match_id);
        pump(&self.inner);
    }

    /// Sends a move; returns its `move_id`.
    #[wasm_bindgen(js_name = "move")]
    pub fn send_move(&self, match_id: String, mv: JsValue) -> Result<f64, JsValue> {
        let mv = value_from_js(mv)?;
        let id = self.inner.borrow_mut().core.send_move(&match_id, mv);
        pump(&self.inner);
        id.map(|id| id as f64).map_err(|e| JsValue::from(e.to_string()))
    }

    /// The match as reduced here, or `undefined`.
    #[wasm_bindgen(unchecked_return_type = "MatchState | undefined")]
    pub fn state(&self, match_id: String) -> Result<JsValue, JsValue> {
        match self.inner.borrow().core.state(&match_id) {
            Some(state) => to_js(&state),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Steers this client's light cycle towards `heading` (`"north"`, `"east"`, `"south"` or
    /// `"west"`): returns the `move_id` of the turn sent, or `undefined` when no move is sent
    /// (it heads that way already, would turn back, or the heading waits for the turn in
    /// flight to be applied).
    pub fn steer(
        &self,
        match_id: String,
        #[wasm_bindgen(unchecked_param_type = "Heading")] heading: JsValue,
    ) -> Result<Option<f64>, JsValue> {
        let heading: lightcycles::Heading =
            serde_wasm_bindgen::from_value(heading).map_err(|e| JsValue::from(e.to_string()))?;
        let id = self.inner.borrow_mut().core.steer(&match_id, heading);
        pump(&self.inner);
        id.map(|id| id.map(|id| id as f64)).map_err(|e| JsValue::from(e.to_string()))
    }

    /// This client's light cycle drawn ahead of the server's last tick, now:
    /// `{seat, tick, lead, heading, cells, blocked}`, or `undefined`.
    #[wasm_bindgen(unchecked_return_type = "Prediction | undefined")]
    pub fn prediction(&self, match_id: String) -> Result<JsValue, JsValue> {
        match self.inner.borrow().core.prediction(&match_id, now_ms()) {
            Some(prediction) => to_js(&prediction),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// The moves this client's seat may make now.
    #[wasm_bindgen(js_name = legalMoves, unchecked_return_type = "any[]")]
    pub fn legal_moves(&self, match_id: String) -> Result<JsValue, JsValue> {
        to_js(&self.inner.borrow().core.legal_moves(&match_id))
    }

    /// `"idle"`, `"connecting"`, `"authenticated"`, `"reconnecting"` or `"closed"`.
    #[wasm_bindgen(unchecked_return_type = "ConnectionState")]
    pub fn connection(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.borrow().core.connection())
    }

    /// Closes the socket as a network failure would; the client reconnects.
    #[wasm_bindgen(js_name = dropConnection)]
    pub fn drop_connection(&self) {
        self.inner.borrow_mut().core.drop_connection();
        pump(&self.inner);
    }
}

/// Carries out what the core asks, then hands its updates to the page. Updates are delivered
/// after the borrow ends, so a callback may call back into the client.
fn pump(rc: &Rc<RefCell<Inner>>) {
    let (updates, callback) = {
        let mut inner = rc.borrow_mut();
        while let Some(action) = inner.core.poll_socket() {
            match action {
                SocketAction::Open => open_socket(rc, &mut inner),
                SocketAction::Close => {
                    if let Some(socket) = &inner.socket {
                        let _ = socket.ws.close();
                    }
                }
            }
        }
        while let Some(msg) = inner.core.poll_transmit() {
            let bytes = encode(&msg, Encoding::MsgPack);
            // A send on a closing socket fails; its close event brings the reconnect.
            if let Some(socket) = &inner.socket {
                let _ = socket.ws.send_with_u8_array(&bytes);
            }
        }
        schedule_timer(rc, &mut inner);
        let updates: Vec<Update> = std::iter::from_fn(|| inner.core.poll_update()).collect();
        (updates, inner.on_update.clone())
    };
    let Some(callback) = callback else { return };
    for update in updates {
        if let Ok(value) = to_js(&update) {
            // An exception in the page's callback is the page's; the client goes on.
            let _ = callback.call1(&JsValue::NULL, &value);
        }
    }
}

fn open_socket(rc: &Rc<RefCell<Inner>>, inner: &mut Inner) {
    if let Some(old) = inner.socket.take() {
        let _ = old.ws.close();
    }
    inner.generation += 1;
    let generation = inner.generation;
    let ws = match WebSocket::new(&inner.ws_url) {
        Ok(ws) => ws,
        Err(_) => {
            // A bad URL fails at once; treat it as a failed attempt, so the backoff applies.
            inner.core.handle_close(now_ms());
            return;
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let handler = |f: fn(&mut Inner, JsValue)| {
        let weak: Weak<RefCell<Inner>> = Rc::downgrade(rc);
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let Some(rc) = weak.upgrade() else { return };
            {
                let mut inner = rc.borrow_mut();
                if inner.generation != generation {
                    return;
                }
                f(&mut inner, event);
            }
            pump(&rc);
        })
    };
    let on_open = handler(|inner, _| inner.core.handle_open());
    let on_message = handler(handle_frame);
    // The socket (and this handler) stays until the next one replaces it: a closure must not
    // be dropped while it runs.
    let on_close = handler(|inner, _| inner.core.handle_close(now_ms()));
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    inner.socket = Some(Socket { ws, _handlers: [on_open, on_message, on_close] });
}

fn handle_frame(inner: &mut Inner, event: JsValue) {
    let Ok(event) = event.dyn_into::<MessageEvent>() else { return };
    let data = event.data();
    let decoded = if let Some(text) = data.as_string() {
        decode::<ServerMsg>(text.as_bytes(), Encoding::Json)
    } else {
        decode::<ServerMsg>(&js_sys::Uint8Array::new(&data).to_vec(), Encoding::MsgPack)
    };
    match decoded {
        Ok(msg) => inner.core.handle_message(now_ms(), msg),
        Err(e) => web_sys::console::warn_1(&format!("arbiter: a frame did not decode: {e}").into()),
    }
}

fn schedule_timer(rc: &Rc<RefCell<Inner>>, inner: &mut Inner) {
    let Some(window) = web_sys::window() else { return };
    if let Some(handle) = inner.timer_handle.take() {
        window.clear_timeout_with_handle(handle);
    }
    let Some(at) = inner.core.poll_timeout() else { return };
    let fire = inner.timer_fn.get_or_insert_with(|| {
        let weak = Rc::downgrade(rc);
        Closure::<dyn FnMut()>::new(move || {
            let Some(rc) = weak.upgrade() else { return };
            {
                let mut inner = rc.borrow_mut();
                inner.timer_handle = None;
                inner.core.handle_timeout(now_ms());
            }
            pump(&rc);
        })
    });
    let delay = at.saturating_sub(now_ms()).min(i32::MAX as u64) as i32;
    inner.timer_handle = window
        .set_timeout_with_callback_and_timeout_and_arguments_0(fire.as_ref().unchecked_ref(), delay)
        .ok();
}
