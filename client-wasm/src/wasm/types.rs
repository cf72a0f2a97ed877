//! The TypeScript types of the SDK's plain objects, written into the generated `arbiter.d.ts`
//! beside the types wasm-bindgen derives from the exports.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A game value: a move, a config or a view, in the game's own JSON shape. */
export type GameValue = any;
/** Where a match stands. */
export type Status =
  | "waiting"
  | "simultaneous"
  | { turn: number }
  | { over: { scores: number[]; winners: number[] } };
export type ConnectionState = "idle" | "connecting" | "authenticated" | "reconnecting" | "closed";
export type Role = "player" | "spectator";
export interface Guest { token: string; player_id: string; name: string; expires_at: number; }
export interface GameInfo {
  id: string; name: string; rules_version: number; min_seats: number; max_seats: number;
  default_config: GameValue;
}
export interface SeatHolder { player_id: string; name: string; }
export interface MatchSummary {
  match_id: string; game: string; status: "open" | "live" | "finished";
  seats: (SeatHolder | null)[]; head_seq: number; created_at_ms: number;
  outcome?: { scores: number[]; winners: number[] } | null;
  /** Present, and true, for a private match. */
  private?: boolean;
  /** The match's own turn timer, if it was created with one. */
  timer?: TurnTimer;
  /** For a fork: where it comes from. */
  forked_from?: Origin;
}
/** A match's own turn timer: time per turn, an optional total per seat, and what a turn that
 * runs out does (a spent total always forfeits). */
export interface TurnTimer { move_ms: number; total_ms?: number; on_expiry?: "pass" | "forfeit"; }
/** A page of matches; `next` (absent on the last page) is the `after` of the next one. */
export interface MatchPage { matches: MatchSummary[]; next?: string; }
export interface BotSeat { seat?: number; strategy?: "greedy" | "random"; think_ms?: number; }
export interface CreateMatch {
  game: string; config?: GameValue; bots?: BotSeat[]; visibility?: "public" | "private";
  /** The match's own turn timer. */
  timer?: TurnTimer;
}
/** `code` is a private match's join code (for `joinByCode`). */
export interface Created { match_id: string; bot_seats: number[]; code?: string; }
export interface QuickMatch { game: string; config?: GameValue; }
/** Where a fork comes from: its history is events `0..=seq` of `match_id`. */
export interface Origin { match_id: string; seq: number; }
export interface Forked { match_id: string; forked_from: Origin; }
/** A logged lobby act: the seq of its event. */
export interface ActDone { match_id: string; seq: number; }
export interface CreatedBody {
  game: string; rules_version: number; config: GameValue; seed: string; seats: number;
}
export type EventBody =
  | { created: CreatedBody }
  | { seated: { seat: number; player_id: string; name: string } }
  | { move: { seat: number; move: GameValue; move_id: number } }
  | { tick: { inputs: { seat: number; move: GameValue }[] } }
  | { left: { seat: number; player_id: string } }
  | { resigned: { seat: number } }
  | { cancelled: { player_id: string } }
  | { forfeited: { seat: number } };
export interface Event {
  match_id: string; seq: number; state_hash: string; status: Status;
  body?: EventBody; view?: GameValue;
}
export interface Snapshot {
  match_id: string; seq: number; state_hash: string; status: Status; view: GameValue;
  created: CreatedBody;
}
export interface LastMove { seq: number; seat: number; move: GameValue; }
/** A match's state after one event. */
export interface StateView {
  seq: number; state_hash: string; status: Status; view: GameValue;
  seats: (SeatHolder | null)[]; last_move?: LastMove;
}
/** A followed match, as a `Client` has reduced it. */
export interface MatchState extends StateView {
  match_id: string; game: string; role: Role; seat?: number;
  caught_up: boolean; my_turn: boolean; desyncs: number;
}
export type VerdictResult = { accepted: { seq: number } } | { rejected: { code: string; message: string } };
export type Update =
  | { kind: "connection"; state: ConnectionState; attempt?: number; retry_in_ms?: number }
  | { kind: "joined"; match_id: string; role: Role; seat?: number; head_seq: number }
  | { kind: "event"; match_id: string; event: Event }
  | { kind: "caught_up"; match_id: string; seq: number }
  | { kind: "verdict"; match_id: string; move_id: number; result: VerdictResult }
  | { kind: "error"; code: string; message: string; match_id?: string }
  | { kind: "desync"; match_id: string; seq: number; local: string; server: string };
/** A light cycle's heading. */
export type Heading = "north" | "east" | "south" | "west";
/** The own light cycle drawn `lead` ticks ahead of the server's `tick`: `cells` are the cells
 * it is predicted to enter, the last being its head; `blocked` when the next one is a wall,
 * a trail or a head. */
export interface Prediction {
  seat: number; tick: number; lead: number; heading: Heading; cells: [number, number][];
  blocked: boolean;
}
/** How an HTTP helper rejects: an `Error` with the HTTP status (0: no answer) and a stable code. */
export interface ApiError extends Error { status: number; code: string; }
"#;
